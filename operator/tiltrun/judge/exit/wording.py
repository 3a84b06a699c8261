"""The exit logic's words: every text a verdict carries, and the helpers the CLI shares.

``decision`` decides; this module says it. The texts follow these rules:

- ``error`` lists every failing target, one per line, as ``<name>: <error>``, ordered
  by when the failure happened. A target's own multi-line error keeps its lines,
  indented by two spaces, so every unindented line starts a new target (``tiltrun ci``
  reads it back that way).
- The timeout error lists every target not yet satisfied, with "since when": ``waiting
  since`` (``waiting.trigger_time``), ``active since`` (``active.start_time``, from which
  the readiness timeout also counts), ``failing since`` (``terminated.finish_time``).
  Times are ``HH:MM:SSZ`` in UTC, with the date in front when it is not ``now``'s day.
- With no counted target the summary says ``no enabled workloads match the selector
  <selector>``: "enabled" because disabled workloads must not change the verdict, so a
  selector matching only disabled workloads reads the same as one matching nothing.
- ``summary`` is one line that never mentions the current time, so an unchanged world
  gives an identical summary and the engine writes nothing. Targets are listed failing
  first, then retrying, then the rest by name; at most five names, then ``and N more``;
  each target's detail is cut to 80 characters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tiltrun.api.duration import format_duration
from tiltrun.api.model import CISettings
from tiltrun.api.selector import format_selector
from tiltrun.judge.exit.verdict import Assessment, Situation

#: How many targets a summary names before it says ``and N more``.
SUMMARY_NAMES = 5
#: How many characters of one target's detail a summary shows.
SUMMARY_DETAIL_CHARS = 80


# -- helpers the CLI shares --------------------------------------------------------------


def one_line(text: str, limit: int | None = SUMMARY_DETAIL_CHARS) -> str:
    """The first non-blank line of ``text``, whitespace collapsed, cut to ``limit`` chars."""
    line = " ".join(next((ln for ln in text.splitlines() if ln.strip()), "").split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line


def clock(t: datetime, now: datetime | None = None) -> str:
    """``22:01:03Z`` (UTC); with the date in front when ``t`` is not on ``now``'s day."""
    try:
        utc = t.astimezone(UTC)
        today = now.astimezone(UTC).date() if now is not None else utc.date()
    except OverflowError:
        # Only at the very ends of the calendar; say it as given rather than fail.
        return t.isoformat()
    if utc.date() == today:
        return utc.strftime("%H:%M:%SZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def indent_continuation(text: str) -> str:
    """Lines after the first indented by two spaces: one unindented line per target."""
    return "\n  ".join(text.splitlines())


def more(count: int) -> str:
    """``and 3 more``: what a list cut short leaves out."""
    return f"and {count} more"


# -- one target ------------------------------------------------------------------------------


def budget(ci: CISettings) -> str:
    """The tolerance a failure is measured against, e.g. ``30s or 3 restarts``."""
    parts = []
    if ci.grace_period > 0:
        parts.append(format_duration(ci.grace_period))
    if ci.failures_allowed > 0:
        parts.append(f"{ci.failures_allowed} restarts")
    return " or ".join(parts)


def failure(a: Assessment) -> str:
    """The error a failing or retrying target reports (may span lines)."""
    if a.situation is Situation.NOT_READY_IN_TIME:
        text = f"not ready after {format_duration(a.limit)}"
        return f"{text} ({one_line(a.reason, limit=None)})" if a.reason else text
    return a.reason.strip() or (
        "stopped running (no error reported)" if a.server else "failed (no error reported)"
    )


def detail(a: Assessment) -> str:
    """One line about the target for the summary; it never mentions the time."""
    match a.situation:
        case Situation.DONE:
            return "done"
        case Situation.READY:
            return "ready"
        case Situation.SETTLING:
            return _settling(a)
        case Situation.RUNNING:
            return "running"
        case Situation.NOT_READY:
            return one_line(a.reason or "not ready")
        case Situation.WAITING:
            return one_line(a.reason or "waiting")
        case Situation.NO_STATUS:
            return "no status yet"
        case Situation.EXPECTED:
            return "expected, not found yet"
        case Situation.RETRYING:
            return f"retrying: {one_line(failure(a))}"
        case Situation.FAILED | Situation.NOT_READY_IN_TIME:
            return f"failed: {one_line(failure(a))}"


def evidence(a: Assessment, now: datetime) -> str:
    """The target's detail with "since when", for the timeout error."""
    since = clock(a.since, now) if a.since is not None else ""
    match a.situation:
        case Situation.SETTLING:
            return f"{_settling(a)}, ready since {since}"
        case Situation.RUNNING:
            return f"running since {since}"
        case Situation.NOT_READY:
            return f"{one_line(a.reason or 'not ready', limit=None)}, active since {since}"
        case Situation.WAITING:
            return f"{one_line(a.reason or 'waiting', limit=None)}, waiting since {since}"
        case Situation.RETRYING:
            spent = f"{a.restarts} of {a.allowed} restarts, " if 0 < a.restarts <= a.allowed else ""
            return (
                f"retrying ({spent}budget {a.budget}): {one_line(failure(a), limit=None)}, "
                f"failing since {since}"
            )
        case Situation.FAILED:
            return f"failed: {one_line(failure(a), limit=None)}"
        case Situation.NOT_READY_IN_TIME:
            return failure(a)
        case _:
            return detail(a)


def _settling(a: Assessment) -> str:
    return f"ready, must stay ready for {format_duration(a.limit)}"


# -- the run ----------------------------------------------------------------------------------


def nothing_matches(selector: Mapping[str, Any]) -> str:
    """``no enabled workloads match the selector app=web`` (or ``the empty selector``)."""
    described = format_selector(selector)
    phrase = f"the selector {described}" if described else "the empty selector"
    return f"no enabled workloads match {phrase}"


def running_summary(
    unsatisfied: Sequence[Assessment],
    total: int,
    selector: Mapping[str, Any],
    optional_failing: Sequence[Assessment],
) -> str:
    """The summary of a run not done: what it waits on, or that all is up."""
    if total == 0:
        text = nothing_matches(selector)
    elif not unsatisfied:
        text = "1 target up" if total == 1 else f"all {total} targets up"
    else:
        text = waiting_on(unsatisfied, total)
    if optional_failing:
        text += "; optional: " + ", ".join(
            f"{a.name} ({detail(a)})" for a in optional_failing[:SUMMARY_NAMES]
        )
    return text


def waiting_on(unsatisfied: Sequence[Assessment], total: int) -> str:
    """``waiting on 2 of 5: deployment/api (0/1 ready), job/migrate (running)``."""
    shown = ", ".join(f"{a.name} ({detail(a)})" for a in unsatisfied[:SUMMARY_NAMES])
    rest = len(unsatisfied) - SUMMARY_NAMES
    tail = f" {more(rest)}" if rest > 0 else ""
    return f"waiting on {len(unsatisfied)} of {total}: {shown}{tail}"


def failed(failing: Sequence[Assessment]) -> tuple[str, str]:
    """The error and the summary of a run that failed (``failing`` in failure order)."""
    error = "\n".join(f"{a.name}: {indent_continuation(failure(a))}" for a in failing)
    first = failing[0]
    tail = f" ({more(len(failing) - 1)})" if len(failing) > 1 else ""
    return error, f"failed: {first.name}: {one_line(failure(first))}{tail}"


def timed_out(
    timeout: float,
    unsatisfied: Sequence[Assessment],
    total: int,
    selector: Mapping[str, Any],
    now: datetime,
) -> tuple[str, str]:
    """The error and the summary of a run whose ``ci.timeout`` passed."""
    head = f"timed out after {format_duration(timeout)}"
    if total == 0:
        text = f"{head}; {nothing_matches(selector)}"
        return text, text
    listed = ", ".join(f"{a.name} ({evidence(a, now)})" for a in unsatisfied)
    return f"{head}; still waiting on: {listed}", f"{head}; {waiting_on(unsatisfied, total)}"
