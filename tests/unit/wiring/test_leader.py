"""Leader election on a Lease: one leader, takeover after expiry, never two at once.

A fake Lease API keeps one object with a resourceVersion and refuses stale updates with
409, as the API server does; the electors' clocks are plain numbers the test moves.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tiltrun.wiring.leader import Conflict, LeaderElector, Timing
from tiltrun.wiring.session import Unavailable

Obj = dict[str, Any]
TIMING = Timing(lease_duration=8, renew_deadline=5, retry=1)


class FakeLeases:
    """One Lease, stored as the API server would: a resourceVersion guards updates."""

    def __init__(self) -> None:
        self.lease: Obj | None = None
        self.version = 0
        self.down = False

    async def get(self) -> Obj | None:
        if self.down:
            raise Unavailable("connection refused")
        return copy.deepcopy(self.lease)

    async def create(self, lease: Obj) -> Obj:
        if self.down:
            raise Unavailable("connection refused")
        if self.lease is not None:
            raise Conflict("already exists")
        return self._store(lease)

    async def replace(self, lease: Obj) -> Obj:
        if self.down:
            raise Unavailable("connection refused")
        held = (self.lease or {}).get("metadata", {}).get("resourceVersion")
        if lease.get("metadata", {}).get("resourceVersion") != held:
            raise Conflict("the object has been modified")
        return self._store(lease)

    def _store(self, lease: Obj) -> Obj:
        self.version += 1
        self.lease = {**copy.deepcopy(lease), "metadata": {"resourceVersion": str(self.version)}}
        return copy.deepcopy(self.lease)

    @property
    def holder(self) -> str | None:
        return (self.lease or {}).get("spec", {}).get("holderIdentity")


class Candidate:
    """An elector with its own clock, recording its leadership changes."""

    def __init__(self, leases: FakeLeases, name: str, clock: list[float]) -> None:
        self.changes: list[str] = []
        self.elector = LeaderElector(
            leases,
            name,
            on_lead=lambda: self.changes.append("lead"),
            on_follow=lambda: self.changes.append("follow"),
            timing=TIMING,
            clock=lambda: clock[0],
            wall=lambda: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=clock[0]),
        )

    def step(self) -> bool:
        return asyncio.run(self.elector.step())


def test_the_first_candidate_leads_and_the_second_waits() -> None:
    leases, clock = FakeLeases(), [0.0]
    a, b = Candidate(leases, "a", clock), Candidate(leases, "b", clock)
    assert a.step() is True
    assert b.step() is False
    for _ in range(20):  # a renews every second; b never gets in
        clock[0] += 1
        assert a.step() is True
        assert b.step() is False
    assert leases.holder == "a"
    assert a.changes == ["lead"] and b.changes == []
    assert leases.lease is not None and leases.lease["spec"]["leaseTransitions"] == 0


def test_the_standby_takes_over_once_the_lease_has_expired_on_its_own_clock() -> None:
    leases, clock = FakeLeases(), [0.0]
    a, b = Candidate(leases, "a", clock), Candidate(leases, "b", clock)
    a.step()
    b.step()  # b sees the record at t=0
    # a is killed: nobody renews. Until 8 s after b last saw a change, b waits.
    for t in range(1, 8):
        clock[0] = t
        assert b.step() is False, t
    clock[0] = 8.5
    assert b.step() is True
    assert leases.holder == "b"
    assert leases.lease is not None and leases.lease["spec"]["leaseTransitions"] == 1
    assert b.changes == ["lead"]


def test_two_candidates_never_both_win_one_expired_lease() -> None:
    leases, clock = FakeLeases(), [0.0]
    a, b, c = (Candidate(leases, n, clock) for n in "abc")
    a.step()
    b.step()
    c.step()
    clock[0] = 9.0

    async def both() -> list[bool]:
        return list(await asyncio.gather(b.elector.step(), c.elector.step()))

    results = asyncio.run(both())
    assert results.count(True) == 1
    assert leases.holder in ("b", "c")


def test_a_leader_that_cannot_renew_stops_before_anyone_may_take_over() -> None:
    leases, clock = FakeLeases(), [0.0]
    a = Candidate(leases, "a", clock)
    a.step()
    leases.down = True  # a is cut off from the API server
    clock[0] = 4.0
    assert a.step() is True  # still inside the renew deadline
    clock[0] = 5.5
    assert a.step() is False
    assert a.changes == ["lead", "follow"]
    # It stopped 5.5 s after its last renewal; a standby may start only after 8 s.
    assert TIMING.renew_deadline < TIMING.lease_duration


def test_a_released_lease_is_taken_at_the_next_try() -> None:
    leases, clock = FakeLeases(), [0.0]
    a, b = Candidate(leases, "a", clock), Candidate(leases, "b", clock)
    a.step()
    b.step()
    asyncio.run(a.elector.release())
    assert a.changes == ["lead", "follow"]
    clock[0] = 1.0
    assert b.step() is True  # no need to wait out the 8 s
    assert leases.holder == "b"


def test_timing_must_leave_a_gap_between_giving_up_and_taking_over() -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        Timing(lease_duration=5, renew_deadline=5, retry=1)
