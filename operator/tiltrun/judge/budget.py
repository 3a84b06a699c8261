"""The status size budget: a status that the API server always accepts.

A TiltRun's status grows with its targets and with the texts the judgement writes
(errors quote pods, summaries quote the selector). Unbounded, it outgrows what the API
server stores (etcd refuses requests over about 1.5 MiB; the CRD caps a condition's
message at 32,768 characters) and every write is refused. ``fit`` makes any status fit:

- every text is cut to its limit (``TEXT_LIMITS``), saying how much was left out;
- when the targets would take the status over ``STATUS_BUDGET_BYTES``, ``status.targets``
  keeps the ones that matter most (failing first, then those the run waits on, then the
  satisfied ones, disabled last) and ``status.truncation`` counts every target by state.

``status.truncation`` is present exactly when something was cut, so a reader can tell a
complete status from a shortened one. ``refused`` makes the smaller status the operator
stores when the API server refused a write anyway, saying so.

Pure code: plain dicts in, plain dicts out; the same input always gives the same output,
so an unchanged world still gives an identical status and nothing is rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

Obj = dict[str, Any]

#: The whole status, serialised as JSON (ASCII-escaped, the largest encoding any client
#: sends), stays under this. The object also holds its spec (up to a few hundred KiB of
#: selector), kubectl's last-applied copy of it and the managedFields that track every
#: status field, so the status takes at most a quarter of etcd's 1.5 MiB request limit.
STATUS_BUDGET_BYTES = 256 * 1024
#: Room kept for ``status.truncation`` itself when targets are left out.
TRUNCATION_RESERVE_BYTES = 2048

#: The longest text each field may hold, in characters (the CRD declares the same).
SUMMARY_CHARS = 1024
ERROR_CHARS = 16384
#: A condition's message (the summary, usually); the CRD allows 32,768, as Kubernetes does.
MESSAGE_CHARS = 4096
TARGET_TEXT_CHARS = 4096  # a target's reason or error, and its failure's message
#: The strings of a state's ``evidence`` (docs/api.md, "Evidence").
EVIDENCE_CHARS = {
    "reason": 256,
    "message": 4096,
    "pod": 253,
    "container": 253,
    "terminationMessage": 4096,
}
TARGET_NAME_CHARS = 512  # <kind>/<name>: Kubernetes names are at most 253 characters
RESOURCE_CHARS = 253
RESOURCES_PER_TARGET = 64
REFUSAL_CHARS = 1024

#: The state names ``status.truncation.targetCounts`` counts targets under.
STATES = ("failed", "waiting", "notReady", "ready", "succeeded", "disabled")


def fit(status: Obj, budget: int = STATUS_BUDGET_BYTES) -> Obj:
    """``status`` cut to fit ``budget`` bytes and every field's limit; unchanged if it fits.

    ``status`` is what ``desired_status`` composes (its ``targets`` are ``Target.to_dict``
    values). The input is not modified.
    """
    if _within_limits(status) and (_surely_within(status, budget) or _size(status) <= budget):
        return status  # the usual case, checked without copying anything
    shortened: list[str] = []
    out = dict(status)
    for key, limit in (("summary", SUMMARY_CHARS), ("error", ERROR_CHARS)):
        value = out.get(key)
        if isinstance(value, str) and len(value) > limit:
            out[key] = clip(value, limit)
            shortened.append(key)
    conditions = out.get("conditions")
    if isinstance(conditions, list):
        # Conditions carry the summary as their message: cut the same way, they still read
        # the same as the summary.
        summary = status.get("summary")
        clipped = [
            {**c, "message": out["summary"]}
            if isinstance(c, Mapping) and c.get("message") == summary and "summary" in shortened
            else _fit_condition(c)
            for c in conditions
        ]
        if clipped != conditions:
            out["conditions"] = clipped
            shortened.append("conditions[].message")
    targets = out.get("targets")
    if not isinstance(targets, list):
        targets = []
    fitted_targets = [_fit_target(t) for t in targets]
    if fitted_targets != targets:
        shortened.append("targets[]")
    unique = _unique(fitted_targets)

    base = {k: v for k, v in out.items() if k != "targets"}
    sizes = [_size(t) + 2 for t in unique]  # ", " between list items
    room = budget - _size(base) - len('"targets": []') - 4
    if sum(sizes) <= room and len(unique) == len(targets):
        if not shortened:
            return status
        out["targets"] = fitted_targets
        out["truncation"] = _truncation(targets, listed=len(targets), shortened=shortened)
        return out
    room -= TRUNCATION_RESERVE_BYTES
    kept: list[Obj] = []
    used = 0
    for index in sorted(range(len(unique)), key=lambda i: _priority(unique[i])):
        if used + sizes[index] > room:
            break
        kept.append(unique[index])
        used += sizes[index]
    out["targets"] = sorted(kept, key=lambda t: str(t.get("name")))
    out["truncation"] = _truncation(targets, listed=len(kept), shortened=shortened)
    return out


def refused(status: Obj, answer: str) -> Obj:
    """The smaller status to store after the API server refused ``status``.

    It lists no targets (``status.truncation`` counts them by state), keeps the verdict
    (done, error, summary, conditions) cut short, and quotes the API server's ``answer``
    in ``status.truncation.writeRefused``, so a reader sees why the full status is missing.
    """
    targets = status.get("targets")
    targets = targets if isinstance(targets, list) else []
    out: Obj = {k: v for k, v in status.items() if k not in ("targets", "truncation")}
    shortened = ["targets"]
    for key in ("summary", "error"):
        value = out.get(key)
        if isinstance(value, str) and len(value) > SUMMARY_CHARS:
            out[key] = clip(value, SUMMARY_CHARS)
            shortened.append(key)
    conditions = out.get("conditions")
    if isinstance(conditions, list):
        out["conditions"] = [_fit_condition(c, SUMMARY_CHARS) for c in conditions]
    out["targets"] = []
    truncation = _truncation(targets, listed=0, shortened=shortened)
    truncation["writeRefused"] = clip(" ".join(answer.split()), REFUSAL_CHARS)
    out["truncation"] = truncation
    return out


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with how much was left out.

    Cut at a line break when one is near the end, so a list of one failure per line
    loses whole lines.
    """
    if len(text) <= limit:
        return text
    # The note's length depends on the count it reports; the longest count is len(text).
    note_size = len(_note(len(text)))
    keep = max(0, limit - note_size)
    head = text[:keep]
    line_break = head.rfind("\n")
    if line_break >= keep // 2:
        head = head[:line_break]
    return (head + _note(len(text) - len(head)))[:limit]


