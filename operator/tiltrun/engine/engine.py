"""The engine: turns watch events into status patches, promptly and sparingly.

Events update the Store and mark the TiltRuns they can affect as dirty. One loop
drains the dirty set after a short coalescing window and gives each dirty run a task,
which waits for a write slot (``AdaptiveLimit``: as many writes in flight as the API
server takes without queueing), recomputes the run's status with pure code from what
the Store holds at that moment, and patches it only when it changed. Time-based
transitions are scheduled with the event loop at the exact instant the verdict says
(``wake_at``), so nothing polls.

What is written when:

- a change of **phase** (a target waiting, active, ready, terminated, disabled, added
  or removed; the run done, failed, or its conditions' status) is written at once;
- a change of **wording only** (a reason, a message, a count inside one, ``readySince``,
  the summary) is written once it has held for ``REASON_HOLD`` with no phase change to
  carry it, and at most once per ``REASON_INTERVAL`` per run, with whatever the status
  is by then: a reason that lasts a moment (a pod's first seconds) costs no write of
  its own (docs/api.md states the bounds), nor even a decision: targets that changed
  in words only (``words_only``) cannot change the verdict or its deadline, so the
  run is decided again only when the wording is due;
- a status equal to the stored one is never written.

Nothing is judged until every informer has listed its kind once (``expect`` /
``replace``): a run judged on half a picture would be given a wrong status. With leader
election (``follow`` / ``lead``) a standby keeps its Store current but judges and writes
nothing until it leads; it then reads what the old leader stored, so startTime, finished
results and the Events already posted carry over. Everything
runs on one event loop: the informers (TiltRuns among them) call in on it, so the
Store is never read and written at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from tiltrun.api.config import Unwatchable, warnings_for
from tiltrun.api.healthcheck import HealthCheck
from tiltrun.api.model import Target, parse_time
from tiltrun.engine.limit import AdaptiveLimit
from tiltrun.engine.store import Obj, RunKey, Store, run_key, same_object
from tiltrun.engine.writer import Gone, Refused, Writer
from tiltrun.judge.budget import refused
from tiltrun.judge.exit import Outcome
from tiltrun.judge.health import being_deleted
from tiltrun.judge.healthchecks import HealthChecks
from tiltrun.judge.kinds import BUILTIN, Registry
from tiltrun.judge.objects import get_int, uid_of
from tiltrun.judge.related import Related
from tiltrun.judge.status import (
    RunView,
    comparable,
    desired_status,
    failing_names,
    is_done,
    judge_all,
    read_run,
    words_only,
)
from tiltrun.judge.target import judge

log = logging.getLogger(__name__)

#: How long the loop waits after the first event of a burst, so that a rollout's
#: dozens of pod updates cost one recompute and at most one PATCH per run.
COALESCE_SECONDS = 0.02
#: A change of wording only is written at most this often per run (docs/api.md) ...
REASON_INTERVAL = 10.0
#: ... and only once it has held this long without a phase change carrying it.
REASON_HOLD = 5.0
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
        reason_interval: float = REASON_INTERVAL,
        reason_hold: float = REASON_HOLD,
        limit: AdaptiveLimit | None = None,
        on_patch: Callable[[RunKey, float], None] | None = None,
        on_reconcile: Callable[[RunKey, float, Outcome], None] | None = None,
        kinds: Registry = BUILTIN,
        operator_checks: Sequence[HealthCheck] = (),
        unwatchable: Sequence[Unwatchable] = (),
        leading: bool = True,
    ) -> None:
        self.store = Store(kinds=kinds)
        # False on a standby: it watches, and neither judges nor writes (``lead``).
        self._leading = leading
        self.limit = limit or AdaptiveLimit()
        # Operator-wide health checks, and the kinds it was told to watch and cannot.
        self._operator_checks = tuple(operator_checks)
        self._unwatchable = tuple(unwatchable)
        self._writer = writer
        self._clock = clock
        self._pid = os.getpid() if pid is None else pid
        self._coalesce = coalesce
        self._reason_interval = reason_interval
        self._reason_hold = reason_hold
        self._on_patch = on_patch
        # Called after each recompute with the seconds the judgement took (no I/O in it).
        self._on_reconcile = on_reconcile
        self._dirty: set[RunKey] = set()
        # Dirty runs that must be recomputed whole, whatever their targets say.
        self._forced: set[RunKey] = set()
        # The targets each run's last status was computed from.
        self._last_targets: dict[RunKey, tuple[Target, ...]] = {}
        # Runs whose recompute and PATCH are in flight; marked again meanwhile, they wait.
        self._writing: set[RunKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._quiet = asyncio.Event()
        self._quiet.set()
        # Sources (informers) expected to list before anything is judged.
        self._unlisted: set[str] = set()
        # Each run's next deadline, and the timer set for it.
        self._timers: dict[RunKey, tuple[datetime, asyncio.TimerHandle]] = {}
        self._deferred: dict[RunKey, asyncio.TimerHandle] = {}
        # What we believe the API server holds for each run (comparable fields only).
        self._stored: dict[RunKey, Obj] = {}
        self._start: dict[RunKey, datetime] = {}
        self._failing: dict[RunKey, set[str]] = {}
        self._finished: set[RunKey] = set()
        self._patch_failures: dict[RunKey, int] = {}
        # The status the API server refused for each run: not sent again until it changes.
        self._refused: dict[RunKey, Obj] = {}
        # Loop time of each run's last accepted PATCH.
        self._last_write: dict[RunKey, float] = {}
        # Loop time since which each run's status has differed from the stored one in
        # wording only (the hold is counted from there).
        self._reworded: dict[RunKey, float] = {}
        # Runs whose stored status has been found current (or made so) at least once,
        # and the runs known to exist at start-up, for readiness.
        self._settled: set[RunKey] = set()
        self._expected: set[RunKey] | None = None
        self._ready = False
        # What each run's spec says, for the generation it was read from.
        self._views: dict[RunKey, RunView] = {}
        # Workload uid -> (store revision, health checks, its Target): each recompute
        # re-judges only the workloads that changed since the last one (or are judged by
        # another run's health checks).
        self._judged: dict[str, tuple[int, HealthChecks, Target]] = {}

    # -- sources ---------------------------------------------------------------------------

    def expect(self, source: str) -> None:
        """Judge nothing until ``source`` has delivered its first complete list."""
        self._unlisted.add(source)

    @property
    def listed(self) -> bool:
        """True once every expected source has listed: judging may begin."""
        return not self._unlisted

    def replace(self, source: str, kind: str, namespace: str | None, objs: list[Obj]) -> None:
        """A complete list of ``kind`` (in ``namespace``; all if ``None``) from ``source``.

        What the store holds of that kind there and the list lacks was deleted while
        nobody watched: it is dropped, and every run it touched is recomputed.
        """
        affected = self.store.replace(kind, namespace, objs)
        self._has_listed(source)
        self.mark(affected)

    def replace_runs(self, source: str, namespace: str | None, runs: list[Obj]) -> None:
        """A complete list of TiltRuns (in ``namespace``; all if ``None``) from ``source``.

        A held run there that the list lacks (or lists under another uid) was deleted
        while nobody watched: it is forgotten. The runs of a source's first list are the
        ones ``/readyz`` waits for.
        """
        listed = {run_key(run): run for run in runs}
        for key, held in list(self.store.runs.items()):
            if namespace is not None and key[0] != namespace:
                continue
            fresh = listed.get(key)
            if fresh is None or not same_object(held, fresh):
                log.info("TiltRun %s/%s is gone (not in a fresh list): forgetting it", *key)
                self.drop_run(key)
        if source in self._unlisted:
            self._expected = (self._expected or set()) | set(listed)
        for run in runs:
            self.observe_run(None, run)
        self._has_listed(source)

    def _has_listed(self, source: str) -> None:
        was_listed = self.listed
        self._unlisted.discard(source)
        if self.listed and not was_listed:
            log.info("every watched kind is listed: judging begins")
            self.mark(self.store.runs, force=True)

    def observe(self, kind: str, event_type: str | None, obj: Obj) -> None:
        """A workload, ReplicaSet or pod was added, modified or deleted."""
        if event_type == "DELETED":
            affected = self.store.delete(kind, obj)
        else:
            affected = self.store.put(kind, obj)
        self.mark(affected)

    def observe_run(self, event_type: str | None, run: Obj) -> None:
        """A TiltRun was listed, added, modified or deleted."""
        key = run_key(run)
        held = self.store.runs.get(key)
        # A TiltRun deleted and created again under the same name is a new run (its
        # DELETED may have been lost in a watch gap: the relist that follows says so).
        replaced = held is not None and not same_object(held, run)
        if event_type == "DELETED":
            if not replaced:
                self.drop_run(key)
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
            self._seed(key, run.get("status") or {})
            changed = True
        if changed:
            self.mark([key], force=True)

    def _seed(self, key: RunKey, status: Obj) -> None:
        """Believe ``status`` is what the API server holds for ``key`` (as last seen)."""
        self._stored[key] = comparable(status) if status else {}
        self._start[key] = parse_time(status.get("startTime")) or self._clock()
        self._failing[key] = failing_names(status)
        if is_done(status):
            self._finished.add(key)
            self._settled.add(key)
        else:
            self._finished.discard(key)

    # -- leadership ------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        """False on a standby: it keeps watching, and judges and writes nothing."""
        return self._leading

    def follow(self) -> None:
        """Stop judging and writing: another instance holds the Lease now.

        The Store stays current (a warm standby). Writes already in flight finish.
        """
        self._leading = False
        for _, timer in self._timers.values():
            timer.cancel()
        for timer in self._deferred.values():
            timer.cancel()
        self._timers.clear()
        self._deferred.clear()

    def lead(self) -> None:
        """Start judging and writing: this instance holds the Lease now.

        What the API server holds is read again from the TiltRuns as last seen (whoever
        led before wrote them): ``startTime`` stays, a finished run stays finished, and a
        target shown failing is not announced again. Every run is recomputed; a status
        that is still true is not rewritten.
        """
        self._leading = True
        for key, run in self.store.runs.items():
            self._seed(key, run.get("status") or {})
        self._last_targets.clear()
        self.mark(self.store.runs, force=True)

    def drop_run(self, key: RunKey) -> None:
        """Forget a TiltRun that no longer exists."""
        self.store.drop_run(key)
        self._forget(key)
        if self._expected is not None:
            self._expected.discard(key)

    def readiness(self) -> str | None:
        """Why the operator is not ready yet, or ``None`` when it is (``/readyz``).

        Ready once every watched kind has been listed and every run that existed at
        start-up has a current status; from then on it stays ready (runs created later
        get their status as any change does). A standby is ready once it has listed
        everything: it could take over at once.
        """
        if self._ready:
            return None
        if self._unlisted:
            return "not yet listed: " + ", ".join(sorted(self._unlisted))
        if self._expected is None:
            return "the TiltRuns have not been listed yet"
        if not self._leading:
            return None
        pending = self._expected - self._settled
        if pending:
            return f"{len(pending)} TiltRuns have no current status yet"
        self._ready = True
        return None

    # -- marking ---------------------------------------------------------------------------

    def mark(self, keys: Iterable[RunKey], *, force: bool = False) -> None:
        """Ask for these runs to be recomputed in the next coalescing window.

        A mark from a watched object's change is answered only if a target's judgement
        changed; ``force`` (a timer, a new spec, a retry) recomputes the whole status.
        """
        fresh = {k for k in keys if k not in self._finished}
        if fresh:
            self._dirty |= fresh
            if force:
                self._forced |= fresh
            if self.listed and self._leading:
                self._wake.set()
                self._quiet.clear()

    def _forget(self, key: RunKey) -> None:
        for table in (
            self._stored,
            self._start,
            self._failing,
            self._patch_failures,
            self._refused,
            self._last_write,
            self._reworded,
        ):
            table.pop(key, None)
        self._last_targets.pop(key, None)
        self._views.pop(key, None)
        self._finished.discard(key)
        self._dirty.discard(key)
        self._forced.discard(key)
        self._settled.discard(key)
        self._cancel_timer(key)
        deferred = self._deferred.pop(key, None)
        if deferred:
            deferred.cancel()

    # -- the loop -------------------------------------------------------------------------

    async def idle(self) -> None:
        """Return once nothing is left to do now: no run dirty, no write in flight.

        Timers (a deadline, a deferred write) may be pending: they are the future.
        """
        await self._quiet.wait()

    def _update_quiet(self) -> None:
        if self._tasks or self._wake.is_set():
            self._quiet.clear()
        else:
            self._quiet.set()

    async def run(self) -> None:
        """Drain dirty runs forever; cancel the task to stop (then ``drain``)."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._coalesce)
            self._wake.clear()
            # A run still being written waits: its recompute must start from what
            # that write stored. It is taken up when the write ends.
            keys = self._dirty - self._writing if self._leading else set()
            for key in keys:
                self._writing.add(key)
                task = asyncio.create_task(self._write(key))
                self._tasks.add(task)
                task.add_done_callback(self._done)
            self._update_quiet()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._update_quiet()

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the writes in flight, then cancel the rest."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in list(self._tasks):
            task.cancel()

    async def _write(self, key: RunKey) -> None:
        try:
            async with self.limit:
                # From here the recompute reads the Store as it is now: marks made while
                # this run waited for a slot are answered by this very write.
                self._dirty.discard(key)
                await self._reconcile(key)
        finally:
            self._writing.discard(key)
            if key in self._dirty and self.listed and self._leading:
                self._wake.set()
                self._quiet.clear()

    async def _reconcile(self, key: RunKey) -> None:
        run = self.store.runs.get(key)
        if run is None or key in self._finished or not self._leading:
            return
        loop = asyncio.get_running_loop()
        judging = loop.time()
        forced = key in self._forced
        self._forced.discard(key)
        candidates = list(self.store.candidates(key))
        view = self._read_run(key, run)
        targets = judge_all(candidates, self._judge, view.checks)
        last = self._last_targets.get(key)
        if not forced and last == targets:
            # No target's judgement moved, and neither did the spec or the clock's next
            # deadline: the status would come out the same. Most pod updates end here.
            return
        if (
            not forced
            and last is not None
            and key in self._settled
            and words_only(last, targets)
            and self._hold_wording(key)
        ):
            # Only words moved (a reason, an evidence): the verdict, its deadline and the
            # phases are those of the last recompute, and the wording is not due yet: it
            # waits without a decision; the deferred recompute decides.
            self._last_targets[key] = targets
            return
        now = self._clock()
        stored = self._stored.get(key, {})
        desired = desired_status(
            run,
            candidates,
            start_time=self._start[key],
            now=now,
            pid=self._pid,
            previous_conditions=stored.get("conditions") or [],
            warnings=warnings_for(self._unwatchable, key[0]),
            view=view,
            targets=targets,
        )
        verdict = desired.verdict
        if self._on_reconcile:
            self._on_reconcile(key, loop.time() - judging, verdict.outcome)
        self._schedule(key, verdict.wake_at, now)
        wanted = comparable(desired.status)
        if wanted == stored or wanted == self._refused.get(key):
            # Stored already, or refused already: the same again would be refused again.
            self._reworded.pop(key, None)
            self._last_targets[key] = targets
            self._settled.add(key)
            return
        if not phase_changed(stored, wanted) and self._hold_wording(key):
            self._last_targets[key] = targets
            self._settled.add(key)
            return
        began = loop.time()
        try:
            await self._writer.patch_status(key[0], key[1], desired.status)
        except Gone:
            # Deleted, and its DELETED event lost or not here yet: nothing to keep.
            log.info("TiltRun %s/%s is gone (status write: 404): forgetting it", *key)
            self.drop_run(key)
            return
        except Refused as err:
            self._refused[key] = wanted
            await self._store_refusal(key, run, desired, targets, err.answer)
            return
        except Exception as err:
            log.warning("status patch for %s/%s failed (%s); retrying", *key, err)
            self._retry(key)
            return
        elapsed = loop.time() - began
        self.limit.record(elapsed)
        self._patch_failures.pop(key, None)
        self._refused.pop(key, None)
        self._last_write[key] = began
        self._reworded.pop(key, None)
        deferred = self._deferred.pop(key, None)
        if deferred:
            deferred.cancel()  # this write carries whatever was waiting
        if self._on_patch:
            self._on_patch(key, elapsed)
        self._stored[key] = wanted
        self._last_targets[key] = targets
        self._settled.add(key)
        await self._announce(key, run, desired.targets, verdict)

    async def _store_refusal(
        self, key: RunKey, run: Obj, desired: Any, targets: tuple[Target, ...], answer: str
    ) -> None:
        """After a refused status: store a smaller one that says so, and no retry loop.

        The refused status is tried again only once it changes (a new verdict or a new
        target); meanwhile ``status.truncation.writeRefused`` quotes the API server. When
        the smaller status is refused too, the refusal is about the object (an admission
        policy, say), not the status: the full one is retried with backoff until it lands.
        """
        log.error(
            "the API server refused the status of TiltRun %s/%s (%s); storing a smaller "
            "status that says so, and not sending this one again",
            *key,
            answer,
        )
        reduced = refused(desired.status, answer)
        try:
            await self._writer.patch_status(key[0], key[1], reduced)
        except Gone:
            self.drop_run(key)
            return
        except Exception as err:
            # Refused whatever it says (an admission policy, a webhook): the refusal is
            # about the object, not this status, and may be lifted. Send the full status
            # again, with the backoff of any failed write.
            log.error(
                "the smaller status of TiltRun %s/%s was refused too (%s); retrying",
                *key,
                err,
            )
            self._refused.pop(key, None)
            self._retry(key)
            return
        self._stored[key] = comparable(reduced)
        self._last_targets[key] = targets
        self._settled.add(key)
        await self._announce(key, run, desired.targets, desired.verdict)

    def _retry(self, key: RunKey) -> None:
        """Recompute and write ``key`` again after 1 s, doubling per failure up to 60 s."""
        failures = self._patch_failures.get(key, 0)
        self._patch_failures[key] = failures + 1
        delay = min(RETRY_SECONDS * 2**failures, RETRY_MAX_SECONDS)
        asyncio.get_running_loop().call_later(delay, partial(self.mark, [key], force=True))

    def _hold_wording(self, key: RunKey) -> bool:
        """True when a change of wording only may not be written yet; it is then deferred.

        Due once it has held ``reason_hold`` (counted from the first recompute that saw
        it) and ``reason_interval`` has passed since the run's last write.
        """
        now = asyncio.get_running_loop().time()
        since = self._reworded.setdefault(key, now)
        due = max(
            self._last_write.get(key, -math.inf) + self._reason_interval,
            since + self._reason_hold,
        )
        if now >= due:
            return False
        self._defer(key, due - now)
        return True

    def _defer(self, key: RunKey, delay: float) -> None:
        """Recompute ``key`` when its wording may be written again (once, not per event)."""
        if key not in self._deferred:
            handle = asyncio.get_running_loop().call_later(delay, self._deferred_due, key)
            self._deferred[key] = handle

    def _deferred_due(self, key: RunKey) -> None:
        self._deferred.pop(key, None)
        self.mark([key], force=True)

    def _read_run(self, key: RunKey, run: Obj) -> RunView:
        """What ``run``'s spec says (``read_run``), read again only when its spec changes."""
        generation = _generation(run)
        held = self._views.get(key)
        if held is not None and held.generation == generation:
            return held
        view = read_run(run, self._operator_checks)
        self._views[key] = view
        return view

    def _judge(self, obj: Obj, related: Related, checks: HealthChecks) -> Target:
        """``judge``, remembered per workload until it or one of its children changes."""
        uid = uid_of(obj)
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
        """Events for targets that started failing, and for a finished run.

        None for a run being deleted: nobody reads them, and when its namespace is being
        deleted the API server refuses them.
        """
        if being_deleted(run):
            self._failing[key] = set(verdict.failing)
            return
        errors = {
            t.name: t.state.terminated.error
            for t in targets
            if t.state.terminated and t.state.terminated.error
        }
        for name in sorted(set(verdict.failing) - self._failing.get(key, set())):
            detail = errors.get(name) or "not ready in time"
            await self._writer.post_event(
                run, "Warning", "TargetFailed", f"{name}: {detail}", subject=name
            )
        self._failing[key] = set(verdict.failing)
        if verdict.done:
            self._finished.add(key)
            self._cancel_timer(key)
            if verdict.outcome == Outcome.SUCCEEDED:
                await self._writer.post_event(run, "Normal", "Succeeded", verdict.summary)
            else:
                reason = "TimedOut" if verdict.outcome == Outcome.TIMED_OUT else "Failed"
                await self._writer.post_event(run, "Warning", reason, verdict.error)

    def _schedule(self, key: RunKey, wake_at: datetime | None, now: datetime) -> None:
        """Recompute ``key`` exactly when time alone may change its verdict.

        A timer already set for that very instant stays (most recomputes do not move it).
        """
        held = self._timers.get(key)
        if held is not None and held[0] == wake_at:
            return
        self._cancel_timer(key)
        if wake_at is None:
            return
        delay = max(0.0, (wake_at - now).total_seconds())
        handle = asyncio.get_running_loop().call_later(delay, self._timer_due, key)
        self._timers[key] = (wake_at, handle)

    def _cancel_timer(self, key: RunKey) -> None:
        held = self._timers.pop(key, None)
        if held is not None:
            held[1].cancel()

    def _timer_due(self, key: RunKey) -> None:
        self._timers.pop(key, None)
        self.mark([key], force=True)


