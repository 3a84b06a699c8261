"""A bare Pod (one no controller owns): judged on its own phase and containers.

==========  ===================================================================
disabled    never
waiting     not scheduled, init containers or containers being created
            (``Unschedulable: 0/3 nodes are available: ...``, ``Init:0/1``,
            ``ContainerCreating``)
active      phase ``Running``; ready when its ``Ready`` condition is True
terminated  ok: phase ``Succeeded`` for a job pod (``restartPolicy`` ``Never`` or
            ``OnFailure``). error: phase ``Failed``; a fatal signal (for a job pod a
            non-zero exit counts); phase ``Succeeded`` for a server pod, which is
            meant to run forever (it happens when such a pod is deleted and its
            containers exit cleanly)
==========  ===================================================================
"""

from __future__ import annotations

from datetime import datetime

from tiltrun.api.model import Active, Evidence, TargetState, Terminated, Waiting
from tiltrun.judge.objects import Obj, created, name_of, time_or
from tiltrun.judge.pods import (
    FatalSignal,
    exit_summary,
    failure,
    find_fatal_signal,
    finish_time,
    is_job_pod,
    is_ready,
    is_running,
    phase,
    readiness_facts,
    readiness_reason,
    start_time,
    waiting_facts,
    waiting_reason,
)
from tiltrun.judge.related import Related


def classify(obj: Obj, related: Related) -> TargetState:
    """The state of a bare Pod. ``related`` is unused: a pod is its own evidence."""
    job = is_job_pod(obj)
    start = time_or(start_time(obj))

    if phase(obj) == "Succeeded":
        finish = max(start, time_or(finish_time(obj), start))
        if job:
            return TargetState(terminated=Terminated(start, finish))
        error = f"{exit_summary(obj)}; a server is expected to keep running"
        facts = Evidence(
            reason="Succeeded",
            message="a server is expected to keep running",
            pod=name_of(obj),
            since=finish,
        )
        return TargetState(terminated=Terminated(start, finish, error, facts))
    if phase(obj) == "Failed":
        return _failed(start, failure(obj))
    signal = find_fatal_signal(obj, job=job)
    if signal is not None:
        return _failed(start, signal)

    if is_running(obj):
        ready = is_ready(obj)
        why = None if ready else readiness_facts(obj)
        active = Active(start, ready, readiness_reason(obj), evidence=why)
        return TargetState(active=active)
    waiting = Waiting(time_or(created(obj)), waiting_reason(obj), waiting_facts(obj))
    return TargetState(waiting=waiting)


def _failed(start: datetime, signal: FatalSignal) -> TargetState:
    finish = max(start, time_or(signal.time, start))
    return TargetState(terminated=Terminated(start, finish, signal.evidence, signal.facts))
