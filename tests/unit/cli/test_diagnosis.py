"""Diagnosis: which targets, which pod and container, logs when there are any, events."""

from __future__ import annotations

import copy
from typing import Any

from kubernetes.client.exceptions import ApiException

from tests.unit.cli.conftest import FakeApiServer, captured
from tiltrun.cli.diagnosis import (
    Diagnosis,
    Lead,
    crashed,
    diagnose,
    failing_reasons,
    format_event,
    not_started,
    pending_reasons,
    pick_container,
    recent,
)


def test_failing_targets_and_their_evidence_come_from_the_stored_fields() -> None:
    """Which targets failed, why and where: state.failure and the state's evidence, with
    no reading of the run's error (issue 13: no code parses the judge's prose)."""
    status = captured("run-failed-evidence")["status"]
    leads = failing_reasons(status)
    assert sorted(leads) == ["deployment/api", "job/migrate"]
    for target in status["targets"]:
        if target["name"] in leads:
            state = target["state"]
            lead = leads[target["name"]]
            assert lead.reason == state["failure"]["message"]
            assert lead.evidence == state["terminated"]["evidence"]
    assert leads["job/migrate"].evidence["container"] == "main"


def test_a_readiness_timeout_is_diagnosed_from_the_active_evidence() -> None:
    status = captured("run-readiness-timeout")["status"]
    (name,) = failing_reasons(status)
    lead = failing_reasons(status)[name]
    (target,) = status["targets"]
    assert lead.reason.startswith("not ready after 3s (0/2 ready; pod slow-")
    assert lead.evidence == target["state"]["active"]["evidence"]


def test_a_changed_wording_does_not_change_the_lead() -> None:
    status = captured("run-failed-evidence")["status"]
    status["error"] = "something else entirely"
    for target in status["targets"]:
        for state in target["state"].values():
            if isinstance(state, dict) and "error" in state:
                state["error"] = "reworded: see the fields"
    leads = failing_reasons(status)
    assert leads["job/migrate"].evidence["pod"].startswith("migrate-")


def test_pending_reasons_say_where_each_target_stands_and_since_when() -> None:
    reasons = pending_reasons(captured("run-timed-out")["status"])
    assert list(reasons) == ["deployment/slow"]
    assert reasons["deployment/slow"].reason.startswith("active, not ready (0/2 ready; pod slow-")
    assert reasons["deployment/slow"].reason.endswith(", since 15:08:13Z")


def _pod(*statuses: dict[str, Any], name: str = "web-1") -> dict[str, Any]:
    containers = [{"name": s["name"]} for s in statuses]
    return {
        "metadata": {"name": name},
        "spec": {"containers": containers},
        "status": {"containerStatuses": list(statuses)},
    }


def test_the_container_to_read_is_the_first_not_ready_one() -> None:
    pod = _pod({"name": "proxy", "ready": True}, {"name": "app", "ready": False})
    assert pick_container(pod) == "app"


def test_a_crash_loop_reads_the_previous_container() -> None:
    looping = _pod(
        {"name": "app", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    )
    recovered = _pod({"name": "app", "restartCount": 3, "state": {"running": {}}})
    assert crashed(looping, "app")
    assert not crashed(recovered, "app")


def _event(
    kind: str, name: str, at: str, reason: str = "BackOff", count: int = 1
) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": kind, "name": name},
        "lastTimestamp": at,
        "reason": reason,
        "message": "Back-off  pulling image",
        "count": count,
        "type": "Warning",
    }


def test_recent_events_are_the_newest_about_the_objects_asked_for() -> None:
    events = [
        _event("Pod", "web-1", f"2026-11-26T23:13:{second:02d}Z", reason=f"R{second}")
        for second in range(10)
    ]
    events.append(_event("TiltRun", "web", "2026-11-26T23:14:00Z"))  # same name, other kind
    shown = recent(events, {("Pod", "web-1"), ("Deployment", "web")}, limit=3)
    assert [e["reason"] for e in shown] == ["R7", "R8", "R9"]


def test_an_event_reads_as_one_line_with_its_count() -> None:
    event = _event("Pod", "web-1", "2026-11-26T23:13:37Z", reason="Failed", count=4)
    assert format_event(event) == "23:13:37Z Pod/web-1 Failed: Back-off pulling image (x4)"


