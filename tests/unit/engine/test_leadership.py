"""A standby engine (leader election): it watches, writes nothing, and takes over cleanly.

``follow``/``lead`` are what the Lease holder's changes call (wiring/leader.py). The
promises: a standby never writes; a new leader starts from what the old one stored, so
startTime stays, a finished result is untouched, and no Event is posted twice.
"""

from __future__ import annotations

from tests.unit.engine.test_engine import (
    RecordingWriter,
    advance,
    drive,
    feed,
    load,
    namespaced,
    run,
)
from tiltrun.engine.engine import Engine


def test_a_standby_writes_nothing_and_is_ready_once_listed() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.expect("pods")
        engine.expect("tiltruns")
        assert engine.readiness() is not None
        engine.replace_runs("tiltruns", "team", [run(timeout="300ms")])
        feed(engine, namespaced(load("job-failed-backoff-limit.yaml")))
        engine.replace("pods", "Pod", "team", [])
        await advance(1.0)  # the run's timeout passes too: still nothing
        await engine.idle()
        assert engine.readiness() is None

    writer = drive(body, leading=False)
    assert writer.patches == []
    assert writer.events == []


def test_the_new_leader_keeps_what_the_old_one_stored() -> None:
    """The old leader finished one run and had another running; then it died."""
    finished = {
        "done": True,
        "error": "",
        "startTime": "2026-01-01T00:00:00.000000Z",
        "summary": "1 target up",
    }
    running = {"done": False, "startTime": "2026-01-01T00:00:00.000000Z"}

    async def body(engine: Engine, writer: RecordingWriter) -> None:
        # The standby saw both runs first without any status (created just now) ...
        engine.observe_run("ADDED", run("done-run"))
        engine.observe_run("ADDED", run("live-run", exit_condition="manual"))
        feed(engine, namespaced(load("job-failed-backoff-limit.yaml")))
        await engine.idle()
        # ... then the leader's writes, as watch events.
        engine.observe_run("MODIFIED", run("done-run", status=finished))
        engine.observe_run("MODIFIED", run("live-run", exit_condition="manual", status=running))
        await engine.idle()
        assert writer.patches == []
        engine.lead()
        await engine.idle()

    writer = drive(body, leading=False)
    # The finished run is a record: never rewritten, though a failed Job now shows.
    assert [name for _, name, _ in writer.patches] == ["live-run"]
    status = writer.patches[0][2]
    assert status["startTime"] == "2026-01-01T00:00:00.000000Z"


def test_no_event_is_posted_twice_across_a_takeover() -> None:
    """The old leader announced a failing target; the new one does not announce it again."""

    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        feed(engine, namespaced(load("job-failed-backoff-limit.yaml")))
        await engine.idle()
        assert writer.events == [("Warning", "TargetFailed")]
        stored = writer.patches[-1][2]
        engine.follow()  # lost the Lease
        engine.observe_run("MODIFIED", run(exit_condition="manual", status=stored))
        engine.lead()  # and got it back: a new leader with the same picture
        await engine.idle()

    writer = drive(body)
    assert writer.events == [("Warning", "TargetFailed")]
    assert len(writer.patches) == 1  # the stored status was still true


def test_a_follower_stops_its_timers_and_a_leader_picks_the_deadline_up_again() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(timeout="300ms"))
        feed(engine, namespaced(load("job-running.yaml")))
        await engine.idle()
        engine.follow()
        engine.observe_run("MODIFIED", run(timeout="300ms", status=writer.patches[-1][2]))
        await advance(0.5)
        await engine.idle()
        assert writer.patches[-1][2]["done"] is False  # a standby let the deadline pass
        engine.lead()
        await engine.idle()

    writer = drive(body)
    assert writer.patches[-1][2]["done"] is True
    assert writer.patches[-1][2]["error"].startswith("timed out after 0.3s")
