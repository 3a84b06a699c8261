"""Shared fixtures: a real Kubernetes control plane, and a fresh namespace per test.

The cluster is the one named by ``TILTRUN_TEST_KUBECONFIG`` when that is set (a kind
cluster on a laptop, say); otherwise the ``test`` dev cluster, started on first use
and stopped when the run ends, unless it was already up before the run or
``TILTRUN_KEEP_CLUSTER=1``. With pytest-xdist every worker shares that one cluster.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tiltrun.devcluster.build import cache_dir, ensure_binaries
from tiltrun.devcluster.cluster import DevCluster

TEST_CLUSTER = "test"


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _is_controller(config) and not os.environ.get("TILTRUN_TEST_KUBECONFIG"):
        config.stash[_was_up] = DevCluster(TEST_CLUSTER, log=lambda _: None).is_up()


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if not _is_controller(config) or os.environ.get("TILTRUN_TEST_KUBECONFIG"):
        return
    if config.stash.get(_was_up, True) or os.environ.get("TILTRUN_KEEP_CLUSTER") == "1":
        return
    DevCluster(TEST_CLUSTER, log=lambda _: None).down(quiet=True)


_was_up = pytest.StashKey[bool]()


@dataclass(frozen=True)
class Cluster:
    """How tests reach the cluster: a kubeconfig and a kubectl that uses it."""

    kubeconfig: str
    kubectl_path: str

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.kubectl_path, f"--kubeconfig={self.kubeconfig}", *args],
            input=input, capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def get(self, *args: str) -> dict[str, Any]:
        """``kubectl get ... -o json``: what the API server stored."""
        out: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        return out

    def apply(self, manifest: str | list[dict[str, Any]], namespace: str) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump_all(manifest)
        self.kubectl("apply", "-n", namespace, "-f", "-", input=text)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The real control plane every integration test runs on."""
    kubectl = str(ensure_binaries(log=lambda _: None)["kubectl"])
    external = os.environ.get("TILTRUN_TEST_KUBECONFIG")
    if external:
        return Cluster(external, kubectl)
    lock_path = cache_dir() / "clusters" / f".{TEST_CLUSTER}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers: one starts it, the rest reuse it
        state = DevCluster(TEST_CLUSTER, log=lambda _: None).up()
    return Cluster(state.kubeconfig, kubectl)


def wait_for(check: Callable[[], Any], timeout: float = 30, interval: float = 0.2,
             what: str = "condition") -> Any:
    """Return the first truthy result of ``check``; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted after it."""
    stem = request.node.name.lower().replace("_", "-")
    stem = "".join(c for c in stem if c.isalnum() or c == "-")[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    # Pods are refused until the ServiceAccount controller has made `default`.
    wait_for(
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
        what=f"serviceaccount default in {name}",
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


FIXTURES = Path(__file__).parent / "fixtures"
