"""The control plane under the operator breaks: its kube-apiserver or etcd killed and restarted.

Each test has a dev cluster of its own to break (``private_cluster``),
kills components by the PIDs the cluster recorded, and then waits, with a bound, until
every run's stored status agrees with the truth computed from the cluster's objects
(``tests/faults/truth.py``). The times printed (``-s``) are observations, not assertions.

Slow (each starts a cluster and waits out restarts): marked ``chaos``, run by ``make chaos``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.conftest import start_run, tiltrun, wait_for
from tests.faults.conftest import (
    KillableOperator,
    PrivateCluster,
    job_finished,
    new_namespace,
)
from tests.faults.truth import converged
from tests.integration.runs import now, state, status, time_of, wait_for_run
from tests.integration.workloads import COMPLETE_DELAY, deployment, job

pytestmark = [pytest.mark.cluster, pytest.mark.chaos]

StartOperator = Callable[..., KillableOperator]


def test_kube_apiserver_killed_and_restarted(
    private_cluster: PrivateCluster, start_operator: StartOperator
) -> None:
    cluster = private_cluster.a
    namespace = new_namespace(cluster, "apiserver")
    start_operator(cluster, [namespace])
    start_run(cluster, namespace, tiltrun("steady", ci={"timeout": "10m"}))
    cluster.apply(
        [
            deployment("web", "steady"),
            job("report", "steady", pod_annotations={COMPLETE_DELAY: "1h"}),
        ],
        namespace,
    )
    wait_for_run(
        cluster,
        namespace,
        "steady",
        lambda r: len(status(r).get("targets") or []) == 2,
        what="both targets seen",
    )
    private_cluster.dev.kill("kube-apiserver")
    private_cluster.dev.revive("kube-apiserver")
    serving = time.monotonic()
    # Changes after the API server came back must all be seen: the long Job goes, a short
    # one runs, so the run can finish only if the operator watches again.
    cluster.kubectl("delete", "job", "report", "-n", namespace, "--wait=false")
    cluster.apply([job("migrate", "steady")], namespace)
    wait_for(lambda: job_finished(cluster, namespace, "migrate"), what="job/migrate finished")
    lister = private_cluster.lister()
    agreed = converged(lister, namespace, "steady", timeout=90, what="after the restart")
    print(f"status agreed {time.monotonic() - serving:.1f}s after the API server served again")
    assert agreed.stored["done"] is True and agreed.stored["error"] == ""


def test_etcd_killed_and_restarted(
    private_cluster: PrivateCluster, start_operator: StartOperator
) -> None:
    cluster = private_cluster.a
    namespace = new_namespace(cluster, "etcd")
    start_operator(cluster, [namespace])
    slow = start_run(cluster, namespace, tiltrun("slow", ci={"timeout": "6s"}))
    cluster.apply([job("report", "slow", pod_annotations={COMPLETE_DELAY: "1h"})], namespace)
    start_run(cluster, namespace, tiltrun("later", ci={"timeout": "10m"}))
    wait_for_run(
        cluster,
        namespace,
        "slow",
        lambda r: status(r).get("targets") and "active" in state(r, "job/report"),
        what="job/report running",
    )
    private_cluster.dev.kill("etcd")
    # The timeout of "slow" passes while nothing can be stored: its verdict must land later.
    deadline = time_of(status(slow)["startTime"]) + timedelta(seconds=6)
    wait_for(lambda: now() > deadline, what="the timeout of tiltrun/slow to pass", timeout=30)
    private_cluster.dev.revive("etcd")
    wait_for(
        lambda: cluster.kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
        what="the API server ready again",
        timeout=90,
    )
    cluster.apply([job("migrate", "later")], namespace)
    wait_for(lambda: job_finished(cluster, namespace, "migrate"), what="job/migrate finished")
    lister = private_cluster.lister()
    timed_out = converged(lister, namespace, "slow", timeout=90, what="timeout while etcd was down")
    assert timed_out.stored == {"done": True, "error": "timed out: job/report"}
    finished = converged(lister, namespace, "later", timeout=90, what="a Job after etcd returned")
    assert finished.stored["done"] is True and finished.stored["error"] == ""
