"""Facts about one pod: is it running, ready, failing, and what is it waiting for.

Every workload is judged on its pods, so the pod-level reading lives here once:

- ``find_fatal_signal``: the container states the SPEC calls fatal, as an evidence
  string naming pod and container with reason, message, exit code and restart count
  (``pod web-7d4b9-x2x9z container app: CrashLoopBackOff (back-off 10s restarting
  failed container), last exit code 1 (Error), 3 restarts``), and when it was seen;
- ``waiting_reason``: what a pod that is not running yet is waiting for, in the words
  ``kubectl get pods`` uses (``ContainerCreating``, ``Init:0/1``), except that a pod the
  scheduler cannot place says why (``Unschedulable: 0/3 nodes are available: ...``);
- ``readiness_reason``: why a running pod is not ready;
- the times (start, finish) the targets' states are stamped with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from tiltrun.api.model import Evidence
from tiltrun.judge.objects import (
    Obj,
    by_name,
    condition,
    created,
    describe,
    get_bool,
    get_int,
    get_map,
    get_maps,
    get_str,
    get_time,
    latest,
    name_of,
    plural,
)

#: Waiting reasons of a container (or init container) that fail its target.
FATAL_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class FatalSignal:
    """Why a pod fails its target, and when that was seen (``None``: no time known).

    ``evidence`` is the sentence for people, ``facts`` the same facts as fields.
    """

    evidence: str
    time: datetime | None
    facts: Evidence = field(default_factory=Evidence)


def is_job_pod(pod: Obj) -> bool:
    """True when the pod runs to completion (``restartPolicy`` ``Never`` or ``OnFailure``)."""
    return get_str(pod, "spec", "restartPolicy") in ("Never", "OnFailure")


def phase(pod: Obj) -> str:
    """``status.phase``, empty when the kubelet has not reported one."""
    return get_str(pod, "status", "phase")


def is_running(pod: Obj) -> bool:
    """True when the pod is in phase ``Running``: its containers have been started."""
    return phase(pod) == "Running"


def is_ready(pod: Obj) -> bool:
    """True when the pod's ``Ready`` condition is ``True``."""
    ready = condition(pod, "Ready")
    return ready is not None and get_str(ready, "status") == "True"


def start_time(pod: Obj) -> datetime | None:
    """When the kubelet took the pod up (``status.startTime``), else its creation time."""
    return get_time(pod, "status", "startTime") or created(pod)


def finish_time(pod: Obj) -> datetime | None:
    """When the pod's last container terminated, ``None`` when none has."""
    return latest(
        get_time(status, "state", "terminated", "finishedAt") for status in _container_statuses(pod)
    )


def find_fatal_signal(pod: Obj, *, job: bool) -> FatalSignal | None:
    """The first fatal signal of ``pod``, with the time it was seen.

    Fatal: a container or init container waiting with one of ``FATAL_WAITING_REASONS``.
    For a job pod (``job=True``) also a container that terminated with a non-zero exit
    code, now or in its previous run (``restartPolicy: OnFailure`` restarts it at once,
    so the failure often shows only in ``lastState``). A server's container that exits
    non-zero is restarted by the kubelet and becomes fatal as ``CrashLoopBackOff``.
    """
    for status in _container_statuses(pod):
        waiting = get_map(status, "state", "waiting")
        reason = get_str(waiting, "reason")
        last = get_map(status, "lastState", "terminated")
        if reason in FATAL_WAITING_REASONS:
            who, restarts, where = _who(pod, status)
            message = get_str(waiting, "message").strip()
            parts = [f"{reason} ({message})" if message else reason]
            if last:
                parts.append(f"last {_exit_text(last)}")
            parts.append(restarts)
            when = get_time(last, "finishedAt") or _last_transition(pod)
            exit_code = get_int(last, "exitCode") if last else None
            facts = replace(
                where,
                reason=reason,
                message=message,
                exit_code=exit_code,
                termination_message=get_str(last, "message").strip(),
                since=when,
            )
            return FatalSignal(f"{who}: " + ", ".join(parts), when, facts)
        if not job:
            continue
        terminated = get_map(status, "state", "terminated")
        if terminated and get_int(terminated, "exitCode") != 0:
            who, restarts, where = _who(pod, status)
            when = get_time(terminated, "finishedAt") or _last_transition(pod)
            facts = _exit_facts(where, terminated, when)
            return FatalSignal(
                f"{who}: terminated with {_exit_text(terminated)}, {restarts}", when, facts
            )
        if last and get_int(last, "exitCode") != 0:
            who, restarts, where = _who(pod, status)
            when = get_time(last, "finishedAt") or _last_transition(pod)
            facts = _exit_facts(where, last, when)
            return FatalSignal(
                f"{who}: restarted after {_exit_text(last)}, {restarts}", when, facts
            )
    return None


