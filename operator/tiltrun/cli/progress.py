"""Showing a run as it goes: a live table on a terminal, timestamped lines in CI logs.

Both read the TiltRun's stored status and nothing else, so what a person sees is what
``kubectl get tiltrun -o yaml`` holds. The pure parts (``rows``, ``change_lines``,
``waiting_line``, ``table``) take the status and the clock as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TextIO

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tiltrun.api.duration import format_duration
from tiltrun.api.model import parse_time
from tiltrun.judge.exit.wording import clock, one_line

Obj = Mapping[str, Any]

#: How many characters of a reason a line or a table cell shows.
REASON_CHARS = 120


@dataclass(frozen=True)
class Row:
    """One target as a person reads it."""

    name: str
    type: str
    #: ``waiting``, ``active``, ``terminated``, ``disabled`` (or ``unknown``).
    state: str
    #: ``yes`` when the target is satisfied (server ready, job completed), ``no``, or ``-``.
    ready: str
    #: Why it is where it is: the waiting/active reason, the error, ``completed``.
    reason: str
    #: Since when it is in this state.
    since: datetime | None
    #: Watched but never gating (annotation ``tilt.dev/optional``).
    optional: bool = False
    #: Failing, but inside its grace period or failure budget.
    retrying: bool = False
    #: The state's facts as the judge stored them (``evidence``: pod, container, reason,
    #: message, exitCode, restarts, since); empty when it stored none.
    evidence: Mapping[str, Any] = field(default_factory=dict)
    #: Why the run counts it failed (``state.failure``: reason, message, since); empty
    #: unless it fails the run.
    failure: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """What a change line is printed for."""
        return (self.state, self.ready, self.reason)

    @property
    def satisfied(self) -> bool:
        return self.ready == "yes"

    @property
    def counts(self) -> bool:
        """Whether it gates the run: not disabled, not optional."""
        return self.state != "disabled" and not self.optional


def rows(status: Obj | None) -> list[Row]:
    """The status's targets, in its order (sorted by name)."""
    out = []
    for target in (status or {}).get("targets") or []:
        if isinstance(target, Mapping):
            out.append(row(target))
    return out


def row(target: Obj) -> Row:
    """One stored target as a Row."""
    plain = _row(target)
    state = _map(target.get("state"))
    retrying = _map(state.get("grace")).get("status") == "tolerated" and not plain.satisfied
    current = _map(state.get(plain.state)) if plain.state in _STATES else {}
    return replace(
        plain,
        optional=bool(target.get("optional")),
        retrying=retrying,
        evidence=_map(current.get("evidence")),
        failure=_map(state.get("failure")),
    )


_STATES = ("waiting", "active", "terminated")


def _map(value: object) -> Obj:
    return value if isinstance(value, Mapping) else {}


def evidence_line(evidence: Obj) -> str:
    """The stored facts in a few words: ``ImagePullBackOff in pod web-x container web
    (exit code 1, 3 restarts)``; empty when there are none."""
    where = " ".join(f"{key} {evidence[key]}" for key in ("pod", "container") if evidence.get(key))
    numbers = []
    if evidence.get("exitCode") is not None:
        numbers.append(f"exit code {evidence['exitCode']}")
    if evidence.get("restarts") is not None:
        count = int(evidence["restarts"])
        numbers.append(f"{count} restart" + ("" if count == 1 else "s"))
    text = str(evidence.get("reason") or "")
    if where:
        text = f"{text} in {where}" if text else where
    if numbers:
        text += f" ({', '.join(numbers)})"
    return text


