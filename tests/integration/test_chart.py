"""The Helm chart (charts/tiltrun-operator): linted, equal to deploy/, and proven on a cluster.

Helm is the pinned hack/helm build (``tiltrun dev-cluster build`` makes it with the
control plane). The comparisons with deploy/ read both as rendered objects, so a rule,
probe or security setting changed on one side only fails here. The install test applies
``helm template`` output to the shared test cluster under a release name of its own and
runs the operator with the chart's ServiceAccount token, scoped to the test's namespace
(a cluster-wide operator would take up the other tests' runs).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, Cluster, OperatorProcess, tiltrun
from tests.integration.runs import audit_log
from tests.integration.test_deploy import finished, granted, token_kubeconfig, web_and_migrate
from tiltrun_dev.devcluster.build import ensure_helm

CHART = REPO / "charts" / "tiltrun-operator"
DEPLOY = REPO / "deploy"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> str:
    return str(ensure_helm(log=lambda _: None))


def render(
    helm: str, *values: str, release: str = "tiltrun-operator", namespace: str = "tiltrun-system"
) -> list[Obj]:
    """``helm template`` with ``--set`` values; the rendered objects."""
    sets = [arg for value in values for arg in ("--set", value)]
    out = run_helm(helm, "template", release, str(CHART), "-n", namespace, "--include-crds", *sets)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def run_helm(helm: str, *args: str, check: bool = True) -> str:
    result = subprocess.run([helm, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
        return result.stdout
    assert result.returncode != 0, result.stdout
    return result.stderr


def of_kind(docs: list[Obj], kind: str) -> list[Obj]:
    return [doc for doc in docs if doc["kind"] == kind]


def watching(docs: list[Obj], kind: str) -> list[Obj]:
    """The Roles or RoleBindings of what the operator watches (not its Lease's)."""
    return [d for d in of_kind(docs, kind) if not d["metadata"]["name"].endswith("-election")]


def rules(role: Obj) -> set[tuple[str, str, str]]:
    return {
        (verb, group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def load(path: Path) -> Obj:
    doc: Obj = yaml.safe_load(path.read_text())
    return doc


# -- lint and bad values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["watchNamespaces={team-a,team-b}"],
        ["watch={cert-manager.io/v1/certificates,v1/persistentvolumeclaims}"],
        [
            "healthChecks[0].apiVersion=x.io/v1",
            "healthChecks[0].kind=X",
            "healthChecks[0].current=true",
        ],
    ],
)
def test_helm_lint_passes(helm: str, values: list[str]) -> None:
    sets = [arg for value in values for arg in ("--set", value)]
    out = run_helm(helm, "lint", "--strict", str(CHART), *sets)
    assert "1 chart(s) linted, 0 chart(s) failed" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("watch={certificates}", 'watch: "certificates" is not GROUP/VERSION/RESOURCE'),
        ("watch={a.io/v1/b/c}", 'watch: "a.io/v1/b/c" is not GROUP/VERSION/RESOURCE'),
        ("logFormat=yaml", "at '/logFormat': value must be one of 'text', 'json'"),
        ("watchNamespaces={Team_A}", "at '/watchNamespaces/0': 'Team_A' does not match"),
        ("healthPort=8080", "healthPort and metricsPort must differ"),
    ],
)
def test_bad_values_are_refused_with_the_value_named(helm: str, value: str, message: str) -> None:
    error = run_helm(helm, "template", "x", str(CHART), "--set", value, check=False)
    assert message in error


# -- the same objects as deploy/ ------------------------------------------------------------------


def test_the_chart_installs_crds_tiltrun_yaml(helm: str) -> None:
    # The chart's crds/tiltrun.yaml is a link to the repository's CRD, so the two cannot
    # drift; Helm reads through it, and `helm package` stores the file itself.
    link = CHART / "crds" / "tiltrun.yaml"
    assert link.is_symlink() and link.resolve() == (REPO / "crds" / "tiltrun.yaml").resolve()
    (crd,) = of_kind(render(helm), "CustomResourceDefinition")
    assert crd == load(REPO / "crds" / "tiltrun.yaml")


