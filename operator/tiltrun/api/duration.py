"""Go-style duration strings (``90s``, ``5m``, ``1h30m``), as ``spec.ci`` takes them.

The CRD validates these strings in the API server with CEL, and the operator reads them
here; both must accept exactly the same strings. So this module is the one source of
both sides: the patterns below are the ones ``crds/tiltrun.yaml`` uses (a unit test
compares them), and the value is computed the way the API server's CEL ``duration()``
computes it (Go's ``time.ParseDuration``: whole nanoseconds, a fraction scaled through a
float64 and truncated), so the bounds agree to the nanosecond.

Rules (docs/api.md, "spec.ci"):

- The grammar: ``0``, or one or more numbers each followed by a unit (``ns``, ``us``,
  ``µs``, ``ms``, ``s``, ``m``, ``h``), e.g. ``1h30m`` or ``1.5s``.
- A duration with no non-zero digit (``0``, ``0s``, ``0.0m``) is zero: "none".
- Any other duration must lie within ``MIN_NS`` (1 ms) and ``MAX_NS`` (168 h, 7 days).
  ``0.0000000001ns`` is not zero (it is written as something) and is too short.
"""

from __future__ import annotations

import re

#: Nanoseconds per unit, as in Go's ``time`` package.
UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
#: The shortest and the longest non-zero duration a TiltRun accepts.
MIN_NS = UNIT_NS["ms"]
MAX_NS = 7 * 24 * UNIT_NS["h"]
#: How the bounds are written in messages and docs.
BOUNDS_TEXT = "at least 1ms and at most 168h (7 days)"

#: The grammar; the CRD's first rule on every duration field uses this exact pattern.
DURATION_PATTERN = r"^(0|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$"
#: Most integer digits (leading zeros aside) a number may have in each unit and still be
#: within ``MAX_NS`` (168h: 3 digits, 604800s: 6). A number with more is out of bounds.
_DIGITS = {"h": 3, "m": 5, "s": 6, "ms": 9, "us": 12, "µs": 12, "ns": 15}
#: The grammar with those digit limits. The CRD calls CEL's ``duration()`` only on strings
#: that match it, which keeps every value far from int64 nanoseconds (where ``duration()``
#: fails with an evaluation error instead of the rule's message).
BOUNDED_PATTERN = (
    r"^(0|(0*(" + "|".join(rf"\d{{1,{n}}}(\.\d+)?{unit}" for unit, n in _DIGITS.items()) + r"))+)$"
)
#: A duration that has a non-zero digit is not zero, however small its value.
NONZERO_PATTERN = r"[1-9]"

# re.ASCII: RE2's \d (the API server's) is [0-9]; Python's would take any Unicode digit.
_GRAMMAR = re.compile(DURATION_PATTERN, re.ASCII)
_NONZERO = re.compile(NONZERO_PATTERN, re.ASCII)
_PART = re.compile(r"(\d+)(?:\.(\d+))?(ns|us|µs|ms|s|m|h)", re.ASCII)
_INT64_LIMIT = 1 << 63


class DurationError(ValueError):
    """A duration string that does not parse."""


class DurationRangeError(DurationError):
    """A duration that parses but lies outside ``MIN_NS``..``MAX_NS`` (and is not zero)."""


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ``"0"`` is zero. Raises DurationError with a plain message.

    No bounds apply beyond what Go can represent (about 292 years); spec fields use
    ``parse_bounded_duration``.
    """
    return duration_ns(text) / 1e9


def parse_bounded_duration(text: str) -> float:
    """Seconds in ``text``, which must be zero or within the bounds (DurationRangeError)."""
    if not isinstance(text, str) or not _GRAMMAR.fullmatch(text):
        raise DurationError(f"{text!r} is not a duration like 90s, 5m or 1h30m")
    if not _NONZERO.search(text):
        return 0.0
    try:
        nanoseconds = duration_ns(text)
    except DurationError:
        nanoseconds = None  # beyond int64 nanoseconds: far beyond the bounds
    if nanoseconds is None or not MIN_NS <= nanoseconds <= MAX_NS:
        raise DurationRangeError(f"{text!r} is out of range: a duration is 0, or {BOUNDS_TEXT}")
    return nanoseconds / 1e9


def duration_ns(text: str) -> int:
    """Whole nanoseconds in ``text``, exactly as Go's ``time.ParseDuration`` computes them.

    Raises DurationError for text outside the grammar or beyond int64 nanoseconds.
    """
    if not isinstance(text, str) or not _GRAMMAR.fullmatch(text):
        raise DurationError(f"{text!r} is not a duration like 90s, 5m or 1h30m")
    if text == "0":
        return 0
    too_long = DurationError(f"{text!r} is longer than a duration can be (about 292 years)")
    total = 0
    for whole, fraction, unit in _PART.findall(text):
        value = int(whole)
        unit_ns = UNIT_NS[unit]
        if value > _INT64_LIMIT or value > _INT64_LIMIT // unit_ns:
            raise too_long
        value *= unit_ns
        digits, scale = _leading_fraction(fraction)
        if digits > 0:
            # Go: v += uint64(float64(f) * (float64(unit) / scale)), truncated.
            value += int(float(digits) * (float(unit_ns) / scale))
            if value > _INT64_LIMIT:
                raise too_long
        total += value
        if total > _INT64_LIMIT:
            raise too_long
    if total > _INT64_LIMIT - 1:
        raise too_long
    return total


def _leading_fraction(digits: str) -> tuple[int, float]:
    """Go's ``leadingFraction``: the fraction's digits as an integer, and its scale.

    Digits that would overflow an int64 are dropped, as Go drops them.
    """
    value, scale = 0, 1.0
    for char in digits:
        if value > (_INT64_LIMIT - 1) // 10:
            break
        bigger = value * 10 + int(char)
        if bigger > _INT64_LIMIT:
            break
        value, scale = bigger, scale * 10
    return value, scale


def format_duration(seconds: float) -> str:
    """A short human form: ``1h30m``, ``5m``, ``42s``, ``0.25s``."""
    if seconds < 60:
        return f"{seconds:g}s" if seconds != int(seconds) else f"{int(seconds)}s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
