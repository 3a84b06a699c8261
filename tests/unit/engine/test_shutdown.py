"""Stopping the engine as the operator does on SIGTERM loses no status patch in flight.

kopf turns SIGTERM into cancelling its tasks, then runs the cleanup handler, which
cancels the engine's task (wiring/handlers.py). ClusterWriter sends each PATCH from a
worker thread (``asyncio.to_thread``): cancelling the awaiting task cannot interrupt
the thread, and ``asyncio.run`` (which ``kopf.run`` uses) joins the default executor's
threads before it returns, so the request completes before the process exits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from tiltrun.engine.engine import Engine
from tiltrun.engine.store import RunKey
from tiltrun.judge.exit import Outcome

RUN = {
    "apiVersion": "tilt.dev/v1alpha1",
    "kind": "TiltRun",
    "metadata": {"name": "demo", "namespace": "team", "uid": "uid-demo", "generation": 1},
    "spec": {"tiltfilePath": "Tiltfile", "exitCondition": "ci"},
}


class SlowThreadedWriter:
    """Like ClusterWriter: the blocking request runs in a worker thread."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.landed: list[dict[str, Any]] = []

    def _send(self, status: dict[str, Any]) -> None:
        self.started.set()
        time.sleep(0.3)  # the API server is slow today
        self.landed.append(status)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await asyncio.to_thread(self._send, status)

    async def post_event(self, run: dict[str, Any], type_: str, reason: str, message: str) -> None:
        pass


def test_a_patch_in_flight_when_the_engine_is_cancelled_still_lands() -> None:
    writer = SlowThreadedWriter()
    reconciled: list[tuple[RunKey, Outcome]] = []

    async def main() -> None:
        engine = Engine(
            writer,
            coalesce=0,
            on_reconcile=lambda key, seconds, outcome: reconciled.append((key, outcome)),
        )
        task = asyncio.get_running_loop().create_task(engine.run())
        engine.observe_run("ADDED", RUN)
        await asyncio.to_thread(writer.started.wait, 5)
        task.cancel()  # what the cleanup handler does after SIGTERM

    asyncio.run(main())
    assert len(writer.landed) == 1
    assert writer.landed[0]["summary"].startswith("no enabled workloads match")
    assert reconciled == [(("team", "demo"), Outcome.RUNNING)]
