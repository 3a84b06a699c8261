"""Custom resources on the dev cluster: real CRDs, the controller played by the test.

The CRDs in tests/integration/crds/ have cert-manager's and CloudNativePG's group, kind
and status schema; no controller of theirs runs, so each test writes the status a
controller would (through the status subresource) and creates the pods CloudNativePG
would create, owned by the Cluster, which kwok then runs. Every assertion reads back
what the API server stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster, OperatorProcess, tiltrun, wait_for
from tests.integration.runs import status, target, wait_for_run, wait_until_done
from tests.integration.workloads import BEHAVIOR, deployment

pytestmark = pytest.mark.cluster

CRDS = Path(__file__).parent / "crds"
WATCH = (
    "--watch",
    "cert-manager.io/v1/certificates",
    "--watch",
    "postgresql.cnpg.io/v1/clusters",
    # Served by no cluster: the operator names it and works on.
    "--watch",
    "example.invalid/v1/gizmos",
)


@pytest.fixture(scope="session")
def custom_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    for path in sorted(CRDS.glob("*.yaml")):
        name = path.stem
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{name}")


@pytest.fixture
def watching(
    cluster: Cluster, crd: str, custom_crds: None, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator, told to watch certificates, clusters and a kind nobody serves."""
    proc = OperatorProcess(cluster, [namespace], tmp_path / "operator.log").start(*WATCH)
    yield proc
    proc.stop()


def start_run(cluster: Cluster, namespace: str, run: dict[str, Any]) -> None:
    """Create the run and wait until the operator has taken it up.

    Longer than the shared helper allows: an operator watching extra kinds runs
    discovery and access reviews before it starts, which takes a while on a loaded
    machine, and every assertion here is about what comes after.
    """
    cluster.apply([run], namespace)
    name = run["metadata"]["name"]
    wait_for_run(
        cluster, namespace, name, lambda r: status(r).get("startTime"), what="taken up", timeout=180
    )


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate(name: str, run: str) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "labels": {"tilt.dev/run": run}},
        "spec": {"secretName": name, "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}},
    }


def pg_cluster(name: str, run: str) -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "labels": {"tilt.dev/run": run}},
        "spec": {"instances": 1, "storage": {"size": "1Gi"}},
    }


def patch_status(cluster: Cluster, namespace: str, ref: str, status_: dict[str, Any]) -> None:
    """Write ``status`` as the object's controller would."""
    import json

    cluster.kubectl(
        "patch",
        ref,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status_}),
    )


def condition(
    type_: str, value: str, reason: str, message: str = "", **extra: Any
) -> dict[str, Any]:
    return {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now(),
        **extra,
    }


def test_a_run_waits_until_the_certificate_is_ready(
    cluster: Cluster, namespace: str, watching: OperatorProcess
) -> None:
    start_run(cluster, namespace, tiltrun("certs"))
    cluster.apply([certificate("web-tls", "certs")], namespace)

    def waiting_with(words: str) -> Any:
        return lambda run: (
            words
            in (
                ((target(run, "certificate/web-tls").get("state") or {}).get("waiting") or {}).get(
                    "reason", ""
                )
                if any(
                    t.get("name") == "certificate/web-tls" for t in status(run).get("targets") or []
                )
                else ""
            )
        )

    wait_for_run(
        cluster, namespace, "certs", waiting_with("no status yet"), what="certificate waits"
    )
    patch_status(
        cluster,
        namespace,
        "certificate/web-tls",
        {"conditions": [condition("Issuing", "True", "DoesNotExist", "Issuing certificate")]},
    )
    wait_for_run(
        cluster, namespace, "certs", waiting_with("in progress"), what="certificate issuing"
    )
    assert not status(cluster.get("tiltrun", "certs", "-n", namespace)).get("done")

    generation = cluster.get("certificate", "web-tls", "-n", namespace)["metadata"]["generation"]
    patch_status(
        cluster,
        namespace,
        "certificate/web-tls",
        {
            "conditions": [
                condition("Ready", "True", "Ready", "up to date", observedGeneration=generation)
            ]
        },
    )
    run = wait_until_done(cluster, namespace, "certs")
    assert status(run)["error"] == ""
    state = target(run, "certificate/web-tls")["state"]
    assert state["active"]["ready"] is True


