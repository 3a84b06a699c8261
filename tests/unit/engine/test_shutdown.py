"""Stopping the engine as the operator does on SIGTERM loses no status patch in flight.

kopf turns SIGTERM into cancelling its tasks, then runs the cleanup handler
(wiring/handlers.py), which stops the informers, cancels the engine's loop and then
waits (``Engine.drain``) for the writes already in flight before the connection closes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import looptime

from tiltrun.engine.engine import Engine
from tiltrun.engine.store import RunKey
from tiltrun.judge.exit import Outcome

RUN = {
    "apiVersion": "tilt.dev/v1alpha1",
    "kind": "TiltRun",
    "metadata": {"name": "demo", "namespace": "team", "uid": "uid-demo", "generation": 1},
    "spec": {"tiltfilePath": "Tiltfile", "exitCondition": "ci"},
}


class SlowWriter:
    """Like ClusterWriter on a slow day: each PATCH takes 3 s to be answered."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.landed: list[dict[str, Any]] = []

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.started.set()
        await asyncio.sleep(3)
        self.landed.append(status)

    async def post_event(
        self, run: dict[str, Any], type_: str, reason: str, message: str, subject: str = ""
    ) -> None:
        pass


def _stop_while_writing(drain_seconds: float) -> tuple[SlowWriter, list[tuple[RunKey, Outcome]]]:
    writer = SlowWriter()
    reconciled: list[tuple[RunKey, Outcome]] = []

    async def main() -> None:
        engine = Engine(
            writer,
            coalesce=0,
            on_reconcile=lambda key, seconds, outcome: reconciled.append((key, outcome)),
        )
        task = asyncio.create_task(engine.run())
        engine.observe_run("ADDED", RUN)
        await writer.started.wait()
        task.cancel()  # what the cleanup handler does after SIGTERM...
        await engine.drain(drain_seconds)  # ...before it closes the connection

    loop = looptime.new_event_loop(start=0)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return writer, reconciled


def test_a_patch_in_flight_when_the_engine_is_stopped_still_lands() -> None:
    writer, reconciled = _stop_while_writing(drain_seconds=10)
    assert len(writer.landed) == 1
    assert writer.landed[0]["summary"].startswith("no enabled workloads match")
    assert reconciled == [(("team", "demo"), Outcome.RUNNING)]


def test_a_patch_that_outlasts_the_drain_is_given_up() -> None:
    writer, _ = _stop_while_writing(drain_seconds=1)
    assert writer.landed == []