def _row(target: Obj) -> Row:
    name, kind = str(target.get("name", "?")), str(target.get("type", ""))
    state = target.get("state") or {}
    if state.get("disabled"):
        return Row(name, kind, "disabled", "-", "disabled", None)
    if waiting := state.get("waiting"):
        reason = str(waiting.get("reason") or "waiting")
        return Row(name, kind, "waiting", "no", reason, parse_time(waiting.get("triggerTime")))
    if active := state.get("active"):
        since = parse_time(active.get("startTime"))
        if active.get("ready"):
            note = str(active.get("reason") or "")
            return Row(name, kind, "active", "yes", f"ready; {note}" if note else "ready", since)
        reason = str(active.get("reason") or ("running" if kind == "job" else "not ready"))
        return Row(name, kind, "active", "no", reason, since)
    if terminated := state.get("terminated"):
        since = parse_time(terminated.get("finishTime"))
        error = str(terminated.get("error") or "")
        if error:
            return Row(name, kind, "terminated", "no", one_line(error, REASON_CHARS), since)
        return Row(name, kind, "terminated", "yes", "completed", since)
    return Row(name, kind, "unknown", "no", "no status yet", None)


def age(since: datetime | None, now: datetime) -> str:
    """``42s``, ``3m4s``; empty when unknown."""
    if since is None:
        return ""
    return format_duration(max(0, int((now - since).total_seconds())))


def describe_row(r: Row) -> str:
    """``active, not ready (1/3 replicas available)``, as a change line says it."""
    if r.state == "active" and r.type == "job":
        return f"active ({r.reason})"
    if r.state == "active":
        return "active, ready" if r.satisfied else f"active, not ready ({r.reason})"
    if r.retrying:
        return f"{r.state}, retrying ({r.reason})"
    if r.state == "terminated":
        return "terminated, completed" if r.satisfied else f"terminated, failed ({r.reason})"
    if r.state == "disabled":
        return "disabled"
    return f"{r.state} ({r.reason})"


def change_lines(before: Obj | None, after: Obj | None, now: datetime) -> list[str]:
    """A timestamped line for each target that appeared, changed or went away, and for
    each new ``status.warnings`` sentence."""
    old = {r.name: r for r in rows(before)}
    new = {r.name: r for r in rows(after)}
    stamp = clock(now)
    lines = [
        f"{stamp} {r.name}: {describe_row(r)}"
        for r in new.values()
        if r.name not in old or old[r.name].key != r.key
    ]
    lines += [f"{stamp} {name}: no longer selected" for name in old if name not in new]
    # What the operator cannot see for this run (a kind it cannot watch), said once.
    seen = set((before or {}).get("warnings") or [])
    lines += [f"{stamp} warning: {w}" for w in (after or {}).get("warnings") or [] if w not in seen]
    return lines


def unsatisfied(status: Obj | None) -> Sequence[Row]:
    """Counted targets not yet satisfied."""
    return [r for r in rows(status) if r.counts and not r.satisfied]


def pending_detail(r: Row) -> str:
    """What an unsatisfied target is waiting for, in a few words."""
    return f"retrying: {r.reason}" if r.retrying else r.reason


def waiting_line(status: Obj | None, now: datetime, elapsed: float) -> str:
    """``still waiting on: deployment/web (1/3 replicas available), ... [1/3 ready, 40s]``."""
    status = status or {}
    pending = unsatisfied(status)
    progress = status.get("progress") or "0/0"
    tail = f" [{progress} ready, {format_duration(int(elapsed))} elapsed]"
    if not pending:
        summary = status.get("summary") or "the operator has not judged the run yet"
        return f"{clock(now)} still waiting: {summary}{tail}"
    listed = ", ".join(f"{r.name} ({one_line(pending_detail(r), 80)})" for r in pending)
    return f"{clock(now)} still waiting on: {listed}{tail}"