POD = {
    "kind": "Pod",
    "metadata": {
        "name": "migrate-x7k2p",
        "uid": "p1",
        "ownerReferences": [{"kind": "Job", "name": "migrate", "uid": "j1", "controller": True}],
    },
    "spec": {"containers": [{"name": "main"}]},
    "status": {
        "containerStatuses": [
            {
                "name": "main",
                "ready": False,
                "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            }
        ]
    },
}
JOB = {
    "kind": "Job",
    "metadata": {"name": "migrate", "uid": "j1"},
    "spec": {"selector": {"matchLabels": {"job-name": "migrate"}}},
}
NS = "/api/v1/namespaces/shop"


def test_diagnose_reads_the_previous_log_and_the_events() -> None:
    server = FakeApiServer(
        {
            "/apis/batch/v1/namespaces/shop/jobs/migrate": JOB,
            f"{NS}/pods": {"items": [POD]},
            f"{NS}/pods/migrate-x7k2p/log": "applying 0042\nERROR: relation users exists\n",
            f"{NS}/events": {"items": [_event("Pod", "migrate-x7k2p", "2026-11-26T23:13:37Z")]},
        }
    )
    # The prose names another pod on purpose: the evidence's fields decide, not the words.
    lead = Lead(
        "pod migrate-other container sidecar: CrashLoopBackOff, 2 restarts",
        {"pod": "migrate-x7k2p", "container": "main", "reason": "CrashLoopBackOff"},
    )
    (found,) = diagnose(server.kube(), "shop", {"job/migrate": lead}, log_lines=5)
    assert (found.pod, found.container, found.previous) == ("migrate-x7k2p", "main", True)
    assert found.evidence["reason"] == "CrashLoopBackOff"
    assert found.logs == ("applying 0042", "ERROR: relation users exists")
    log_query = next(q for _, path, q in server.asked if path.endswith("/log"))
    assert log_query == {"tailLines": "5", "previous": "true", "container": "main"}
    assert found.events == ("23:13:37Z Pod/migrate-x7k2p BackOff: Back-off pulling image",)


def test_a_log_the_node_cannot_serve_reads_no_logs_available() -> None:
    refused = ApiException(status=500, reason="Internal Server Error")
    refused.body = '{"message": "dial tcp :10250: connect: connection refused"}'
    server = FakeApiServer(
        {
            "/apis/batch/v1/namespaces/shop/jobs/migrate": JOB,
            f"{NS}/pods": {"items": [POD]},
            f"{NS}/pods/migrate-x7k2p/log": refused,
            f"{NS}/events": {"items": []},
        }
    )
    (found,) = diagnose(server.kube(), "shop", {"job/migrate": Lead("failed")})
    assert found.logs is None
    assert found.logs_note == "no logs available (dial tcp :10250: connect: connection refused)"
    assert "logs of pod migrate-x7k2p previous container main: no logs available" in found.render()


def _pulling(restarts: int = 0, **extra: Any) -> dict[str, Any]:
    """POD with its container waiting on its image: it has never run."""
    pod: dict[str, Any] = copy.deepcopy(POD)
    (entry,) = pod["status"]["containerStatuses"]
    entry.update(restartCount=restarts, state={"waiting": {"reason": "ImagePullBackOff"}})
    entry.update(extra)
    return pod


def test_a_container_that_never_ran_has_no_log_yet_and_is_not_asked_for_one() -> None:
    """What the kubelet would answer is an error ("is waiting to start"), not an empty log."""
    server = FakeApiServer(
        {
            "/apis/batch/v1/namespaces/shop/jobs/migrate": JOB,
            f"{NS}/pods": {"items": [_pulling()]},
            f"{NS}/events": {"items": []},
        }
    )
    evidence = {"pod": "migrate-x7k2p", "container": "main", "reason": "ImagePullBackOff"}
    lead = Lead("pod migrate-x7k2p container main: ImagePullBackOff", {**evidence, "restarts": 0})
    (found,) = diagnose(server.kube(), "shop", {"job/migrate": lead})
    assert found.logs is None
    assert (
        found.logs_note == "the container has not started (ImagePullBackOff), so it has no log yet"
    )
    assert not [path for _, path, _ in server.asked if path.endswith("/log")]
    assert (
        "  logs of pod migrate-x7k2p container main: the container has not started "
        "(ImagePullBackOff), so it has no log yet" in found.render().splitlines()
    )


def test_a_container_has_not_started_only_when_pod_and_evidence_say_it_never_ran() -> None:
    evidence = {"reason": "ImagePullBackOff", "restarts": 0}
    assert not_started(_pulling(), "main", evidence) == "ImagePullBackOff"
    assert not_started(_pulling(), "main", {}) == "ImagePullBackOff"
    # Ran before: a restart, an earlier run, an exit code in the evidence, running now.
    assert not_started(_pulling(restarts=1), "main", evidence) is None
    earlier = _pulling(lastState={"terminated": {"exitCode": 1}})
    assert not_started(earlier, "main", evidence) is None
    assert not_started(_pulling(), "main", {**evidence, "exitCode": 1}) is None
    assert not_started(_pulling(), "main", {**evidence, "restarts": 2}) is None
    assert not_started(_pulling(state={"running": {}}), "main", {}) is None
    # Not listed yet: the pod is still creating it.
    creating = {"metadata": {"name": "p"}, "status": {"phase": "Pending"}}
    assert not_started(creating, "main", {}) == "Pending"


def test_a_workload_that_cannot_be_read_still_gives_its_reason() -> None:
    lead = Lead("BackoffLimitExceeded")
    (found,) = diagnose(FakeApiServer({}).kube(), "shop", {"job/migrate": lead})
    assert found.reason == "BackoffLimitExceeded" and found.pod == ""
    assert found.logs_note.startswith("cannot read job/migrate: 404 Not Found")


def test_render_indents_log_lines_under_the_target() -> None:
    text = Diagnosis(
        "job/migrate", "exit code 1", {}, "m-1", "main", False, ("boom",), "", ()
    ).render()
    assert text.splitlines() == [
        "job/migrate:",
        "  exit code 1",
        "  last 1 log lines of pod m-1 container main:",
        "    | boom",
        "  recent warning events: none",
    ]
