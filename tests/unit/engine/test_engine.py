"""The engine's promises, with a recording writer in place of the API server.

These are unit tests of the reconcile loop (coalescing, change detection, sticky
results, timers, pacing, the listing gate); what the API server stores is proven by
the integration tests.

Time is the event loop's, made controllable by ``looptime``: ``advance(seconds)`` moves
it forward at once (timers due meanwhile fire in order), and ``engine.idle()`` returns
when the engine has nothing left to do now. No test waits for real time to pass.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import looptime
import yaml

from tiltrun.engine.engine import REASON_INTERVAL, Engine
from tiltrun.engine.writer import Gone

OBJECTS = Path(__file__).parents[2] / "fixtures" / "objects"
EVERYTHING = {"matchExpressions": [{"key": "no-such-label", "operator": "DoesNotExist"}]}
#: The wall clock of the tests: this instant plus the loop's (controllable) time.
EPOCH = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)


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

    def __init__(self, fail_first: int = 0, gone: bool = False) -> None:
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.events: list[tuple[str, str]] = []
        self.subjects: list[str] = []
        self.fail_first = fail_first
        self.gone = gone

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        if self.gone:
            raise Gone(f"{namespace}/{name}")
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("503 the server is currently unable to handle the request")
        self.patches.append((namespace, name, copy.deepcopy(status)))

    async def post_event(
        self, run: dict[str, Any], type_: str, reason: str, message: str, subject: str = ""
    ) -> None:
        self.events.append((type_, reason))
        self.subjects.append(subject)


def feed(engine: Engine, objs: list[dict[str, Any]]) -> None:
    for obj in objs:
        engine.observe(obj["kind"], "ADDED", obj)


def loop_clock() -> datetime:
    """The wall clock the engine reads: moves exactly with the loop's time."""
    return EPOCH + timedelta(seconds=asyncio.get_running_loop().time())


def drive(
    body: Callable[[Engine, RecordingWriter], Awaitable[None]],
    writer: RecordingWriter | None = None,
    **options: Any,
) -> RecordingWriter:
    """Run ``body`` against a live engine on a looptime loop, then stop the engine."""
    writer = writer or RecordingWriter()

    async def main() -> None:
        engine = Engine(writer, pid=4242, coalesce=0.01, clock=loop_clock, **options)
        task = asyncio.create_task(engine.run())
        try:
            await body(engine, writer)
        finally:
            task.cancel()

    loop = looptime.new_event_loop(start=0)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return writer


async def advance(seconds: float) -> None:
    """Let ``seconds`` of loop time pass (at once, in real time)."""
    await asyncio.sleep(seconds)


def test_a_burst_of_events_costs_one_patch() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        objs = namespaced(load("deployment-available.yaml"))
        for _ in range(20):  # the same rollout reported again and again
            feed(engine, objs)
        await engine.idle()

    writer = drive(body)
    assert len(writer.patches) == 1
    status = writer.patches[0][2]
    assert status["targets"][0]["name"] == "deployment/web"
    assert status["pid"] == 4242


def test_an_unchanged_world_writes_nothing_more() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await engine.idle()
        feed(engine, namespaced(load("deployment-available.yaml")))
        engine.observe_run("MODIFIED", run(exit_condition="manual"))
        await engine.idle()

    assert len(drive(body).patches) == 1


def test_a_finished_run_is_never_rewritten() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run())
        feed(engine, namespaced(load("job-complete.yaml")))
        await engine.idle()
        assert writer.patches[-1][2]["done"] is True
        feed(engine, namespaced(load("job-failed-backoff-limit.yaml")))
        await engine.idle()

    writer = drive(body)
    assert len(writer.patches) == 1
    assert ("Normal", "Succeeded") in writer.events


def test_a_run_stored_as_done_is_left_alone_after_a_restart() -> None:
    stored = {"done": True, "error": "", "startTime": "2026-01-01T00:00:00.000000Z"}

    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(status=stored))
        feed(engine, namespaced(load("job-failed-backoff-limit.yaml")))
        await engine.idle()

    assert drive(body).patches == []


def test_start_time_is_kept_from_the_stored_status() -> None:
    stored = {"startTime": "2026-01-01T00:00:00.000000Z", "done": False}

    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual", status=stored))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await engine.idle()

    assert drive(body).patches[0][2]["startTime"] == "2026-01-01T00:00:00.000000Z"


def test_the_run_timeout_fires_without_any_event() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(timeout="300ms"))
        feed(engine, namespaced(load("job-running.yaml")))
        await engine.idle()
        assert writer.patches[-1][2]["done"] is False
        await advance(0.5)  # no event arrives; only the engine's own timer
        await engine.idle()

    writer = drive(body)
    final = writer.patches[-1][2]
    assert final["done"] is True
    assert final["error"].startswith("timed out after 0.3s")


