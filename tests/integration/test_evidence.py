"""The evidence the operator stores is the cluster's truth, field for field (issue 13).

A failing run on the dev cluster: the stored ``state.failure`` names exactly the targets
of the run's ``error``, and each target's ``evidence`` names a pod and container that
exist, with the exit code the API server holds for that container.
"""

from __future__ import annotations

import pytest

from tests.conftest import Cluster, OperatorProcess, tiltrun
from tests.integration.runs import state, status, wait_until_done
from tests.integration.workloads import deployment, job

pytestmark = pytest.mark.cluster


def test_a_failed_run_stores_the_facts_of_each_failure(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("gate", ci={"timeout": "90s"}),
            job("migrate", "gate", behavior="fail", backoff_limit=0),
            deployment("web", "gate"),
        ],
        namespace,
    )
    run = wait_until_done(cluster, namespace, "gate", timeout=90)

    migrate = state(run, "job/migrate")
    failure, evidence = migrate["failure"], migrate["terminated"]["evidence"]
    assert failure["reason"] == "TargetFailed"
    assert status(run)["error"] == f"job/migrate: {failure['message']}"
    assert "failure" not in state(run, "deployment/web")

    # The truth, read back from the API server: the pod and its container's exit.
    pod = cluster.get("pod", evidence["pod"], "-n", namespace)
    (container,) = pod["status"]["containerStatuses"]
    job_obj = cluster.get("job", "migrate", "-n", namespace)
    failed = next(c for c in job_obj["status"]["conditions"] if c["type"] == "Failed")
    assert pod["metadata"]["ownerReferences"][0]["uid"] == job_obj["metadata"]["uid"]
    assert evidence["container"] == container["name"] == "main"
    assert evidence["exitCode"] == container["state"]["terminated"]["exitCode"] != 0
    assert evidence["restarts"] == container["restartCount"]
    assert (evidence["reason"], evidence["message"]) == (failed["reason"], failed["message"])
    message = container["state"]["terminated"]["message"]
    assert message and evidence["terminationMessage"] == message
