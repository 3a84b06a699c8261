"""The operator's own life: restarts, deletion while it is down, and what it never writes.

SPEC, "What the operator must never do": write to the workloads it observes or put
finalizers on them, block deletion of a TiltRun while it is down, lose or reset a
finished result when it restarts.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cluster, OperatorProcess, start_run, tiltrun, wait_for
from tests.integration.runs import (
    audit_events,
    now,
    state,
    status,
    stored_run,
    wait_for_run,
    wait_until_done,
)
from tests.integration.workloads import COMPLETE_DELAY, deployment, job, pod

pytestmark = pytest.mark.cluster


def _caught_up(cluster: Cluster, namespace: str, operator: OperatorProcess) -> None:
    """Wait until the (re)started operator has listed the namespace and written a status.

    A fresh TiltRun, created now, comes after every existing object in the operator's
    watch streams; once it has a status from this process, the runs listed before it
    have been judged too.
    """
    name = f"probe-{operator.pid}"
    cluster.apply([tiltrun(name, exit_condition="manual")], namespace)
    wait_for_run(
        cluster,
        namespace,
        name,
        lambda r: status(r).get("pid") == operator.pid,
        what="the restarted operator's first status",
        timeout=60,
    )


def test_restart_mid_run_keeps_start_time_and_rewrites_nothing_unchanged(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    first_pid = operator.pid
    start_run(cluster, namespace, tiltrun("long", ci={"timeout": "10m"}))
    cluster.apply([job("report", "long", pod_annotations={COMPLETE_DELAY: "1h"})], namespace)
    wait_for_run(
        cluster,
        namespace,
        "long",
        lambda r: status(r).get("targets") and "active" in state(r, "job/report"),
        what="job/report running",
    )
    operator.stop()
    before = stored_run(cluster, namespace, "long")
    assert status(before)["pid"] == first_pid

    second_pid = operator.start().pid
    assert second_pid != first_pid
    _caught_up(cluster, namespace, operator)
    # Nothing changed in the world, so nothing was rewritten: the status is the same
    # to the byte, pid included, and startTime has not moved.
    after = stored_run(cluster, namespace, "long")
    assert status(after) == status(before)

    # Once something does change, the new process writes, under its own pid, and the
    # run's start (which its timeout counts from) is still where it was.
    cluster.apply([deployment("web", "long")], namespace)
    rewritten = wait_for_run(
        cluster,
        namespace,
        "long",
        lambda r: len(status(r).get("targets") or []) == 2,
        what="deployment/web to join",
    )
    assert status(rewritten)["pid"] == second_pid
    assert status(rewritten)["startTime"] == status(before)["startTime"]
    assert status(rewritten)["done"] is False


def test_restart_after_the_run_finished_keeps_the_result(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [tiltrun("broken"), job("migrate", "broken", behavior="fail", backoff_limit=0)], namespace
    )
    finished = wait_until_done(cluster, namespace, "broken")
    assert "job/migrate: BackoffLimitExceeded" in status(finished)["error"]

    operator.stop()
    # While it is down the world changes completely: the failed Job is gone, and a
    # healthy workload that would satisfy the run appears.
    cluster.kubectl("delete", "job", "migrate", "-n", namespace, "--wait=true")
    cluster.apply([deployment("web", "broken")], namespace)
    wait_for(
        lambda: (
            cluster.get("deployment", "web", "-n", namespace)
            .get("status", {})
            .get("availableReplicas")
        ),
        what="deployment/web available",
    )
    operator.start()
    _caught_up(cluster, namespace, operator)
    # A finished run is a record: done, error, targets and startTime stay as they were,
    # and nothing was rewritten (pid is still the first process's).
    after = stored_run(cluster, namespace, "broken")
    assert status(after) == status(finished)


def test_a_run_created_again_under_the_same_name_starts_afresh(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    """CI's "delete the run, apply it again": the new object inherits nothing."""
    manifest = tiltrun("again", ci={"timeout": "60s"})
    cluster.apply([manifest, job("migrate", "again", behavior="fail", backoff_limit=0)], namespace)
    first = wait_until_done(cluster, namespace, "again")
    assert status(first)["error"]

    # Fixed and run again: the failed Job replaced by a good one, the run by a new object
    # (replace --force deletes and creates at once, the tightest such sequence).
    cluster.kubectl("delete", "job", "migrate", "-n", namespace, "--wait=true")
    cluster.apply([job("migrate", "again")], namespace)
    cluster.kubectl(
        "replace", "--force", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest)
    )
    second = wait_for_run(
        cluster,
        namespace,
        "again",
        lambda r: r["metadata"]["uid"] != first["metadata"]["uid"] and status(r).get("done"),
        what="the new run done",
    )
    assert status(second)["error"] == ""
    assert status(second)["startTime"] > status(first)["startTime"]


