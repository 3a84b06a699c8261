"""Update strategies that stop a rollout on purpose (issue 13, items 1 and 2).

With ``updateStrategy: OnDelete`` the StatefulSet and DaemonSet controllers replace a pod
only when someone deletes it; with ``rollingUpdate.partition: P`` the StatefulSet
controller updates only the ordinals from P up. In both cases the real controllers
(kube-controller-manager on the dev cluster) leave pods on the old revision for good,
and a run must succeed once the pods that are meant to run are ready, instead of
failing at its readiness timeout. Each test changes the template first, waits until
the controller has made the new revision (the state to judge), then runs a ci TiltRun
with a short readiness timeout and compares the stored target with the pods' truth.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Cluster, OperatorProcess, tiltrun, wait_for
from tests.integration.runs import state, status, wait_until_done
from tests.integration.workloads import daemonset, statefulset

pytestmark = pytest.mark.cluster

#: Short, so that a wait on updated pods that never come fails the test quickly.
CI = {"timeout": "90s", "readinessTimeout": "20s"}
NEW_IMAGE = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x/app:2"}]}}}}


def _get(cluster: Cluster, namespace: str, ref: str) -> dict[str, Any]:
    return cluster.get(ref, "-n", namespace)


def _pods(cluster: Cluster, namespace: str, app: str) -> list[dict[str, Any]]:
    items = cluster.get("pods", "-n", namespace, "-l", f"app={app}")["items"]
    return sorted(items, key=lambda p: p["metadata"]["name"])


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def _patch(cluster: Cluster, namespace: str, ref: str, patch: dict[str, Any]) -> None:
    cluster.kubectl("patch", ref, "-n", namespace, "--type=merge", "-p", json.dumps(patch))


def _statefulset_settled(cluster: Cluster, namespace: str, test: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        sts = _get(cluster, namespace, "statefulset/db")
        observed = sts["status"].get("observedGeneration") == sts["metadata"]["generation"]
        return sts if observed and test(sts["status"]) else None

    found: dict[str, Any] = wait_for(check, timeout=60, what="statefulset/db to settle")
    return found


def test_on_delete_statefulset_passes_with_its_pods_on_the_old_revision(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            statefulset(
                "db",
                "gate",
                replicas=3,
                updateStrategy={"type": "OnDelete"},
                podManagementPolicy="Parallel",
            )
        ],
        namespace,
    )
    _statefulset_settled(cluster, namespace, lambda s: s.get("readyReplicas") == 3)
    _patch(cluster, namespace, "statefulset/db", NEW_IMAGE)
    sts = _statefulset_settled(
        cluster,
        namespace,
        lambda s: (
            s.get("updateRevision") != s.get("currentRevision") and s.get("readyReplicas") == 3
        ),
    )

    cluster.apply([tiltrun("gate", ci=CI)], namespace)
    run = wait_until_done(cluster, namespace, "gate")

    # The truth: no pod was replaced, every pod is ready on the old revision.
    pods = _pods(cluster, namespace, "db")
    update = sts["status"]["updateRevision"]
    assert [p["metadata"]["labels"]["controller-revision-hash"] != update for p in pods] == [
        True
    ] * 3
    assert all(_ready(p) for p in pods)
    assert status(run).get("error", "") == ""
    active = state(run, "statefulset/db")["active"]
    assert active["ready"] is True
    assert active["reason"] == (
        "updateStrategy OnDelete: pods db-0, db-1, db-2 still on an older revision "
        "(delete a pod to update it)"
    )


def test_on_delete_daemonset_passes_with_its_pods_on_the_old_template(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply([daemonset("agent", "gate", updateStrategy={"type": "OnDelete"})], namespace)

    def settled(test: Any) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            ds = _get(cluster, namespace, "daemonset/agent")
            st = ds.get("status", {})
            observed = st.get("observedGeneration") == ds["metadata"]["generation"]
            return ds if observed and test(ds, st) else None

        found: dict[str, Any] = wait_for(check, timeout=60, what="daemonset/agent to settle")
        return found

    settled(lambda ds, st: 0 < st.get("desiredNumberScheduled", 0) == st.get("numberAvailable"))
    _patch(cluster, namespace, "daemonset/agent", NEW_IMAGE)
    ds = settled(
        lambda ds, st: (
            ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
            and st.get("desiredNumberScheduled") == st.get("numberAvailable")
        )
    )

    cluster.apply([tiltrun("gate", ci=CI)], namespace)
    run = wait_until_done(cluster, namespace, "gate")

    pods = _pods(cluster, namespace, "agent")
    assert len(pods) == ds["status"]["desiredNumberScheduled"] > 0
    assert {p["metadata"]["labels"]["pod-template-generation"] for p in pods} == {"1"}
    assert status(run).get("error", "") == ""
    active = state(run, "daemonset/agent")["active"]
    assert active["ready"] is True
    names = ", ".join(p["metadata"]["name"] for p in pods)
    assert active["reason"] == (
        f"updateStrategy OnDelete: pods {names} still on an older template "
        "(delete a pod to update it)"
    )


def test_partitioned_statefulset_passes_once_the_ordinals_from_the_partition_are_updated(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply([statefulset("db", "gate", replicas=3)], namespace)
    _statefulset_settled(
        cluster,
        namespace,
        lambda s: (
            s.get("readyReplicas") == 3 and s.get("currentRevision") == s.get("updateRevision")
        ),
    )
    partition = {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}
    _patch(cluster, namespace, "statefulset/db", {"spec": {**partition, **NEW_IMAGE["spec"]}})
    sts = _statefulset_settled(
        cluster,
        namespace,
        lambda s: (
            s.get("updatedReplicas") == 1
            and s.get("readyReplicas") == 3
            and s.get("updateRevision") != s.get("currentRevision")
        ),
    )

    cluster.apply([tiltrun("gate", ci=CI)], namespace)
    run = wait_until_done(cluster, namespace, "gate")

    pods = {p["metadata"]["name"]: p for p in _pods(cluster, namespace, "db")}
    update = sts["status"]["updateRevision"]
    revisions = {n: p["metadata"]["labels"]["controller-revision-hash"] for n, p in pods.items()}
    assert [revisions[n] == update for n in ("db-0", "db-1", "db-2")] == [False, False, True]
    assert all(_ready(p) for p in pods.values())
    assert status(run).get("error", "") == ""
    active = state(run, "statefulset/db")["active"]
    assert active["ready"] is True
    assert active["reason"] == "partition 2: pods db-0, db-1 keep the older revision"
