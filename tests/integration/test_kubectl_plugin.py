"""``kubectl tiltrun``: the real kubectl finds the plugin on PATH and runs it.

kubectl is the dev cluster's own binary; PATH holds nothing but a folder with the
installed ``kubectl-tiltrun`` script, so the plugin is found by kubectl's own lookup.
The kubeconfig's current context points at a port where nothing listens: only
``--context`` (or the context's namespace) can make a command reach the cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cluster, OperatorProcess, tiltrun
from tests.integration.runs import stored_run
from tests.integration.workloads import deployment

pytestmark = pytest.mark.cluster


@pytest.fixture
def plugin_path(tmp_path: Path) -> str:
    """A PATH on which kubectl finds exactly this checkout's ``kubectl-tiltrun``."""
    script = Path(sys.executable).parent / "kubectl-tiltrun"
    assert script.is_file(), f"{script} is not installed; run `make .venv/.installed`"
    folder = tmp_path / "path"
    folder.mkdir()
    (folder / "kubectl-tiltrun").symlink_to(script)
    return str(folder)


@pytest.fixture
def two_contexts(cluster: Cluster, namespace: str, tmp_path: Path) -> str:
    """A kubeconfig whose current context is unreachable; context ``dev`` has ``namespace``."""
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    (real,) = config["clusters"]
    (user,) = config["users"]
    dead = {"name": "dead", "cluster": {**real["cluster"], "server": "https://127.0.0.1:1"}}
    config["clusters"] = [real, dead]
    config["contexts"] = [
        {"name": "broken", "context": {"cluster": "dead", "user": user["name"]}},
        {
            "name": "dev",
            "context": {"cluster": real["name"], "user": user["name"], "namespace": namespace},
        },
    ]
    config["current-context"] = "broken"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def kubectl(
    cluster: Cluster, path: str, *args: str, kubeconfig: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cluster.kubectl_path, *args],
        input=stdin,
        env={**os.environ, "PATH": path, "KUBECONFIG": kubeconfig},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_kubectl_lists_the_plugin(cluster: Cluster, plugin_path: str) -> None:
    listed = kubectl(cluster, plugin_path, "plugin", "list", kubeconfig=cluster.kubeconfig)
    assert f"{plugin_path}/kubectl-tiltrun" in listed.stdout, listed.stderr
    helped = kubectl(cluster, plugin_path, "tiltrun", "--help", kubeconfig=cluster.kubeconfig)
    assert helped.returncode == 0
    assert "Usage: kubectl tiltrun [OPTIONS] COMMAND" in helped.stdout


def test_ci_through_kubectl_honours_context_and_namespace(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    plugin_path: str,
    two_contexts: str,
) -> None:
    cluster.apply(
        [deployment("web", "good"), deployment("api", "bad", behavior="crashloop")], namespace
    )
    good = yaml.safe_dump(tiltrun("good"))
    bad = yaml.safe_dump(tiltrun("bad", ci={"timeout": "2m"}))

    # The current context is the dead one: without --context nothing reaches the cluster.
    lost = kubectl(
        cluster, plugin_path, "tiltrun", "ci", "-f", "-", kubeconfig=two_contexts, stdin=good
    )
    assert lost.returncode == 3
    assert "cannot reach the Kubernetes API server at https://127.0.0.1:1" in lost.stderr

    # Flags before the subcommand; the namespace comes from the `dev` context.
    passed = kubectl(
        cluster, plugin_path, "tiltrun", "--context", "dev", "ci", "-f", "-",
        kubeconfig=two_contexts, stdin=good,
    )  # fmt: skip
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert f"TiltRun good created in namespace {namespace}" in passed.stdout
    assert stored_run(cluster, namespace, "good")["status"]["error"] == ""

    # Flags after it, kubectl's `-n=NAME` spelling, --kubeconfig instead of $KUBECONFIG.
    failed = kubectl(
        cluster, plugin_path, "tiltrun", "ci", "-f", "-", f"-n={namespace}", "--context=dev",
        f"--kubeconfig={two_contexts}", kubeconfig="/nonexistent", stdin=bad,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    error = stored_run(cluster, namespace, "bad")["status"]["error"]
    assert error.startswith("deployment/api: ") and "CrashLoopBackOff" in error
    assert "deployment/api" in failed.stdout and "CrashLoopBackOff" in failed.stdout