def test_tiltrun_can_be_deleted_while_the_operator_is_stopped(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    start_run(cluster, namespace, tiltrun("doomed"))
    run = stored_run(cluster, namespace, "doomed")
    assert "finalizers" not in run["metadata"]
    # kopf's bookkeeping stays out of the object: no annotations, no status fields of its own.
    annotations = run["metadata"].get("annotations") or {}
    assert not [key for key in annotations if "kopf" in key]
    assert not [key for key in status(run) if "kopf" in key]

    operator.stop()
    cluster.kubectl("delete", "tiltrun", "doomed", "-n", namespace, "--timeout=20s")
    gone = cluster.kubectl("get", "tiltrun", "doomed", "-n", namespace, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


def _metadata(cluster: Cluster, namespace: str) -> dict[str, dict]:
    """What the operator could have written on each workload, pod and ReplicaSet."""
    items = cluster.get("deployments,replicasets,jobs,pods", "-n", namespace)["items"]
    return {
        f"{item['kind']}/{item['metadata']['name']}": {
            key: item["metadata"].get(key)
            for key in ("labels", "annotations", "finalizers", "ownerReferences")
        }
        for item in items
    }


def test_operator_never_writes_to_the_workloads_it_observes(
    cluster: Cluster, namespace: str, crd: str, tmp_path: Path
) -> None:
    cluster.apply(
        [
            deployment("web", "hands-off", replicas=2),
            job("migrate", "hands-off"),
            pod("solo", "hands-off"),
        ],
        namespace,
    )

    def settled() -> bool:
        web = cluster.get("deployment", "web", "-n", namespace)["status"]
        migrate = cluster.get("job", "migrate", "-n", namespace)["status"]
        pods = cluster.get("pods", "-n", namespace)["items"]
        return (
            web.get("availableReplicas") == 2
            and migrate.get("succeeded") == 1
            # The Job controller has let go of its pod (removed its tracking finalizer).
            and not any(p["metadata"].get("finalizers") for p in pods)
            and all(p["status"].get("phase") in ("Running", "Succeeded") for p in pods)
        )

    wait_for(settled, what="the workloads to settle")
    before = _metadata(cluster, namespace)
    assert len(before) == 7  # web, its ReplicaSet and 2 pods; migrate and its pod; solo

    began = now()
    operator = OperatorProcess(cluster, [namespace], tmp_path / "operator.log").start()
    try:
        cluster.apply([tiltrun("hands-off", ci={"timeout": "60s"})], namespace)
        run = wait_until_done(cluster, namespace, "hands-off")
        assert status(run)["error"] == ""
        assert status(run)["progress"] == "3/3"
    finally:
        operator.stop()

    assert _metadata(cluster, namespace) == before
    # The audit log agrees: every write the operator's client sent was a TiltRun status
    # or an Event. (kubectl, which this test drives, identifies itself as kubectl.)
    writes = [
        e
        for e in audit_events(cluster, namespace, since=began - timedelta(seconds=1))
        if e["verb"] in ("create", "update", "patch", "delete", "deletecollection")
        and not e.get("userAgent", "").startswith("kubectl")
        and e["user"]["username"] == "tiltrun-admin"
    ]
    written = {(e["objectRef"]["resource"], e["objectRef"].get("subresource")) for e in writes}
    assert written == {("tiltruns", "status"), ("events", None)}
