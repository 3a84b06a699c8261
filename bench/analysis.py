"""From the watcher's record to reaction latencies, status changes and start-up times.

The record is replayed through the operator's own store and pure judgement
(``tiltrun.engine.store``, ``tiltrun.judge``): after every workload event the affected
runs' targets are judged again, and a target whose *phase* changed is a transition,
stamped with the arrival time of the event that caused it. Phases are coarse on
purpose: ``waiting``, ``running`` (active, not ready), ``ready``, ``succeeded``,
``failed``, ``disabled``, ``absent``. Using the operator's own judgement defines
"the state changed" exactly as the operator must see it, so the latency measures the
engine's reaction, not a disagreement between two readings of a pod.

A TiltRun status event *answers* the latest transition of a target (at or before its
arrival) whose phase it shows; transitions it skipped over were *superseded* (a burst
the operator rightly coalesced into one write). A transition nothing answers is
*after-done* when it came after the run finished, *frozen* when it came less than
``FROZEN_LAG`` before the finishing status (the operator had not seen it yet), and
otherwise *missed*: the status never showed it.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiltrun.engine.store import Store
from tiltrun.judge.kinds import BUILTIN
from tiltrun.judge.status import judge_all

Obj = dict[str, Any]

#: A status may arrive this long before the watcher's copy of the event that caused it
#: (the API server fans one event out to several watchers, not all at the same instant).
SKEW = 0.5
#: A finished run's status is frozen as the operator saw the world when it finished. A
#: transition shortly before that, which the operator had not processed yet (its watch
#: of that kind running behind, on a saturated machine), is *frozen*, not missed.
FROZEN_LAG = 5.0


def phase(state: Obj | None) -> str:
    """The coarse phase of a target ``state`` dict (as the status stores it)."""
    if not state:
        return "absent"
    if state.get("disabled"):
        return "disabled"
    if state.get("waiting"):
        return "waiting"
    if state.get("active"):
        return "ready" if state["active"].get("ready") else "running"
    if state.get("terminated"):
        return "failed" if state["terminated"].get("error") else "succeeded"
    return "absent"


@dataclass(frozen=True)
class Event:
    """One line of the watcher's record."""

    t: float
    kind: str
    type: str
    obj: Obj


def read_record(path: Path) -> Iterator[Event]:
    with path.open("rb") as lines:
        for line in lines:
            try:
                stamp, kind, raw = line.split(b"\t", 2)
                event = json.loads(raw)
            except ValueError:
                continue  # the last line, cut short when the watcher stopped
            if event.get("type") in ("BOOKMARK", "ERROR"):
                continue
            yield Event(float(stamp), kind.decode(), str(event["type"]), event["object"])


@dataclass(frozen=True)
class Transition:
    run: str
    target: str
    phase: str
    t: float


@dataclass(frozen=True)
class StatusChange:
    """A TiltRun status event whose status (``pid`` aside) differs from the one before."""

    t: float
    phases: dict[str, str]
    done: bool
    error: str
    ready: bool  # condition Ready=True


@dataclass
class Replay:
    """Everything the record says, per run."""

    transitions: dict[str, list[Transition]] = field(default_factory=lambda: defaultdict(list))
    changes: dict[str, list[StatusChange]] = field(default_factory=lambda: defaultdict(list))
    #: The judged phases of each run's targets when the run was first seen.
    initial: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The judged phases at the end of the record.
    final: dict[str, dict[str, str]] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    events: int = 0
    #: Arrival of every watch event (not the initial lists' items), in order.
    event_times: list[float] = field(default_factory=list)

    def events_between(self, start: float, end: float) -> int:
        """How many watch events arrived in ``[start, end]``."""
        return bisect.bisect_right(self.event_times, end) - bisect.bisect_left(
            self.event_times, start
        )

    def judged_at(self, run: str, t: float) -> dict[str, str]:
        """The judged phases of ``run``'s targets just after time ``t``."""
        phases = dict(self.initial.get(run, {}))
        for tr in self.transitions.get(run, []):
            if tr.t > t:
                break
            phases[tr.target] = tr.phase
        return {k: v for k, v in phases.items() if v != "absent"}


