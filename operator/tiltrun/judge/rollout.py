"""The steps every server workload shares once its current revision is known.

Deployments, StatefulSets and DaemonSets differ in how they find the pods of their
current revision and in what "fully rolled out" means; each kind's module works that
out and hands it over as a ``Rollout``. From there the verdict is the same:

1. a current-revision pod shows a fatal signal → terminated, with that pod's evidence;
2. no current-revision pod is running yet → waiting, with what the pods wait for;
3. otherwise active, ready when the kind's rollout check holds.

Pods that already ended (phase ``Succeeded`` or ``Failed``, e.g. evicted) are dead
weight for a server: its controller replaces them. They only explain a wait when no
live pod is left to do so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tiltrun.api.model import Active, Evidence, TargetState, Terminated, Waiting
from tiltrun.judge.objects import (
    Obj,
    by_name,
    created,
    earliest,
    get_int,
    name_of,
    time_or,
)
from tiltrun.judge.pods import (
    first_fatal_signal,
    is_ready,
    is_running,
    is_unscheduled,
    phase,
    readiness_facts,
    readiness_reason,
    start_time,
    waiting_facts,
    waiting_reason,
)


@dataclass(frozen=True)
class Rollout:
    """What a kind's module knows about the revision it is rolling out."""

    #: Pods of the current revision (any order).
    pods: list[Obj]
    #: Replicas (or scheduled pods) wanted.
    desired: int
    #: The controller's counts say the revision is fully rolled out and available.
    complete: bool
    #: Why the counts say it is not (``"2/3 updated"``), shown when every pod is ready.
    behind: str
    #: When the current rollout began: the ``triggerTime`` of a waiting state.
    trigger: datetime
    #: What to wait for when the revision has no pod at all yet.
    no_pods: str
    #: Said on a ready target: what readiness left aside on purpose (pods an ``OnDelete``
    #: or partitioned update does not replace). Empty when nothing was.
    note: str = ""
    #: How many replicas are ready, when the judged pods alone would miscount them (a
    #: partition keeps old pods serving that are not judged); ``None``: count the pods.
    ready: int | None = None
    #: The word for ``no_pods`` in the evidence (``NoPods``, or the controller's own
    #: reason, such as a ReplicaSet's ``FailedCreate``).
    no_pods_reason: str = "NoPods"


def unobserved_generation(obj: Obj) -> str | None:
    """Why the workload's status is stale, ``None`` when its controller saw the latest spec.

    Until the controller observes the current ``metadata.generation`` every other
    status field, condition and the "newest revision" describe the previous spec, so
    nothing else can be judged yet.
    """
    generation = get_int(obj, "metadata", "generation")
    observed = get_int(obj, "status", "observedGeneration")
    if generation <= observed:
        return None
    return f"generation {generation} not yet observed by its controller (observed: {observed})"


def waiting_for_controller(obj: Obj, reason: str) -> TargetState:
    """The waiting state for a workload whose controller has not caught up."""
    facts = Evidence(reason="GenerationNotObserved", message=reason)
    return TargetState(
        waiting=Waiting(trigger_time=time_or(created(obj)), reason=reason, evidence=facts)
    )


def judge_rollout(obj: Obj, rollout: Rollout) -> TargetState:
    """Terminated, waiting or active, from the current revision's pods (steps 1-3 above)."""
    every = by_name(rollout.pods)
    live = [pod for pod in every if phase(pod) not in ("Succeeded", "Failed")]
    # The revision started when its first pod did; ``Active.startTime`` stays put as
    # more pods start, so readiness timeouts count from the rollout, not the last pod.
    start = time_or(earliest(start_time(pod) for pod in live), created(obj))

    signal = first_fatal_signal(live, job=False)
    if signal:
        finish = max(start, time_or(signal.time, start))
        return TargetState(terminated=Terminated(start, finish, signal.evidence, signal.facts))

    if not any(is_running(pod) for pod in live):
        pending = pending_pod(live) or pending_pod(every)
        if pending is not None:
            reason, facts = pending
        else:
            reason = rollout.no_pods
            facts = Evidence(reason=rollout.no_pods_reason, message=rollout.no_pods)
        waiting = Waiting(trigger_time=rollout.trigger, reason=reason, evidence=facts)
        return TargetState(waiting=waiting)

    if rollout.complete:
        return TargetState(active=Active(start_time=start, ready=True, reason=rollout.note))
    reason, facts = _not_ready(rollout)
    return TargetState(active=Active(start_time=start, ready=False, reason=reason, evidence=facts))


def pending_pod(pods: list[Obj]) -> tuple[str, Evidence] | None:
    """``pod <name>: <waiting reason>`` for the pod that best explains the wait, with its
    facts; ``None`` when every pod runs.

    A pod the scheduler cannot place is the one to name: until it is placed nothing
    else can happen to it, and its message says what to change.
    """
    waiting = [pod for pod in by_name(pods) if not is_running(pod)]
    unschedulable = [pod for pod in waiting if is_unscheduled(pod)]
    candidates = unschedulable or waiting
    if not candidates:
        return None
    chosen = candidates[0]
    return f"pod {name_of(chosen)}: {waiting_reason(chosen)}", waiting_facts(chosen)


def name_some(pods: list[Obj], limit: int = 3) -> str:
    """``pod db-0``, ``pods db-0, db-1``, ``pods a, b, c and 2 more``: a bounded list."""
    names = [name_of(pod) for pod in by_name(pods)]
    shown = ", ".join(names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{'pod' if len(names) == 1 else 'pods'} {shown}{more}"


def _not_ready(rollout: Rollout) -> tuple[str, Evidence]:
    """``1/3 ready; pod web-7d4b9-x2x9z: ContainersNotReady: ...``, and its facts."""
    live = [pod for pod in by_name(rollout.pods) if phase(pod) not in ("Succeeded", "Failed")]
    ready = sum(1 for pod in live if is_ready(pod)) if rollout.ready is None else rollout.ready
    parts = [f"{ready}/{rollout.desired} ready"]
    lagging = next((pod for pod in live if not is_ready(pod)), None)
    facts = Evidence(reason="RolloutInProgress", message=rollout.behind)
    if lagging is not None:
        running = is_running(lagging)
        why = readiness_reason(lagging) if running else waiting_reason(lagging)
        parts.append(f"pod {name_of(lagging)}: {why}")
        facts = readiness_facts(lagging) if running else waiting_facts(lagging)
    elif rollout.behind:
        parts.append(rollout.behind)
    return "; ".join(parts), facts
