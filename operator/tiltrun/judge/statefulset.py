"""StatefulSet: judged on the pods of its update revision.

==========  ===================================================================
disabled    ``spec.replicas: 0``
waiting     the controller has not observed the latest generation; no pod of
            ``status.updateRevision`` is running (``pod db-0: ContainerCreating``)
active      a pod of the update revision runs; ready when ready replicas = desired
            and ``currentRevision = updateRevision`` (the rolling update finished)
terminated  error: a fatal signal on a pod of the update revision
==========  ===================================================================

A pod belongs to a revision by its ``controller-revision-hash`` label, which the
StatefulSet controller sets to the revision's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiltrun.api.model import TargetState
from tiltrun.judge.objects import (
    Obj,
    by_name,
    controlled_by,
    created,
    earliest,
    get_int,
    get_map,
    get_str,
    labels_of,
    time_or,
    uid_of,
)
from tiltrun.judge.rollout import (
    Rollout,
    judge_rollout,
    unobserved_generation,
    waiting_for_controller,
)

if TYPE_CHECKING:
    from tiltrun.judge.target import Related

#: Label naming the ControllerRevision a StatefulSet (or DaemonSet) pod was made from.
REVISION_LABEL = "controller-revision-hash"


def classify(obj: Obj, related: Related) -> TargetState:
    """The state of a StatefulSet, from itself and its pods."""
    desired = get_int(obj, "spec", "replicas", default=1)
    if desired == 0:
        return TargetState(disabled=True)
    stale = unobserved_generation(obj)
    if stale:
        return waiting_for_controller(obj, stale)

    status = get_map(obj, "status")
    update = get_str(status, "updateRevision")
    current = get_str(status, "currentRevision")
    ready = get_int(status, "readyReplicas")
    owned = [pod for pod in by_name(related.pods) if controlled_by(pod, uid_of(obj))]
    # Without an update revision (a status the controller has not filled in) every
    # pod is the best evidence there is.
    pods = [pod for pod in owned if not update or labels_of(pod).get(REVISION_LABEL) == update]

    return judge_rollout(
        obj,
        Rollout(
            pods=pods,
            desired=desired,
            complete=ready == desired and bool(update) and current == update,
            behind=_behind(status, desired),
            trigger=time_or(earliest(created(pod) for pod in pods), created(obj)),
            no_pods=f"no pods of revision {update} yet" if update else "no pods yet",
        ),
    )


def _behind(status: Obj, desired: int) -> str:
    updated = get_int(status, "updatedReplicas")
    ready = get_int(status, "readyReplicas")
    update = get_str(status, "updateRevision")
    current = get_str(status, "currentRevision")
    if updated < desired:
        return f"{updated}/{desired} replicas updated to revision {update or '?'}"
    if ready < desired:
        return f"{ready}/{desired} replicas ready"
    if not update:
        return "no update revision in status yet"
    return f"revision {update} rolling out (current revision: {current or '?'})"