def test_cluster_wide_rbac_equals_deploy_base(helm: str) -> None:
    docs = render(helm)
    (role,) = of_kind(docs, "ClusterRole")
    (binding,) = of_kind(docs, "ClusterRoleBinding")
    assert rules(role) == granted(DEPLOY / "base" / "clusterrole.yaml")
    deployed = load(DEPLOY / "base" / "clusterrolebinding.yaml")
    assert binding["roleRef"] == deployed["roleRef"]
    assert binding["subjects"] == deployed["subjects"]
    assert not watching(docs, "Role")


def test_the_lease_rbac_equals_deploy_base(helm: str) -> None:
    docs = render(helm)
    (role,) = [r for r in of_kind(docs, "Role") if r not in watching(docs, "Role")]
    (binding,) = [b for b in of_kind(docs, "RoleBinding") if b not in watching(docs, "RoleBinding")]
    assert rules(role) == granted(DEPLOY / "base" / "leader-election-role.yaml")
    assert role["metadata"]["namespace"] == "tiltrun-system"
    deployed = load(DEPLOY / "base" / "leader-election-rolebinding.yaml")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == deployed["subjects"]
    # Releases side by side elect apart: the Lease is named after the release.
    args = container(render(helm, release="other"))["args"]
    assert "--leader-elect-name=other-tiltrun-operator" in args


def test_namespaced_rbac_equals_deploy_namespaced_in_each_watched_namespace(helm: str) -> None:
    docs = render(helm, "watchNamespaces={team-a,team-b}")
    assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")
    roles = {r["metadata"]["namespace"]: r for r in watching(docs, "Role")}
    bindings = {b["metadata"]["namespace"]: b for b in watching(docs, "RoleBinding")}
    assert set(roles) == set(bindings) == {"team-a", "team-b"}
    deployed = load(DEPLOY / "namespaced" / "rolebinding.yaml")
    for namespace in ("team-a", "team-b"):
        assert rules(roles[namespace]) == granted(DEPLOY / "namespaced" / "role.yaml")
        assert bindings[namespace]["subjects"] == deployed["subjects"]  # the SA in tiltrun-system
    args = container(docs)["args"]
    assert args[-2:] == ["--namespace=team-a", "--namespace=team-b"]


def test_extra_kinds_become_watch_flags_and_read_only_rules(helm: str) -> None:
    kinds = ["cert-manager.io/v1/certificates", "v1/persistentvolumeclaims"]
    docs = render(helm, f"watch={{{','.join(kinds)}}}")
    (role,) = of_kind(docs, "ClusterRole")
    extra = rules(role) - granted(DEPLOY / "base" / "clusterrole.yaml")
    assert extra == {
        ("list", "cert-manager.io", "certificates"),
        ("watch", "cert-manager.io", "certificates"),
        ("list", "", "persistentvolumeclaims"),
        ("watch", "", "persistentvolumeclaims"),
    }
    assert [a for a in container(docs)["args"] if a.startswith("--watch")] == [
        f"--watch={kind}" for kind in kinds
    ]


