"""The dev cluster behaves like a real one: the harness every other test stands on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Cluster, wait_for

pytestmark = pytest.mark.cluster


def _condition(obj: dict, kind: str) -> dict | None:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), None)


def _when(obj: dict, test: Callable[[dict], object]) -> dict | None:
    """``obj`` when ``test(obj)`` holds, else None: the shape ``wait_for`` wants."""
    return obj if test(obj) else None


def _deployment(name: str, replicas: int = 2, labels: dict | None = None) -> dict:
    pod_labels = {"app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


def _job(name: str, labels: dict | None = None, backoff: int = 6) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "metadata": {"labels": labels or {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox"}],
                },
            },
        },
    }


def _pod(name: str, behavior: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"fake.tilt.dev/behavior": behavior}},
        "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
    }


def test_api_server_reports_its_pinned_version(cluster: Cluster) -> None:
    out = cluster.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.36.3"' in out


def test_deployment_becomes_available(cluster: Cluster, namespace: str) -> None:
    cluster.apply([_deployment("web", replicas=2)], namespace)
    deploy = wait_for(
        lambda: _when(
            cluster.get("deployment", "web", "-n", namespace),
            lambda d: d.get("status", {}).get("availableReplicas") == 2,
        ),
        what="2 available replicas",
    )
    assert _condition(deploy, "Available")["status"] == "True"
    pods = cluster.get("pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 2
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)
    # ReplicaSets own the pods: the controller manager really ran the rollout.
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods)


def test_job_completes(cluster: Cluster, namespace: str) -> None:
    cluster.apply([_job("migrate")], namespace)
    job = wait_for(
        lambda: _when(
            cluster.get("job", "migrate", "-n", namespace), lambda j: _condition(j, "Complete")
        ),
        what="Job Complete",
    )
    assert _condition(job, "Complete")["status"] == "True"
    assert job["status"]["succeeded"] == 1


def test_failing_job_with_backoff_limit_zero_fails(cluster: Cluster, namespace: str) -> None:
    cluster.apply([_job("bad", labels={"fake.tilt.dev/behavior": "fail"}, backoff=0)], namespace)
    job = wait_for(
        lambda: _when(
            cluster.get("job", "bad", "-n", namespace), lambda j: _condition(j, "Failed")
        ),
        what="Job Failed",
    )
    assert _condition(job, "Failed")["reason"] == "BackoffLimitExceeded"
    pod = cluster.get("pods", "-n", namespace, "-l", "job-name=bad")["items"][0]
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1


def test_crash_looping_pod_restarts_over_time(cluster: Cluster, namespace: str) -> None:
    cluster.apply([_pod("crash", "crashloop")], namespace)

    def container() -> dict | None:
        statuses = cluster.get("pod", "crash", "-n", namespace)["status"].get(
            "containerStatuses"
        ) or [{}]
        return statuses[0] if statuses[0].get("restartCount") else None

    first = wait_for(container, what="a restart")
    assert first["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert first["lastState"]["terminated"]["exitCode"] == 1
    later = wait_for(
        lambda: (c := container()) and c["restartCount"] > first["restartCount"] and c,
        what="restartCount to grow",
    )
    assert later["state"]["waiting"]["reason"] == "CrashLoopBackOff"


def test_image_pull_failure_shows_backoff(cluster: Cluster, namespace: str) -> None:
    cluster.apply([_pod("pull", "image-pull-error")], namespace)
    waiting = wait_for(
        lambda: (
            (s := cluster.get("pod", "pull", "-n", namespace)["status"])
            .get("containerStatuses", [{}])[0]
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "ImagePullBackOff"
            and s
        ),
        what="ImagePullBackOff",
    )
    assert waiting["phase"] == "Pending"


def test_never_ready_pod_runs_without_becoming_ready(cluster: Cluster, namespace: str) -> None:
    cluster.apply([_pod("lazy", "never-ready")], namespace)
    pod = wait_for(
        lambda: _when(
            cluster.get("pod", "lazy", "-n", namespace),
            lambda p: p["status"].get("phase") == "Running",
        ),
        what="phase Running",
    )
    assert _condition(pod, "Ready")["status"] == "False"
    assert pod["status"]["containerStatuses"][0]["state"].get("running")


def test_rbac_refuses_a_service_account_without_a_role(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    result = cluster.kubectl(
        "get",
        "pods",
        "-n",
        namespace,
        f"--as=system:serviceaccount:{namespace}:nobody",
        check=False,
    )
    assert result.returncode != 0
    assert "forbidden" in result.stderr.lower()
    assert "cannot list resource" in result.stderr


def test_kubectl_logs_serves_what_the_annotations_say_each_container_prints(
    cluster: Cluster, namespace: str
) -> None:
    # kube-apiserver asks the node's kubelet (kwok, over TLS checked against the
    # cluster's CA) for the log; kwok reads the files the pod-logs process wrote.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "talker",
            "annotations": {
                "fake.tilt.dev/log": "starting\nFATAL: no config\n",
                "fake.tilt.dev/log.sidecar": "sidecar up",
            },
        },
        "spec": {
            "containers": [
                {"name": "main", "image": "busybox"},
                {"name": "sidecar", "image": "busybox"},
            ]
        },
    }
    quiet = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "quiet"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }
    cluster.apply([pod, quiet], namespace)

    def logs(*args: str) -> str | None:
        got = cluster.kubectl("logs", "-n", namespace, *args, check=False)
        return got.stdout if got.returncode == 0 else None

    assert wait_for(lambda: logs("talker", "-c", "main"), what="talker's log") == (
        "starting\nFATAL: no config\n"
    )
    assert logs("talker", "-c", "main", "--previous") == "starting\nFATAL: no config\n"
    assert logs("talker", "-c", "main", "--tail=1") == "FATAL: no config\n"
    assert logs("talker", "-c", "sidecar") == "sidecar up\n"
    # A pod that prints nothing has an empty log, not an error.
    assert wait_for(lambda: logs("quiet") is not None, what="quiet's log") is True
    assert logs("quiet") == ""

    # The pod's Logs object goes with the pod (it owns it), and so do its files.
    uid = cluster.get("pod", "talker", "-n", namespace)["metadata"]["uid"]
    files = Path(cluster.kubeconfig).parent / "pod-logs" / uid
    assert sorted(f.name for f in files.iterdir()) == ["_all.log", "sidecar.log"]
    stored = cluster.get("logs.kwok.x-k8s.io", "talker", "-n", namespace)
    assert stored["metadata"]["ownerReferences"][0]["uid"] == uid
    cluster.kubectl("delete", "pod", "talker", "-n", namespace, "--wait=true")
    wait_for(
        lambda: not cluster.get("logs.kwok.x-k8s.io", "-n", namespace)["items"],
        what="the Logs object to go with its pod",
    )
    wait_for(lambda: not files.exists(), what="the pod's log files to be removed")
