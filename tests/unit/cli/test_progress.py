"""Progress as a person reads it: rows, change lines, the waiting line, the table."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from rich.console import Console

from tests.unit.cli.conftest import captured
from tiltrun.cli.progress import (
    LiveTable,
    LogLines,
    change_lines,
    row,
    rows,
    table,
    waiting_line,
)

NOW = datetime(2026, 11, 30, 15, 16, 0, tzinfo=UTC)


def _target(name: str, type_: str, state: dict[str, object], **extra: object) -> dict[str, object]:
    return {"name": name, "type": type_, "state": state, **extra}


def test_rows_read_each_state_of_a_stored_status() -> None:
    status = captured("run-failed")["status"]
    web, worker = rows(status)
    assert (web.name, web.state, web.ready) == ("deployment/web", "terminated", "no")
    assert web.reason.startswith("pod web-6d447bd547-bq5h2 container web: ImagePullBackOff")
    assert (worker.name, worker.state, worker.ready, worker.reason) == (
        "deployment/worker",
        "active",
        "yes",
        "ready",
    )


def test_a_completed_job_is_ready_and_a_running_one_is_not() -> None:
    done = row(
        _target("job/migrate", "job", {"terminated": {"finishTime": "2026-11-26T23:13:22Z"}})
    )
    running = row(_target("job/migrate", "job", {"active": {"ready": False, "reason": "1 pod"}}))
    assert (done.state, done.ready, done.reason) == ("terminated", "yes", "completed")
    assert (running.state, running.ready, running.reason) == ("active", "no", "1 pod")


def test_a_ready_server_shows_what_readiness_left_aside() -> None:
    note = "updateStrategy OnDelete: pod db-0 still on an older revision (delete a pod ...)"
    ready = row(_target("statefulset/db", "server", {"active": {"ready": True, "reason": note}}))
    assert (ready.ready, ready.reason) == ("yes", f"ready; {note}")


def test_disabled_and_optional_targets_do_not_count() -> None:
    assert not row(_target("deployment/off", "server", {"disabled": True})).counts
    optional = row(_target("deployment/metrics", "server", {"waiting": {}}, optional=True))
    assert optional.optional and not optional.counts


def test_a_failure_inside_its_grace_is_retrying() -> None:
    state = {"terminated": {"error": "CrashLoopBackOff"}, "grace": {"status": "tolerated"}}
    assert row(_target("deployment/api", "server", state)).retrying


def test_change_lines_name_only_targets_that_changed() -> None:
    before = {
        "targets": [
            _target("deployment/web", "server", {"waiting": {"reason": "ContainerCreating"}}),
            _target("job/migrate", "job", {"active": {"ready": False, "reason": "1 pod running"}}),
        ]
    }
    after = {
        "targets": [
            _target("deployment/web", "server", {"active": {"ready": True}}),
            _target("job/migrate", "job", {"active": {"ready": False, "reason": "1 pod running"}}),
        ]
    }
    assert change_lines(before, after, NOW) == ["15:16:00Z deployment/web: active, ready"]


def test_change_lines_say_when_a_target_goes_away() -> None:
    before = {"targets": [_target("deployment/old", "server", {"active": {"ready": True}})]}
    assert change_lines(before, {"targets": []}, NOW) == [
        "15:16:00Z deployment/old: no longer selected"
    ]


def test_the_first_status_announces_every_target() -> None:
    lines = change_lines(None, captured("run-succeeded")["status"], NOW)
    assert [line.split(" ")[1] for line in lines] == [
        "deployment/web:",
        "deployment/worker:",
        "job/migrate:",
        "statefulset/db:",
    ]
    assert "15:16:00Z job/migrate: terminated, completed" in lines


def test_waiting_line_lists_what_is_pending_with_its_reason() -> None:
    line = waiting_line(captured("run-waiting")["status"], NOW, elapsed=42)
    assert re.fullmatch(
        r"15:16:00Z still waiting on: deployment/slow \(0/2 ready; pod slow-\S+: "
        r"ContainersNotReady: .*\) \[0/1 ready, 42s elapsed\]",
        line,
    ), line


def test_waiting_line_falls_back_on_the_summary() -> None:
    status = {"targets": [], "summary": "no enabled workloads match the selector app=x"}
    assert "still waiting: no enabled workloads match the selector app=x" in waiting_line(
        status, NOW, elapsed=10
    )


def test_log_lines_beat_every_heartbeat_and_never_in_between() -> None:
    out = io.StringIO()
    display = LogLines(out, heartbeat=10)
    status = captured("run-waiting")["status"]
    display.update(status, NOW, elapsed=0.5)
    for second in range(1, 35):
        display.tick(NOW, elapsed=float(second))
    beats = [line for line in out.getvalue().splitlines() if "still waiting on" in line]
    assert [b.rsplit(", ", 1)[1] for b in beats] == ["10s elapsed]", "20s elapsed]", "30s elapsed]"]


def test_table_has_the_columns_and_a_row_per_target() -> None:
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(table("TiltRun shop", captured("run-succeeded")["status"], NOW))
    text = console.export_text()
    assert re.search(r"name\s+┃ type\s+┃ state\s+┃ ready ┃ reason\s+┃ age", text), text
    assert re.search(r"job/migrate\s+│ job\s+│ terminated │ yes\s+│ completed", text), text
    assert "all 4 targets up" in text


def test_the_live_table_leaves_the_last_picture_on_screen() -> None:
    out = io.StringIO()
    live = LiveTable(out, "ci-try-1", "shop")
    live.update(captured("run-waiting")["status"], NOW, elapsed=1)
    live.update(captured("run-succeeded")["status"], NOW, elapsed=3)
    live.stop()
    last = out.getvalue()[-2000:]
    assert "TiltRun shop in ci-try-1: 4/4 ready, 3s" in last
    assert "job/migrate" in last and "deployment/slow" not in last


def test_a_warning_about_an_unwatchable_kind_is_logged_once() -> None:
    from tiltrun.cli.progress import change_lines

    at = datetime(2026, 5, 12, 9, 30, tzinfo=UTC)
    sentence = "not watching certificates.cert-manager.io/v1: the cluster does not serve it"
    first = change_lines({}, {"warnings": [sentence]}, at)
    assert first == [f"09:30:00Z warning: {sentence}"]
    assert change_lines({"warnings": [sentence]}, {"warnings": [sentence]}, at) == []
