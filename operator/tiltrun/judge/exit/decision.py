"""The exit logic: from a run's targets and the clock to a verdict (SPEC, "Exit logic").

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
- ``error`` lists every failing target, one per line, as ``<name>: <error>``, ordered by
  when the failure happened (``terminated.finish_time``; for a readiness timeout the
  instant the timeout passed), then by name. A target's own multi-line error keeps its
  lines, indented by two spaces, so every unindented line starts a new target.
- The timeout error lists every target not yet satisfied, with "since when": ``waiting
  since`` (``waiting.trigger_time``), ``active since`` (``active.start_time``, from which
  the readiness timeout also counts), ``failing since`` (``terminated.finish_time``).
  Times are ``HH:MM:SSZ`` in UTC, with the date in front when it is not ``now``'s day.
- With no counted target the summary says ``no enabled workloads match the selector
  <selector>``: "enabled" because disabled workloads must not change the verdict (rule 1),
  so a selector matching only disabled workloads reads the same as one matching nothing.
- A counted target with no state at all (neither waiting, active nor terminated) is not
  satisfied: it is reported as ``no status yet``, so a judge that has not looked yet can
  never make a run succeed.
- ``summary`` is one line that never mentions the current time, so an unchanged world
  gives an identical summary and the engine writes nothing. Targets are listed failing
  first, then retrying, then the rest by name; at most five names, then ``and N more``;
  each target's detail is cut to 80 characters.
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

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tiltrun.api.duration import format_duration
from tiltrun.api.model import CISettings, ExitCondition, RunSpec, Target, TargetType
from tiltrun.api.selector import format_selector

#: How many targets a summary names before it says ``and N more``.
SUMMARY_NAMES = 5
#: How many characters of one target's detail a summary shows.
SUMMARY_DETAIL_CHARS = 80
#: Sorts before any real instant; only a fallback, failures always carry their time.
_DAWN = datetime.min.replace(tzinfo=UTC)


class Outcome(enum.StrEnum):
    """Where a run stands. Only ``ci`` runs ever leave ``RUNNING``."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"


class Reason(enum.StrEnum):
    """One CamelCase word for why the run is where it is; the conditions' ``reason``."""

    #: Counted targets are not all satisfied yet, none failing or retrying.
    WAITING = "Waiting"
    #: Some target failed but is inside its grace period.
    RETRYING = "Retrying"
    #: No counted target: the selector matches nothing, or only disabled workloads.
    NO_MATCHING_WORKLOADS = "NoMatchingWorkloads"
    #: ci: done, every counted target satisfied.
    SUCCEEDED = "Succeeded"
    #: manual: every counted target satisfied (a health board has nothing to succeed at).
    ALL_TARGETS_UP = "AllTargetsUp"
    #: ci: done, some target failed (at least one of them not only by readiness timeout).
    FAILED = "Failed"
    #: ci: done, every failing target is a server that stayed not ready too long.
    READINESS_TIMEOUT = "ReadinessTimeout"
    #: ci: done, ``ci.timeout`` passed first.
    TIMED_OUT = "TimedOut"
    #: manual: some target is failing beyond its grace period.
    FAILING = "Failing"


@dataclass(frozen=True)
class Verdict:
    """What the exit logic concludes about a run at one instant."""

    #: The run finished (ci mode only; a manual run is never done).
    done: bool
    #: Non-empty only when done with a failure.
    error: str
    #: One line for humans: what the run waits on, why it failed, or that all is up.
    summary: str
    #: Counted targets that are satisfied (server active and ready, job terminated ok).
    satisfied: int
    #: Counted targets (not disabled).
    total: int
    #: Targets failing now (beyond their grace period), in ``error`` order.
    failing: tuple[str, ...]
    #: Targets failing but inside their grace period, in the same order.
    retrying: tuple[str, ...]
    #: Earliest instant after ``now`` at which the verdict could change with time alone.
    wake_at: datetime | None
    #: Where the run stands; defaults keep the constructor usable with the fields above.
    outcome: Outcome = Outcome.RUNNING
    #: Why, as one CamelCase word (see ``Reason``).
    reason: Reason = Reason.WAITING
    #: Per failing target with a tolerance budget: ``{status, restarts, budget}``.
    grace: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Optional targets failing now; reported, never gating.
    optional_failing: tuple[str, ...] = ()

    @property
    def progress(self) -> str:
        """Satisfied out of counted targets, e.g. ``3/5``."""
        return f"{self.satisfied}/{self.total}"