def replay(path: Path) -> Replay:
    """Replay the watcher's record through the operator's store and judgement."""
    store = Store()
    out = Replay()
    judged: dict[str, dict[str, str]] = {}
    last_status: dict[str, Obj] = {}

    def judge(key: tuple[str, str]) -> dict[str, str]:
        return {t.name: phase(t.to_dict()["state"]) for t in judge_all(store.candidates(key))}

    for event in read_record(path):
        out.events += 1
        if event.type != "LISTED":
            out.event_times.append(event.t)
        if event.kind == "TiltRun":
            name = event.obj["metadata"]["name"]
            if event.type == "DELETED":
                store.drop_run(event.obj)
                continue
            key = store.put_run(event.obj)
            if name not in judged:
                judged[name] = judge(key)
                out.initial[name] = dict(judged[name])
                out.first_seen[name] = event.t
            status = dict(event.obj.get("status") or {})
            status.pop("pid", None)
            if status and status != last_status.get(name):
                last_status[name] = status
                out.changes[name].append(_change(event.t, status))
            continue
        known = BUILTIN.lookup(event.kind)
        if known is None or not known.watched:
            continue
        if event.type == "DELETED":
            affected = store.delete(event.kind, event.obj)
        else:
            affected = store.put(event.kind, event.obj)
        for key in affected:
            name = key[1]
            now = judge(key)
            before = judged.setdefault(name, {})
            for target in sorted(set(now) | set(before)):
                new = now.get(target, "absent")
                if before.get(target, "absent") != new:
                    out.transitions[name].append(Transition(name, target, new, event.t))
            judged[name] = now
    out.final = judged
    return out


def _change(t: float, status: Obj) -> StatusChange:
    phases = {
        str(target.get("name")): phase(target.get("state"))
        for target in status.get("targets") or []
    }
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return StatusChange(t, phases, bool(status.get("done")), str(status.get("error") or ""), ready)


# -- aligning transitions with the statuses that answer them --------------------------------


@dataclass(frozen=True)
class Answer:
    """How the status answered one transition."""

    transition: Transition
    outcome: str  # "answered", "superseded", "after-done", "missed"
    latency: float | None = None  # seconds from the transition to the answering status


def align(replay: Replay, run: str) -> list[Answer]:
    """Match every transition of ``run`` with the status event that first showed it."""
    changes = replay.changes.get(run, [])
    done_at = next((c.t for c in changes if c.done), None)
    by_target: dict[str, list[Transition]] = defaultdict(list)
    for tr in replay.transitions.get(run, []):
        by_target[tr.target].append(tr)
    answers: list[Answer] = []
    for target, transitions in by_target.items():
        pending = list(transitions)
        shown = "absent"
        for change in changes:
            now_shown = change.phases.get(target, "absent")
            if now_shown == shown:
                continue
            shown = now_shown
            matching = [
                i for i, tr in enumerate(pending) if tr.t <= change.t + SKEW and tr.phase == shown
            ]
            if not matching:
                continue
            i = matching[-1]
            for earlier in pending[:i]:
                answers.append(Answer(earlier, "superseded"))
            answers.append(Answer(pending[i], "answered", change.t - pending[i].t))
            pending = pending[i + 1 :]
        for index, tr in enumerate(pending):
            if done_at is not None and tr.t >= done_at - SKEW:
                answers.append(Answer(tr, "after-done"))
            elif index < len(pending) - 1:
                answers.append(Answer(tr, "superseded"))
            elif done_at is not None and done_at - tr.t < FROZEN_LAG:
                answers.append(Answer(tr, "frozen"))
            else:
                answers.append(Answer(tr, "missed"))
    return answers


def correct_at(replay: Replay, run: str, since: float, *, ci: bool) -> float | None:
    """The arrival of ``run``'s first status (at or after ``since``) that is fully correct.

    Correct: every target shows the phase the judgement gives at that instant and, for a
    ``ci`` run, it is done, with an error exactly when a target failed.
    """
    for change in replay.changes.get(run, []):
        if change.t < since:
            continue
        judged = replay.judged_at(run, change.t)
        if change.phases != judged:
            continue
        if ci and (not change.done or bool(change.error) != ("failed" in judged.values())):
            continue
        return change.t
    return None


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 (nearest rank) and max, plus the count."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "n": len(ordered),
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": ordered[-1],
    }
