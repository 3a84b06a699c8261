"""The exit logic's decision: from a run's targets and the clock to a verdict.

The rules are the SPEC's "Exit logic"; ``wording`` says the result in words.

``decide`` is a pure function. It reads no clock (``now`` is passed in) and does no I/O,
so the engine can call it on every event and again at ``Verdict.wake_at``, the next
instant at which time alone could change the answer.

Rules, in the order ``decide`` applies them in ``ci`` mode:

1. Disabled targets do not count, and do not change the verdict in any way.
2. A target terminated with an error *fails* the run, unless it is still inside its grace
   period (``ci.gracePeriod`` counted from ``terminated.start_time``): then it is
   *retrying*. A server that terminates fails the same way even if it carries no error,
   because a server is expected to run indefinitely.
3. A server active but not ready for ``ci.readinessTimeout`` (counted from
   ``active.start_time``; ``0`` disables) fails the run. Never applies to jobs.
4. The run succeeds when at least one target counts and every counted target is
   satisfied: servers active and ready, jobs terminated without error.
5. Otherwise, once ``ci.timeout`` (counted from the run's start; ``0`` disables) has
   passed, the run fails and the error says what it was still waiting on, and since when.
6. A selector that matches nothing (or only disabled workloads) is never success.

Decisions the contract left open:

- Boundaries: a deadline reached exactly at ``now`` has passed (``now >= deadline``).
  A grace period of ``0`` means no grace at all, even if the clocks disagree.
- Precedence: failures (rules 2-3) are judged before success and the run timeout. When
  the engine missed the moment both became true (the operator was down), the error then
  names what actually broke rather than only "timed out". Success and failure cannot
  both hold; success wins over a run timeout for the same reason: nothing is left to wait on.
- Failing and retrying targets are ordered by when the failure happened
  (``terminated.finish_time``; for a readiness timeout the instant the timeout passed),
  then by name; the rest by name. How each is put into words is ``wording``'s docstring.
- A counted target with no state at all (neither waiting, active nor terminated) is not
  satisfied: it is reported as ``no status yet``, so a judge that has not looked yet can
  never make a run succeed.
- Once ``done``, ``wake_at`` is ``None``: a finished run is final (the engine keeps the
  first ``done`` verdict), so nothing needs to be recomputed on time.
- ``manual`` mode applies no timeouts: ``failing`` holds targets terminated with an error
  beyond their grace period, and ``wake_at`` is only the next grace expiry, so a retrying
  target turns failing on time.

Tolerance (per workload, issue "customizable exit conditions"):

- Each target's ``gracePeriod``, ``failuresAllowed`` and ``readinessTimeout`` come from
  its annotations when set (``Target.policy``), else from ``spec.ci``.
- A failure is *tolerated* (the target is retrying) while it is inside its grace period,
  or while it is a crash loop whose restart count is within ``failuresAllowed``. Only a
  crash loop (``CrashLoopBackOff``) spends restarts: an image that cannot be pulled or a
  Job that failed is not made better by waiting for restarts. ``Verdict.grace`` says,
  per failing target with a budget, ``tolerated`` or ``exceeded``, with the restart
  count and the budget, so the status explains why the run has not failed yet.
- An optional target (``tilt.dev/optional: "true"``) is judged and shown but never
  counted: it cannot fail, hold up or satisfy a run. Its failures are named in the
  summary and in ``Verdict.optional_failing``.
- ``ci.stableFor``: a ready server counts as satisfied only once it has stayed ready that
  long (from ``active.ready_since``); a readiness flap restarts the window.
- ``ci.expect``: every listed name (a target name such as ``deployment/api`` or a
  resource name) must be present among the targets, or the run cannot succeed; a
  missing one is counted as unsatisfied (``expected, not found yet``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tiltrun.api.model import CISettings, ExitCondition, RunSpec, Target, TargetType
from tiltrun.judge.exit import wording
from tiltrun.judge.exit.verdict import Assessment, Outcome, Reason, Situation, Verdict

#: Sorts before any real instant; only a fallback, failures always carry their time.
_DAWN = datetime.min.replace(tzinfo=UTC)


def decide(
    spec: RunSpec, targets: Sequence[Target], *, start_time: datetime, now: datetime
) -> Verdict:
    """The verdict on a run whose targets are ``targets``, at ``now``.

    ``start_time`` is the run's ``status.startTime``. All datetimes must be timezone-aware.
    """
    ci = spec.exit_condition == ExitCondition.CI
    enabled = [t for t in targets if not t.state.disabled]
    counted = [
        assess(t, settings_for(t, spec.ci), now=now, timeouts=ci)
        for t in enabled
        if not t.policy.optional
    ]
    counted += [
        Assessment(name, Situation.EXPECTED)
        for name in spec.ci.expect
        if not _present(name, targets)
    ]
    optional = [
        assess(t, settings_for(t, spec.ci), now=now, timeouts=ci)
        for t in enabled
        if t.policy.optional
    ]
    failing = _by_failure(a for a in counted if a.failing)
    unsatisfied = [
        *failing,
        *_by_failure(a for a in counted if a.retrying),
        *sorted((a for a in counted if a.pending), key=lambda a: a.name),
    ]
    total = len(counted)
    running = _running(spec, counted, optional, unsatisfied)
    if not ci:
        return running

    if failing:
        error, summary = wording.failed(failing)
        only_readiness = all(a.situation is Situation.NOT_READY_IN_TIME for a in failing)
        reason = Reason.READINESS_TIMEOUT if only_readiness else Reason.FAILED
        return _done(running, Outcome.FAILED, reason, error, summary)
    if total > 0 and not unsatisfied:
        return _done(running, Outcome.SUCCEEDED, Reason.SUCCEEDED)
    deadline = _after(start_time, spec.ci.timeout) if spec.ci.timeout > 0 else None
    if deadline is None:
        return running
    if now < deadline:
        return replace(running, wake_at=_earliest([running.wake_at, deadline]))
    error, summary = wording.timed_out(spec.ci.timeout, unsatisfied, total, spec.selector, now)
    return _done(running, Outcome.TIMED_OUT, Reason.TIMED_OUT, error, summary)


def _done(
    running: Verdict, outcome: Outcome, reason: Reason, error: str = "", summary: str = ""
) -> Verdict:
    """``running`` finished: final, so there is nothing left to wake up for."""
    return replace(
        running,
        done=True,
        error=error,
        summary=summary or running.summary,
        wake_at=None,
        outcome=outcome,
        reason=reason,
    )


def _running(
    spec: RunSpec,
    counted: Sequence[Assessment],
    optional: Sequence[Assessment],
    unsatisfied: Sequence[Assessment],
) -> Verdict:
    """The verdict of a run not done; the done outcomes replace only what differs."""
    failing = [a for a in unsatisfied if a.failing]
    retrying = [a for a in unsatisfied if a.retrying]
    optional_failing = _by_failure(a for a in optional if a.failing)
    total = len(counted)
    if total == 0:
        reason = Reason.NO_MATCHING_WORKLOADS
    elif not unsatisfied:
        reason = Reason.ALL_TARGETS_UP
    else:
        reason = Reason.FAILING if failing else Reason.RETRYING if retrying else Reason.WAITING
    return Verdict(
        done=False,
        error="",
        summary=wording.running_summary(unsatisfied, total, spec.selector, optional_failing),
        satisfied=total - len(unsatisfied),
        total=total,
        failing=tuple(a.name for a in failing),
        retrying=tuple(a.name for a in retrying),
        wake_at=_earliest(a.wake_at for a in [*counted, *optional]),
        outcome=Outcome.RUNNING,
        reason=reason,
        grace={a.name: a.grace for a in [*counted, *optional] if a.grace is not None},
        optional_failing=tuple(a.name for a in optional_failing),
        failures={a.name: _failure_record(a) for a in failing},
    )


def _failure_record(a: Assessment) -> Mapping[str, Any]:
    """What the status stores about a failing target: the reason word, its error, when."""
    reason = "ReadinessTimeout" if a.situation is Situation.NOT_READY_IN_TIME else "TargetFailed"
    record: dict[str, Any] = {"reason": reason, "message": wording.failure(a)}
    if a.failed_at is not None:
        record["since"] = a.failed_at
    return record


def assess(target: Target, ci: CISettings, *, now: datetime, timeouts: bool) -> Assessment:
    """Where one target stands at ``now``; ``timeouts`` is False in manual mode.

    ``ci`` is the run's ``spec.ci`` with the target's own annotations applied.
    """
    state = target.state
    if state.terminated is not None:
        return _terminated(target, ci, now)
    if state.active is not None:
        return _active(target, ci, now, timeouts)
    if state.waiting is not None:
        waiting = state.waiting
        return Assessment(
            target.name, Situation.WAITING, reason=waiting.reason, since=waiting.trigger_time
        )
    # Judges always set a state; if one has not yet, this target must not let a run pass.
    return Assessment(target.name, Situation.NO_STATUS)


def _terminated(target: Target, ci: CISettings, now: datetime) -> Assessment:
    terminated = target.state.terminated
    assert terminated is not None
    server = target.type == TargetType.SERVER
    # A server is meant to run forever, so stopping is a failure even without a message.
    if not terminated.error and not server:
        return Assessment(target.name, Situation.DONE, server=False)
    grace_end = _after(terminated.start_time, ci.grace_period)
    # A period of 0 means no grace, whatever the clocks say; one reaching past year
    # 9999 (grace_end None) never ends.
    in_grace = ci.grace_period > 0 and (grace_end is None or now < grace_end)
    restarts = target.crash_restarts
    in_restarts = 0 < restarts <= ci.failures_allowed
    budget = wording.budget(ci)
    failed = Assessment(
        target.name,
        Situation.FAILED,
        reason=terminated.error,
        since=terminated.finish_time,
        server=server,
        restarts=restarts,
        allowed=ci.failures_allowed,
        budget=budget,
        failed_at=terminated.finish_time,
        grace={"status": "exceeded", "restarts": restarts, "budget": budget} if budget else None,
    )
    if not (in_grace or in_restarts):
        return failed
    return replace(
        failed,
        situation=Situation.RETRYING,
        wake_at=grace_end if in_grace else None,
        grace={"status": "tolerated", "restarts": restarts, "budget": budget},
    )


def _active(target: Target, ci: CISettings, now: datetime, timeouts: bool) -> Assessment:
    active = target.state.active
    assert active is not None
    name = target.name
    if target.type != TargetType.SERVER:
        return Assessment(name, Situation.RUNNING, since=active.start_time, server=False)
    if active.ready:
        ready_since = active.ready_since or active.start_time
        stable_until = _after(ready_since, ci.stable_for)
        if ci.stable_for > 0 and (stable_until is None or now < stable_until):
            return Assessment(
                name,
                Situation.SETTLING,
                since=ready_since,
                limit=ci.stable_for,
                wake_at=stable_until,
            )
        return Assessment(name, Situation.READY)
    deadline = (
        _after(active.start_time, ci.readiness_timeout)
        if timeouts and ci.readiness_timeout > 0
        else None
    )
    if deadline is not None and now >= deadline:
        return Assessment(
            name,
            Situation.NOT_READY_IN_TIME,
            reason=active.reason,
            limit=ci.readiness_timeout,
            failed_at=deadline,
        )
    return Assessment(
        name, Situation.NOT_READY, reason=active.reason, since=active.start_time, wake_at=deadline
    )


def settings_for(target: Target, ci: CISettings) -> CISettings:
    """``spec.ci`` with the target's own annotations applied on top."""
    policy = target.policy
    if (
        policy.grace_period is None
        and policy.failures_allowed is None
        and policy.readiness_timeout is None
    ):
        return ci  # no annotation of its own: most targets, on every decision
    return replace(
        ci,
        grace_period=ci.grace_period if policy.grace_period is None else policy.grace_period,
        failures_allowed=(
            ci.failures_allowed if policy.failures_allowed is None else policy.failures_allowed
        ),
        readiness_timeout=(
            ci.readiness_timeout if policy.readiness_timeout is None else policy.readiness_timeout
        ),
    )


def _present(name: str, targets: Sequence[Target]) -> bool:
    return any(t.name == name or name in t.resources for t in targets)


def _by_failure(assessed: Iterable[Assessment]) -> list[Assessment]:
    """Order failing or retrying targets by when they failed, then by name."""
    return sorted(assessed, key=lambda a: (a.failed_at or _DAWN, a.name))


def _after(start: datetime, seconds: float) -> datetime | None:
    """``start`` plus ``seconds``; ``None`` when that lies beyond what datetime can hold."""
    try:
        return start + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        # A deadline past year 9999 never arrives; treat it like "no deadline".
        return None


def _earliest(instants: Iterable[datetime | None]) -> datetime | None:
    present = [t for t in instants if t is not None]
    return min(present) if present else None
