"""Reading Kubernetes objects as they arrive, without trusting their shape.

The judgement reads plain dicts exactly as the API server returns them (camelCase
keys). Status is written by other programs and may be missing, ``null``, partial or
odd: a field can be absent because it is zero (``omitempty``), a controller may not
have run yet, or the object may come from a test or an old cluster. Every accessor
here returns a safe value of the expected type instead of raising, so the per-kind
modules can read like the rules they implement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeGuard

from tiltrun.api.model import parse_time

#: An API object, or any part of one.
Obj = Mapping[str, Any]

#: The last resort when an object carries no usable time at all (see ``time_or``).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_EMPTY: Obj = MappingProxyType({})


def _is_map(value: object) -> TypeGuard[Obj]:
    # Decoded JSON is made of dicts: test for one first, since ``isinstance`` against
    # the ``Mapping`` ABC costs several times more and judging asks it ~80 times a workload.
    return type(value) is dict or isinstance(value, Mapping)


def as_map(value: object) -> Obj:
    """``value`` when it is a mapping, else an empty one."""
    return value if _is_map(value) else _EMPTY


def dig(obj: object, *path: str) -> object:
    """The value at ``path`` inside nested mappings, or ``None`` when any step is missing."""
    value: Any = obj
    for key in path:
        # ``_is_map``, inlined: judging a Deployment digs about a hundred paths.
        if type(value) is not dict and not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def get_map(obj: object, *path: str) -> Obj:
    """The mapping at ``path``; empty when missing or not a mapping."""
    return as_map(dig(obj, *path))


def get_maps(obj: object, *path: str) -> list[Obj]:
    """The mappings in the list at ``path``; other items (``null``, strings) are skipped."""
    value = dig(obj, *path)
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if _is_map(item)]


def get_str(obj: object, *path: str) -> str:
    """The string at ``path``; empty when missing or not a string."""
    value = dig(obj, *path)
    return value if isinstance(value, str) else ""


def get_int(obj: object, *path: str, default: int = 0) -> int:
    """The integer at ``path``; ``default`` when missing.

    The API omits zero counts, so a missing count reads as ``default`` (0). Numeric
    strings are accepted because hand-written or converted objects carry them; booleans
    are not numbers here, although Python says they are.
    """
    value = dig(obj, *path)
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def get_bool(obj: object, *path: str) -> bool:
    """True only when the value at ``path`` is the JSON boolean ``true``."""
    return dig(obj, *path) is True


def get_time(obj: object, *path: str) -> datetime | None:
    """The Kubernetes time at ``path`` as an aware UTC datetime; ``None`` when unusable."""
    value = dig(obj, *path)
    parsed = parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        return None
    try:
        # Normalise so that comparisons and formatting never meet an exotic offset
        # near datetime's limits (year 1 with +01:00 cannot be moved to UTC).
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def time_or(*candidates: datetime | None) -> datetime:
    """The first candidate that is set, else the Unix epoch.

    Callers list the most precise time first and the object's ``creationTimestamp``
    last, so a missing time degrades to "when the object was created" and, for an
    object without even that, to a fixed, obviously artificial instant: the output
    stays deterministic and never depends on the clock.
    """
    for candidate in candidates:
        if candidate is not None:
            return candidate
    return EPOCH


def earliest(times: Iterable[datetime | None]) -> datetime | None:
    """The earliest of the times that are set, ``None`` when none is."""
    present = [t for t in times if t is not None]
    return min(present) if present else None


def latest(times: Iterable[datetime | None]) -> datetime | None:
    """The latest of the times that are set, ``None`` when none is."""
    present = [t for t in times if t is not None]
    return max(present) if present else None


def by_name(items: Iterable[object]) -> list[Obj]:
    """The objects among ``items``, sorted by name, so every choice among them repeats."""
    return sorted((item for item in items if isinstance(item, Mapping)), key=name_of)


def name_of(obj: object) -> str:
    """``metadata.name``, empty when missing."""
    return get_str(obj, "metadata", "name")


def uid_of(obj: object) -> str:
    """``metadata.uid``, empty when missing."""
    return get_str(obj, "metadata", "uid")


def created(obj: object) -> datetime | None:
    """``metadata.creationTimestamp``."""
    return get_time(obj, "metadata", "creationTimestamp")


def labels_of(obj: object) -> dict[str, str]:
    """``metadata.labels``, string values only."""
    return {k: v for k, v in get_map(obj, "metadata", "labels").items() if isinstance(v, str)}


def annotations_of(obj: object) -> dict[str, str]:
    """``metadata.annotations``, string values only."""
    raw = get_map(obj, "metadata", "annotations")
    return {k: v for k, v in raw.items() if isinstance(v, str)}


def condition(obj: object, type_: str) -> Obj | None:
    """The ``status.conditions`` entry of type ``type_``, ``None`` when absent."""
    for entry in get_maps(obj, "status", "conditions"):
        if get_str(entry, "type") == type_:
            return entry
    return None


def condition_true(obj: object, type_: str) -> bool:
    """True when the condition ``type_`` is present with status ``"True"``."""
    entry = condition(obj, type_)
    return entry is not None and get_str(entry, "status") == "True"


def owner_references(obj: object) -> list[Obj]:
    """``metadata.ownerReferences``, well-formed entries only."""
    return get_maps(obj, "metadata", "ownerReferences")


def controller_ref(obj: object) -> Obj | None:
    """The owner reference marked ``controller: true``, ``None`` when nothing controls ``obj``."""
    for ref in owner_references(obj):
        if get_bool(ref, "controller"):
            return ref
    return None


def controlled_by(obj: object, uid: str) -> bool:
    """True when the object's controller owner is the object with ``uid``."""
    ref = controller_ref(obj)
    return ref is not None and bool(uid) and get_str(ref, "uid") == uid


def describe(reason: str, message: str) -> str:
    """``reason: message``, leaving out whichever part is empty."""
    return ": ".join(part for part in (reason.strip(), message.strip()) if part)


def plural(count: int, noun: str) -> str:
    """``1 restart``, ``3 restarts``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