class _Status(enum.Enum):
    SATISFIED = enum.auto()
    PENDING = enum.auto()
    RETRYING = enum.auto()
    FAILING = enum.auto()


@dataclass(frozen=True)
class _Assessment:
    """One counted target, judged at ``now``."""

    name: str
    status: _Status
    #: One-line detail for the summary; never mentions the time, so it is stable.
    detail: str
    #: The detail with "since when", for the timeout error.
    evidence: str
    #: For failing and retrying targets: the error the run reports (one or more lines).
    failure: str = ""
    #: When the failure happened; orders failing and retrying targets.
    failed_at: datetime | None = None
    #: When time alone would change this target's status, if it would.
    wake_at: datetime | None = None
    #: The failure is a readiness timeout rather than a terminated target.
    not_ready: bool = False
    #: Tolerance of a failing target with a budget: ``{status, restarts, budget}``.
    grace: Mapping[str, Any] | None = None


def decide(
    spec: RunSpec, targets: Sequence[Target], *, start_time: datetime, now: datetime
) -> Verdict:
    """The verdict on a run whose targets are ``targets``, at ``now``.

    ``start_time`` is the run's ``status.startTime``. All datetimes must be timezone-aware.
    """
    ci = spec.exit_condition == ExitCondition.CI
    enabled = [t for t in targets if not t.state.disabled]
    assessed = [
        _assess(target, _settings_for(target, spec.ci), now=now, timeouts=ci)
        for target in enabled
        if not target.policy.optional
    ]
    assessed += [_missing(name) for name in spec.ci.expect if not _present(name, targets)]
    optional = [
        _assess(target, _settings_for(target, spec.ci), now=now, timeouts=ci)
        for target in enabled
        if target.policy.optional
    ]
    optional_failing = _by_failure(a for a in optional if a.status is _Status.FAILING)
    grace = {a.name: a.grace for a in [*assessed, *optional] if a.grace is not None}
    total = len(assessed)
    satisfied = sum(a.status is _Status.SATISFIED for a in assessed)
    failing = _by_failure(a for a in assessed if a.status is _Status.FAILING)
    retrying = _by_failure(a for a in assessed if a.status is _Status.RETRYING)
    pending = sorted((a for a in assessed if a.status is _Status.PENDING), key=lambda a: a.name)
    unsatisfied = [*failing, *retrying, *pending]
    everything_up = total > 0 and satisfied == total
    nothing_matches = f"no enabled workloads match {_selector_phrase(spec.selector)}"

    # The running verdict; the done outcomes below replace only what differs from it.
    if total == 0:
        summary, reason = nothing_matches, Reason.NO_MATCHING_WORKLOADS
    elif everything_up:
        summary, reason = _all_up(total), Reason.ALL_TARGETS_UP
    else:
        summary = _waiting_on(unsatisfied, total)
        reason = Reason.FAILING if failing else Reason.RETRYING if retrying else Reason.WAITING
    if optional_failing:
        summary += "; optional: " + ", ".join(
            f"{a.name} ({a.detail})" for a in optional_failing[:SUMMARY_NAMES]
        )
    running = Verdict(
        done=False,
        error="",
        summary=summary,
        satisfied=satisfied,
        total=total,
        failing=tuple(a.name for a in failing),
        retrying=tuple(a.name for a in retrying),
        wake_at=_earliest(a.wake_at for a in [*assessed, *optional]),
        outcome=Outcome.RUNNING,
        reason=reason,
        grace=grace,
        optional_failing=tuple(a.name for a in optional_failing),
    )
    if not ci:
        return running

    if failing:
        more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
        return replace(
            running,
            done=True,
            error="\n".join(f"{a.name}: {_indent_continuation(a.failure)}" for a in failing),
            summary=f"failed: {failing[0].name}: {_one_line(failing[0].failure)}{more}",
            wake_at=None,
            outcome=Outcome.FAILED,
            reason=(
                Reason.READINESS_TIMEOUT if all(a.not_ready for a in failing) else Reason.FAILED
            ),
        )
    if everything_up:
        return replace(
            running,
            done=True,
            wake_at=None,
            outcome=Outcome.SUCCEEDED,
            reason=Reason.SUCCEEDED,
        )
    deadline = _after(start_time, spec.ci.timeout) if spec.ci.timeout > 0 else None
    if deadline is None:
        return running
    if now < deadline:
        return replace(running, wake_at=_earliest([running.wake_at, deadline]))

    head = f"timed out after {format_duration(spec.ci.timeout)}"
    if total == 0:
        error = summary = f"{head}; {nothing_matches}"
    else:
        evidence = ", ".join(f"{a.name} ({a.evidence})" for a in unsatisfied)
        error = f"{head}; still waiting on: {evidence}"
        summary = f"{head}; {_waiting_on(unsatisfied, total)}"
    return replace(
        running,
        done=True,
        error=error,
        summary=summary,
        wake_at=None,
        outcome=Outcome.TIMED_OUT,
        reason=Reason.TIMED_OUT,
    )


