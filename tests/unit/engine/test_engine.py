"""The engine's promises, with a recording writer in place of the API server.

These are unit tests of the reconcile loop (coalescing, change detection, sticky
results, timers); what the API server stores is proven by the integration tests.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from tiltrun.engine.engine import Engine

OBJECTS = Path(__file__).parents[2] / "fixtures" / "objects"
EVERYTHING = {"matchExpressions": [{"key": "no-such-label", "operator": "DoesNotExist"}]}


def load(name: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((OBJECTS / name).read_text()) if d]
    if len(docs) == 1 and docs[0].get("kind") == "List":
        docs = docs[0]["items"]
    return docs


def namespaced(objs: list[dict[str, Any]], ns: str = "team") -> list[dict[str, Any]]:
    out = copy.deepcopy(objs)
    for obj in out:
        obj["metadata"]["namespace"] = ns
    return out


def run(
    name: str = "demo",
    *,
    timeout: str = "30m",
    status: dict[str, Any] | None = None,
    exit_condition: str = "ci",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "TiltRun",
        "metadata": {"name": name, "namespace": "team", "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "tiltfilePath": "Tiltfile",
            "exitCondition": exit_condition,
            "selector": EVERYTHING,
            "ci": {"timeout": timeout},
        },
    }
    if status is not None:
        obj["status"] = status
    return obj


class RecordingWriter:
    """Writes nothing anywhere: remembers what the engine asked for."""

    def __init__(self, fail_first: int = 0) -> None:
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.events: list[tuple[str, str]] = []
        self.fail_first = fail_first

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("503 the server is currently unable to handle the request")
        self.patches.append((namespace, name, copy.deepcopy(status)))

    async def post_event(self, run: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason))


def feed(engine: Engine, objs: list[dict[str, Any]]) -> None:
    for obj in objs:
        engine.observe(obj["kind"], "ADDED", obj)


def drive(
    body: Callable[[Engine, RecordingWriter], Awaitable[None]],
    writer: RecordingWriter | None = None,
) -> RecordingWriter:
    """Run ``body`` against a live engine loop, then stop the loop."""
    writer = writer or RecordingWriter()

    async def main() -> None:
        engine = Engine(writer, pid=4242, coalesce=0.01)
        task = asyncio.create_task(engine.run())
        try:
            await body(engine, writer)
        finally:
            task.cancel()

    asyncio.run(main())
    return writer


async def settle() -> None:
    await asyncio.sleep(0.1)


def test_a_burst_of_events_costs_one_patch() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        objs = namespaced(load("deployment-available.yaml"))
        for _ in range(20):  # the same rollout reported again and again
            feed(engine, objs)
        await settle()

    writer = drive(body)
    assert len(writer.patches) == 1
    status = writer.patches[0][2]
    assert status["targets"][0]["name"] == "deployment/web"
    assert status["pid"] == 4242


def test_an_unchanged_world_writes_nothing_more() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await settle()
        feed(engine, namespaced(load("deployment-available.yaml")))
        engine.observe_run("MODIFIED", run(exit_condition="manual"))
        await settle()

    assert len(drive(body).patches) == 1


def test_a_finished_run_is_never_rewritten() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run())
        feed(engine, namespaced(load("job-complete.yaml")))
        await settle()
        assert writer.patches[-1][2]["done"] is True
        feed(engine, namespaced(load("job-failed-backoff-limit.yaml")))
        await settle()

    writer = drive(body)
    assert len(writer.patches) == 1
    assert ("Normal", "Succeeded") in writer.events


def test_a_run_stored_as_done_is_left_alone_after_a_restart() -> None:
    stored = {"done": True, "error": "", "startTime": "2026-01-01T00:00:00.000000Z"}

    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(status=stored))
        feed(engine, namespaced(load("job-failed-backoff-limit.yaml")))
        await settle()

    assert drive(body).patches == []


def test_start_time_is_kept_from_the_stored_status() -> None:
    stored = {"startTime": "2026-01-01T00:00:00.000000Z", "done": False}

    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual", status=stored))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await settle()

    assert drive(body).patches[0][2]["startTime"] == "2026-01-01T00:00:00.000000Z"


def test_the_run_timeout_fires_without_any_event() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(timeout="300ms"))
        feed(engine, namespaced(load("job-running.yaml")))
        await settle()
        assert writer.patches[-1][2]["done"] is False
        await asyncio.sleep(0.5)  # no event arrives; only the engine's own timer

    writer = drive(body)
    final = writer.patches[-1][2]
    assert final["done"] is True
    assert final["error"].startswith("timed out after 0.3s")


def test_a_failed_patch_is_retried_until_it_lands() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await asyncio.sleep(1.3)  # first attempt fails; the retry comes after 1 s

    writer = drive(body, RecordingWriter(fail_first=1))
    assert len(writer.patches) == 1


def test_a_deleted_workload_leaves_the_run() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        objs = namespaced(load("deployment-available.yaml"))
        feed(engine, objs)
        await settle()
        engine.observe("Deployment", "DELETED", objs[0])
        await settle()

    writer = drive(body)
    assert [t["name"] for t in writer.patches[-1][2]["targets"]] == []


def _replacement(stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run ``demo`` deleted and created again: same name, a new uid."""
    obj = run(status=stored)
    obj["metadata"]["uid"] = "uid-demo-2"
    return obj


def test_a_run_created_again_under_the_same_name_is_a_new_run() -> None:
    finished = {"done": True, "error": "", "startTime": "2026-01-01T00:00:00.000000Z"}

    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(status=finished))
        feed(engine, namespaced(load("job-running.yaml")))
        await settle()
        assert writer.patches == []  # the finished run is left alone
        # Its DELETED was missed (a watch gap); the new run must not inherit its result.
        engine.observe_run("ADDED", _replacement())
        await settle()

    writer = drive(body)
    assert len(writer.patches) == 1
    fresh = writer.patches[0][2]
    assert fresh["done"] is False
    assert fresh["startTime"] != finished["startTime"]


def test_a_late_delete_of_the_old_run_keeps_the_new_one() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        old = run(exit_condition="manual")
        engine.observe_run("ADDED", old)
        await settle()
        # kopf works on each uid apart: the new run's ADDED may come before the old DELETED.
        engine.observe_run("ADDED", _replacement())
        engine.observe_run("DELETED", old)
        feed(engine, namespaced(load("job-running.yaml")))
        await settle()

    writer = drive(body)
    assert [t["name"] for t in writer.patches[-1][2]["targets"]] == ["job/migrate"]