def test_a_failed_rule_fails_the_run(
    cluster: Cluster, namespace: str, watching: OperatorProcess
) -> None:
    run = tiltrun("db")
    run["spec"]["healthChecks"] = [
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "current": "self.status.phase == 'Cluster in healthy state'",
            "failed": "self.status.?phase.orValue('').startsWith('Cluster is unrecoverable')",
        }
    ]
    start_run(cluster, namespace, run)
    cluster.apply([pg_cluster("db", "db")], namespace)
    patch_status(
        cluster,
        namespace,
        "cluster.postgresql.cnpg.io/db",
        {
            "phase": "Cluster is unrecoverable and needs manual intervention",
            "phaseReason": "Missing primary PVC",
        },
    )
    done = wait_until_done(cluster, namespace, "db")
    assert status(done)["error"] == (
        "cluster/db: health check failed: "
        "self.status.?phase.orValue('').startsWith('Cluster is unrecoverable'): "
        "Cluster is unrecoverable and needs manual intervention: Missing primary PVC"
    )


def test_an_owned_pod_that_crash_loops_fails_the_cluster(
    cluster: Cluster, namespace: str, watching: OperatorProcess
) -> None:
    start_run(cluster, namespace, tiltrun("pg"))
    cluster.apply([pg_cluster("db", "pg")], namespace)
    patch_status(
        cluster, namespace, "cluster.postgresql.cnpg.io/db", {"phase": "Setting up primary"}
    )
    uid = cluster.get("cluster.postgresql.cnpg.io", "db", "-n", namespace)["metadata"]["uid"]
    instance = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "db-1",
            "labels": {"cnpg.io/cluster": "db", BEHAVIOR: "crashloop"},
            "ownerReferences": [
                {
                    "apiVersion": "postgresql.cnpg.io/v1",
                    "kind": "Cluster",
                    "name": "db",
                    "uid": uid,
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "postgres", "image": "example.invalid/postgres:17"}]},
    }
    cluster.apply([instance], namespace)
    done = wait_until_done(cluster, namespace, "pg", timeout=90)
    error = status(done)["error"]
    assert error.startswith("cluster/db: pod db-1 container postgres: CrashLoopBackOff"), error
    assert "restart" in error
    assert target(done, "cluster/db")["state"]["terminated"]["error"] in error


def test_an_expression_that_does_not_compile_fails_the_run_at_once(
    cluster: Cluster, namespace: str, watching: OperatorProcess
) -> None:
    run = tiltrun("badrule")
    run["spec"]["healthChecks"] = [
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "current": "self.status.phase ==",
        }
    ]
    cluster.apply([run], namespace)
    done = wait_until_done(cluster, namespace, "badrule")
    error = status(done)["error"]
    assert error.startswith(
        'spec.healthChecks[0].current: cannot compile "self.status.phase ==": '
        "ERROR: <input>:1:21: Syntax error:"
    ), error
    ready = next(c for c in status(done)["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"


def test_a_kind_the_cluster_does_not_serve_is_named_and_the_rest_works(
    cluster: Cluster, namespace: str, watching: OperatorProcess
) -> None:
    start_run(cluster, namespace, tiltrun("mixed"))
    cluster.apply([deployment("web", "mixed")], namespace)
    done = wait_until_done(cluster, namespace, "mixed", timeout=90)
    assert status(done)["error"] == ""
    sentence = (
        "not watching gizmos.example.invalid/v1: "
        "the cluster does not serve it (is its CRD installed?)"
    )
    assert status(done)["warnings"] == [sentence]
    wait_for(lambda: sentence in watching.log(), what="the sentence in the operator's log")


def test_a_kind_the_operator_may_not_read_is_named_and_the_rest_works(
    cluster: Cluster, crd: str, custom_crds: None, namespace: str, tmp_path: Path
) -> None:
    """The operator runs as a ServiceAccount with the namespaced Role of deploy/ and nothing
    on certificates: it names the kind, in its log and in the run's status, and works on."""
    import yaml

    from tests.integration.test_deploy import token_kubeconfig

    role = yaml.safe_load((Path(__file__).parents[2] / "deploy/namespaced/role.yaml").read_text())
    role["metadata"]["namespace"] = namespace
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "tiltrun-operator", "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "tiltrun-operator",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": namespace}],
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "operator"}}
    cluster.apply([account, role, binding], namespace)
    identity = token_kubeconfig(cluster, namespace, "operator", tmp_path / "sa.yaml")
    proc = OperatorProcess(identity, [namespace], tmp_path / "operator.log").start(
        "--watch", "cert-manager.io/v1/certificates"
    )
    try:
        start_run(cluster, namespace, tiltrun("limited"))
        cluster.apply([deployment("web", "limited"), certificate("web-tls", "limited")], namespace)
        done = wait_until_done(cluster, namespace, "limited", timeout=90)
        sentence = (
            "not watching certificates.cert-manager.io/v1: the operator may not list, watch it "
            f'in namespace {namespace}; grant it list and watch (docs/install.md, "Watching '
            'more kinds")'
        )
        assert status(done)["warnings"] == [sentence]
        assert status(done)["error"] == ""
        # The certificate is not seen, so it is not a target: only the Deployment is.
        assert [t["name"] for t in status(done)["targets"]] == ["deployment/web"]
        assert sentence in proc.log()
    finally:
        proc.stop()


