"""A status that always fits: read back from the API server at the limits of issue 11.

- 1,600 crash-looping pods with long names: every status write used to be refused
  (``etcdserver: request is too large``) and ``kubectl get`` kept a stale ``0/1153``.
- A schema-valid selector of about 50 KB that matches nothing: the summary repeated it,
  condition messages went over the CRD's 32,768 characters, and every write got 422.

Each run's stored status must be under the budget, agree with the truth, and say what
was cut (``status.truncation``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import client

from tests.conftest import Cluster, start_run, tiltrun, wait_for
from tests.faults.conftest import KillableOperator, PrivateCluster, new_namespace
from tests.faults.truth import Lister, converged
from tests.integration.runs import status, wait_for_run, wait_until_done
from tests.integration.workloads import RESTART_DELAY, pod
from tiltrun.judge.budget import ERROR_CHARS, STATUS_BUDGET_BYTES, SUMMARY_CHARS

pytestmark = pytest.mark.cluster

StartOperator = Callable[..., KillableOperator]


def _huge_selector() -> dict:
    """About 54 KB, within every limit the CRD sets, matching no object."""
    return {
        "matchExpressions": [
            {
                "key": f"example.com/nothing-{e}",
                "operator": "In",
                "values": [f"{'v' * 56}-{e}-{v:03d}" for v in range(128)],
            }
            for e in range(7)
        ]
    }


def test_a_50kb_selector_that_matches_nothing_gets_a_status(
    cluster: Cluster, crd: str, namespace: str, start_operator: StartOperator
) -> None:
    selector = _huge_selector()
    assert len(json.dumps(selector)) > 50_000
    start_operator(cluster, [namespace])
    run = tiltrun("vast", ci={"timeout": "3s"}, selector=selector)
    start_run(cluster, namespace, run)
    # A CI gate waiting on it no longer hangs: the timeout ends the run, and it is stored.
    done = wait_until_done(cluster, namespace, "vast", timeout=60)
    got = status(done)
    assert len(got["summary"]) <= SUMMARY_CHARS
    assert len(got["error"]) <= ERROR_CHARS
    assert got["error"].startswith("timed out after 3s; no enabled workloads match the selector")
    assert got["error"].endswith("more characters)")
    assert all(len(c["message"]) <= SUMMARY_CHARS for c in got["conditions"])
    assert got["truncation"]["targets"] == 0
    assert "summary" in got["truncation"]["shortened"]
    assert len(json.dumps(got)) <= STATUS_BUDGET_BYTES
    converged(Lister(cluster.kubeconfig), namespace, "vast", what="a 50 KB selector")


#: Pod names near the longest Kubernetes allows (253), as generated tools make them.
LONG = "crash-looping-pod-with-a-rather-long-generated-name-" * 4


@pytest.mark.chaos
def test_1600_crash_looping_pods_with_long_names(
    private_cluster: PrivateCluster, start_operator: StartOperator
) -> None:
    cluster = private_cluster.a
    namespace = new_namespace(cluster, "many")
    began = time.monotonic()
    start_operator(cluster, [namespace])
    # The board is there first and follows every pod as it comes and crashes.
    start_run(cluster, namespace, tiltrun("many", exit_condition="manual"))
    # One crash each, then a long back-off: kwok plays 1,600 pods without churning.
    pods = [pod(f"{LONG}{i:04d}", "many", behavior="crashloop") for i in range(1600)]
    for p in pods:
        p["metadata"]["annotations"] = {RESTART_DELAY: "1h"}
        p["metadata"]["labels"].update({"app": "many", "tilt.dev/gate": "many"})
    assert all(len(p["metadata"]["name"]) <= 253 for p in pods)
    lister = private_cluster.lister()
    core = client.CoreV1Api(lister.api)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda p: core.create_namespaced_pod(namespace, p), pods))
    print(f"1,600 pods created after {time.monotonic() - began:.0f}s")

    def crashed() -> int:
        items = cluster.get("pods", "-n", namespace)["items"]
        return sum(
            1
            for p in items
            if any(c.get("restartCount") for c in p["status"].get("containerStatuses") or [])
        )

    wait_for(lambda: crashed() == 1600, what="1,600 pods crash-looping", timeout=600, interval=5)
    print(f"1,600 pods crash-looping after {time.monotonic() - began:.0f}s")
    board = wait_for_run(
        cluster,
        namespace,
        "many",
        lambda r: (status(r).get("truncation") or {}).get("targetCounts", {}).get("failed") == 1600,
        what="all 1,600 targets counted as failed",
        timeout=300,
    )
    print(f"the board counted 1,600 failed targets after {time.monotonic() - began:.0f}s")
    got = status(board)
    assert len(json.dumps(got)) <= STATUS_BUDGET_BYTES
    assert got["progress"] == "0/1600"
    truncation = got["truncation"]
    print(f"{truncation['listedTargets']} of 1,600 targets listed in {len(json.dumps(got))} bytes")
    assert truncation["targets"] == 1600
    assert 0 < truncation["listedTargets"] == len(got["targets"]) < 1600
    converged(lister, namespace, "many", timeout=120, what="1,600 targets")

    # A ci run taken up when all of them already crash fails at once, naming them all:
    # an error far over its limit.
    gate = tiltrun(
        "gate", ci={"timeout": "10m"}, selector={"matchLabels": {"tilt.dev/gate": "many"}}
    )
    cluster.apply([gate], namespace)
    finished = status(wait_until_done(cluster, namespace, "gate", timeout=300))
    assert len(json.dumps(finished)) <= STATUS_BUDGET_BYTES
    assert finished["error"].startswith("pod/")
    assert finished["error"].endswith("more characters)")
    assert len(finished["error"]) <= ERROR_CHARS
    assert "writeRefused" not in finished["truncation"]