def _who(pod: Obj, status: Obj) -> tuple[str, str, Evidence]:
    """How a fatal signal names its container, its restarts, and the evidence's fields
    (made only for a container that shows one: most never do)."""
    count = get_int(status, "restartCount")
    where = Evidence(pod=name_of(pod), container=get_str(status, "name"), restarts=count)
    return f"pod {name_of(pod)} {_container_label(pod, status)}", plural(count, "restart"), where


def _exit_facts(where: Evidence, terminated: Obj, when: datetime | None) -> Evidence:
    """A container's exit as fields: the kubelet's reason (``Error``, ``OOMKilled``)."""
    message = get_str(terminated, "message").strip()
    return replace(
        where,
        reason=get_str(terminated, "reason").strip() or "Error",
        message=message,
        exit_code=get_int(terminated, "exitCode"),
        termination_message=message,
        since=when,
    )


def first_fatal_signal(pods: Iterable[Obj], *, job: bool) -> FatalSignal | None:
    """The fatal signal of the first pod (by name) that shows one."""
    for pod in by_name(pods):
        signal = find_fatal_signal(pod, job=job)
        if signal:
            return signal
    return None


def failure(pod: Obj) -> FatalSignal:
    """Why a pod in phase ``Failed`` failed.

    The pod-level reason comes first when there is one (``Evicted``, ``DeadlineExceeded``)
    because it explains the container exits that follow from it; otherwise the first
    container that exited non-zero.
    """
    reason = get_str(pod, "status", "reason").strip()
    message = get_str(pod, "status", "message").strip()
    pod_reason = describe(reason, message)
    when = finish_time(pod) or _last_transition(pod)
    if pod_reason:
        facts = Evidence(reason=reason or "Failed", message=message, pod=name_of(pod), since=when)
        return FatalSignal(f"pod {name_of(pod)}: {pod_reason}", when, facts)
    signal = find_fatal_signal(pod, job=True)
    facts = Evidence(reason="Failed", message="phase Failed", pod=name_of(pod), since=when)
    return signal or FatalSignal(f"pod {name_of(pod)}: phase Failed", when, facts)


def exit_summary(pod: Obj) -> str:
    """How a finished pod's containers ended, e.g. for a server pod that exited."""
    parts = [
        f"{_container_label(pod, status)}: terminated with {_exit_text(terminated)}"
        for status in get_maps(pod, "status", "containerStatuses")
        if (terminated := get_map(status, "state", "terminated"))
    ]
    return f"pod {name_of(pod)}: {phase(pod) or 'finished'}" + "".join(f"; {p}" for p in parts)


def waiting_reason(pod: Obj) -> str:
    """What a pod that is not running yet is waiting for, in ``kubectl get pods`` words.

    ``Unschedulable: <scheduler message>`` when the scheduler cannot place it (kubectl
    says only ``Pending`` there, which tells nobody anything), ``Init:0/1`` or
    ``Init:<reason>`` while init containers run, then the first container's waiting or
    termination reason (``ContainerCreating``, ``PodInitializing``), else the pod's
    ``status.reason`` or phase, else ``Pending``.
    """
    facts = waiting_facts(pod)
    return describe(facts.reason, facts.message) if is_unscheduled(pod) else facts.reason


def is_unscheduled(pod: Obj) -> bool:
    """True when the scheduler has said it cannot place the pod (``PodScheduled=False``)."""
    scheduled = condition(pod, "PodScheduled")
    return scheduled is not None and get_str(scheduled, "status") == "False"


_UNSCHEDULED = "Unschedulable"


