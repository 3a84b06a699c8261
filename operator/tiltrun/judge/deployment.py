"""Deployment: judged on its newest ReplicaSet and that ReplicaSet's pods.

==========  ===================================================================
disabled    ``spec.paused``, or ``spec.replicas: 0``
waiting     the controller has not observed the latest generation; no pod of the
            newest ReplicaSet is running (``pod web-7d4b9-x2x9z: ContainerCreating``)
active      a pod of the newest ReplicaSet runs; ready when updated = available =
            desired replicas, no old replica is left, and ``Available=True``
terminated  error: a fatal signal on a pod of the newest ReplicaSet, or the
            ``Progressing`` condition says ``ProgressDeadlineExceeded``
==========  ===================================================================

Old ReplicaSets' pods are ignored: while a rollout replaces them they may be ready
(the old version still serves) or crash-looping (the bug being fixed), and neither
says anything about the version being deployed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from tiltrun.api.model import Evidence, TargetState, Terminated
from tiltrun.judge.objects import (
    EPOCH,
    Obj,
    by_name,
    condition,
    condition_true,
    controlled_by,
    created,
    describe,
    get_bool,
    get_int,
    get_map,
    get_str,
    get_time,
    name_of,
    plural,
    time_or,
    uid_of,
)
from tiltrun.judge.related import Related
from tiltrun.judge.rollout import (
    Rollout,
    judge_rollout,
    unobserved_generation,
    waiting_for_controller,
)

#: Annotation the deployment controller numbers ReplicaSets (and the Deployment) with.
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def classify(obj: Obj, related: Related) -> TargetState:
    """The state of a Deployment, from itself, its ReplicaSets and their pods."""
    desired = get_int(obj, "spec", "replicas", default=1)
    if get_bool(obj, "spec", "paused") or desired == 0:
        return TargetState(disabled=True)
    stale = unobserved_generation(obj)
    if stale:
        return waiting_for_controller(obj, stale)

    replicaset = current_replicaset(obj, related.replicasets)
    no_pods_reason, no_pods = _no_pods(obj, replicaset)
    pods = [
        pod
        for pod in by_name(related.pods)
        if replicaset is not None and controlled_by(pod, uid_of(replicaset))
    ]
    state = judge_rollout(
        obj,
        Rollout(
            pods=pods,
            desired=desired,
            complete=_rolled_out(obj, desired),
            behind=_behind(obj, desired),
            trigger=time_or(created(replicaset) if replicaset else None, created(obj)),
            no_pods=no_pods,
            no_pods_reason=no_pods_reason,
        ),
    )

    progressing = condition(obj, "Progressing")
    if (
        state.terminated is None
        and progressing is not None
        and get_str(progressing, "reason") == "ProgressDeadlineExceeded"
    ):
        return _deadline_exceeded(state, progressing)
    return state


def current_replicaset(deployment: Obj, replicasets: Iterable[object]) -> Obj | None:
    """The Deployment's newest ReplicaSet: highest revision among those it controls.

    ``None`` when it controls none yet, or when the Deployment already carries a newer
    revision than any ReplicaSet seen: the new ReplicaSet exists but has not reached
    us, and judging the previous one would report the old version as the new one.
    """
    owned = [rs for rs in by_name(replicasets) if controlled_by(rs, uid_of(deployment))]
    if not owned:
        return None
    newest = max(owned, key=lambda rs: (_revision(rs), time_or(created(rs), EPOCH), name_of(rs)))
    if _revision(newest) < _revision(deployment):
        return None
    return newest


def _revision(obj: Obj) -> int:
    return get_int(obj, "metadata", "annotations", REVISION_ANNOTATION)


def _counts(obj: Obj) -> tuple[int, int, int]:
    status = get_map(obj, "status")
    return (
        get_int(status, "replicas"),
        get_int(status, "updatedReplicas"),
        get_int(status, "availableReplicas"),
    )


def _rolled_out(obj: Obj, desired: int) -> bool:
    replicas, updated, available = _counts(obj)
    # ``replicas == updated`` as well: ``availableReplicas`` counts old pods too, so
    # without it 3 new pods (2 available) plus 1 old available pod would pass.
    return (
        updated == available == desired and replicas == updated and condition_true(obj, "Available")
    )


def _behind(obj: Obj, desired: int) -> str:
    replicas, updated, available = _counts(obj)
    if updated < desired:
        return f"{updated}/{desired} replicas updated"
    if replicas > updated:
        return f"{plural(replicas - updated, 'old replica')} still running"
    if available < desired:
        return f"{available}/{desired} replicas available"
    available_condition = condition(obj, "Available")
    if available_condition is None:
        return "no Available condition reported yet"
    # Say the status as it is: a partial or odd status may hold "Unknown", or nothing.
    value = get_str(available_condition, "status") or "Unknown"
    if value != "True":
        detail = describe(
            get_str(available_condition, "reason"), get_str(available_condition, "message")
        )
        return f"Available={value}: {detail}" if detail else f"Available={value}"
    return f"{updated} updated, {available} available, {replicas} replicas of {desired} desired"


def _no_pods(obj: Obj, replicaset: Obj | None) -> tuple[str, str]:
    """The wait before the newest ReplicaSet has any pod: its word and its sentence."""
    if replicaset is None:
        wanted = _revision(obj)
        text = f"ReplicaSet of revision {wanted} not seen yet" if wanted else "no ReplicaSet yet"
        return "ReplicaSetNotSeen", text
    # The ReplicaSet controller reports pods it cannot create (quota, admission
    # webhooks) as ReplicaFailure; the Deployment copies it.
    for source in (replicaset, obj):
        failure = condition(source, "ReplicaFailure")
        if failure is not None and get_str(failure, "status") == "True":
            reason, message = get_str(failure, "reason"), get_str(failure, "message")
            return reason or "ReplicaFailure", "ReplicaFailure: " + describe(reason, message)
    return "NoPods", f"no pods of ReplicaSet {name_of(replicaset)} yet"


def _deadline_exceeded(state: TargetState, progressing: Obj) -> TargetState:
    """Terminated with the deadline's message plus what the rollout was stuck on."""
    where: Evidence | None = None
    if state.active is not None:
        start, stuck_on, where = state.active.start_time, state.active.reason, state.active.evidence
    elif state.waiting is not None:
        start, stuck_on = state.waiting.trigger_time, state.waiting.reason
        where = state.waiting.evidence
    else:
        start, stuck_on = EPOCH, ""
    message = get_str(progressing, "message").strip()
    error = describe("ProgressDeadlineExceeded", message)
    if stuck_on:
        error += f"; {stuck_on}"
    finish = max(
        start,
        time_or(
            get_time(progressing, "lastTransitionTime"),
            get_time(progressing, "lastUpdateTime"),
            start,
        ),
    )
    # The deadline decided; the pod it was stuck on is where to look.
    facts = Evidence(reason="ProgressDeadlineExceeded", message=message, since=finish)
    if where is not None:
        facts = replace(facts, pod=where.pod, container=where.container, restarts=where.restarts)
    return TargetState(terminated=Terminated(start, finish, error, facts))