def test_crds_claims_and_load_balancers_are_judged_by_their_built_in_rules(
    cluster: Cluster, crd: str, namespace: str, tmp_path: Path
) -> None:
    """A CRD (cluster-scoped), a claim bound by the real volume controller, and a
    LoadBalancer whose address the test writes as a load-balancer controller would."""
    suffix = namespace.rsplit("-", 1)[-1]
    group = f"g{suffix}.example.tilt.dev"
    labels = {"tilt.dev/run": f"builtin-{suffix}"}
    proc = OperatorProcess(cluster, [namespace], tmp_path / "operator.log").start(
        "--watch",
        "apiextensions.k8s.io/v1/customresourcedefinitions",
        "--watch",
        "v1/persistentvolumeclaims",
        "--watch",
        "v1/services",
    )
    try:
        names = [
            f"customresourcedefinition/gizmos.{group}",
            "persistentvolumeclaim/data",
            "service/edge",
        ]
        # The CRD is up within a second of its creation: without `expect`, the run could
        # rightly succeed before the claim and the Service have even been seen.
        start_run(cluster, namespace, tiltrun(f"builtin-{suffix}", ci={"expect": names}))
        definition = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"gizmos.{group}", "labels": labels},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"kind": "Gizmo", "plural": "gizmos", "singular": "gizmo"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": {"type": "object"}},
                    }
                ],
            },
        }
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"data-{suffix}"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": f"manual-{suffix}",
                "hostPath": {"path": f"/tmp/data-{suffix}"},
            },
        }
        claim = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "labels": labels},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": f"manual-{suffix}",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
        edge = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "edge", "labels": labels},
            "spec": {"type": "LoadBalancer", "selector": {"app": "edge"}, "ports": [{"port": 443}]},
        }
        cluster.apply([definition, volume, claim, edge], namespace)
        run = f"builtin-{suffix}"
        try:
            seen = wait_for_run(
                cluster,
                namespace,
                run,
                lambda r: [t.get("name") for t in status(r).get("targets") or []] == names,
                what="the three targets",
                timeout=120,
            )
        except AssertionError as err:
            stored = status(cluster.get("tiltrun", run, "-n", namespace))
            raise AssertionError(
                f"{err}; stored status: {stored}; log: {proc.log()[-3000:]}"
            ) from None
        edge = target(seen, "service/edge")["state"]
        assert edge["waiting"]["reason"] == "no load-balancer address yet"
        patch_status(
            cluster,
            namespace,
            "service/edge",
            {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}},
        )
        done = wait_until_done(cluster, namespace, run, timeout=90)
        assert status(done)["error"] == ""
        assert [t["name"] for t in status(done)["targets"]] == names
    finally:
        proc.stop()
        cluster.kubectl("delete", "crd", f"gizmos.{group}", "--wait=false", check=False)
        cluster.kubectl("delete", "pv", f"data-{suffix}", "--wait=false", check=False)
