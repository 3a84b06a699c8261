"""The operator's image, built by ``make image``'s code and run as deploy/ runs it.

The image is built (or its cached layers reused) with Docker when a daemon answers,
else with buildah, and run with podman (or docker) under the security settings of
deploy/base/deployment.yaml, translated flag by flag: its user, a read-only root with
an in-memory /tmp of the emptyDir's size, every capability dropped, no privilege
escalation. It shares the host's network, so it reaches the test cluster on 127.0.0.1.
Where the image cannot be built (no Docker, and no apt-get to install buildah), the
tests fail with that one sentence: they never skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Cluster, tiltrun, wait_for
from tests.integration.test_deploy import free_port, http_get
from tests.integration.workloads import deployment
from tiltrun_dev.image import Built, ImageError, podman_env
from tiltrun_dev.image import build as build_image

pytestmark = pytest.mark.cluster

DEPLOYMENT = REPO / "deploy" / "base" / "deployment.yaml"
#: issue 15's budget for the image, uncompressed.
SIZE_BUDGET = 250 * 1000 * 1000


@dataclass(frozen=True)
class Engine:
    """``podman`` or ``docker``, with the environment the build used."""

    command: str
    env: dict[str, str]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.command, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert result.returncode == 0, f"{self.command} {' '.join(args)}: {result.stderr}"
        return result


@pytest.fixture(scope="module")
def built() -> Built:
    try:
        return build_image(log=lambda _: None)
    except ImageError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="module")
def engine(built: Built) -> Engine:
    if built.engine == "docker":
        return Engine("docker", dict(os.environ))
    return Engine("podman", podman_env())


def security_flags(manifest: dict[str, Any]) -> list[str]:
    """deploy/'s pod and container security settings as ``podman run`` flags."""
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pod_security, security = pod["securityContext"], container["securityContext"]
    user = security.get("runAsUser", pod_security["runAsUser"])
    group = security.get("runAsGroup", pod_security["runAsGroup"])
    assert pod_security["runAsNonRoot"] and user != 0
    flags = [f"--user={user}:{group}"]
    if security["readOnlyRootFilesystem"]:
        # podman would otherwise add writable tmpfs mounts of its own (/run, /var/tmp).
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if security["allowPrivilegeEscalation"] is False:
        flags += ["--security-opt=no-new-privileges"]
    flags += [f"--cap-drop={cap}" for cap in security["capabilities"]["drop"]]
    # seccompProfile RuntimeDefault: the engine's default profile, which runs unless disabled.
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        empty_dir = volumes[mount["name"]]["emptyDir"]
        size = _bytes(empty_dir["sizeLimit"])
        flags += [f"--tmpfs={mount['mountPath']}:rw,size={size},mode=1777"]
    return flags


def _bytes(quantity: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    return int(quantity[:-2]) * units[quantity[-2:]]


@dataclass
class Running:
    """The operator's container, its endpoints on the host's network, and its name."""

    name: str
    health: int
    metrics: int


@pytest.fixture
def container(
    built: Built, engine: Engine, cluster: Cluster, namespace: str, tmp_path: Path
) -> Iterator[Running]:
    # The container's user may read only what it is given: a copy of the kubeconfig.
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copy(cluster.kubeconfig, kubeconfig)
    kubeconfig.chmod(0o644)
    running = Running(f"tiltrun-test-{uuid.uuid4().hex[:8]}", free_port(), free_port())
    flags = security_flags(yaml.safe_load(DEPLOYMENT.read_text()))
    engine(
        "run", "--detach", "--name", running.name, "--network=host", *flags,
        f"--volume={kubeconfig}:/etc/tiltrun-test/kubeconfig:ro",
        "--env=KUBECONFIG=/etc/tiltrun-test/kubeconfig",
        f"--env=POD_ID={running.name}",
        built.tag,
        f"--namespace={namespace}",
        f"--health-port={running.health}",
        f"--metrics-port={running.metrics}",
        "--log-format=json",
    )  # fmt: skip
    try:
        yield running
    finally:
        engine("rm", "--force", running.name, check=False)


def test_the_image_fits_its_budget_and_carries_only_the_product(
    built: Built, engine: Engine
) -> None:
    assert built.size <= SIZE_BUDGET, f"{built.tag} is {built.size / 1e6:.1f} MB: {built.layers}"

    def python(code: str) -> subprocess.CompletedProcess[str]:
        return engine("run", "--rm", "--entrypoint=python3", built.tag, "-c", code, check=False)

    assert python("import tiltrun.cli.main, tiltrun.wiring.run").returncode == 0
    assert "No module named 'tiltrun_dev'" in python("import tiltrun_dev").stderr
    assert "No module named 'pip'" in python("import pip").stderr
    help_text = engine("run", "--rm", "--entrypoint=tiltrun", built.tag, "--help").stdout
    assert "ci " in help_text and "inspect " in help_text and "dev-cluster" not in help_text
    # The host's CA bundle was mounted for the build's downloads only: the image's is the
    # base image's own, byte for byte.
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    theirs = engine("run", "--rm", "--entrypoint=cat", built.base, bundle, check=False)
    ours = engine("run", "--rm", "--entrypoint=cat", built.tag, bundle, check=False)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)


def test_the_operator_runs_from_the_image_as_deploy_runs_it(
    cluster: Cluster, namespace: str, engine: Engine, container: Running
) -> None:
    wait_for(
        lambda: http_get(container.health, "/readyz")[0] == 200,
        timeout=90,
        what="/readyz of the operator in the container",
    )
    cluster.apply(
        [
            tiltrun("good"),
            deployment("web", "good", replicas=2),
            tiltrun("bad"),
            deployment("api", "bad", behavior="crashloop"),
        ],
        namespace,
    )
    good = finished_status(cluster, namespace, "good")
    bad = finished_status(cluster, namespace, "bad")
    assert (good["error"], good["progress"]) == ("", "1/1")
    assert bad["error"].startswith("deployment/api: ") and "CrashLoopBackOff" in bad["error"]

    assert http_get(container.health, "/healthz") == (200, "ok\n")
    metrics = http_get(container.metrics, "/metrics")[1]
    assert 'tiltrun_runs{exit_condition="ci",state="succeeded"} 1.0' in metrics
    assert 'tiltrun_runs{exit_condition="ci",state="failed"} 1.0' in metrics

    # deploy/'s settings hold inside: its user, no capabilities, no new privileges, and a
    # root filesystem nothing can write to.
    status = engine("exec", container.name, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Uid"].split()[:2] == ["65532", "65532"]
    assert fields["CapEff"].strip() == "0000000000000000"
    assert fields["NoNewPrivs"].strip() == "1"
    write = engine("exec", container.name, "python3", "-c", "open('/x', 'w')", check=False)
    assert "Read-only file system" in write.stderr

    # SIGTERM, as the kubelet stops a pod: a clean exit, well within the Deployment's grace.
    grace = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    engine("kill", "--signal=TERM", container.name)
    code = engine("wait", container.name, timeout=grace).stdout.strip()
    assert code == "0", engine("logs", container.name, check=False).stderr
    lines = engine("logs", container.name).stderr.splitlines()
    lines += engine("logs", container.name).stdout.splitlines()
    assert lines and all(json.loads(line)["message"] for line in lines if line.strip())


def finished_status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    run: dict[str, Any] = wait_for(
        lambda: (
            (r := cluster.get("tiltrun", name, "-n", namespace)).get("status", {}).get("done") and r
        ),
        timeout=90,
        what=f"tiltrun {name} done",
    )
    return dict(run["status"])
