"""The operator killed, kept down, and its namespace pulled away: fast faults on the test cluster.

Each test breaks something, lets the world move on, and then waits (with a bound) until
the stored status agrees with the truth computed from the cluster's objects
(``tests/faults/truth.py``): what a freshly started operator would write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.conftest import Cluster, start_run, tiltrun, wait_for
from tests.faults.conftest import KillableOperator, job_finished, new_namespace
from tests.faults.truth import Lister, converged
from tests.integration.runs import (
    ADMIN_USER,
    audit_events,
    events_about,
    now,
    state,
    status,
    stored_run,
    time_of,
    wait_for_run,
    wait_until_done,
)
from tests.integration.workloads import COMPLETE_DELAY, deployment, job
from tiltrun.judge.status import failing_names

pytestmark = pytest.mark.cluster

StartOperator = Callable[..., KillableOperator]


@pytest.fixture
def lister(cluster: Cluster) -> Lister:
    return Lister(cluster.kubeconfig)


def _available(cluster: Cluster, namespace: str, name: str, replicas: int) -> bool:
    got = cluster.get("deployment", name, "-n", namespace).get("status") or {}
    return got.get("availableReplicas") == replicas and got.get("updatedReplicas") == replicas


def test_sigkill_mid_run_then_the_world_moves_on(
    cluster: Cluster, crd: str, namespace: str, start_operator: StartOperator, lister: Lister
) -> None:
    operator = start_operator(cluster, [namespace])
    start_run(cluster, namespace, tiltrun("busy", ci={"timeout": "5m"}))
    cluster.apply(
        [
            deployment("web", "busy"),
            job("report", "busy", pod_annotations={COMPLETE_DELAY: "1h"}),
        ],
        namespace,
    )
    before = wait_for_run(
        cluster,
        namespace,
        "busy",
        lambda r: len(status(r).get("targets") or []) == 2 and "active" in state(r, "job/report"),
        what="both targets seen, job/report running",
    )
    killed = operator.kill()

    # While no operator runs: the long job is deleted, a short one runs to completion,
    # and the Deployment is scaled up.
    cluster.kubectl("delete", "job", "report", "-n", namespace, "--wait=true")
    cluster.apply([job("migrate", "busy"), deployment("web", "busy", replicas=3)], namespace)
    wait_for(lambda: job_finished(cluster, namespace, "migrate"), what="job/migrate finished")
    wait_for(lambda: _available(cluster, namespace, "web", 3), what="deployment/web at 3")

    restarted = start_operator(cluster, [namespace])
    agreed = converged(lister, namespace, "busy", what="after SIGKILL")
    assert agreed.stored["done"] is True and agreed.stored["error"] == ""
    after = stored_run(cluster, namespace, "busy")
    assert status(after)["startTime"] == status(before)["startTime"]
    assert status(after)["pid"] == restarted.pid != killed


def test_failures_and_timeouts_while_the_operator_is_down(
    cluster: Cluster, crd: str, namespace: str, start_operator: StartOperator, lister: Lister
) -> None:
    operator = start_operator(cluster, [namespace])
    start_run(cluster, namespace, tiltrun("breaks", ci={"timeout": "5m"}))
    slow = start_run(cluster, namespace, tiltrun("slow", ci={"timeout": "4s"}))
    cluster.apply(
        [
            deployment("web", "breaks"),
            job("report", "breaks", pod_annotations={COMPLETE_DELAY: "1h"}),
        ],
        namespace,
    )
    wait_for_run(
        cluster,
        namespace,
        "breaks",
        lambda r: status(r).get("progress") == "1/2",
        what="deployment/web up, job/report running",
    )
    operator.kill()

    # Down: a Job of "breaks" fails, and the timeout of "slow" passes with its Job unfinished.
    cluster.apply(
        [
            job("migrate", "breaks", behavior="fail", backoff_limit=0),
            job("report", "slow", pod_annotations={COMPLETE_DELAY: "1h"}),
        ],
        namespace,
    )
    wait_for(lambda: job_finished(cluster, namespace, "migrate"), what="job/migrate failed")
    deadline = time_of(status(slow)["startTime"]) + timedelta(seconds=4)
    wait_for(lambda: now() > deadline, what="the timeout of tiltrun/slow to pass", timeout=30)

    start_operator(cluster, [namespace])
    failed = converged(lister, namespace, "breaks", what="a Job failed while down")
    assert failed.stored["done"] is True
    assert failed.stored["error"] == "failed: job/migrate"
    timed_out = converged(lister, namespace, "slow", what="the timeout passed while down")
    assert timed_out.stored["done"] is True
    assert timed_out.stored["error"] == "timed out: job/report"
    # One verdict, one Event each: nothing was announced twice.
    for name, reason in (("breaks", "Failed"), ("slow", "TimedOut")):
        wait_until_done(cluster, namespace, name)
        verdicts = [e for e in events_about(cluster, namespace, name) if e["reason"] == reason]
        assert len(verdicts) == 1, verdicts
        assert verdicts[0].get("count", 1) == 1


HOLD = "tiltrun.test/hold"


def test_a_namespace_deleted_under_a_running_run(
    cluster: Cluster, crd: str, namespace: str, start_operator: StartOperator, lister: Lister
) -> None:
    """The namespace of a board goes away while the operator is down and comes back.

    Issue 11: a board restarted while its namespace was being deleted posted 500 Events,
    and 502 warnings that the namespace forbade them. A finalizer (the test's own) holds
    the TiltRun, so the namespace stays Terminating while its workloads are deleted.
    """
    doomed = new_namespace(cluster, "doomed")
    try:
        operator = start_operator(cluster, [doomed, namespace])
        board = tiltrun("board", exit_condition="manual")
        board["metadata"]["finalizers"] = [HOLD]
        start_run(cluster, doomed, board)
        start_run(cluster, namespace, tiltrun("survivor", ci={"timeout": "5m"}))
        cluster.apply(
            [deployment(f"web-{i}", "board", behavior="crashloop") for i in range(5)], doomed
        )
        cluster.apply([deployment("web", "survivor")], namespace)
        wait_for_run(
            cluster,
            doomed,
            "board",
            lambda r: len(failing_names(status(r))) == 5,
            what="the board's five targets failing (their Events posted)",
        )
        operator.kill()
        deleting = now()
        cluster.kubectl("delete", "namespace", doomed, "--wait=false")
        restarted = start_operator(cluster, [doomed, namespace])
        wait_for(
            lambda: not cluster.get("deployments,pods", "-n", doomed)["items"],
            what=f"the workloads of {doomed} deleted",
            timeout=90,
        )
        # The board drops its deleted targets; the other namespace's run goes on.
        board_now = converged(lister, doomed, "board", what="workloads deleted with the namespace")
        assert board_now.stored["targets"] == []
        cluster.apply([job("after", "survivor")], namespace)
        wait_for(lambda: job_finished(cluster, namespace, "after"), what="job/after finished")
        converged(lister, namespace, "survivor", what="a change after the other namespace went")
        assert restarted.alive()
        # Nothing was created in the namespace being deleted: the API server forbids it.
        refused = [
            e
            for e in audit_events(cluster, doomed, since=deleting)
            if e["verb"] == "create"
            and e["objectRef"].get("resource") == "events"
            and e["user"].get("username") == ADMIN_USER
            and not e.get("userAgent", "").startswith("kubectl")
        ]
        assert refused == [], f"{len(refused)} Events attempted in namespace {doomed}"
    finally:
        cluster.kubectl(
            "patch",
            "tiltrun",
            "board",
            "-n",
            doomed,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )
        cluster.kubectl("delete", "namespace", doomed, "--wait=false", check=False)