def _generation(run: Obj) -> int:
    return get_int(run, "metadata", "generation")


def _target_phase(target: object) -> tuple[str, ...]:
    """What a target is, without the words: its identity and the phase of its state."""
    if not isinstance(target, dict):
        return ("?",)
    state = target.get("state") or {}
    if state.get("disabled"):
        phase = "disabled"
    elif "terminated" in state:
        phase = "failed" if (state["terminated"] or {}).get("error") else "succeeded"
    elif "active" in state:
        phase = "ready" if (state["active"] or {}).get("ready") else "active"
    elif "waiting" in state:
        phase = "waiting"
    else:
        phase = "none"
    identity = (str(target.get("name")), str(target.get("type")), str(target.get("resources")))
    return (*identity, phase, str(bool(target.get("optional"))), str("grace" in state))


def _phases(status: Obj) -> tuple[object, ...]:
    conditions = tuple(
        (c.get("type"), c.get("status"), c.get("reason"))
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    )
    return (
        status.get("done"),
        status.get("error"),
        status.get("startTime"),
        status.get("observedGeneration"),
        status.get("satisfied"),
        status.get("total"),
        tuple(_target_phase(t) for t in status.get("targets") or []),
        conditions,
    )


def phase_changed(stored: Obj, wanted: Obj) -> bool:
    """True when ``wanted`` differs from ``stored`` in more than wording.

    Wording: reasons, messages, ``readySince``, times inside a target's state, the
    summary, a tolerance's details. Everything else (a target's phase, the run's
    done/error, counts of satisfied targets, a condition's status or reason) is phase.
    """
    return _phases(stored) != _phases(wanted)
