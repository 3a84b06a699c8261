"""Time-based transitions fire on time, from the operator's own scheduling (SPEC, rule 7).

In each test the world goes quiet before the deadline (no workload changes), so only
the operator's timer can make the run finish. Times are compared with what the API
server stored: the run's ``startTime``, the targets' times, the instant the status was
written. Bounds are generous on the late side (a noisy machine) and strict on the
early side: a transition before its deadline is always a bug.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import Cluster, OperatorProcess, start_run, tiltrun, wait_for
from tests.integration.runs import (
    condition,
    conditions,
    events_about,
    now,
    state,
    status,
    status_patches,
    status_written_at,
    time_of,
    wait_until_done,
)
from tests.integration.workloads import (
    COMPLETE_DELAY,
    NO_SUCH_NODE,
    RESTART_DELAY,
    deployment,
    job,
)

pytestmark = pytest.mark.cluster

#: How late a transition may be and still count as "on time" on a busy CI machine.
LATE = timedelta(seconds=5)


def _assert_on_time(run: dict, deadline, cluster: Cluster, namespace: str, name: str) -> None:
    """The stored status turned final no earlier than ``deadline`` and not much after."""
    decided = time_of(condition(run, "Stalled")["lastTransitionTime"])
    assert deadline <= decided <= deadline + LATE, (deadline, decided)
    # The API server's own record of the write (managedFields keep whole seconds).
    written = status_written_at(cluster, namespace, name)
    assert deadline.replace(microsecond=0) <= written <= deadline + LATE, (deadline, written)
    # And the audit log's, to the microsecond: the last status PATCH (the one that set
    # done; nothing is written after it) reached the API server after the deadline.
    patches = status_patches(cluster, namespace, since=deadline - timedelta(minutes=5), name=name)
    assert patches, "no status PATCH in the audit log"
    received = max(time_of(p["requestReceivedTimestamp"]) for p in patches)
    assert deadline <= received <= deadline + LATE, (deadline, received)


def test_run_timeout_fires_on_time_with_what_was_waiting(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            # Never scheduled: waiting, Unschedulable.
            deployment("stuck", "slow", node_selector=NO_SUCH_NODE),
            # Runs for an hour: active, not done.
            job("report", "slow", pod_annotations={COMPLETE_DELAY: "1h"}),
        ],
        namespace,
    )
    begun = now()
    start_run(cluster, namespace, tiltrun("slow", ci={"timeout": "4s"}))
    run = wait_until_done(cluster, namespace, "slow")
    started = time_of(status(run)["startTime"])
    assert begun - timedelta(seconds=1) <= started <= now()
    _assert_on_time(run, started + timedelta(seconds=4), cluster, namespace, "slow")

    error = status(run)["error"]
    assert error.startswith("timed out after 4s; still waiting on: ")
    # Both targets are named, with why and since when.
    assert "deployment/stuck (pod stuck-" in error
    assert "Unschedulable" in error
    assert "waiting since" in error
    assert "job/report (running since" in error
    summary = status(run)["summary"]
    assert summary.startswith("timed out after 4s; waiting on 2 of 2: deployment/stuck (pod stuck-")
    assert "job/report (running)" in summary
    assert conditions(run) == {
        "Ready": ("False", "TimedOut"),
        "Reconciling": ("False", "TimedOut"),
        "Stalled": ("True", "TimedOut"),
    }
    reasons = wait_for(
        lambda: [e["reason"] for e in events_about(cluster, namespace, "slow")],
        what="an Event on tiltrun/slow",
    )
    assert reasons == ["TimedOut"]


def test_readiness_timeout_fails_a_server_that_never_becomes_ready(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    start_run(cluster, namespace, tiltrun("lazy", ci={"timeout": "60s", "readinessTimeout": "3s"}))
    cluster.apply([deployment("web", "lazy", behavior="never-ready")], namespace)
    run = wait_until_done(cluster, namespace, "lazy")
    web = state(run, "deployment/web")
    # Frozen as it was when the run failed: running, not ready, since the pod started.
    assert web["active"]["ready"] is False
    deadline = time_of(web["active"]["startTime"]) + timedelta(seconds=3)
    _assert_on_time(run, deadline, cluster, namespace, "lazy")

    error = status(run)["error"]
    assert error.startswith("deployment/web: not ready after 3s (0/1 ready; pod web-")
    assert "ContainersNotReady" in error
    assert condition(run, "Stalled")["reason"] == "ReadinessTimeout"


def test_grace_period_expiry_fails_a_crash_loop_on_time(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    start_run(cluster, namespace, tiltrun("crash", ci={"timeout": "60s", "gracePeriod": "3s"}))
    cluster.apply(
        [
            deployment(
                "api",
                "crash",
                behavior="crashloop",
                # One crash, then silence: no further event can end the grace period.
                pod_annotations={RESTART_DELAY: "1h"},
            )
        ],
        namespace,
    )
    run = wait_until_done(cluster, namespace, "crash")
    api = state(run, "deployment/api")
    # The grace period counts from the target's start (its pod's start).
    deadline = time_of(api["terminated"]["startTime"]) + timedelta(seconds=3)
    _assert_on_time(run, deadline, cluster, namespace, "crash")
    assert api["grace"] == {"status": "exceeded", "restarts": 1, "budget": "3s"}
    assert status(run)["error"].startswith("deployment/api: pod api-")
    assert "CrashLoopBackOff" in status(run)["error"]
    assert condition(run, "Stalled")["reason"] == "Failed"
