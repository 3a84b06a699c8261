"""Events are aggregated as Kubernetes components do, and never flood a dying namespace."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tiltrun.wiring.events import COMBINED, SIMILAR, WINDOW, EventRecorder
from tiltrun.wiring.session import ApiError

Obj = dict[str, Any]
RUN = {"metadata": {"name": "board", "namespace": "team", "uid": "uid-board"}}


class FakeApi:
    """Stores Events as the API server would; can refuse like a namespace being deleted."""

    def __init__(self, terminating: bool = False) -> None:
        self.events: dict[str, Obj] = {}
        self.requests: list[str] = []
        self.terminating = terminating

    async def request(
        self, method: str, path: str, *, body: Obj | None = None, **_: Any
    ) -> Mapping[str, Any]:
        self.requests.append(method)
        if self.terminating:
            raise ApiError(
                403,
                "Forbidden",
                'events "x" is forbidden: unable to create new content in namespace team '
                "because it is being terminated",
            )
        assert body is not None
        if method == "POST":
            name = f"board.{len(self.events)}"
            self.events[name] = {**body, "metadata": {"name": name}}
            return self.events[name]
        name = path.rsplit("/", 1)[1]
        if name not in self.events:
            raise ApiError(404, "NotFound", f'events "{name}" not found')
        self.events[name].update(body)
        return self.events[name]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def recorder(api: FakeApi, clock: Clock) -> EventRecorder:
    return EventRecorder(
        api,  # type: ignore[arg-type]
        clock=clock,
        wall=lambda: datetime(2026, 5, 12, tzinfo=UTC),
    )


def test_the_same_event_again_counts_on_one_event() -> None:
    api, clock = FakeApi(), Clock()
    events = recorder(api, clock)

    async def main() -> None:
        for restarts in range(3):
            clock.now += 1
            await events.record(
                RUN,
                "Warning",
                "TargetFailed",
                f"deployment/web: {restarts} restarts",
                "deployment/web",
            )

    asyncio.run(main())
    assert api.requests == ["POST", "PATCH", "PATCH"]
    (stored,) = api.events.values()
    assert stored["count"] == 3
    assert stored["message"] == "deployment/web: 2 restarts"


def test_after_the_window_a_new_event_is_posted() -> None:
    api, clock = FakeApi(), Clock()
    events = recorder(api, clock)

    async def main() -> None:
        await events.record(RUN, "Warning", "TargetFailed", "job/a: failed", "job/a")
        clock.now += WINDOW + 1
        await events.record(RUN, "Warning", "TargetFailed", "job/a: failed", "job/a")

    asyncio.run(main())
    assert api.requests == ["POST", "POST"]


def test_an_expired_event_is_posted_again() -> None:
    api, clock = FakeApi(), Clock()
    events = recorder(api, clock)

    async def main() -> None:
        await events.record(RUN, "Warning", "TargetFailed", "job/a: failed", "job/a")
        api.events.clear()  # the API server let it expire
        await events.record(RUN, "Warning", "TargetFailed", "job/a: failed", "job/a")

    asyncio.run(main())
    assert api.requests == ["POST", "PATCH", "POST"]
    assert len(api.events) == 1


def test_many_similar_events_are_combined_into_one() -> None:
    api, clock = FakeApi(), Clock()
    events = recorder(api, clock)

    async def main() -> None:
        for i in range(500):
            await events.record(RUN, "Warning", "TargetFailed", f"pod/p{i}: crash", f"pod/p{i}")

    asyncio.run(main())
    assert len(api.events) == SIMILAR + 1
    combined = [e for e in api.events.values() if e["message"].startswith(COMBINED)]
    assert len(combined) == 1
    assert combined[0]["count"] == 500 - SIMILAR
    assert combined[0]["message"] == COMBINED + "pod/p499: crash"


def test_a_namespace_being_deleted_gets_one_attempt_then_none() -> None:
    api, clock = FakeApi(terminating=True), Clock()
    events = recorder(api, clock)

    async def main() -> None:
        for i in range(500):
            await events.record(RUN, "Warning", "TargetFailed", f"pod/p{i}: crash", f"pod/p{i}")

    asyncio.run(main())
    assert api.requests == ["POST"]
