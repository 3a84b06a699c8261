"""Watches: informers per kind and namespace, TiltRuns included, and their relists."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import looptime

from tests.unit.engine.test_engine import RecordingWriter, run
from tiltrun.engine.engine import Engine
from tiltrun.wiring.informer import Resource
from tiltrun.wiring.session import ApiError
from tiltrun.wiring.watches import Watches

Obj = dict[str, Any]
GONE = ApiError(410, "Expired", "too old resource version")


class Server:
    """Answers LISTs from ``collections`` (path -> items); each watch ends as scripted."""

    def __init__(self, collections: dict[str, list[Obj]], watch_errors: list[Exception]) -> None:
        self.collections = collections
        self.watch_errors = watch_errors
        self.paths: list[str] = []
        self.listed_runs = asyncio.Event()
        #: Set to let the next scripted watch error happen.
        self.gap = asyncio.Event()

    async def request(self, method: str, path: str, **_: Any) -> Obj:
        self.paths.append(f"LIST {path}")
        if path.endswith("/tiltruns"):
            self.listed_runs.set()
        return {"items": list(self.collections.get(path, [])), "metadata": {"resourceVersion": "5"}}

    async def watch(
        self, path: str, params: Mapping[str, str], *, idle_timeout: float
    ) -> AsyncIterator[Obj]:
        self.paths.append(f"WATCH {path}")
        if self.watch_errors:
            await self.gap.wait()
            self.gap.clear()
            raise self.watch_errors.pop(0)
        await asyncio.Event().wait()
        yield {}


def _drive(body: Any) -> None:
    loop = looptime.new_event_loop(start=0)
    try:
        loop.run_until_complete(body())
    finally:
        loop.close()


def test_each_kind_is_watched_per_namespace_and_cluster_scoped_kinds_once() -> None:
    server = Server({}, [])

    async def body() -> None:
        engine = Engine(RecordingWriter())
        kinds = [
            Resource("v1", "pods", "Pod"),
            Resource("example.com/v1", "things", "Thing", False),
        ]
        watches = Watches(server, engine, ["a", "b"], kinds)  # type: ignore[arg-type]
        watches.start()
        await asyncio.sleep(1)
        assert sorted(i.source for i in watches.informers) == [
            "pods.v1@a",
            "pods.v1@b",
            "things.example.com/v1",
            "tiltruns.tilt.dev/v1alpha1@a",
            "tiltruns.tilt.dev/v1alpha1@b",
        ]
        assert engine.listed
        await watches.stop()

    _drive(body)
    assert "LIST /api/v1/namespaces/a/pods" in server.paths
    assert "LIST /apis/example.com/v1/things" in server.paths


def test_a_relist_of_the_runs_forgets_one_deleted_during_the_gap() -> None:
    runs_path = "/apis/tilt.dev/v1alpha1/namespaces/team/tiltruns"
    server = Server({runs_path: [run("kept"), run("gone")]}, [GONE])

    async def body() -> None:
        engine = Engine(RecordingWriter())
        task = asyncio.create_task(engine.run())
        watches = Watches(server, engine, ["team"])  # type: ignore[arg-type]
        watches.start()
        await server.listed_runs.wait()  # the start-up list
        await engine.idle()
        assert set(engine.store.runs) == {("team", "kept"), ("team", "gone")}
        assert engine.readiness() is None  # both runs listed at start have their status
        server.listed_runs.clear()
        server.collections[runs_path] = [run("kept")]  # "gone" is deleted; its event lost
        server.gap.set()  # the runs' watch answers 410: they are listed again
        await server.listed_runs.wait()
        await engine.idle()
        await watches.stop()
        task.cancel()
        assert set(engine.store.runs) == {("team", "kept")}

    _drive(body)
