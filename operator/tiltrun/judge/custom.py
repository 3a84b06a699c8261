"""Custom resources and the other non-workload kinds: from a verdict to a target state.

Which rule judges an object (docs/api.md, "How an object is judged"):

1. a CEL health check for its kind (the run's, the operator's, the library's);
2. the ``rule`` of its kind's registry entry (``kinds``): its own (``crd``, ``pvc``,
   ``service``) or, for any other kind, known or not, the kstatus conventions
   (``kstatus``).

Around the rule, in this order: an object being deleted waits; one whose status
describes an older spec (``status.observedGeneration`` behind) waits; the rule's
``failed`` verdict; then the fatal signals of the live pods the object owns (found
through controller owner references by the engine and passed in ``Related.pods``),
unless its health check says ``failOnOwnedPods: false``; then the rule's other
verdicts.

States: in progress is ``waiting``, current is ``active`` and ready (``terminated``
without error for a target of type job), failed is ``terminated`` with the error.
Such a target is never active and not ready, so the readiness timeout never applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from tiltrun.api.model import Active, Evidence, TargetState, Terminated, Waiting
from tiltrun.judge import kstatus
from tiltrun.judge.health import (
    Health,
    HealthVerdict,
    being_deleted,
    find_condition,
    stale_facts,
    stale_generation,
    transition,
)
from tiltrun.judge.healthchecks import DEFAULT, HealthChecks, evaluate
from tiltrun.judge.kinds import BUILTIN, Registry
from tiltrun.judge.objects import Obj, by_name, created, earliest, time_or
from tiltrun.judge.pods import first_fatal_signal, phase, start_time
from tiltrun.judge.related import Related


def classify(
    obj: Obj,
    related: Related,
    checks: HealthChecks = DEFAULT,
    *,
    job: bool = False,
    kinds: Registry = BUILTIN,
) -> TargetState:
    """The state of a non-workload object (the rules in the module docstring)."""
    verdict, fail_on_pods = judge(obj, checks, kinds)
    if verdict.health is not Health.FAILED and fail_on_pods and _fresh(obj):
        state = _owned_pod_failure(obj, related.pods)
        if state is not None:
            return state
    return to_state(obj, verdict, job=job)


def judge(
    obj: Obj, checks: HealthChecks = DEFAULT, kinds: Registry = BUILTIN
) -> tuple[HealthVerdict, bool]:
    """The verdict on ``obj`` and whether its owned pods' fatal signals count."""
    if being_deleted(obj):
        deleting = Evidence(reason="Deleting")
        return HealthVerdict.in_progress("being deleted", facts=deleting), False
    stale = stale_generation(obj)
    if stale:
        return HealthVerdict.in_progress(stale, facts=stale_facts(stale)), False
    check = checks.find(obj)
    if check is not None:
        return evaluate(check, obj), check.fail_on_owned_pods
    entry = kinds.of(obj)
    rule = entry.rule if entry is not None else kstatus.judge
    return rule(obj), True


def to_state(obj: Obj, verdict: HealthVerdict, *, job: bool = False) -> TargetState:
    """The target state a verdict gives (the table in the module docstring)."""
    born = time_or(created(obj))
    since = time_or(verdict.since, born)
    # The rule's facts (a condition's reason and message); without them, kstatus's word
    # for the verdict with the rule's own sentence as the message.
    if verdict.health is Health.IN_PROGRESS:
        facts = verdict.facts or Evidence(
            reason="InProgress", message=verdict.reason, since=verdict.since
        )
        return TargetState(waiting=Waiting(since, verdict.reason, facts))
    if verdict.health is Health.FAILED:
        start = min(born, since)
        facts = verdict.facts or Evidence(reason="Failed", message=verdict.reason)
        if facts.since is None:
            facts = replace(facts, since=since)
        return TargetState(terminated=Terminated(start, since, verdict.reason, facts))
    if job:
        return TargetState(terminated=Terminated(min(born, since), since))
    ready = find_condition(obj, "Ready")
    ready_since = transition(ready) if ready is not None else None
    return TargetState(active=Active(since, True, ready_since=ready_since or since))


def _fresh(obj: Obj) -> bool:
    return not being_deleted(obj) and stale_generation(obj) is None


def _owned_pod_failure(obj: Obj, pods: Sequence[Obj]) -> TargetState | None:
    """Terminated with the first fatal signal among the live owned pods, else ``None``."""
    live = [
        pod
        for pod in by_name(pods)
        if phase(pod) not in ("Succeeded", "Failed") and not being_deleted(pod)
    ]
    signal = first_fatal_signal(live, job=False)
    if signal is None:
        return None
    start = time_or(earliest(start_time(pod) for pod in live), created(obj))
    finish: datetime = max(start, time_or(signal.time, start))
    return TargetState(terminated=Terminated(start, finish, signal.evidence, signal.facts))