def test_a_failed_patch_is_retried_until_it_lands() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await engine.idle()
        assert writer.patches == []  # the first attempt failed
        await advance(1.0)  # the retry comes after 1 s
        await engine.idle()

    writer = drive(body, RecordingWriter(fail_first=1))
    assert len(writer.patches) == 1


def test_a_deleted_workload_leaves_the_run() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        objs = namespaced(load("deployment-available.yaml"))
        feed(engine, objs)
        await engine.idle()
        engine.observe("Deployment", "DELETED", objs[0])
        await engine.idle()

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
        await engine.idle()
        assert writer.patches == []  # the finished run is left alone
        # Its DELETED was missed (a watch gap); the new run must not inherit its result.
        engine.observe_run("ADDED", _replacement())
        await engine.idle()

    writer = drive(body)
    assert len(writer.patches) == 1
    fresh = writer.patches[0][2]
    assert fresh["done"] is False
    assert fresh["startTime"] != finished["startTime"]


def test_a_late_delete_of_the_old_run_keeps_the_new_one() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        old = run(exit_condition="manual")
        engine.observe_run("ADDED", old)
        await engine.idle()
        # kopf works on each uid apart: the new run's ADDED may come before the old DELETED.
        engine.observe_run("ADDED", _replacement())
        engine.observe_run("DELETED", old)
        feed(engine, namespaced(load("job-running.yaml")))
        await engine.idle()

    writer = drive(body)
    assert [t["name"] for t in writer.patches[-1][2]["targets"]] == ["job/migrate"]


# -- pacing: phase changes at once, wording at a bounded rate -------------------------------


def _pod(reason: str, version: str, *, running: bool = False) -> dict[str, Any]:
    """The bare pod ``debug-web`` waiting for ``reason``, or running and ready."""
    (pod,) = namespaced(load("pod-container-creating.yaml"))
    pod["metadata"]["resourceVersion"] = version
    if running:
        return {
            **namespaced(load("pod-running-ready.yaml"))[0],
            "metadata": {**pod["metadata"], "resourceVersion": version},
        }
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": reason}}
    return pod


def _reason(patch: tuple[str, str, dict[str, Any]]) -> str:
    return str(patch[2]["targets"][0]["state"]["waiting"]["reason"])


def test_a_wording_only_change_waits_for_the_interval_a_phase_change_does_not() -> None:
    """Within the interval after a write, the interval decides (it is longer than the hold)."""

    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        engine.observe("Pod", "ADDED", _pod("ContainerCreating", "1"))
        await engine.idle()
        assert len(writer.patches) == 1  # the first status: at once
        await advance(1)
        engine.observe("Pod", "MODIFIED", _pod("PodInitializing", "2"))
        await engine.idle()
        assert len(writer.patches) == 1  # wording only, 1 s after the last write: later
        engine.observe("Pod", "MODIFIED", _pod("ImagePulling", "3"))
        await engine.idle()
        await advance(3.9)
        await engine.idle()
        assert len(writer.patches) == 1
        await advance(0.2)  # 5 s after the last write: the latest wording, once
        await engine.idle()
        assert len(writer.patches) == 2
        assert _reason(writer.patches[-1]) == "ImagePulling"
        await advance(0.5)
        engine.observe("Pod", "MODIFIED", _pod("", "4", running=True))
        await engine.idle()  # a phase change (waiting -> ready): at once
        assert len(writer.patches) == 3
        assert writer.patches[-1][2]["targets"][0]["state"]["active"]["ready"] is True

    drive(body, reason_interval=5.0, reason_hold=2.0)


async def _reworded_after_a_quiet_minute(engine: Engine) -> None:
    """A run written once; a minute later its pod's reason changes (wording only)."""
    engine.observe_run("ADDED", run(exit_condition="manual"))
    engine.observe("Pod", "ADDED", _pod("ContainerCreating", "1"))
    await engine.idle()
    await advance(60)
    engine.observe("Pod", "MODIFIED", _pod("PodInitializing", "2"))
    await engine.idle()


def test_a_wording_change_long_after_the_last_write_is_written_once_it_has_held() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        await _reworded_after_a_quiet_minute(engine)
        await advance(1.9)
        await engine.idle()
        assert [_reason(p) for p in writer.patches] == ["ContainerCreating"]
        await advance(0.2)  # it has held for 2 s: written
        await engine.idle()
        assert [_reason(p) for p in writer.patches] == ["ContainerCreating", "PodInitializing"]

    drive(body, reason_interval=5.0, reason_hold=2.0)