def _note(left_out: int) -> str:
    return f" … ({left_out} more characters)"


def _fit_condition(condition: Any, limit: int = MESSAGE_CHARS) -> Any:
    if not isinstance(condition, Mapping):
        return condition
    message = condition.get("message")
    if isinstance(message, str) and len(message) > limit:
        return {**condition, "message": clip(message, limit)}
    return condition


def _fit_target(target: Obj) -> Obj:
    """One target with its texts cut to their limits (the same dict when none is over)."""
    out = target
    name = target.get("name")
    if isinstance(name, str) and len(name) > TARGET_NAME_CHARS:
        out = {**out, "name": clip(name, TARGET_NAME_CHARS)}
    resources = target.get("resources")
    if isinstance(resources, list) and (
        len(resources) > RESOURCES_PER_TARGET
        or any(isinstance(r, str) and len(r) > RESOURCE_CHARS for r in resources)
    ):
        out = {
            **out,
            "resources": [
                clip(r, RESOURCE_CHARS) if isinstance(r, str) else r
                for r in resources[:RESOURCES_PER_TARGET]
            ],
        }
    state = target.get("state")
    if isinstance(state, Mapping):
        fitted = _fit_state(state)
        if fitted is not state:
            out = {**out, "state": fitted}
    return out


_STATE_TEXTS = (
    ("waiting", "reason"),
    ("active", "reason"),
    ("terminated", "error"),
    ("failure", "message"),
)


