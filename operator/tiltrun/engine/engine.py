"""The engine: turns watch events into status patches, promptly and sparingly.

Events update the Store and mark the TiltRuns they can affect as dirty. One loop
drains the dirty set after a short coalescing window, recomputes each dirty run's
status with pure code, and patches only runs whose status changed. Time-based
transitions are scheduled with the event loop at the exact instant the verdict says
(``wake_at``), so nothing polls.

Everything runs on one event loop: kopf calls synchronous handlers from worker
threads, so ``observe`` and ``observe_run`` hand their work over to the loop, and the
Store is never read and written at once. Each run is written by a task of its own, so
a slow PATCH holds up only its own run, never the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from tiltrun.api.config import Unwatchable, warnings_for
from tiltrun.api.healthcheck import HealthCheck
from tiltrun.api.model import Target, parse_time
from tiltrun.engine.store import Obj, RunKey, Store, run_key, same_object
from tiltrun.engine.writer import Gone, Writer
from tiltrun.judge.exit import Outcome
from tiltrun.judge.healthchecks import HealthChecks
from tiltrun.judge.related import Related
from tiltrun.judge.status import comparable, desired_status, failing_names, is_done
from tiltrun.judge.target import judge

log = logging.getLogger(__name__)

#: How long the loop waits after the first event of a burst, so that a rollout's
#: dozens of pod updates cost one recompute and at most one PATCH per run.
COALESCE_SECONDS = 0.02
#: A failed PATCH is retried after 1 s, then twice as long each time, up to a minute.
RETRY_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Engine:
    """Keeps every known TiltRun's status true. Runs inside one event loop."""

    def __init__(
        self,
        writer: Writer,
        *,
        clock: Callable[[], datetime] = _utcnow,
        pid: int | None = None,
        coalesce: float = COALESCE_SECONDS,
        on_patch: Callable[[RunKey, float], None] | None = None,
        on_reconcile: Callable[[RunKey, float, Outcome], None] | None = None,
        custom_kinds: frozenset[str] = frozenset(),
        operator_checks: Sequence[HealthCheck] = (),
        unwatchable: Sequence[Unwatchable] = (),
    ) -> None:
        self.store = Store(custom_kinds=custom_kinds)
        # Operator-wide health checks, and the kinds it was told to watch and cannot.
        self._operator_checks = tuple(operator_checks)
        self._unwatchable = tuple(unwatchable)
        self._writer = writer
        self._clock = clock
        self._pid = os.getpid() if pid is None else pid
        self._coalesce = coalesce
        self._on_patch = on_patch
        # Called after each recompute with the seconds the judgement took (no I/O in it).
        self._on_reconcile = on_reconcile
        self._dirty: set[RunKey] = set()
        # Runs whose recompute and PATCH are in flight; marked again meanwhile, they wait.
        self._writing: set[RunKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._timers: dict[RunKey, asyncio.TimerHandle] = {}
        # What we believe the API server holds for each run (comparable fields only).
        self._stored: dict[RunKey, Obj] = {}
        self._start: dict[RunKey, datetime] = {}
        self._failing: dict[RunKey, set[str]] = {}
        self._finished: set[RunKey] = set()
        self._patch_failures: dict[RunKey, int] = {}
        # Workload uid -> (store revision, health checks, its Target): each recompute
        # re-judges only the workloads that changed since the last one (or are judged by
        # another run's health checks).
        self._judged: dict[str, tuple[int, HealthChecks, Target]] = {}

    # -- events in ----------------------------------------------------------------------

    def observe_run(self, event_type: str | None, run: Obj) -> None:
        """A TiltRun was listed, added, modified or deleted. Safe to call from any thread."""
        if self._elsewhere():
            self._hand_over(self.observe_run, event_type, run)
            return
        key = run_key(run)
        held = self.store.runs.get(key)
        # A TiltRun deleted and created again under the same name is a new run. kopf
        # hands each object (by uid) its own worker, so the old one's DELETED may come
        # after the new one's ADDED, or not at all after a watch gap.
        replaced = held is not None and not same_object(held, run)
        if event_type == "DELETED":
            if not replaced:
                self.store.drop_run(run)
                self._forget(key)
            return
        if replaced:
            self._forget(key)
        # Most TiltRun events are the echo of our own status writes; only a new run or a
        # new spec (a new generation) can change what the status should be.
        changed = held is None or replaced or _generation(held) != _generation(run)
        self.store.put_run(run)
        if key not in self._stored:
            # First sight (creation, or an operator restart): trust what is stored, so a
            # finished run stays finished and startTime never moves.
            status = run.get("status") or {}
            self._stored[key] = comparable(status) if status else {}
            self._start[key] = parse_time(status.get("startTime")) or self._clock()
            self._failing[key] = failing_names(status)
            if is_done(status):
                self._finished.add(key)
            changed = True
        if changed:
            self.mark([key])

    def observe(self, kind: str, event_type: str | None, obj: Obj) -> None:
        """A workload, ReplicaSet or pod was listed, added, modified or deleted.

        Safe to call from any thread.
        """
        if self._elsewhere():
            self._hand_over(self.observe, kind, event_type, obj)
            return
        if event_type == "DELETED":
            affected = self.store.delete(kind, obj)
        else:
            affected = self.store.put(kind, obj)
        self.mark(affected)

    def _elsewhere(self) -> bool:
        """True when called from another thread than the engine's loop's."""
        if self._loop is None:
            return False
        try:
            return asyncio.get_running_loop() is not self._loop
        except RuntimeError:
            return True

    def _hand_over(self, fn: Callable[..., None], *args: Any) -> None:
        # kopf awaits a sync handler until it returns, so one object's events still
        # reach the loop in the order they arrived.
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn, *args)

    def mark(self, keys: Iterable[RunKey]) -> None:
        """Ask for these runs to be recomputed in the next coalescing window."""
        fresh = {k for k in keys if k not in self._finished}
        if fresh:
            self._dirty |= fresh
            self._wake.set()

    def _forget(self, key: RunKey) -> None:
        self._stored.pop(key, None)
        self._start.pop(key, None)
        self._failing.pop(key, None)
        self._patch_failures.pop(key, None)
        self._finished.discard(key)
        self._dirty.discard(key)
        timer = self._timers.pop(key, None)
        if timer:
            timer.cancel()

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Drain dirty runs forever; cancel the task to stop."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wake.wait()
                await asyncio.sleep(self._coalesce)
                self._wake.clear()
                # A run still being written waits: its recompute must start from what
                # that write stored. It is taken up when the write ends.
                keys = self._dirty - self._writing
                self._dirty -= keys
                for key in keys:
                    self._writing.add(key)
                    task = asyncio.create_task(self._write(key))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _write(self, key: RunKey) -> None:
        try:
            await self._reconcile(key)
        finally:
            self._writing.discard(key)
            if key in self._dirty:
                self._wake.set()

    async def _reconcile(self, key: RunKey) -> None:
        run = self.store.runs.get(key)
        if run is None or key in self._finished:
            return
        judging = asyncio.get_running_loop().time()
        now = self._clock()
        stored = self._stored.get(key, {})
        desired = desired_status(
            run,
            self.store.candidates(key),
            start_time=self._start[key],
            now=now,
            pid=self._pid,
            previous_conditions=stored.get("conditions") or [],
            judge_one=self._judge,
            operator_checks=self._operator_checks,
            warnings=warnings_for(self._unwatchable, key[0]),
        )
        verdict = desired.verdict
        if self._on_reconcile:
            self._on_reconcile(key, asyncio.get_running_loop().time() - judging, verdict.outcome)
        self._schedule(key, verdict.wake_at, now)
        wanted = comparable(desired.status)
        if wanted == stored:
            return
        began = asyncio.get_running_loop().time()
        try:
            await self._writer.patch_status(key[0], key[1], desired.status)
        except Gone:
            return  # deleted meanwhile; its DELETED event will clean up
        except Exception as err:
            log.warning("status patch for %s/%s failed (%s); retrying", *key, err)
            failures = self._patch_failures.get(key, 0)
            self._patch_failures[key] = failures + 1
            delay = min(RETRY_SECONDS * 2**failures, RETRY_MAX_SECONDS)
            asyncio.get_running_loop().call_later(delay, self.mark, [key])
            return
        self._patch_failures.pop(key, None)
        if self._on_patch:
            self._on_patch(key, asyncio.get_running_loop().time() - began)
        self._stored[key] = wanted
        await self._announce(key, run, desired.targets, verdict)

    def _judge(self, obj: Obj, related: Related, checks: HealthChecks) -> Target:
        """``judge``, remembered per workload until it or one of its children changes."""
        uid = str((obj.get("metadata") or {}).get("uid"))
        revision = self.store.revision.get(uid, 0)
        held = self._judged.get(uid)
        if held is not None and held[0] == revision and held[1] == checks:
            return held[2]
        target = judge(obj, related, checks, self.store.kinds)
        self._judged[uid] = (revision, checks, target)
        if len(self._judged) > 2 * len(self.store.revision) + 64:
            # Drop what deleted workloads left behind.
            self._judged = {u: v for u, v in self._judged.items() if u in self.store.revision}
        return target

    async def _announce(self, key: RunKey, run: Obj, targets: Any, verdict: Any) -> None:
        """Events for targets that started failing, and for a finished run."""
        errors = {
            t.name: t.state.terminated.error
            for t in targets
            if t.state.terminated and t.state.terminated.error
        }
        for name in sorted(set(verdict.failing) - self._failing.get(key, set())):
            detail = errors.get(name) or "not ready in time"
            await self._writer.post_event(run, "Warning", "TargetFailed", f"{name}: {detail}")
        self._failing[key] = set(verdict.failing)
        if verdict.done:
            self._finished.add(key)
            timer = self._timers.pop(key, None)
            if timer:
                timer.cancel()
            if verdict.outcome == Outcome.SUCCEEDED:
                await self._writer.post_event(run, "Normal", "Succeeded", verdict.summary)
            else:
                reason = "TimedOut" if verdict.outcome == Outcome.TIMED_OUT else "Failed"
                await self._writer.post_event(run, "Warning", reason, verdict.error)

    def _schedule(self, key: RunKey, wake_at: datetime | None, now: datetime) -> None:
        """Recompute ``key`` exactly when time alone may change its verdict."""
        timer = self._timers.pop(key, None)
        if timer:
            timer.cancel()
        if wake_at is None:
            return
        delay = max(0.0, (wake_at - now).total_seconds())
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self.mark, [key])


def _generation(run: Obj) -> object:
    return (run.get("metadata") or {}).get("generation")
