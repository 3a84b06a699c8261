"""Shared fixtures: a real Kubernetes control plane, and a fresh namespace per test.

The cluster is the one named by ``TILTRUN_TEST_KUBECONFIG`` when that is set (a kind
cluster on a laptop, say); otherwise the ``test`` dev cluster, started on first use.
The run that started it stops it at the end (unless ``TILTRUN_KEEP_CLUSTER=1``); a
cluster that was already up is reused and left up. With pytest-xdist every worker
shares that one cluster.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tiltrun_dev.devcluster.build import cache_dir, ensure_binaries
from tiltrun_dev.devcluster.cluster import DevCluster

#: The dev cluster the tests share; ``TILTRUN_TEST_CLUSTER`` names another, so that two
#: checkouts can run their suites side by side without touching each other's cluster.
TEST_CLUSTER = os.environ.get("TILTRUN_TEST_CLUSTER", "test")


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _owner_file() -> Path:
    return cache_dir() / "clusters" / f".{TEST_CLUSTER}.owner"


def pytest_configure(config: pytest.Config) -> None:
    # One id per pytest run, inherited by xdist workers: whoever starts the cluster
    # writes it down, and only that run stops the cluster at the end.
    if _is_controller(config):
        os.environ.setdefault("TILTRUN_TEST_RUN_ID", uuid.uuid4().hex)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _is_controller(session.config) or os.environ.get("TILTRUN_KEEP_CLUSTER") == "1":
        return
    owner = _owner_file()
    if owner.is_file() and owner.read_text() == os.environ.get("TILTRUN_TEST_RUN_ID"):
        DevCluster(TEST_CLUSTER, log=lambda _: None).down(quiet=True)
        owner.unlink(missing_ok=True)


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
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
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
    lock_path = cache_dir() / "clusters" / f".{TEST_CLUSTER}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        # xdist workers: one builds the binaries and starts the cluster, the rest reuse them.
        fcntl.flock(lock, fcntl.LOCK_EX)
        external = os.environ.get("TILTRUN_TEST_KUBECONFIG")
        if external:
            # A kind cluster on a laptop (hack/kind-e2e.sh): its kubectl will do.
            kubectl = shutil.which("kubectl") or str(ensure_binaries(log=lambda _: None)["kubectl"])
            return Cluster(external, kubectl)
        kubectl = str(ensure_binaries(log=lambda _: None)["kubectl"])
        dev = DevCluster(TEST_CLUSTER, log=lambda _: None)
        if not dev.is_up():
            _owner_file().write_text(os.environ.get("TILTRUN_TEST_RUN_ID", ""))
        state = dev.up()
    return Cluster(state.kubeconfig, kubectl)


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    check: Callable[[], Any], timeout: float = 30, interval: float = 0.2, what: str = "condition"
) -> Any:
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

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def crd(cluster: Cluster) -> str:
    """The TiltRun CRD, applied from crds/ and Established."""
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds" / "tiltrun.yaml")
    )
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s", "crd/tiltruns.tilt.dev")
    return "tiltruns.tilt.dev"


class OperatorProcess:
    """``tiltrun operator`` as a real process, watching one namespace."""

    def __init__(self, cluster: Cluster, namespaces: list[str], log_path: Path) -> None:
        self.cluster = cluster
        self.namespaces = namespaces
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> OperatorProcess:
        """Start it; unless ``extra`` sets the health port, wait until it is ready.

        Ready (``/readyz``) means every watched kind is listed and every TiltRun that
        exists has its current status: a test that changes the world after this knows
        the operator sees the change, however long the start took on a busy machine.
        """
        args = [sys.executable, "-m", "tiltrun", "operator"]
        for ns in self.namespaces:
            args += ["--namespace", ns]
        port = None
        if not any(arg.startswith("--health-port") for arg in extra):
            port = free_port()
            args += [f"--health-port={port}", "--bind-address=127.0.0.1"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*args, *extra],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "KUBECONFIG": self.cluster.kubeconfig},
            )
        if port is not None:
            self._wait_ready(port)
        return self

    def _wait_ready(self, port: int) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the operator exited with {self.proc.returncode}: {self.log()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                    return bool(r.status == 200)
            except OSError:  # not listening yet, or 503: not ready yet
                return False

        wait_for(ready, timeout=120, what="the operator's /readyz")

    def stop(self) -> None:
        """SIGTERM, as Kubernetes stops a pod; SIGKILL if it does not go in time."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class DeployedOperator(OperatorProcess):
    """The operator deploy/ runs in the cluster (``TILTRUN_TEST_OPERATOR=deployed``).

    hack/kind-e2e.sh deploys it; tests marked ``e2e`` then check the real image, RBAC
    and manifests instead of a local process. It watches every namespace.
    """

    NAMESPACE = "tiltrun-system"

    def start(self, *extra: str) -> OperatorProcess:
        assert not extra, "the deployed operator's arguments are in deploy/"
        ns = ("-n", self.NAMESPACE)
        self.cluster.kubectl("scale", "deployment/tiltrun-operator", "--replicas=1", *ns)
        self.cluster.kubectl(
            "rollout", "status", "deployment/tiltrun-operator", "--timeout=120s", *ns
        )
        return self

    def stop(self) -> None:
        ns = ("-n", self.NAMESPACE)
        self.cluster.kubectl("scale", "deployment/tiltrun-operator", "--replicas=0", *ns)
        self.cluster.kubectl(
            "wait",
            "--for=delete",
            "pod",
            "-l",
            "app.kubernetes.io/name=tiltrun-operator",
            "--timeout=60s",
            *ns,
            check=False,  # no pod left to wait for is fine
        )

    @property
    def pid(self) -> int:
        return 1  # the entry point is the container's first process (exec-form ENTRYPOINT)

    def log(self) -> str:
        return self.cluster.kubectl(
            "logs", "deployment/tiltrun-operator", "-n", self.NAMESPACE, check=False
        ).stdout


