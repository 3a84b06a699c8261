"""Bad input from the outside world: the operator keeps working and says what it saw.

Issue 3, "Bad input": a workload with odd status fields, or an API error on a status
PATCH, must never crash the operator or lose a result.
"""

from __future__ import annotations

import json

import pytest

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


def _status_freeze(namespace: str) -> list[dict]:
    """An admission policy refusing every TiltRun status write in ``namespace``.

    Cluster-scoped objects, so their names carry the namespace; the binding matches
    only that namespace, so tests beside this one are untouched.
    """
    name = f"freeze-{namespace}"
    rule = {
        "apiGroups": ["tilt.dev"],
        "apiVersions": ["v1alpha1"],
        "operations": ["UPDATE"],
        "resources": ["tiltruns/status"],
    }
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [rule]},
                "validations": [{"expression": "false", "message": "status writes frozen"}],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        },
    ]


def test_a_refused_status_patch_is_retried_until_it_lands(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    freeze = _status_freeze(namespace)
    cluster.apply(freeze, namespace)
    try:
        # The policy is in force once it refuses a status write of our own.
        cluster.apply([tiltrun("canary", exit_condition="manual")], namespace)
        wait_for(
            lambda: (
                "status writes frozen"
                in cluster.kubectl(
                    "patch",
                    "tiltrun",
                    "canary",
                    "-n",
                    namespace,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    '{"status": {"summary": "probe"}}',
                    "--dry-run=server",
                    check=False,
                ).stderr
            ),
            what="the admission policy to take effect",
        )
        cluster.apply(
            [tiltrun("denied", ci={"timeout": "5m"}), job("migrate", "denied")], namespace
        )
        wait_for(
            lambda: f"status of TiltRun {namespace}/denied was refused too" in operator.log(),
            what="a refused status patch in the operator's log",
            timeout=60,
        )
        assert "status" not in stored_run(cluster, namespace, "denied")

        # The policy lifted: the retry lands, and the run's verdict is not lost.
        cluster.kubectl("delete", "validatingadmissionpolicybinding", f"freeze-{namespace}")
        run = wait_until_done(cluster, namespace, "denied")
        assert status(run)["error"] == ""
        assert status(run)["pid"] == operator.pid
        assert operator.proc is not None and operator.proc.poll() is None
    finally:
        for obj in freeze:
            cluster.kubectl(
                "delete", obj["kind"].lower(), obj["metadata"]["name"], "--ignore-not-found"
            )