def _assess(target: Target, ci: CISettings, *, now: datetime, timeouts: bool) -> _Assessment:
    """Judge one counted target; ``timeouts`` is False in manual mode (grace still applies)."""
    state, name = target.state, target.name
    is_server = target.type == TargetType.SERVER

    if state.terminated is not None:
        terminated = state.terminated
        # A server is meant to run forever, so stopping is a failure even without a message.
        if not terminated.error and not is_server:
            return _Assessment(name, _Status.SATISFIED, detail="done", evidence="done")
        failure = terminated.error.strip() or (
            "stopped running (no error reported)" if is_server else "failed (no error reported)"
        )
        grace_end = _after(terminated.start_time, ci.grace_period)
        # A period of 0 means no grace, whatever the clocks say; one reaching past year
        # 9999 (grace_end None) never ends.
        in_grace = ci.grace_period > 0 and (grace_end is None or now < grace_end)
        restarts = target.crash_restarts
        in_restarts = 0 < restarts <= ci.failures_allowed
        budget = _budget(ci)
        if in_grace or in_restarts:
            since = _clock(terminated.finish_time, now)
            spent = f"{restarts} of {ci.failures_allowed} restarts, " if in_restarts else ""
            return _Assessment(
                name,
                _Status.RETRYING,
                detail=f"retrying: {_one_line(failure)}",
                evidence=(
                    f"retrying ({spent}budget {budget}): {_one_line(failure, limit=None)}, "
                    f"failing since {since}"
                ),
                failure=failure,
                failed_at=terminated.finish_time,
                wake_at=grace_end if in_grace else None,
                grace={"status": "tolerated", "restarts": restarts, "budget": budget},
            )
        return _Assessment(
            name,
            _Status.FAILING,
            detail=f"failed: {_one_line(failure)}",
            evidence=f"failed: {_one_line(failure, limit=None)}",
            failure=failure,
            failed_at=terminated.finish_time,
            grace=(
                {"status": "exceeded", "restarts": restarts, "budget": budget} if budget else None
            ),
        )

    if state.active is not None:
        active = state.active
        since = _clock(active.start_time, now)
        if not is_server:
            return _Assessment(
                name, _Status.PENDING, detail="running", evidence=f"running since {since}"
            )
        if active.ready:
            stable_until = _after(active.ready_since or active.start_time, ci.stable_for)
            if ci.stable_for > 0 and (stable_until is None or now < stable_until):
                must = f"ready, must stay ready for {format_duration(ci.stable_for)}"
                since = _clock(active.ready_since or active.start_time, now)
                return _Assessment(
                    name,
                    _Status.PENDING,
                    detail=must,
                    evidence=f"{must}, ready since {since}",
                    wake_at=stable_until,
                )
            return _Assessment(name, _Status.SATISFIED, detail="ready", evidence="ready")
        deadline = (
            _after(active.start_time, ci.readiness_timeout)
            if timeouts and ci.readiness_timeout > 0
            else None
        )
        if deadline is not None and now >= deadline:
            failure = f"not ready after {format_duration(ci.readiness_timeout)}"
            if active.reason:
                failure += f" ({_one_line(active.reason, limit=None)})"
            return _Assessment(
                name,
                _Status.FAILING,
                detail=f"failed: {_one_line(failure)}",
                evidence=failure,
                failure=failure,
                failed_at=deadline,
                not_ready=True,
            )
        why = active.reason or "not ready"
        return _Assessment(
            name,
            _Status.PENDING,
            detail=_one_line(why),
            evidence=f"{_one_line(why, limit=None)}, active since {since}",
            wake_at=deadline,
        )

    if state.waiting is not None:
        why = state.waiting.reason or "waiting"
        since = _clock(state.waiting.trigger_time, now)
        return _Assessment(
            name,
            _Status.PENDING,
            detail=_one_line(why),
            evidence=f"{_one_line(why, limit=None)}, waiting since {since}",
        )

    # Judges always set a state; if one has not yet, this target must not let a run pass.
    return _Assessment(name, _Status.PENDING, detail="no status yet", evidence="no status yet")


