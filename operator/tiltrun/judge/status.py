"""What a TiltRun's status should be: pure composition of judgement and exit logic.

``desired_status`` takes the run, the workloads it selects and the clock, and returns
the status dict to store plus the verdict behind it. It does no I/O, so the engine's
only decision is whether that dict differs from what the API server holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tiltrun.api.healthcheck import HealthCheck
from tiltrun.api.model import ExitCondition, RunSpec, Target, micro_time
from tiltrun.api.spec import SpecError, read_spec
from tiltrun.judge.budget import fit
from tiltrun.judge.conditions import conditions
from tiltrun.judge.exit import Outcome, Reason, Verdict, decide
from tiltrun.judge.healthchecks import DEFAULT as DEFAULT_CHECKS
from tiltrun.judge.healthchecks import HealthChecks, compile_problems
from tiltrun.judge.objects import get_bool, get_int, get_maps, get_str
from tiltrun.judge.related import Related
from tiltrun.judge.target import is_workload, judge

Obj = dict[str, Any]

#: Status fields the operator owns; ``pid`` is written along but never compared,
#: so that a restarted operator does not rewrite every unchanged run.
COMPARED_FIELDS = (
    "startTime",
    "observedGeneration",
    "targets",
    "done",
    "error",
    "summary",
    "progress",
    "satisfied",
    "total",
    "conditions",
    "warnings",
    "truncation",
)


@dataclass(frozen=True)
class Desired:
    """The status to store, the verdict behind it, and the targets it was built from."""

    status: Obj
    verdict: Verdict
    targets: tuple[Target, ...]


#: Judges one candidate with the run's health checks: ``judge`` or a memo of it.
JudgeOne = Callable[[Obj, Related, HealthChecks], Target]


def judge_all(
    candidates: Iterable[tuple[Obj, Related]],
    judge_one: JudgeOne = judge,
    checks: HealthChecks = DEFAULT_CHECKS,
) -> tuple[Target, ...]:
    """Every candidate workload judged, sorted by name so the output is stable.

    ``judge_one`` is ``judge`` or a memo of it (the engine's): judge is pure.
    """
    judged = [(obj, judge_one(obj, related, checks)) for obj, related in candidates]
    return tuple(sorted(_unique_names(judged), key=lambda t: t.name))


def _unique_names(judged: list[tuple[Obj, Target]]) -> list[Target]:
    """Targets whose ``<kind>/<name>`` collides (Cluster API's and CloudNativePG's
    ``Cluster``) are named ``<kind>.<group>/<name>``, except workloads' (docs/api.md)."""
    if len({target.name for _, target in judged}) == len(judged):
        return [target for _, target in judged]  # no collision: the usual case
    counts = Counter(target.name for _, target in judged)
    out = []
    for obj, target in judged:
        group = get_str(obj, "apiVersion").rpartition("/")[0]
        if counts[target.name] > 1 and group and not is_workload(obj):
            kind, _, name = target.name.partition("/")
            target = replace(target, name=f"{kind}.{group}/{name}")
        out.append(target)
    return out


def decided_by(target: Target) -> tuple[object, ...]:
    """Everything of ``target`` the exit decision reads, without its words.

    Two lists of targets with the same of these get the same verdict at any instant,
    except in its words (summary, error, a failure's message): the same done, outcome,
    counts, failing and retrying names, conditions and ``wake_at`` (``decide`` reads a
    target's phase, its times and whether it has an error, never a reason, an evidence
    or an error's text). The engine uses it to know that a change of words only needs
    no new decision now (``words_only``).
    """
    state = target.state
    active, terminated = state.active, state.terminated
    return (
        target.name,
        target.type,
        target.resources,
        target.policy,
        target.crash_restarts,
        state.disabled,
        state.waiting is not None,  # since when it waits is words: a timeout quotes it
        (active.start_time, active.ready, active.ready_since) if active else None,
        (
            (terminated.start_time, terminated.finish_time, bool(terminated.error))
            if terminated
            else None
        ),
    )


def words_only(before: Sequence[Target], after: Sequence[Target]) -> bool:
    """True when ``after`` differs from ``before`` at most in words (``decided_by``)."""
    return len(before) == len(after) and all(
        decided_by(a) == decided_by(b) for a, b in zip(before, after, strict=True)
    )


@dataclass(frozen=True)
class RunView:
    """What the status is composed from in a TiltRun itself: the same for a whole
    generation of its spec, so the engine reads it once per generation."""

    generation: int
    spec: RunSpec | SpecError
    checks: HealthChecks
    #: One sentence per health check expression that does not compile.
    problems: tuple[str, ...]


def read_run(run: Obj, operator_checks: Sequence[HealthCheck] = ()) -> RunView:
    """``run``'s spec (or why it is invalid) and the checks its targets are judged by."""
    try:
        spec: RunSpec | SpecError = read_spec(run)
    except SpecError as err:
        spec = err
    own = spec.health_checks if isinstance(spec, RunSpec) else ()
    return RunView(
        generation=get_int(run, "metadata", "generation"),
        spec=spec,
        checks=HealthChecks(run=own, operator=tuple(operator_checks)),
        problems=tuple(compile_problems(own)),
    )


def desired_status(
    run: Obj,
    candidates: Iterable[tuple[Obj, Related]],
    *,
    start_time: datetime,
    now: datetime,
    pid: int,
    previous_conditions: Sequence[Obj] = (),
    judge_one: JudgeOne = judge,
    operator_checks: Sequence[HealthCheck] = (),
    warnings: Sequence[str] = (),
    view: RunView | None = None,
    targets: tuple[Target, ...] | None = None,
) -> Desired:
    """The status ``run`` should have at ``now``, given the workloads it selects.

    ``previous_conditions`` are the conditions last stored, so that a condition whose
    status did not change keeps its ``lastTransitionTime``. ``operator_checks`` are the
    operator-wide health checks (the run's own win); ``warnings`` the sentences about
    kinds the operator cannot watch that concern this run (``status.warnings``). The
    status always fits its size budget (``tiltrun.judge.budget``); ``truncation`` is
    ``None`` when nothing was cut, so that a merge patch removes a truncation stored earlier.

    ``view`` (``read_run``) and ``targets`` (``judge_all`` of ``candidates`` with its
    checks) are what this would compute first; a caller that holds them passes them.
    """
    if view is None:
        view = read_run(run, operator_checks)
    if targets is None:
        targets = judge_all(candidates, judge_one, view.checks)
    spec = view.spec
    if isinstance(spec, SpecError):
        # The CRD rejects such specs; an object stored before validation existed
        # still gets a status that says what is wrong instead of a crash.
        verdict = Verdict(
            done=False,
            error="",
            summary=f"invalid spec: {spec}",
            satisfied=0,
            total=sum(not t.state.disabled for t in targets),
            failing=(),
            retrying=(),
            wake_at=None,
            outcome=Outcome.RUNNING,
            reason=Reason.WAITING,
        )
        exit_condition = ExitCondition.MANUAL
    else:
        exit_condition = spec.exit_condition
        if view.problems:
            verdict = _bad_health_checks(view.problems, targets, exit_condition)
        else:
            verdict = decide(spec, targets, start_time=start_time, now=now)
    generation = view.generation
    status: Obj = {
        "pid": pid,
        "startTime": micro_time(start_time),
        "observedGeneration": generation,
        "targets": [_with_grace(t.as_dict(), verdict) for t in targets],
        "done": verdict.done,
        "error": verdict.error,
        "summary": verdict.summary,
        "progress": verdict.progress,
        "satisfied": verdict.satisfied,
        "total": verdict.total,
        "conditions": conditions(
            verdict, exit_condition, generation=generation, previous=previous_conditions, now=now
        ),
    }
    if warnings:
        status["warnings"] = list(warnings)
    status = fit(status)
    status.setdefault("truncation", None)
    return Desired(status, verdict, targets)


def _bad_health_checks(
    problems: Sequence[str], targets: Sequence[Target], exit_condition: ExitCondition
) -> Verdict:
    """A run whose own health checks do not compile: a ci run fails at once.

    Its rules cannot be applied, and waiting would only end in a timeout that hides
    the cause. ``error`` quotes every expression with the compiler's message; a manual
    run says the first in its summary.
    """
    ci = exit_condition == ExitCondition.CI
    first = problems[0].splitlines()[0]
    return Verdict(
        done=ci,
        error="\n".join(problems) if ci else "",
        summary=f"invalid health check: {first}",
        satisfied=0,
        total=sum(not t.state.disabled for t in targets),
        failing=(),
        retrying=(),
        wake_at=None,
        outcome=Outcome.FAILED if ci else Outcome.RUNNING,
        reason=Reason.FAILED if ci else Reason.FAILING,
    )


def comparable(status: Obj | None) -> Obj:
    """The part of a status that decides whether a PATCH is needed."""
    status = status or {}
    return {k: status.get(k) for k in COMPARED_FIELDS}


def failing_names(status: Obj | None) -> set[str]:
    """Targets a stored status shows failing: terminated with an error, beyond any grace.

    The targets a ``TargetFailed`` Event was posted for; one still tolerated (retrying)
    gets its Event when its grace runs out, whoever is writing by then.
    """
    return {
        get_str(target, "name")
        for target in get_maps(status, "targets")
        if get_str(target, "state", "terminated", "error")
        and get_str(target, "state", "grace", "status") != "tolerated"
    }


def is_done(status: Obj | None) -> bool:
    """True when a stored status says the run is done."""
    return get_bool(status, "done")


def _with_grace(target: Obj, verdict: Verdict) -> Obj:
    """Put the exit logic's view on a failing target: its tolerance (``state.grace``)
    and, when it fails the run, why (``state.failure``).

    ``target`` is shared (``Target.as_dict``): a target with either gets a copy."""
    grace = verdict.grace.get(target["name"])
    failure = verdict.failures.get(target["name"])
    if grace is None and failure is None:
        return target
    state = dict(target["state"])
    if grace is not None:
        state["grace"] = dict(grace)
    if failure is not None:
        stored: Obj = {"reason": failure["reason"], "message": str(failure["message"])}
        if failure.get("since") is not None:
            stored["since"] = micro_time(failure["since"])
        state["failure"] = stored
    return {**target, "state": state}
