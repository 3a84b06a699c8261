"""The install artifacts, proven on a real control plane: deploy/, RBAC, Pod Security.

These tests install cluster-scoped objects (the CRD, a ClusterRole, the namespace
tiltrun-system), so they run on a dev cluster of their own, ``deploytest-<random>``,
started for this module and stopped after it (a name per run, so that two test runs
on one machine do not share it); the shared ``test`` cluster is left alone.

The operator runs out of cluster here (there is no container runtime to run the image),
but with the deployed ServiceAccount's own token, so the API server authorizes every
request exactly as it would for the pod. The official Python client ignores the
``as:`` (impersonation) field of a kubeconfig, and kopf logs in through that client, so
a token is the one faithful way to run as the ServiceAccount.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Cluster, OperatorProcess, free_port, tiltrun, wait_for
from tiltrun_dev.devcluster.build import ensure_binaries
from tiltrun_dev.devcluster.cluster import DevCluster

pytestmark = pytest.mark.cluster

SYSTEM_NAMESPACE = "tiltrun-system"
SERVICE_ACCOUNT = "tiltrun-operator"
SA_USER = f"system:serviceaccount:{SYSTEM_NAMESPACE}:{SERVICE_ACCOUNT}"
KUSTOMIZATIONS = ["deploy", "deploy/base", "deploy/namespaced", "hack/kind"]


@dataclass(frozen=True)
class DeployCluster(Cluster):
    """A cluster of this module's own, plus its audit log."""

    audit_log: Path

    def audit_offset(self) -> int:
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def audit(self, since: int, user: str, *, kubectl: bool = False) -> list[dict[str, Any]]:
        """Audit entries of ``user`` written after byte ``since``; kubectl's only if asked."""
        with self.audit_log.open() as log:
            log.seek(since)
            entries = [json.loads(line) for line in log if line.strip()]
        return [
            e
            for e in entries
            if e["user"]["username"] == user
            and e.get("userAgent", "").startswith("kubectl") == kubectl
        ]


@pytest.fixture(scope="module")
def deploy_cluster() -> Iterator[DeployCluster]:
    dev = DevCluster(f"deploytest-{uuid.uuid4().hex[:6]}", log=lambda _: None)
    try:
        state = dev.up()
        kubectl = str(ensure_binaries(log=lambda _: None)["kubectl"])
        yield DeployCluster(state.kubeconfig, kubectl, Path(state.folder) / "logs" / "audit.log")
    finally:
        dev.down(quiet=True)


@pytest.fixture
def installed(deploy_cluster: DeployCluster) -> DeployCluster:
    """``kubectl apply -k deploy/base``, as a user would; idempotent, so once per test."""
    deploy_cluster.kubectl("apply", "-k", str(REPO / "deploy" / "base"))
    deploy_cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=30s", "crd/tiltruns.tilt.dev"
    )
    return deploy_cluster