def _fit_state(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """A target's state with its texts and evidence cut to their limits (or ``state``)."""
    out = state
    for phase, field in _STATE_TEXTS:
        part = out.get(phase)
        text = part.get(field) if isinstance(part, Mapping) else None
        if isinstance(text, str) and len(text) > TARGET_TEXT_CHARS:
            assert isinstance(part, Mapping)
            out = {**out, phase: {**part, field: clip(text, TARGET_TEXT_CHARS)}}
    for phase in ("waiting", "active", "terminated"):
        part = out.get(phase)
        evidence = part.get("evidence") if isinstance(part, Mapping) else None
        if not isinstance(evidence, Mapping):
            continue
        long = {
            key: clip(value, limit)
            for key, limit in EVIDENCE_CHARS.items()
            if isinstance(value := evidence.get(key), str) and len(value) > limit
        }
        if long:
            assert isinstance(part, Mapping)
            out = {**out, phase: {**part, "evidence": {**evidence, **long}}}
    return out


def _within_limits(status: Obj) -> bool:
    """True when no text is over its limit and target names are unique."""
    for key, limit in (("summary", SUMMARY_CHARS), ("error", ERROR_CHARS)):
        value = status.get(key)
        if isinstance(value, str) and len(value) > limit:
            return False
    for condition in status.get("conditions") or ():
        message = condition.get("message") if isinstance(condition, Mapping) else None
        if isinstance(message, str) and len(message) > MESSAGE_CHARS:
            return False
    targets = status.get("targets") or ()
    names = set()
    for target in targets:
        if _fit_target(target) is not target:
            return False
        names.add(target.get("name"))
    return len(names) == len(targets)


def _unique(targets: list[Obj]) -> list[Obj]:
    """One target per name (the API server refuses a list-map with a repeated key).

    Names are unique in one namespace; should two objects ever show under one name (two
    custom kinds sharing a Kind, say), the one that matters most is kept.
    """
    best: dict[str, Obj] = {}
    for target in targets:
        name = str(target.get("name"))
        held = best.get(name)
        if held is None or _priority(target) < _priority(held):
            best[name] = target
    if len(best) == len(targets):
        return targets
    return [t for t in targets if best.get(str(t.get("name"))) is t]


def state_of(target: Mapping[str, Any]) -> str:
    """Which of ``STATES`` a stored target is in."""
    state = target.get("state")
    state = state if isinstance(state, Mapping) else {}
    if state.get("disabled"):
        return "disabled"
    terminated = state.get("terminated")
    if isinstance(terminated, Mapping):
        # A server that stopped has failed even without an error (see the exit logic).
        if terminated.get("error") or target.get("type") == "server":
            return "failed"
        return "succeeded"
    active = state.get("active")
    if isinstance(active, Mapping):
        return "ready" if active.get("ready") else "notReady"
    return "waiting"


_RANK = {"failed": 0, "waiting": 1, "notReady": 1, "ready": 2, "succeeded": 2, "disabled": 3}


def _priority(target: Mapping[str, Any]) -> tuple[int, int, str]:
    """Failing first, then what the run waits on, then satisfied, disabled last; by name.

    A required target comes before an optional one in the same state.
    """
    return (_RANK[state_of(target)], 1 if target.get("optional") else 0, str(target.get("name")))


def _truncation(targets: list[Obj], *, listed: int, shortened: list[str]) -> Obj:
    counts = dict.fromkeys(STATES, 0)
    for target in targets:
        counts[state_of(target)] += 1
    out: Obj = {
        "targets": len(targets),
        "listedTargets": listed,
        "targetCounts": counts,
    }
    if shortened:
        out["shortened"] = shortened
    return out


#: How many bytes of ``_size``'s encoding one byte of compact UTF-8 JSON can become at
#: most: an ASCII control character is escaped as six (``\u0000``); a separator of one
#: byte becomes two (``", "``).
_ESCAPE_FACTOR = 6


def _surely_within(value: Any, budget: int) -> bool:
    """True when ``value`` certainly fits ``budget``, judged from orjson's compact encoding.

    It takes a tenth of the time of ``_size``, which a status of a few targets would
    otherwise pay on every recompute; False when unsure (or when orjson cannot encode
    ``value``: an integer beyond 64 bits, say), and ``_size`` decides.
    """
    try:
        compact = orjson.dumps(value)
    except TypeError:
        return False
    return len(compact) * _ESCAPE_FACTOR <= budget


def _size(value: Any) -> int:
    """Bytes ``value`` takes as JSON, with non-ASCII escaped (the largest encoding)."""
    return len(json.dumps(value))