def table(title: str, status: Obj | None, now: datetime, width: int | None = None) -> Table:
    """The targets as a rich Table: name, type, state, ready, reason, age.

    With ``width`` (the terminal's), each target stays on one line: only the reason is
    cut short, with "…"; the diagnosis at the end has the rest.
    """
    status = status or {}
    listed = rows(status)
    widths = {"name": max((len(r.name) for r in listed), default=4), "type": 6, "state": 10}
    widths |= {"ready": 5, "age": 5}
    grid = Table(title=title, caption=str(status.get("summary") or ""), expand=False)
    reason_width = None
    if width is not None:
        # Two spaces of padding per column and seven vertical rules around six columns.
        reason_width = max(12, width - sum(widths.values()) - 2 * 6 - 7)
    for column in ("name", "type", "state", "ready", "reason", "age"):
        if column == "reason":
            grid.add_column(column, no_wrap=width is not None, max_width=reason_width)
        else:
            grid.add_column(column, no_wrap=True, min_width=widths[column])
    for r in listed:
        failed = r.state == "terminated" and not r.satisfied and not r.retrying
        style = "green" if r.satisfied else "red" if failed else "yellow" if r.retrying else ""
        kind = f"{r.type} (optional)" if r.optional else r.type
        grid.add_row(r.name, kind, r.state, r.ready, r.reason, age(r.since, now), style=style)
    return grid


def run_title(namespace: str, name: str, status: Obj | None, elapsed: float) -> str:
    """``TiltRun shop in demo: 2/4 ready, 12s``."""
    progress = (status or {}).get("progress") or "0/0"
    return f"TiltRun {name} in {namespace}: {progress} ready, {format_duration(int(elapsed))}"


# -- displays --------------------------------------------------------------------------------


class Display(Protocol):
    """Where progress goes while ``tiltrun ci`` waits."""

    def update(self, status: Obj | None, now: datetime, elapsed: float) -> None:
        """The stored status changed."""

    def tick(self, now: datetime, elapsed: float) -> None:
        """Time passed without a change (called about once a second)."""

    def note(self, text: str, now: datetime) -> None:
        """Something to tell the person (a lost connection, a warning)."""

    def stop(self) -> None:
        """The wait is over; leave the screen readable."""


class LogLines:
    """For CI logs: a line per target change, a ``still waiting`` line every heartbeat."""

    def __init__(self, out: TextIO, heartbeat: float) -> None:
        self._out = out
        self._heartbeat = heartbeat
        self._status: Obj | None = None
        self._next_beat = heartbeat

    def _echo(self, line: str) -> None:
        click.echo(line, file=self._out)

    def update(self, status: Obj | None, now: datetime, elapsed: float) -> None:
        for line in change_lines(self._status, status, now):
            self._echo(line)
        self._status = status
        self.tick(now, elapsed)

    def tick(self, now: datetime, elapsed: float) -> None:
        if self._heartbeat > 0 and elapsed >= self._next_beat:
            self._echo(waiting_line(self._status, now, elapsed))
            while self._next_beat <= elapsed:
                self._next_beat += self._heartbeat

    def note(self, text: str, now: datetime) -> None:
        self._echo(f"{clock(now)} {text}")

    def stop(self) -> None:
        pass


class LiveTable:
    """For a terminal: the target table, redrawn in place."""

    def __init__(self, out: TextIO, namespace: str, name: str) -> None:
        self._console = Console(file=out)
        self._namespace, self._name = namespace, name
        self._status: Obj | None = None
        self._live = Live(console=self._console, auto_refresh=False, transient=False)
        self._live.start()

    def _draw(self, now: datetime, elapsed: float) -> None:
        title = run_title(self._namespace, self._name, self._status, elapsed)
        grid = table(title, self._status, now, width=self._console.width)
        self._live.update(grid, refresh=True)

    def update(self, status: Obj | None, now: datetime, elapsed: float) -> None:
        self._status = status
        self._draw(now, elapsed)

    def tick(self, now: datetime, elapsed: float) -> None:
        self._draw(now, elapsed)

    def note(self, text: str, now: datetime) -> None:
        self._live.console.print(f"{clock(now)} {text}", markup=False, highlight=False)

    def stop(self) -> None:
        self._live.stop()
