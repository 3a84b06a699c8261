"""The operator judges a real rollout and stores the verdict: the smallest whole loop."""

from __future__ import annotations

import pytest

from tests.conftest import Cluster, OperatorProcess, tiltrun, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


def test_ci_run_with_a_deployment_and_a_job_succeeds(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    web = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"tilt.dev/run": "smoke"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }
    migrate = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "labels": {"tilt.dev/run": "smoke"}},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox"}],
                }
            }
        },
    }
    cluster.apply([tiltrun("smoke"), web, migrate], namespace)
    run = wait_for(
        lambda: (
            (r := cluster.get("tiltrun", "smoke", "-n", namespace)).get("status", {}).get("done")
            and r
        ),
        what="status.done",
        timeout=60,
    )
    status = run["status"]
    assert status["error"] == ""
    assert [t["name"] for t in status["targets"]] == ["deployment/web", "job/migrate"]
    assert status["targets"][0]["state"]["active"]["ready"] is True
    assert "error" not in status["targets"][1]["state"]["terminated"]
    assert status["pid"] == operator.pid
    assert status["progress"] == "2/2"
