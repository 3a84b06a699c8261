"""StatefulSet: judged on the pods its update strategy means to be running.

==========  ===================================================================
disabled    ``spec.replicas: 0``
waiting     the controller has not observed the latest generation; no judged pod
            is running (``pod db-0: ContainerCreating``)
active      a judged pod runs; ready when (by update strategy):

            - ``RollingUpdate`` (the default): ready replicas = desired and
              ``currentRevision = updateRevision`` (the rolling update finished);
            - ``RollingUpdate`` with ``partition: P`` > 0: the ordinals ≥ P are
              updated (``updatedReplicas`` ≥ desired − P) and ready replicas =
              desired. The ordinals below P keep the current revision by design;
            - ``OnDelete``: ready replicas = desired, whatever their revision. The
              controller replaces a pod only when someone deletes it, so waiting
              for updated pods would wait forever.

            A ready target's ``reason`` names the pods the strategy leaves on an
            older revision, so the person reading it knows they are not updated.
terminated  error: a fatal signal on a judged pod
==========  ===================================================================

The judged pods: with ``RollingUpdate``, the pods of ``status.updateRevision`` (and,
under a partition, the ordinals below P whatever their revision: they are the ones
meant to serve); with ``OnDelete``, every pod, since nothing will replace them. A pod
belongs to a revision by its ``controller-revision-hash`` label, which the StatefulSet
controller sets to the revision's name; its ordinal is the label
``apps.kubernetes.io/pod-index`` (Kubernetes 1.28+), else the number ending its name.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    name_of,
    time_or,
    uid_of,
)
from tiltrun.judge.related import Related
from tiltrun.judge.rollout import (
    Rollout,
    judge_rollout,
    name_some,
    unobserved_generation,
    waiting_for_controller,
)

#: Label naming the ControllerRevision a StatefulSet (or DaemonSet) pod was made from.
REVISION_LABEL = "controller-revision-hash"
#: Label holding a StatefulSet pod's ordinal (Kubernetes 1.28 and later).
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


@dataclass(frozen=True)
class _Strategy:
    on_delete: bool
    #: ``rollingUpdate.partition``; 0 when unset (or with ``OnDelete``).
    partition: int


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
    ready = get_int(status, "readyReplicas")
    owned = [pod for pod in by_name(related.pods) if controlled_by(pod, uid_of(obj))]
    strategy = _strategy(obj)
    ready_count: int | None = None

    def updated(pod: Obj) -> bool:
        # Without an update revision (a status the controller has not filled in) every
        # pod is the best evidence there is.
        return not update or labels_of(pod).get(REVISION_LABEL) == update

    if strategy.on_delete:
        pods = owned
        complete = ready == desired
        behind = f"{ready}/{desired} replicas ready"
        older = [pod for pod in owned if not updated(pod)]
        note = (
            f"updateStrategy OnDelete: {name_some(older)} still on an older revision "
            "(delete a pod to update it)"
            if older
            else ""
        )
    elif strategy.partition > 0:
        below = [pod for pod in owned if _below(pod, obj, strategy.partition)]
        pods = below + [pod for pod in owned if pod not in below and updated(pod)]
        wanted = max(0, desired - strategy.partition)
        done = get_int(status, "updatedReplicas") >= wanted
        complete = ready == desired and bool(update) and done
        behind = _partition_behind(status, desired, strategy.partition)
        older = [pod for pod in below if not updated(pod)]
        note = (
            f"partition {strategy.partition}: {name_some(older)} keep the older revision"
            if older
            else ""
        )
        # Old pods at ordinals >= P still serve until replaced: count them as the
        # controller does, though they are not judged.
        ready_count = ready
    else:
        pods = [pod for pod in owned if updated(pod)]
        current = get_str(status, "currentRevision")
        complete = ready == desired and bool(update) and current == update
        behind = _behind(status, desired)
        note = ""

    return judge_rollout(
        obj,
        Rollout(
            pods=pods,
            desired=desired,
            complete=complete,
            behind=behind,
            trigger=time_or(earliest(created(pod) for pod in pods), created(obj)),
            no_pods=f"no pods of revision {update} yet" if update else "no pods yet",
            note=note,
            ready=ready_count,
        ),
    )


def _strategy(obj: Obj) -> _Strategy:
    strategy = get_map(obj, "spec", "updateStrategy")
    if get_str(strategy, "type") == "OnDelete":
        return _Strategy(on_delete=True, partition=0)
    return _Strategy(on_delete=False, partition=get_int(strategy, "rollingUpdate", "partition"))


def ordinal(pod: Obj, statefulset: Obj) -> int | None:
    """The pod's ordinal: its ``pod-index`` label, else its name's ``-<n>`` suffix."""
    label = labels_of(pod).get(POD_INDEX_LABEL, "").strip()
    if label.isdigit():
        return int(label)
    prefix = f"{name_of(statefulset)}-"
    suffix = name_of(pod).removeprefix(prefix)
    if name_of(pod).startswith(prefix) and suffix.isdigit():
        return int(suffix)
    return None


def _below(pod: Obj, statefulset: Obj, partition: int) -> bool:
    """The pod's ordinal is below the partition: the controller keeps its revision."""
    index = ordinal(pod, statefulset)
    # A pod whose ordinal cannot be read is held to the stricter rule: it must update.
    return index is not None and index < partition


def _partition_behind(status: Obj, desired: int, partition: int) -> str:
    updated = get_int(status, "updatedReplicas")
    ready = get_int(status, "readyReplicas")
    wanted = max(0, desired - partition)
    update = get_str(status, "updateRevision")
    if not update:
        return "no update revision in status yet"
    if updated < wanted:
        return (
            f"{updated}/{wanted} replicas from ordinal {partition} up updated to revision {update}"
        )
    return f"{ready}/{desired} replicas ready"


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
