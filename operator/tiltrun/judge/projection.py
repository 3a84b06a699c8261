"""What the judgement reads of each kind: the projection the operator's store keeps.

A pod as the API server sends it is 4 to 10 KB of JSON, most of it the spec (containers,
volumes, tolerations), managed fields and container details nobody here reads. The
operator keeps thousands of them, so each object is cut down, as it is decoded, to the
fields the judges in this package read (``SHAPES``): for a pod, about a tenth.

A shape is a tree of the keys to keep: ``True`` keeps a value whole, a nested dict keeps
those keys of a mapping, or of every mapping in a list. A kind without a shape of its
own (custom kinds, judged by rules that may read anything) keeps everything except
``metadata.managedFields`` and the last-applied annotation, which no judgement reads.

The contract, tested over every fixture object (``tests/unit/judge/test_projection.py``):
judging a projected object gives the same Target as judging the whole object. A judge
that starts reading a new field adds it to its kind's shape here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]
Shape = Mapping[str, Any]

#: Annotation ``kubectl apply`` writes: a copy of the whole object as last applied.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

_OWNER: Shape = {"apiVersion": True, "kind": True, "name": True, "uid": True, "controller": True}

#: Every kind's metadata: identity, the labels selectors match, the annotations that
#: carry policy and revisions, ownership, and the times judgement falls back on.
METADATA: Shape = {
    "name": True,
    "namespace": True,
    "uid": True,
    "resourceVersion": True,
    "generation": True,
    "creationTimestamp": True,
    "deletionTimestamp": True,
    "labels": True,
    "annotations": True,
    "ownerReferences": _OWNER,
    "finalizers": True,
}

_CONTAINER_STATUS: Shape = {
    "name": True,
    "state": True,
    "lastState": True,
    "restartCount": True,
    "ready": True,
    "started": True,
}

SHAPES: dict[str, Shape] = {
    "Deployment": {"spec": {"replicas": True, "paused": True}, "status": True},
    "StatefulSet": {"spec": {"replicas": True, "updateStrategy": True}, "status": True},
    "DaemonSet": {"spec": {"updateStrategy": True}, "status": True},
    "ReplicaSet": {"spec": {"replicas": True}, "status": True},
    "Job": {"spec": {"suspend": True, "completions": True}, "status": True},
    "Pod": {
        "spec": {
            "restartPolicy": True,
            "initContainers": {"name": True, "restartPolicy": True},
        },
        "status": {
            "phase": True,
            "reason": True,
            "message": True,
            "startTime": True,
            "conditions": True,
            "initContainerStatuses": _CONTAINER_STATUS,
            "containerStatuses": _CONTAINER_STATUS,
        },
    },
}


def project(kind: str, obj: Obj) -> Obj:
    """The part of ``obj`` (of ``kind``) that the judgement reads, as a new dict.

    Never raises: whatever shape the object has, the fields that are there are kept.
    """
    shape = SHAPES.get(kind)
    meta = obj.get("metadata")
    out: Obj = {k: obj[k] for k in ("apiVersion", "kind") if k in obj}
    if isinstance(meta, dict):
        out["metadata"] = _metadata(meta)
    if shape is None:
        for key, value in obj.items():
            if key not in ("apiVersion", "kind", "metadata"):
                out[key] = value
        return out
    for key, sub in shape.items():
        if key in obj:
            out[key] = _cut(obj[key], sub)
    return out


def _metadata(meta: Obj) -> Obj:
    out: Obj = _cut(meta, METADATA)
    annotations = out.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        out["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return out


def _cut(value: Any, shape: Any) -> Any:
    if shape is True:
        return value
    if isinstance(value, dict):
        return {k: _cut(value[k], sub) for k, sub in shape.items() if k in value}
    if isinstance(value, list):
        return [_cut(item, shape) if isinstance(item, dict) else item for item in value]
    return value