def test_a_reason_a_phase_change_replaces_within_the_hold_costs_no_write() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        await _reworded_after_a_quiet_minute(engine)
        await advance(1)
        engine.observe("Pod", "MODIFIED", _pod("", "3", running=True))
        await engine.idle()  # the phase change: at once
        await advance(10)  # the hold and the interval pass: nothing left to write
        await engine.idle()
        assert len(writer.patches) == 2
        assert writer.patches[-1][2]["targets"][0]["state"]["active"]["ready"] is True

    drive(body, reason_interval=5.0, reason_hold=2.0)


# -- the listing gate, relists, and runs that vanished ----------------------------------------


def test_nothing_is_judged_until_every_source_has_listed() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.expect("pods")
        engine.expect("jobs")
        engine.observe_run("ADDED", run(exit_condition="manual"))
        engine.observe("Pod", "ADDED", _pod("ContainerCreating", "1"))
        await engine.idle()
        engine.replace("pods", "Pod", None, [_pod("ContainerCreating", "1")])
        await engine.idle()
        assert writer.patches == []
        assert engine.readiness() == "not yet listed: jobs"
        engine.replace("jobs", "Job", None, [])
        await engine.idle()
        assert [t["name"] for t in writer.patches[-1][2]["targets"]] == ["pod/debug-web"]

    drive(body)


def test_a_relist_drops_what_vanished_during_a_gap_and_recomputes_the_run() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        objs = namespaced(load("deployment-available.yaml"))
        feed(engine, objs)
        await engine.idle()
        assert [t["name"] for t in writer.patches[-1][2]["targets"]] == ["deployment/web"]
        # The Deployment was deleted while the watch was down; its DELETED never came.
        engine.replace("deployments", "Deployment", "team", [])
        await engine.idle()

    writer = drive(body)
    assert writer.patches[-1][2]["targets"] == []


def test_a_relist_of_one_namespace_leaves_the_others_alone() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await engine.idle()
        engine.replace("deployments", "Deployment", "elsewhere", [])
        await engine.idle()

    writer = drive(body)
    assert len(writer.patches) == 1


def test_a_run_whose_status_write_answers_404_is_dropped() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        await engine.idle()
        assert engine.store.runs == {}

    drive(body, RecordingWriter(gone=True))


def test_a_fresh_list_of_runs_forgets_those_deleted_unseen_in_its_namespace_only() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run("kept", exit_condition="manual"))
        engine.observe_run("ADDED", run("gone", exit_condition="manual"))
        engine.observe_run("ADDED", namespaced([run("elsewhere", exit_condition="manual")], "b")[0])
        engine.observe_run("ADDED", run("again", exit_condition="manual"))
        await engine.idle()
        fresh = run("again", exit_condition="manual")
        fresh["metadata"]["uid"] = "uid-of-the-new-again"  # deleted and created again unseen
        engine.replace_runs("tiltruns@team", "team", [run("kept"), fresh])
        await engine.idle()
        assert set(engine.store.runs) == {("team", "kept"), ("team", "again"), ("b", "elsewhere")}
        assert engine.store.runs[("team", "again")]["metadata"]["uid"] == "uid-of-the-new-again"
        # The new "again" is a new run: it was given a status of its own.
        assert [name for _, name, _ in writer.patches].count("again") == 2

    drive(body)


def test_ready_once_listed_and_every_run_has_its_status() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.expect("pods")
        assert engine.readiness() == "not yet listed: pods"
        engine.replace("pods", "Pod", None, [])
        assert engine.readiness() == "the TiltRuns have not been listed yet"
        engine.expect("tiltruns")
        engine.replace_runs("tiltruns", None, [run(exit_condition="manual")])
        assert engine.readiness() == "1 TiltRuns have no current status yet"
        await engine.idle()
        assert engine.readiness() is None

    drive(body)


def test_an_update_that_changes_no_judgement_is_not_recomputed() -> None:
    """Nor decided again when it changes only words: that decision waits for the hold."""
    reconciles: list[str] = []

    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        engine.observe("Pod", "ADDED", _pod("ContainerCreating", "1"))
        await engine.idle()
        assert len(reconciles) == 1
        noted = _pod("ContainerCreating", "2")
        noted["metadata"]["annotations"]["example.com/note"] = "hello"
        engine.observe("Pod", "MODIFIED", noted)  # a new version, the same judgement
        await engine.idle()
        assert len(reconciles) == 1
        engine.observe("Pod", "MODIFIED", _pod("PodInitializing", "3"))  # words only
        await engine.idle()
        assert len(reconciles) == 1
        await advance(REASON_INTERVAL)  # the wording waits for the interval after a write
        await engine.idle()
        assert len(reconciles) == 2  # decided once the words held
        assert [_reason(p) for p in writer.patches][-1] != _reason(writer.patches[0])
        engine.observe("Pod", "MODIFIED", _pod("x", "4", running=True))  # a phase
        await engine.idle()
        assert len(reconciles) == 3

    drive(body, on_reconcile=lambda key, seconds, outcome: reconciles.append(str(outcome)))