def token_kubeconfig(cluster: Cluster, namespace: str, account: str, path: Path) -> Cluster:
    """A kubeconfig that authenticates with a fresh token of ServiceAccount ``account``."""
    token = cluster.kubectl(
        "create", "token", account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    config["users"] = [{"name": account, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = account
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return Cluster(str(path), cluster.kubectl_path)


@pytest.fixture
def as_operator(installed: DeployCluster, tmp_path: Path) -> Cluster:
    """The deployed ServiceAccount's identity, with nothing but its RBAC."""
    return token_kubeconfig(installed, SYSTEM_NAMESPACE, SERVICE_ACCOUNT, tmp_path / "sa.yaml")


@pytest.fixture
def fresh_namespace(deploy_cluster: DeployCluster) -> Iterator[str]:
    name = f"deploy-{uuid.uuid4().hex[:6]}"
    deploy_cluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: (
            deploy_cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0
        ),
        what=f"serviceaccount default in {name}",
    )
    yield name
    deploy_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, ""


def granted(role_file: Path) -> set[tuple[str, str, str]]:
    """(verb, group, resource) for every rule of a Role or ClusterRole manifest."""
    role = yaml.safe_load(role_file.read_text())
    return {
        (verb, group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(entries: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(verb, group, resource) of every resource request in ``entries``."""
    out = set()
    for entry in entries:
        ref = entry.get("objectRef")
        if not ref or not ref.get("resource"):
            continue  # discovery: /apis/..., open to every authenticated identity
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        out.add((entry["verb"], ref.get("apiGroup", ""), resource))
    return out


def web_and_migrate(run: str, *, restricted: bool = False) -> list[dict[str, Any]]:
    """A Deployment and a Job selected by ``run``; ``restricted``: Pod Security compliant."""
    security: dict[str, Any] = {}
    pod_security: dict[str, Any] = {}
    if restricted:
        security = {
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
        }
        pod_security = {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            }
        }
    labels = {"tilt.dev/run": run}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        **pod_security,
                        "containers": [{"name": "app", "image": "nginx", **security}],
                    },
                },
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "migrate", "labels": labels},
            "spec": {
                "template": {
                    "spec": {
                        **pod_security,
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox", **security}],
                    }
                }
            },
        },
    ]


def finished(cluster: Cluster, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
    run: dict[str, Any] = wait_for(
        lambda: (
            (r := cluster.get("tiltrun", name, "-n", namespace)).get("status", {}).get("done") and r
        ),
        what=f"tiltrun {name} done",
        timeout=timeout,
    )
    return run


# -- the manifests -------------------------------------------------------------------


def test_every_kustomization_passes_server_side_dry_run(deploy_cluster: DeployCluster) -> None:
    # A dry run cannot create the namespace its other objects go into; create it first.
    deploy_cluster.kubectl("apply", "-f", str(REPO / "deploy" / "base" / "namespace.yaml"))
    for path in KUSTOMIZATIONS:
        result = deploy_cluster.kubectl("apply", "--dry-run=server", "-k", str(REPO / path))
        assert "Warning" not in result.stderr, f"{path}: {result.stderr}"
        assert "deployment.apps/tiltrun-operator" in result.stdout, path
    crds = deploy_cluster.kubectl("apply", "--dry-run=server", "-f", str(REPO / "crds"))
    assert "customresourcedefinition.apiextensions.k8s.io/tiltruns.tilt.dev" in crds.stdout


def test_operator_pod_is_admitted_where_restricted_pod_security_is_enforced(
    installed: DeployCluster,
) -> None:
    namespace = installed.get("namespace", SYSTEM_NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    installed.kubectl(
        "rollout", "status", "deployment/tiltrun-operator", "-n", SYSTEM_NAMESPACE, "--timeout=60s"
    )
    pods = installed.get(
        "pods", "-n", SYSTEM_NAMESPACE, "-l", "app.kubernetes.io/name=tiltrun-operator"
    )
    deployment = installed.get("deployment", "tiltrun-operator", "-n", SYSTEM_NAMESPACE)
    assert len(pods["items"]) == deployment["spec"]["replicas"] == 2  # a leader and a standby
    assert {pod["spec"]["serviceAccountName"] for pod in pods["items"]} == {SERVICE_ACCOUNT}
    events = installed.get("events", "-n", SYSTEM_NAMESPACE)["items"]
    assert not [e for e in events if e.get("reason") == "FailedCreate"]

    # The control: the same namespace refuses a pod that is not restricted, so the
    # admission above was a real check, not an absent one.
    refused = installed.kubectl(
        "run", "unrestricted", "-n", SYSTEM_NAMESPACE, "--image=busybox", check=False
    )
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr


# -- running as the ServiceAccount ------------------------------------------------------


def test_a_whole_ci_run_succeeds_with_only_the_deployed_rbac(
    installed: DeployCluster, as_operator: Cluster, fresh_namespace: str, tmp_path: Path
) -> None:
    health, metrics = free_port(), free_port()
    since = installed.audit_offset()
    operator = OperatorProcess(as_operator, [], tmp_path / "operator.log").start(
        f"--health-port={health}", f"--metrics-port={metrics}", "--log-format=json"
    )
    try:
        wait_for(lambda: http_get(health, "/readyz")[0] == 200, what="/readyz to answer 200")
        installed.apply([tiltrun("smoke"), *web_and_migrate("smoke")], fresh_namespace)
        status = finished(installed, fresh_namespace, "smoke")["status"]
        assert status["error"] == ""
        assert status["progress"] == "2/2"
        assert status["pid"] == operator.pid
        wait_for(
            lambda: installed.get(
                "events", "-n", fresh_namespace, "--field-selector=reason=Succeeded"
            )["items"],
            what="the Succeeded event",
        )
        assert http_get(health, "/healthz") == (200, "ok\n")
        text = wait_for(
            lambda: (
                (body := http_get(metrics, "/metrics")[1])
                and 'tiltrun_runs{exit_condition="ci",state="succeeded"} 1.0' in body
                and body
            ),
            what="the succeeded run in /metrics",
        )
    finally:
        operator.stop()

    assert "tiltrun_status_patches_total" in text
    assert 'tiltrun_reconcile_duration_seconds_count{outcome="Succeeded"} 1.0' in text
    assert "process_resident_memory_bytes" in text
    # --log-format json: every line a JSON object.
    lines = [line for line in operator.log().splitlines() if line.strip()]
    assert lines and all(json.loads(line)["message"] for line in lines)

    entries = installed.audit(since, SA_USER)
    refused = [e["requestURI"] for e in entries if e["responseStatus"]["code"] == 403]
    assert refused == []
    # Everything granted was used, and nothing else (the start-up's own permission
    # checks aside: every identity may ask what it may do).
    checks = {
        ("create", "authorization.k8s.io", "selfsubjectaccessreviews"),
        ("create", "authentication.k8s.io", "selfsubjectreviews"),
    }
    # An Event is patched only when it repeats (its count goes up, docs/operations.md);
    # a run that succeeds at the first try posts each Event once.
    repeats = {("patch", "", "events")}
    assert (
        used(entries) - checks == granted(REPO / "deploy" / "base" / "clusterrole.yaml") - repeats
    )


def test_the_operator_may_not_read_secrets_nor_write_workloads(
    installed: DeployCluster, as_operator: Cluster, fresh_namespace: str
) -> None:
    for question in [
        ["get", "secrets"],
        ["list", "secrets"],
        ["watch", "secrets"],
        ["create", "deployments.apps"],
        ["patch", "deployments.apps"],
        ["update", "deployments.apps"],
        ["delete", "deployments.apps"],
        ["patch", "deployments.apps", "--subresource=scale"],
        ["patch", "pods"],
        ["delete", "pods"],
        ["create", "pods", "--subresource=eviction"],
        ["patch", "jobs.batch"],
        ["patch", "statefulsets.apps"],
        ["patch", "daemonsets.apps"],
        ["patch", "tiltruns.tilt.dev"],
        ["delete", "tiltruns.tilt.dev"],
        ["get", "customresourcedefinitions.apiextensions.k8s.io"],
    ]:
        answer = as_operator.kubectl("auth", "can-i", *question, "-n", fresh_namespace, check=False)
        assert answer.stdout.strip() == "no", f"{question}: {answer.stdout}"

    web = web_and_migrate("x")[0]
    installed.apply([web], fresh_namespace)
    web["spec"]["replicas"] = 3
    since = installed.audit_offset()
    for attempt, manifest in [
        (["get", "secrets"], None),
        # Server-side apply sends the PATCH straight away (kubectl's other verbs GET first).
        (["apply", "--server-side", "-f", "-"], yaml.safe_dump(web)),
        (["create", "deployment", "intruder", "--image=busybox"], None),
        (["delete", "deployment", "web", "--wait=false"], None),
    ]:
        result = as_operator.kubectl(*attempt, "-n", fresh_namespace, input=manifest, check=False)
        assert result.returncode != 0, attempt
    answers = {
        (e["verb"], e["objectRef"]["resource"], e["objectRef"].get("subresource", "")): e[
            "responseStatus"
        ]["code"]
        for e in installed.audit(since, SA_USER, kubectl=True)
        if e.get("objectRef")
    }
    assert answers == {
        ("list", "secrets", ""): 403,
        ("patch", "deployments", ""): 403,
        ("create", "deployments", ""): 403,
        ("delete", "deployments", ""): 403,
    }
    stored = installed.get("deployment", "web", "-n", fresh_namespace)
    assert stored["spec"]["replicas"] == 2


def test_namespaced_install_watches_its_namespace_and_leaves_others_alone(
    deploy_cluster: DeployCluster, fresh_namespace: str, tmp_path: Path
) -> None:
    # deploy/namespaced installed into a namespace of its own, the way docs/install.md
    # says: an overlay that sets `namespace:`.
    home = f"tiltrun-ns-{uuid.uuid4().hex[:6]}"
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(REPO / "deploy" / "namespaced", overlay)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump({"namespace": home, "resources": [base]})
    )
    rendered = list(yaml.safe_load_all(deploy_cluster.kubectl("kustomize", str(overlay)).stdout))
    kinds = {doc["kind"] for doc in rendered}
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    container = next(d for d in rendered if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert "--namespace=$(POD_NAMESPACE)" in container["args"]
    assert {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    } in container["env"]

    deploy_cluster.kubectl("apply", "-k", str(overlay))
    try:
        deploy_cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=30s", "crd/tiltruns.tilt.dev"
        )
        identity = token_kubeconfig(deploy_cluster, home, SERVICE_ACCOUNT, tmp_path / "ns.yaml")
        can = identity.kubectl("auth", "can-i", "list", "pods", "-n", home).stdout.strip()
        cannot = identity.kubectl("auth", "can-i", "list", "pods", "-A", check=False)
        assert (can, cannot.stdout.strip()) == ("yes", "no")

        # What the pod's `--namespace=$(POD_NAMESPACE)` expands to.
        operator = OperatorProcess(identity, [home], tmp_path / "operator.log").start()
        try:
            deploy_cluster.apply([tiltrun("outside")], fresh_namespace)
            # The namespace enforces `restricted`, so the workloads must comply.
            deploy_cluster.apply(
                [tiltrun("inside"), *web_and_migrate("inside", restricted=True)], home
            )
            inside = finished(deploy_cluster, home, "inside")["status"]
            assert (inside["error"], inside["progress"]) == ("", "2/2")
            outside = deploy_cluster.get("tiltrun", "outside", "-n", fresh_namespace)
            assert "status" not in outside
        finally:
            operator.stop()
        assert "Forbidden" not in operator.log()
    finally:
        deploy_cluster.kubectl("delete", "namespace", home, "--wait=false", check=False)


# -- bad starts and stops ---------------------------------------------------------------


def run_briefly(
    cluster: Cluster, *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tiltrun", "operator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KUBECONFIG": cluster.kubeconfig},
    )


def test_without_the_crd_the_operator_exits_with_one_sentence(
    deploy_cluster: DeployCluster,
) -> None:
    deploy_cluster.kubectl("delete", "crd", "tiltruns.tilt.dev", "--ignore-not-found", "--wait")
    try:
        result = run_briefly(deploy_cluster)
    finally:
        deploy_cluster.kubectl("apply", "-k", str(REPO / "crds"))
        deploy_cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=30s", "crd/tiltruns.tilt.dev"
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "The TiltRun CRD (tiltruns.tilt.dev, version v1alpha1) is not installed in this "
        "cluster; apply crds/tiltrun.yaml first."
    ]


def test_missing_rbac_makes_the_operator_exit_with_one_sentence(
    installed: DeployCluster, as_operator: Cluster
) -> None:
    role = yaml.safe_load((REPO / "deploy" / "base" / "clusterrole.yaml").read_text())
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["pods"]]
    installed.kubectl("apply", "-f", "-", input=yaml.safe_dump(role))
    try:
        started = time.monotonic()
        result = run_briefly(as_operator)
        elapsed = time.monotonic() - started
    finally:
        installed.kubectl("apply", "-f", str(REPO / "deploy" / "base" / "clusterrole.yaml"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"The operator's identity ({SA_USER}) may not list pods, watch pods in all "
        "namespaces: grant it the rules of deploy/base/clusterrole.yaml (all namespaces) "
        "or deploy/namespaced/role.yaml (in each watched namespace)."
    ]
    assert elapsed < 30  # not kopf's minute of retries


def test_sigterm_stops_the_operator_cleanly_within_seconds(
    installed: DeployCluster, as_operator: Cluster, fresh_namespace: str, tmp_path: Path
) -> None:
    health = free_port()
    operator = OperatorProcess(as_operator, [], tmp_path / "operator.log").start(
        f"--health-port={health}"
    )
    wait_for(lambda: http_get(health, "/readyz")[0] == 200, what="/readyz to answer 200")
    installed.apply(
        [tiltrun("busy", exit_condition="manual"), *web_and_migrate("busy")], fresh_namespace
    )
    wait_for(
        lambda: installed.get("tiltrun", "busy", "-n", fresh_namespace).get("status"),
        what="a first status",
    )
    assert operator.proc is not None
    started = time.monotonic()
    operator.proc.send_signal(signal.SIGTERM)
    code = operator.proc.wait(timeout=10)
    elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < 10  # about 2 s on an idle machine; the Deployment allows 30
    assert "Signal SIGTERM is received" in operator.log()