@pytest.fixture
def operator(
    cluster: Cluster, crd: str, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator, scoped to this test's namespace so tests can run side by side."""
    if os.environ.get("TILTRUN_TEST_OPERATOR") == "deployed":
        yield DeployedOperator(cluster, [], tmp_path / "operator.log")
        return
    proc = OperatorProcess(cluster, [namespace], tmp_path / "operator.log").start()
    yield proc
    proc.stop()


def tiltrun(
    name: str,
    *,
    exit_condition: str = "ci",
    ci: dict[str, Any] | None = None,
    selector: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A TiltRun manifest; with no selector it selects ``tilt.dev/run: <name>``."""
    spec: dict[str, Any] = {"tiltfilePath": "./Tiltfile", "exitCondition": exit_condition}
    if ci:
        spec["ci"] = ci
    if selector:
        spec["selector"] = selector
    return {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "TiltRun",
        "metadata": {"name": name},
        "spec": spec,
    }


def workload_labels(run: str, **extra: str) -> dict[str, str]:
    return {"tilt.dev/run": run, **extra}


def start_run(cluster: Cluster, namespace: str, run: dict[str, Any]) -> dict[str, Any]:
    """Create a TiltRun and wait until the operator has taken it up (``startTime`` set).

    Tests whose workloads change fast (a pod that crashes, then recovers) apply them
    only after this, so the operator sees every transition, whatever its start-up time.
    """
    cluster.apply([run], namespace)
    name = run["metadata"]["name"]
    stored: dict[str, Any] = wait_for(
        lambda: (
            (r := cluster.get("tiltrun", name, "-n", namespace)).get("status", {}).get("startTime")
            and r
        ),
        what=f"the operator to take up tiltrun {name}",
        timeout=60,
    )
    return stored