def _settings_for(target: Target, ci: CISettings) -> CISettings:
    """``spec.ci`` with the target's own annotations applied on top."""
    policy = target.policy
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


def _budget(ci: CISettings) -> str:
    """The tolerance a failure is measured against, e.g. ``30s or 3 restarts``."""
    parts = []
    if ci.grace_period > 0:
        parts.append(format_duration(ci.grace_period))
    if ci.failures_allowed > 0:
        parts.append(f"{ci.failures_allowed} restarts")
    return " or ".join(parts)


def _present(name: str, targets: Sequence[Target]) -> bool:
    return any(t.name == name or name in t.resources for t in targets)


def _missing(name: str) -> _Assessment:
    detail = "expected, not found yet"
    return _Assessment(name, _Status.PENDING, detail=detail, evidence=detail)


def _by_failure(assessed: Iterable[_Assessment]) -> list[_Assessment]:
    """Order failing or retrying targets by when they failed, then by name."""
    return sorted(assessed, key=lambda a: (a.failed_at or _DAWN, a.name))


def _waiting_on(unsatisfied: Sequence[_Assessment], total: int) -> str:
    shown = ", ".join(f"{a.name} ({a.detail})" for a in unsatisfied[:SUMMARY_NAMES])
    rest = len(unsatisfied) - SUMMARY_NAMES
    more = f" and {rest} more" if rest > 0 else ""
    return f"waiting on {len(unsatisfied)} of {total}: {shown}{more}"


def _all_up(total: int) -> str:
    return "1 target up" if total == 1 else f"all {total} targets up"


def _selector_phrase(selector: Mapping[str, Any]) -> str:
    described = format_selector(selector)
    return f"the selector {described}" if described else "the empty selector"


def _one_line(text: str, limit: int | None = SUMMARY_DETAIL_CHARS) -> str:
    """The first non-blank line of ``text``, whitespace collapsed, cut to ``limit`` chars."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line


def _indent_continuation(text: str) -> str:
    # Keeps "one line per failing target" readable when a target's own error has lines.
    return "\n  ".join(text.splitlines())


def _clock(t: datetime, now: datetime) -> str:
    """``22:01:03Z``; with the date when ``t`` is not on ``now``'s (UTC) day."""
    try:
        t, today = t.astimezone(UTC), now.astimezone(UTC).date()
    except OverflowError:
        # Only at the very ends of the calendar; say it as given rather than fail.
        return t.isoformat()
    if t.date() == today:
        return t.strftime("%H:%M:%SZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


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
