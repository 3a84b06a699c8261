"""Waiting on one TiltRun: its watch events in, a Result out, and no wait without end.

``Waiter.wait`` follows the run until the operator sets ``status.done``, reacting to each
watch event as it arrives (so the command exits within milliseconds of ``done``), and
wakes once a second to redraw and to check its deadlines: the command's ``--timeout``,
an operator that never took the run up, and a run long past its own ``ci.timeout``.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tiltrun.api.duration import format_duration
from tiltrun.api.model import parse_time
from tiltrun.api.spec import read_spec
from tiltrun.cli import kube as cluster
from tiltrun.cli.kube import CommandError, Kube
from tiltrun.cli.progress import Display, rows
from tiltrun.cli.report import Result, outcome_of, status_of
from tiltrun.judge.exit import Outcome

Obj = dict[str, Any]

#: How long the operator may take past the run's own ci.timeout before we stop trusting it.
OVERDUE_SECONDS = 30.0
#: The live table's age column is redrawn this often when nothing changes.
TICK_SECONDS = 1.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Waiter:
    """Follows one TiltRun's watch events until it is done, or a deadline passes."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        display: Display,
        *,
        timeout: float,
        operator_wait: float,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self.display = display
        self.timeout = timeout
        self.operator_wait = operator_wait
        self.clock = clock
        self.satisfied_seen: dict[str, datetime] = {}

    def wait(self, run: Obj) -> Result:
        """The result once the run is done (at once when it already is)."""
        began = time.monotonic()
        outcome = outcome_of(run)
        if outcome is not None:
            self.display.note(
                f"TiltRun {self.name} had already finished; its result:", self.clock()
            )
        self.display.update(status_of(run), self.clock(), 0.0)
        if outcome is not None:
            return self._result(run, outcome)
        version = str(run["metadata"]["resourceVersion"])
        events = cluster.watch_run(self.kube, self.namespace, self.name, version)
        while True:
            event = self._next(events, run, time.monotonic() - began)
            now, elapsed = self.clock(), time.monotonic() - began
            if event is None:
                self.display.tick(now, elapsed)
            elif event.kind == "changed" and event.run is not None:
                self._note_satisfied(run, event.run, now)
                run = event.run
                self.display.update(status_of(run), now, elapsed)
                outcome = outcome_of(run)
                if outcome is not None:
                    return self._result(run, outcome)
            elif event.kind == "deleted":
                raise CommandError(f"TiltRun {self.name} was deleted while waiting on it")
            elif event.kind == "fatal":
                raise CommandError(event.text)
            else:
                self.display.note(event.text, now)
            self._check_deadlines(run, now, elapsed)
            if self.timeout > 0 and elapsed >= self.timeout:
                return self._result(run, Outcome.CLIENT_TIMEOUT)

    def _next(
        self, events: queue.Queue[cluster.RunEvent], run: Obj, elapsed: float
    ) -> cluster.RunEvent | None:
        """The next watch event; ``None`` at the next tick or deadline, whichever is first."""
        wait = TICK_SECONDS
        if self.timeout > 0:
            wait = min(wait, self.timeout - elapsed)
        if not status_of(run).get("startTime"):
            wait = min(wait, self.operator_wait - elapsed)
        try:
            return events.get(timeout=max(0.0, wait))
        except queue.Empty:
            return None

    def _note_satisfied(self, before: Obj, after: Obj, now: datetime) -> None:
        was = {r.name for r in rows(status_of(before)) if r.satisfied}
        for r in rows(status_of(after)):
            if r.satisfied and r.name not in was:
                self.satisfied_seen.setdefault(r.name, now)

    def _check_deadlines(self, run: Obj, now: datetime, elapsed: float) -> None:
        """Exit 3 when no operator is looking after the run, rather than wait forever."""
        status = status_of(run)
        if not status.get("startTime"):
            if elapsed >= self.operator_wait:
                raise CommandError(
                    f"no operator has picked up TiltRun {self.name} in namespace "
                    f"{self.namespace} within {format_duration(self.operator_wait)}; start "
                    "one with `tiltrun operator` (it must watch this namespace)"
                )
            return
        start = parse_time(status.get("startTime"))
        timeout = read_spec(run).ci.timeout
        if start is None or timeout <= 0:
            return
        overdue = start + timedelta(seconds=timeout + OVERDUE_SECONDS)
        if now >= overdue:
            raise CommandError(
                f"TiltRun {self.name} passed its ci.timeout ({format_duration(timeout)}) "
                f"{format_duration(OVERDUE_SECONDS)} ago but no operator finished it; is the "
                f"operator (pid {status.get('pid', '?')} last wrote its status) still running?"
            )

    def _result(self, run: Obj, outcome: Outcome) -> Result:
        return Result(
            namespace=self.namespace,
            name=self.name,
            run=run,
            outcome=outcome,
            finished=self.clock(),
            satisfied_seen=dict(self.satisfied_seen),
            client_timeout=format_duration(self.timeout) if self.timeout else "",
        )
