"""Bad input from the outside world: the operator keeps working and says what it saw.

Issue 3, "Bad input": a workload with odd status fields, or an API error on a status
PATCH, must never crash the operator or lose a result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cluster, OperatorProcess, tiltrun, wait_for
from tests.integration.runs import state, status, stored_run, wait_for_run, wait_until_done
from tests.integration.workloads import deployment, job

pytestmark = pytest.mark.cluster


def _patch_status(cluster: Cluster, namespace: str, kind: str, name: str, body: dict) -> None:
    cluster.kubectl(
        "patch",
        kind,
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": body}),
    )


def test_odd_workload_status_does_not_crash_the_operator(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply([tiltrun("odd", exit_condition="manual"), deployment("web", "odd")], namespace)
    wait_for_run(cluster, namespace, "odd", lambda r: status(r).get("progress") == "1/1", what="up")
    [web_pod] = cluster.get("pods", "-n", namespace, "-l", "app=web")["items"]
    pod_name = web_pod["metadata"]["name"]

    # Statuses the API server accepts but no kubelet or controller would write: a
    # condition that is neither True nor False, without times; a container with no state.
    _patch_status(
        cluster,
        namespace,
        "pod",
        pod_name,
        {
            "conditions": [{"type": "Ready", "status": "Maybe"}],
            "containerStatuses": [
                {"name": "app", "image": "x", "imageID": "", "ready": False, "restartCount": 0}
            ],
        },
    )
    _patch_status(
        cluster,
        namespace,
        "deployment",
        "web",
        {
            "observedGeneration": 99,
            "conditions": [
                {"type": "Available", "status": "Maybe"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
    )
    # The pod's odd status stays (nothing rewrites a running pod's status on the dev
    # cluster); the run says, in plain words, why the target is not ready.
    run = wait_for_run(
        cluster,
        namespace,
        "odd",
        lambda r: "Maybe" in (state(r, "deployment/web").get("active") or {}).get("reason", ""),
        what="the odd readiness in the target's reason",
    )
    web = state(run, "deployment/web")["active"]
    assert web["ready"] is False
    assert web["reason"] == f"0/1 ready; pod {pod_name}: Ready=Maybe"
    assert status(run)["progress"] == "0/1"

    # Still alive, still judging: a later change is tracked as usual.
    assert operator.proc is not None and operator.proc.poll() is None
    cluster.kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=0")
    wait_for_run(
        cluster,
        namespace,
        "odd",
        lambda r: state(r, "deployment/web") == {"disabled": True},
        what="deployment/web disabled",
    )
    assert operator.proc.poll() is None
    log = operator.log()
    assert "Traceback" not in log
    assert "cannot judge" not in json.dumps(stored_run(cluster, namespace, "odd"))


def _service_account_kubeconfig(cluster: Cluster, namespace: str, account: str, path: Path) -> str:
    """A kubeconfig for ``account``: the admin's server and CA, the account's token."""
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    token = cluster.kubectl(
        "create", "token", account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [
            {
                "name": account,
                "context": {
                    "cluster": admin["clusters"][0]["name"],
                    "user": account,
                    "namespace": namespace,
                },
            }
        ],
        "current-context": account,
    }
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _operator_role(namespace: str, *, may_write_status: bool) -> dict:
    watched = {
        "": ["pods"],
        "apps": ["deployments", "statefulsets", "daemonsets", "replicasets"],
        "batch": ["jobs"],
        "tilt.dev": ["tiltruns"],
    }
    rules = [
        {"apiGroups": [group], "resources": resources, "verbs": ["get", "list", "watch"]}
        for group, resources in watched.items()
    ]
    rules.append({"apiGroups": [""], "resources": ["events"], "verbs": ["create"]})
    if may_write_status:
        rules.append(
            {"apiGroups": ["tilt.dev"], "resources": ["tiltruns/status"], "verbs": ["patch"]}
        )
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "tiltrun-operator", "namespace": namespace},
        "rules": rules,
    }


def test_a_refused_status_patch_is_retried_until_it_lands(
    cluster: Cluster, namespace: str, crd: str, tmp_path: Path
) -> None:
    # An operator whose identity may watch everything but not yet write a status: every
    # PATCH is answered 403 until the permission is granted.
    cluster.kubectl("create", "serviceaccount", "operator", "-n", namespace)
    cluster.apply([_operator_role(namespace, may_write_status=False)], namespace)
    cluster.kubectl(
        "create",
        "rolebinding",
        "tiltrun-operator",
        "-n",
        namespace,
        "--role=tiltrun-operator",
        f"--serviceaccount={namespace}:operator",
    )
    restricted = Cluster(
        _service_account_kubeconfig(cluster, namespace, "operator", tmp_path / "kubeconfig"),
        cluster.kubectl_path,
    )
    operator = OperatorProcess(restricted, [namespace], tmp_path / "operator.log").start()
    try:
        cluster.apply(
            [tiltrun("denied", ci={"timeout": "5m"}), job("migrate", "denied")], namespace
        )
        wait_for(
            lambda: "status patch for" in operator.log() and "denied" in operator.log(),
            what="a refused status patch in the operator's log",
            timeout=60,
        )
        assert "status" not in stored_run(cluster, namespace, "denied")

        # Granted: the retry lands, and the run's verdict is not lost.
        cluster.apply([_operator_role(namespace, may_write_status=True)], namespace)
        run = wait_until_done(cluster, namespace, "denied", timeout=60)
        assert status(run)["error"] == ""
        assert status(run)["pid"] == operator.pid
        assert operator.proc is not None and operator.proc.poll() is None
    finally:
        operator.stop()
