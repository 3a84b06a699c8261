"""The write limit follows the API server's round trips, and serves waiters in order."""

from __future__ import annotations

import asyncio

import looptime

from tiltrun.engine.limit import AdaptiveLimit


def test_fast_round_trips_under_load_raise_the_limit() -> None:
    limit = AdaptiveLimit(initial=4, maximum=16)
    for _ in range(20):
        limit.in_flight = limit.limit  # every slot in use
        limit.record(0.005)
    assert limit.limit == 16


def test_round_trips_that_grow_with_the_limit_lower_it() -> None:
    limit = AdaptiveLimit(initial=32, minimum=2)
    limit.in_flight = 32
    limit.record(0.005)  # the API server's cost when nothing waits
    for _ in range(40):
        limit.record(0.005 * limit.limit / 2)  # each write waits for half the others
    assert limit.limit < 12


def test_an_unused_limit_does_not_grow() -> None:
    limit = AdaptiveLimit(initial=8)
    for _ in range(50):
        limit.record(0.005)  # one write at a time: nothing says more would be fine
    assert limit.limit == 8


def test_waiters_are_served_first_come_first_served_within_the_limit() -> None:
    order: list[int] = []
    most = 0

    async def main() -> None:
        limit = AdaptiveLimit(initial=2, maximum=2)

        async def write(i: int) -> None:
            nonlocal most
            async with limit:
                most = max(most, limit.in_flight)
                order.append(i)
                await asyncio.sleep(1)

        await asyncio.gather(*(write(i) for i in range(6)))
        assert limit.in_flight == 0

    loop = looptime.new_event_loop(start=0)
    try:
        loop.run_until_complete(main())
        assert loop.time() == 3  # six writes of 1 s, two at a time
    finally:
        loop.close()
    assert order == list(range(6))
    assert most == 2