def waiting_facts(pod: Obj) -> Evidence:
    """``waiting_reason`` as fields: the word, its message, the pod and the container."""
    where = Evidence(pod=name_of(pod))
    scheduled = condition(pod, "PodScheduled")
    if scheduled is not None and is_unscheduled(pod):
        return replace(
            where,
            reason=get_str(scheduled, "reason") or _UNSCHEDULED,
            message=get_str(scheduled, "message").strip(),
            since=get_time(scheduled, "lastTransitionTime"),
        )
    if get_str(pod, "metadata", "deletionTimestamp"):
        return replace(
            where, reason="Terminating", since=get_time(pod, "metadata", "deletionTimestamp")
        )
    init = _init_progress(pod)
    if init:
        word, container = init
        return replace(where, reason=word, container=container)
    for status in get_maps(pod, "status", "containerStatuses"):
        here = replace(where, container=get_str(status, "name"))
        waiting = get_map(status, "state", "waiting")
        if get_str(waiting, "reason"):
            return replace(
                here, reason=get_str(waiting, "reason"), message=get_str(waiting, "message").strip()
            )
        terminated = get_map(status, "state", "terminated")
        if terminated:
            word = get_str(terminated, "reason") or _exit_code_word(terminated)
            return replace(
                _exit_facts(here, terminated, get_time(terminated, "finishedAt")), reason=word
            )
    return replace(where, reason=get_str(pod, "status", "reason") or phase(pod) or "Pending")


def readiness_reason(pod: Obj) -> str:
    """Why a pod is not ready (empty when it is), from its ``Ready`` condition."""
    if is_ready(pod):
        return ""
    ready = condition(pod, "Ready")
    if ready is None:
        return "Ready condition not reported yet"
    return describe(get_str(ready, "reason"), get_str(ready, "message")) or (
        f"Ready={get_str(ready, 'status') or 'Unknown'}"
    )


def readiness_facts(pod: Obj) -> Evidence:
    """``readiness_reason`` as fields: the ``Ready`` condition's reason and message."""
    ready = condition(pod, "Ready")
    if ready is None:
        return Evidence(reason="ReadyNotReported", pod=name_of(pod))
    return Evidence(
        reason=get_str(ready, "reason") or f"Ready{get_str(ready, 'status') or 'Unknown'}",
        message=get_str(ready, "message").strip(),
        pod=name_of(pod),
        container=_first_unready_container(pod),
        since=get_time(ready, "lastTransitionTime"),
    )


def _first_unready_container(pod: Obj) -> str:
    for status in get_maps(pod, "status", "containerStatuses"):
        if get_bool(status, "ready") is False and "ready" in status:
            return get_str(status, "name")
    return ""


def _container_statuses(pod: Obj) -> list[Obj]:
    # Init containers first: they run first, so their failure is the root cause.
    return get_maps(pod, "status", "initContainerStatuses") + get_maps(
        pod, "status", "containerStatuses"
    )


def _container_label(pod: Obj, status: Obj) -> str:
    name = get_str(status, "name") or "?"
    init_names = {get_str(s, "name") for s in get_maps(pod, "status", "initContainerStatuses")}
    return f"init container {name}" if name in init_names else f"container {name}"


def _exit_text(terminated: Obj) -> str:
    """``exit code 1 (Error: <termination message>)``."""
    text = f"exit code {get_int(terminated, 'exitCode')}"
    signal = get_int(terminated, "signal")
    if signal:
        text += f", signal {signal}"
    detail = describe(get_str(terminated, "reason"), get_str(terminated, "message"))
    return f"{text} ({detail})" if detail else text


def _exit_code_word(terminated: Obj) -> str:
    # kubectl's words for a termination without a reason.
    signal = get_int(terminated, "signal")
    if signal:
        return f"Signal:{signal}"
    return f"ExitCode:{get_int(terminated, 'exitCode')}"


def _init_progress(pod: Obj) -> tuple[str, str] | None:
    """``Init:<n>/<total>`` or ``Init:<reason>`` while init containers run, else ``None``;
    with the init container it waits on."""
    specs = get_maps(pod, "spec", "initContainers")
    statuses = get_maps(pod, "status", "initContainerStatuses")
    total = len(specs) or len(statuses)
    # Sidecars (restartable init containers) keep running; once started they no
    # longer hold the pod in initialisation.
    sidecars = {get_str(c, "name") for c in specs if get_str(c, "restartPolicy") == "Always"}
    for index, status in enumerate(statuses):
        terminated = get_map(status, "state", "terminated")
        if terminated and get_int(terminated, "exitCode") == 0:
            continue
        if get_str(status, "name") in sidecars and get_bool(status, "started"):
            continue
        name = get_str(status, "name")
        if terminated:
            return "Init:" + (get_str(terminated, "reason") or _exit_code_word(terminated)), name
        waiting = get_str(status, "state", "waiting", "reason")
        if waiting and waiting != "PodInitializing":
            return f"Init:{waiting}", name
        return f"Init:{index}/{total}", name
    return None


def _last_transition(pod: Obj) -> datetime | None:
    """The latest condition change: the best time a waiting container state offers."""
    return latest(
        get_time(entry, "lastTransitionTime") for entry in get_maps(pod, "status", "conditions")
    )
