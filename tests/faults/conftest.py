"""Fixtures of the fault suite: clusters of their own to break, operators to kill.

Tests that kill a control-plane component get a dev cluster of their own
(``private_cluster``), named after the test cluster, so that no other test, and no
teammate's cluster, notices. Tests that only kill the operator share the test cluster.

Slow tests are marked ``chaos``: ``make test`` leaves them out, ``make chaos`` runs them.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import (
    REPO,
    TEST_CLUSTER,
    Cluster,
    OperatorProcess,
    wait_for,
)
from tests.faults.truth import Lister
from tiltrun_dev.devcluster.build import ensure_binaries
from tiltrun_dev.devcluster.cluster import DevCluster


class KillableOperator(OperatorProcess):
    """The operator as a process a test may SIGKILL, as the kernel's OOM killer would."""

    def kill(self) -> int:
        """SIGKILL the operator and reap it; returns its PID."""
        assert self.proc is not None and self.proc.poll() is None, "the operator is not running"
        pid = self.proc.pid
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        return pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class PrivateCluster:
    """A dev cluster one test owns: its API server(s), and the controls to break them."""

    dev: DevCluster
    #: Reaches the first kube-apiserver (the one a test's operator talks to).
    a: Cluster
    #: Reaches the second kube-apiserver, when the cluster has one; else the first.
    b: Cluster

    def lister(self, via: Cluster | None = None) -> Lister:
        return Lister((via or self.b).kubeconfig)


def private(
    name_part: str, *, second_apiserver: bool, extra_args: dict[str, list[str]] | None = None
) -> Iterator[PrivateCluster]:
    """Start a dev cluster for one test, yield it, stop it (by its recorded PIDs)."""
    name = f"{TEST_CLUSTER}-{name_part}-{uuid.uuid4().hex[:6]}"
    dev = DevCluster(name, log=lambda _: None)
    try:
        state = dev.up(second_apiserver=second_apiserver, extra_args=extra_args)
        kubectl = str(ensure_binaries(log=lambda _: None)["kubectl"])
        a = Cluster(state.kubeconfig, kubectl)
        b = Cluster(state.second_kubeconfig, kubectl) if second_apiserver else a
        b.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds" / "tiltrun.yaml")
        )
        b.kubectl("wait", "--for=condition=Established", "--timeout=30s", "crd/tiltruns.tilt.dev")
        yield PrivateCluster(dev, a, b)
    finally:
        if os.environ.get("TILTRUN_KEEP_FAULT_CLUSTERS") != "1":
            dev.down(quiet=True)


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    """A dev cluster of this test's own, with one kube-apiserver."""
    yield from private("fault", second_apiserver=False)


@pytest.fixture
def two_apiservers() -> Iterator[PrivateCluster]:
    """A dev cluster of this test's own with two kube-apiservers on one etcd.

    Its controllers, scheduler and kwok use the second one, so killing the first blinds
    only the clients of the first.
    """
    yield from private("gap", second_apiserver=True)


def job_finished(cluster: Cluster, namespace: str, name: str) -> bool:
    """True once Job ``name`` is Complete or Failed, as its controller says."""
    found = cluster.get("job", name, "-n", namespace).get("status", {}).get("conditions")
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in found or [])


def new_namespace(cluster: Cluster, stem: str) -> str:
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
        what=f"serviceaccount default in {name}",
    )
    return name


@pytest.fixture
def start_operator(
    tmp_path: Path,
) -> Iterator[Callable[[Cluster, list[str]], KillableOperator]]:
    """Start operators on any cluster; each is stopped at the end of the test."""
    started: list[KillableOperator] = []

    def start(cluster: Cluster, namespaces: list[str], *extra: str) -> KillableOperator:
        log = tmp_path / f"operator-{len(started)}.log"
        proc = KillableOperator(cluster, namespaces, log)
        proc.start(*extra)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
