"""deploy/ read as files: RBAC, probes and security settings say what docs/install.md says.

tests/integration/test_deploy.py proves the same manifests on a real API server; these
checks catch a drift without one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tiltrun.wiring.run import LEASE_ACCESS, required_access

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return doc


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (verb, group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def operator_container() -> dict[str, Any]:
    pod = load(DEPLOY / "base" / "deployment.yaml")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return dict(container)


def test_the_roles_grant_exactly_what_the_operator_asks_for() -> None:
    wanted = set(required_access())
    assert granted(load(DEPLOY / "base" / "clusterrole.yaml")) == wanted
    assert granted(load(DEPLOY / "namespaced" / "role.yaml")) == wanted


def test_nothing_on_secrets_and_no_write_to_a_workload() -> None:
    rules = granted(load(DEPLOY / "base" / "clusterrole.yaml"))
    assert not [r for r in rules if r[2].startswith("secrets")]
    assert not [r for r in rules if "*" in r]
    writes = {(verb, resource) for verb, _, resource in rules if verb not in ("list", "watch")}
    # Events are created, and an Event that repeats has its count patched (aggregation).
    assert writes == {("patch", "tiltruns/status"), ("create", "events"), ("patch", "events")}


def test_the_pod_meets_the_restricted_pod_security_standard() -> None:
    pod = load(DEPLOY / "base" / "deployment.yaml")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = operator_container()["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in operator_container()["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_probes_hit_the_ports_the_operator_is_told_to_serve() -> None:
    container = operator_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    args = dict(a.removeprefix("--").split("=", 1) for a in container["args"] if "=" in a)
    assert int(args["health-port"]) == ports["health"]
    assert int(args["metrics-port"]) == ports["metrics"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_two_replicas_elect_a_leader_with_what_the_lease_needs() -> None:
    # Two replicas write nothing twice only because they elect one leader.
    spec = load(DEPLOY / "base" / "deployment.yaml")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = operator_container()
    assert "--leader-elect" in container["args"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env["POD_NAMESPACE"] == "metadata.namespace"
    assert env["POD_NAME"] == "metadata.name"
    role = load(DEPLOY / "base" / "leader-election-role.yaml")
    assert granted(role) == set(LEASE_ACCESS)
    assert role["metadata"]["namespace"] == "tiltrun-system"
    binding = load(DEPLOY / "base" / "leader-election-rolebinding.yaml")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "tiltrun-operator", "namespace": "tiltrun-system"}
    ]


def test_the_crds_folder_is_a_kustomization_kubectl_apply_f_skips() -> None:
    # `kubectl apply -f crds/` reads *.yaml, *.yml and *.json only.
    kustomization = load(REPO / "crds" / "Kustomization")
    assert kustomization["resources"] == ["tiltrun.yaml"]
    assert "../../crds" in load(DEPLOY / "base" / "kustomization.yaml")["resources"]
