"""Go-style duration strings (``90s``, ``5m``, ``1h30m``), as ``spec.ci`` takes them."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
#: The same grammar the CRD's validation rule uses, so both agree on what is valid.
DURATION_PATTERN = r"^(0|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$"


class DurationError(ValueError):
    """A duration string that does not parse."""


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ``"0"`` is zero. Raises DurationError with a plain message."""
    if not isinstance(text, str) or not re.fullmatch(DURATION_PATTERN, text):
        raise DurationError(f"{text!r} is not a duration like 90s, 5m or 1h30m")
    if text == "0":
        return 0.0
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """A short human form: ``1h30m``, ``5m``, ``42s``, ``0.25s``."""
    if seconds < 60:
        return f"{seconds:g}s" if seconds != int(seconds) else f"{int(seconds)}s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
