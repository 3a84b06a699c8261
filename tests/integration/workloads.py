"""Workload manifests for the operator's integration tests.

Each builder returns a plain manifest labelled ``tilt.dev/run: <run>`` so the TiltRun
of that name selects it by default. Pods run on the dev cluster's fake nodes, whose
behaviour a pod-template label chooses (``dev/tiltrun_dev/devcluster/stages/pods.yaml``):
``behavior="fail"``, ``"crashloop"``, ``"image-pull-error"``, ``"never-ready"``; the
annotations ``fake.tilt.dev/start-delay``, ``complete-delay`` and ``restart-delay`` slow
a pod down.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import workload_labels

Manifest = dict[str, Any]

BEHAVIOR = "fake.tilt.dev/behavior"
RECOVER_AFTER = "fake.tilt.dev/recover-after"
EXIT_CODE = "fake.tilt.dev/exit-code"
COMPLETE_DELAY = "fake.tilt.dev/complete-delay"
RESTART_DELAY = "fake.tilt.dev/restart-delay"

#: A node selector no fake node satisfies: the pod stays Pending, Unschedulable.
NO_SUCH_NODE = {"tiltrun.test/no-such-node": "true"}


def _template(
    app: str,
    *,
    behavior: str | None,
    labels: dict[str, str] | None,
    annotations: dict[str, str] | None,
    node_selector: dict[str, str] | None,
    restart_policy: str | None = None,
    container: str = "app",
) -> Manifest:
    pod_labels = {"app": app, **(labels or {})}
    if behavior:
        pod_labels[BEHAVIOR] = behavior
    spec: Manifest = {"containers": [{"name": container, "image": f"example.invalid/{app}:1"}]}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    if node_selector:
        spec["nodeSelector"] = node_selector
    metadata: Manifest = {"labels": pod_labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": spec}


def deployment(
    name: str,
    run: str,
    *,
    replicas: int = 1,
    behavior: str | None = None,
    pod_labels: dict[str, str] | None = None,
    pod_annotations: dict[str, str] | None = None,
    node_selector: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> Manifest:
    """A Deployment of ``replicas`` fake pods, container ``app``."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": workload_labels(run, **(labels or {}))},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": _template(
                name,
                behavior=behavior,
                labels=pod_labels,
                annotations=pod_annotations,
                node_selector=node_selector,
            ),
        },
    }


def statefulset(name: str, run: str, *, replicas: int = 1, **spec: Any) -> Manifest:
    """A StatefulSet of ``replicas`` healthy fake pods; ``spec`` adds fields to its spec
    (``updateStrategy``, ``podManagementPolicy``)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": workload_labels(run)},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": _template(
                name, behavior=None, labels=None, annotations=None, node_selector=None
            ),
            **spec,
        },
    }


def daemonset(name: str, run: str, **spec: Any) -> Manifest:
    """A DaemonSet of healthy fake pods, one per fake node; ``spec`` adds to its spec."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": workload_labels(run)},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": _template(
                name, behavior=None, labels=None, annotations=None, node_selector=None
            ),
            **spec,
        },
    }


def job(
    name: str,
    run: str,
    *,
    behavior: str | None = None,
    backoff_limit: int = 6,
    suspend: bool = False,
    pod_annotations: dict[str, str] | None = None,
) -> Manifest:
    """A Job of one fake pod (container ``main``, restartPolicy Never)."""
    spec: Manifest = {
        "backoffLimit": backoff_limit,
        "template": _template(
            name,
            behavior=behavior,
            labels=None,
            annotations=pod_annotations,
            node_selector=None,
            restart_policy="Never",
            container="main",
        ),
    }
    if suspend:
        spec["suspend"] = True
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": workload_labels(run)},
        "spec": spec,
    }


def pod(name: str, run: str, *, behavior: str | None = None) -> Manifest:
    """A bare Pod (no controller): a server, restartPolicy Always."""
    template = _template(
        name, behavior=behavior, labels=workload_labels(run), annotations=None, node_selector=None
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": name},
        "spec": template["spec"],
    }
