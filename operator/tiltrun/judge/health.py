"""The verdict on an object that is not a workload, and what it shares with its peers.

Custom resources, CRDs, PersistentVolumeClaims and Services have no pods of their own
to start, so their judgement says one of three things (kstatus's words): the object is
``CURRENT`` (up), ``IN_PROGRESS`` (not up yet, for a reason) or ``FAILED``. Each rule
(``kstatus``, ``crd``, ``pvc``, ``service``, the CEL checks in ``healthchecks``) gives a
``HealthVerdict``; ``custom`` turns it into a target state. This module also holds the
readings those rules share: conditions and their freshness, and a stale
``observedGeneration``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tiltrun.api.model import Evidence
from tiltrun.judge.objects import (
    Obj,
    describe,
    dig,
    get_maps,
    get_str,
    get_time,
    latest,
)


class Health(enum.Enum):
    """Where an object stands: kstatus's Current, InProgress and Failed."""

    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"


@dataclass(frozen=True)
class HealthVerdict:
    """A rule's answer: where the object stands, why, and since when.

    ``reason`` is the waiting reason (in progress) or the error (failed); empty when
    current. ``since`` is when the object got into this state, read from the object
    (the transition time of the condition the verdict rests on), ``None`` when the
    object does not say: the caller falls back to its creation time. ``facts`` is the
    same as fields (docs/api.md, "Evidence"): the word of the rule or of the condition
    the verdict rests on (``IssuerNotReady``, ``GenerationNotObserved``) and its message.
    """

    health: Health
    reason: str = ""
    since: datetime | None = None
    facts: Evidence | None = None

    @classmethod
    def current(cls, since: datetime | None = None) -> HealthVerdict:
        return cls(Health.CURRENT, "", since)

    @classmethod
    def in_progress(
        cls, reason: str, since: datetime | None = None, *, facts: Evidence | None = None
    ) -> HealthVerdict:
        return cls(Health.IN_PROGRESS, reason, since, facts)

    @classmethod
    def failed(
        cls, reason: str, since: datetime | None = None, *, facts: Evidence | None = None
    ) -> HealthVerdict:
        return cls(Health.FAILED, reason, since, facts)


#: A health rule: the verdict on one object (each kind's ``rule`` in ``kinds``).
Rule = Callable[[Obj], HealthVerdict]


def conditions(obj: Obj) -> list[Obj]:
    """``status.conditions``, well-formed entries only."""
    return get_maps(obj, "status", "conditions")


def find_condition(obj: Obj, type_: str) -> Obj | None:
    """The condition of type ``type_``, ``None`` when the object has none."""
    for entry in conditions(obj):
        if get_str(entry, "type") == type_:
            return entry
    return None


def condition_status(entry: Obj) -> str:
    """``True``, ``False`` or ``Unknown`` (also for a missing or odd status)."""
    value = get_str(entry, "status")
    return value if value in ("True", "False") else "Unknown"


def condition_text(entry: Obj) -> str:
    """``Ready=False: <reason>: <message>``, leaving out what is empty."""
    head = f"{get_str(entry, 'type') or '?'}={condition_status(entry)}"
    detail = describe(get_str(entry, "reason"), get_str(entry, "message"))
    return f"{head}: {detail}" if detail else head


def condition_facts(entry: Obj) -> Evidence:
    """A condition as evidence: its reason word (else its type and status, ``ReadyFalse``),
    its message and its transition time."""
    word = get_str(entry, "reason").strip()
    return Evidence(
        reason=word or f"{get_str(entry, 'type') or 'Condition'}{condition_status(entry)}",
        message=get_str(entry, "message").strip(),
        since=transition(entry),
    )


def stale_facts(why: str) -> Evidence:
    """The evidence of a status (or condition) that describes an older spec."""
    return Evidence(reason="GenerationNotObserved", message=why)


def transition(entry: Obj | None) -> datetime | None:
    """A condition's ``lastTransitionTime``."""
    return get_time(entry, "lastTransitionTime") if entry is not None else None


def latest_transition(obj: Obj) -> datetime | None:
    """The latest ``lastTransitionTime`` among the object's conditions."""
    return latest(transition(entry) for entry in conditions(obj))


def generation(obj: Obj) -> int | None:
    """``metadata.generation``, ``None`` when the object has none."""
    value = dig(obj, "metadata", "generation")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def observed_generation(obj: Obj) -> int | None:
    """``status.observedGeneration`` as a number, ``None`` when absent or not a number.

    Argo Rollouts writes it as a string holding the number (``"3"``); some older
    controllers wrote a hash there, which says nothing about generations.
    """
    value = dig(obj, "status", "observedGeneration")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def stale_generation(obj: Obj) -> str | None:
    """Why the status describes an older spec, ``None`` when it is up to date.

    Only a status that says which generation it saw can be stale: without
    ``status.observedGeneration`` nothing can be told, and the status is taken as it is.
    """
    wanted, seen = generation(obj), observed_generation(obj)
    if wanted is None or seen is None or seen >= wanted:
        return None
    return f"generation {wanted} not yet observed by its controller (observed: {seen})"


def stale_condition(obj: Obj, entry: Obj) -> str | None:
    """Why a condition describes an older spec (its own ``observedGeneration``), else ``None``."""
    wanted = generation(obj)
    seen = dig(entry, "observedGeneration")
    if wanted is None or not isinstance(seen, int) or isinstance(seen, bool) or seen >= wanted:
        return None
    name = get_str(entry, "type") or "a"
    return f"{name} condition is for generation {seen}, the object is at generation {wanted}"


def has_status(obj: Obj) -> bool:
    """True when the object carries a non-empty ``status`` mapping."""
    status = dig(obj, "status")
    return isinstance(status, dict) and bool(status)


def being_deleted(obj: Obj) -> bool:
    """True when ``metadata.deletionTimestamp`` is set."""
    return bool(get_str(obj, "metadata", "deletionTimestamp"))


def telling_words(obj: Obj) -> str:
    """What the object itself says about where it stands, for a reason or an error.

    The ``Ready`` condition when it is not ``True``; else ``status.message`` (Argo
    Rollouts); else ``status.phase`` with ``status.phaseReason`` (CloudNativePG) or
    ``status.reason``; else the first condition that is ``False``, else the first
    with a message; ``no status yet`` when there is no status at all.
    """
    if not has_status(obj):
        return "no status yet"
    ready = find_condition(obj, "Ready")
    if ready is not None and condition_status(ready) != "True":
        return condition_text(ready)
    message = get_str(obj, "status", "message").strip()
    phase = get_str(obj, "status", "phase").strip()
    if phase and message:
        return f"{phase}: {message}"
    if message:
        return message
    if phase:
        extra = get_str(obj, "status", "phaseReason") or get_str(obj, "status", "reason")
        return describe(phase, extra)
    for entry in conditions(obj):
        if condition_status(entry) == "False":
            return condition_text(entry)
    for entry in conditions(obj):
        if get_str(entry, "message"):
            return condition_text(entry)
    return ""