def test_health_checks_go_in_a_config_map_the_operator_reads(helm: str) -> None:
    check = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "current": "self.ready"}
    docs = render(helm, *(f"healthChecks[0].{k}={v}" for k, v in check.items()))
    (config_map,) = of_kind(docs, "ConfigMap")
    assert yaml.safe_load(config_map["data"]["config.yaml"]) == {"healthChecks": [check]}
    pod = of_kind(docs, "Deployment")[0]["spec"]["template"]
    assert "checksum/config" in pod["metadata"]["annotations"]
    assert "--config=/etc/tiltrun/config.yaml" in container(docs)["args"]
    mounts = {m["name"]: m["mountPath"] for m in container(docs)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert mounts["config"] == "/etc/tiltrun"


def container(docs: list[Obj]) -> Obj:
    (deployment,) = of_kind(docs, "Deployment")
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_the_deployment_matches_deploy_base(helm: str) -> None:
    docs = render(helm)
    ours = of_kind(docs, "Deployment")[0]["spec"]
    theirs = load(DEPLOY / "base" / "deployment.yaml")["spec"]
    for key in ("replicas", "strategy"):
        assert ours[key] == theirs[key], key
    pod, deployed_pod = ours["template"]["spec"], theirs["template"]["spec"]
    for key in (
        "securityContext",
        "terminationGracePeriodSeconds",
        "volumes",
        "serviceAccountName",
    ):
        assert pod[key] == deployed_pod[key], key
    mine, deployed = pod["containers"][0], deployed_pod["containers"][0]
    for key in (
        "securityContext",
        "startupProbe",
        "livenessProbe",
        "readinessProbe",
        "resources",
        "ports",
        "volumeMounts",
        "env",
        "args",
        "imagePullPolicy",
        "image",
    ):
        assert mine[key] == deployed[key], key
    assert (
        ours["template"]["metadata"]["annotations"] == theirs["template"]["metadata"]["annotations"]
    )


# -- installed on a cluster ----------------------------------------------------------------------


@pytest.fixture
def release(cluster: Cluster, crd: str) -> Iterator[str]:
    """A release name of this test's own; its cluster-wide objects are deleted after it."""
    name = f"chart-{uuid.uuid4().hex[:6]}"
    yield name
    for kind in ("clusterrolebinding", "clusterrole"):
        cluster.kubectl(
            "delete", kind, f"{name}-tiltrun-operator", "--ignore-not-found", check=False
        )


@pytest.mark.cluster
@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_a_run_passes_under_the_installed_chart(
    cluster: Cluster, namespace: str, helm: str, release: str, mode: str, tmp_path: Path
) -> None:
    values = [f"watchNamespaces={{{namespace}}}"] if mode == "namespaced" else []
    docs = render(helm, *values, release=release, namespace=namespace)
    kinds = sorted({doc["kind"] for doc in docs})
    expected = ["ClusterRole", "ClusterRoleBinding"] if mode == "cluster-wide" else []
    assert kinds == sorted(
        [
            "CustomResourceDefinition",
            "Deployment",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            *expected,
        ]
    )
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))

    account = f"{release}-tiltrun-operator"
    stored = cluster.get("serviceaccount", account, "-n", namespace)
    assert stored["metadata"]["labels"]["app.kubernetes.io/instance"] == release
    identity = token_kubeconfig(cluster, namespace, account, tmp_path / "sa.yaml")
    scope = "-A" if mode == "cluster-wide" else f"-n={namespace}"
    assert identity.kubectl("auth", "can-i", "list", "pods", scope).stdout.strip() == "yes"
    assert (
        identity.kubectl(
            "auth", "can-i", "get", "secrets", f"-n={namespace}", check=False
        ).stdout.strip()
        == "no"
    )

    log = audit_log(cluster)
    since = log.stat().st_size
    # The chart's identity and arguments; scoped to this namespace (see the module's docstring).
    args = container(docs)["args"]
    operator = OperatorProcess(
        identity, [] if mode == "namespaced" else [namespace], tmp_path / "operator.log"
    )
    operator.start(
        *[a for a in args if not a.startswith(("--health-port", "--metrics-port"))],
        # What the pod's POD_NAMESPACE says: the release's namespace holds the Lease.
        f"--leader-elect-namespace={namespace}",
    )
    try:
        cluster.apply([tiltrun("smoke"), *web_and_migrate("smoke")], namespace)
        status = finished(cluster, namespace, "smoke")["status"]
        assert (status["error"], status["progress"]) == ("", "2/2")
    finally:
        operator.stop()
    user = f"system:serviceaccount:{namespace}:{account}"
    with log.open() as lines:
        lines.seek(since)
        refused = [
            e["requestURI"]
            for e in map(json.loads, filter(str.strip, lines))
            if e["user"]["username"] == user and e["responseStatus"]["code"] == 403
        ]
    assert refused == []
    assert "Forbidden" not in operator.log()
