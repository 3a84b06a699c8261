"""Job: judged on its conditions, then on its pods.

==========  ===================================================================
terminated  ok: ``Complete`` or ``SuccessCriteriaMet`` is True. error: ``Failed`` or
            ``FailureTarget`` is True (reason, message, and the evidence of its
            latest failed pod: exit code, termination message); or any of its pods
            shows a fatal signal, a non-zero exit included
disabled    ``spec.suspend: true``
waiting     not started yet; or started, but no pod is running yet
active      a pod runs (or some already succeeded and more are to come). ``ready``
            stays false: readiness is a server's notion, a job is done when it
            terminates; ``reason`` shows its progress instead
==========  ===================================================================

The conditions come first: a finished Job stays finished even when it is suspended
afterwards or old failed pods of retries linger, and ``FailureTarget`` (set before
the controller stops the pods) fails the target as early as the controller knows.

A pod that failed counts once the Job controller has counted it, that is, removed its
``batch.kubernetes.io/job-tracking`` finalizer. The controller writes the Job's
verdict (``FailureTarget`` with ``BackoffLimitExceeded``, or nothing while retries
remain) before it removes that finalizer, so the error always carries the Job's reason
when there is one, instead of depending on which watch event reached us first.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tiltrun.api.model import Active, Evidence, TargetState, Terminated, Waiting
from tiltrun.judge.objects import (
    Obj,
    by_name,
    condition,
    controlled_by,
    created,
    describe,
    dig,
    earliest,
    get_bool,
    get_int,
    get_str,
    get_time,
    plural,
    time_or,
    uid_of,
)
from tiltrun.judge.pods import (
    FatalSignal,
    failure,
    find_fatal_signal,
    first_fatal_signal,
    is_running,
    phase,
    start_time,
)
from tiltrun.judge.related import Related
from tiltrun.judge.rollout import pending_pod

#: The Job controller holds each of its pods with this until it has counted the pod's end.
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"


def classify(obj: Obj, related: Related) -> TargetState:
    """The state of a Job, from itself and its pods."""
    pods = [pod for pod in by_name(related.pods) if controlled_by(pod, uid_of(obj))]
    started = get_time(obj, "status", "startTime")
    start = time_or(started, earliest(start_time(pod) for pod in pods), created(obj))

    succeeded = _first_true(obj, "Complete", "SuccessCriteriaMet")
    if succeeded is not None:
        finish = time_or(
            get_time(obj, "status", "completionTime"),
            get_time(succeeded, "lastTransitionTime"),
            start,
        )
        return TargetState(terminated=Terminated(start, max(start, finish)))

    failed = _first_true(obj, "Failed", "FailureTarget")
    if failed is not None:
        finish = max(start, time_or(get_time(failed, "lastTransitionTime"), start))
        error, facts = _failure(failed, pods, finish)
        return TargetState(terminated=Terminated(start, finish, error, facts))

    if get_bool(obj, "spec", "suspend"):
        return TargetState(disabled=True)

    signal = first_fatal_signal([pod for pod in pods if not _uncounted(pod)], job=True)
    if signal:
        finish = max(start, time_or(signal.time, start))
        return TargetState(terminated=Terminated(start, finish, signal.evidence, signal.facts))

    if started is None and not pods:
        facts = Evidence(reason="NotStarted", message="the Job controller has not started it")
        return TargetState(waiting=Waiting(start, "not started yet", facts))
    if not any(is_running(pod) or phase(pod) == "Succeeded" for pod in pods):
        pending = pending_pod(pods)
        if pending is None:
            facts = Evidence(reason="NoPods", message="no pods created yet")
            return TargetState(waiting=Waiting(start, "no pods created yet", facts))
        return TargetState(waiting=Waiting(start, *pending))
    return TargetState(active=Active(start_time=start, ready=False, reason=_progress(obj, pods)))


def _uncounted(pod: Obj) -> bool:
    """A failed pod the Job controller has not counted yet (see the module docstring)."""
    finalizers = dig(pod, "metadata", "finalizers")
    return (
        phase(pod) == "Failed"
        and isinstance(finalizers, list)
        and JOB_TRACKING_FINALIZER in finalizers
    )


def _first_true(obj: Obj, *types: str) -> Obj | None:
    """The first of the conditions ``types``, in that order, whose status is True.

    The final condition (``Complete``, ``Failed``) goes first: its transition time is
    when the Job really ended; the ``*Target`` one only says it is about to.
    """
    for type_ in types:
        entry = condition(obj, type_)
        if entry is not None and get_str(entry, "status") == "True":
            return entry
    return None


def _failure(failed: Obj, pods: list[Obj], finish: datetime) -> tuple[str, Evidence]:
    """``BackoffLimitExceeded: Job has reached ...; pod migrate-x7k2p container ...``.

    The facts: the Job's own reason and message (the rule that decided), and where to
    look: the pod, container, exit code, restarts and termination message of the
    failure it ended on.
    """
    reason, message = get_str(failed, "reason").strip(), get_str(failed, "message").strip()
    error = describe(reason, message) or "Job failed"
    facts = Evidence(reason=reason or "Failed", message=message, since=finish)
    # The most recent failure is the one the retries ended on, the one to read first.
    evidence: list[FatalSignal] = [failure(pod) for pod in pods if phase(pod) == "Failed"]
    if not evidence:
        evidence = [s for pod in pods if (s := find_fatal_signal(pod, job=True)) is not None]
    if evidence:
        last = max(evidence, key=lambda s: (time_or(s.time), s.evidence))
        error += f"; {last.evidence}"
        where = last.facts
        facts = replace(
            facts,
            pod=where.pod,
            container=where.container,
            exit_code=where.exit_code,
            restarts=where.restarts,
            termination_message=where.termination_message,
        )
    return error, facts


def _progress(obj: Obj, pods: list[Obj]) -> str:
    """``1 pod running, 2/5 succeeded``."""
    running = sum(1 for pod in pods if is_running(pod))
    succeeded = get_int(obj, "status", "succeeded")
    # ``spec.completions: null`` is a work-queue Job: no fixed number to reach.
    completions = dig(obj, "spec", "completions")
    target = f"/{get_int(obj, 'spec', 'completions')}" if completions is not None else ""
    return f"{plural(running, 'pod')} running, {succeeded}{target} succeeded"
