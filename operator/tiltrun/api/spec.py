"""Reading a TiltRun's ``spec`` into a RunSpec, defaults applied.

The API server validates a TiltRun with the CRD's rules before the operator ever sees
it; ``read_spec`` applies the same rules again (an object stored before the CRD had a
rule, or a file given to ``tiltrun inspect``, was never checked), from the same
definitions: ``api/duration.py`` for durations, ``VISIBLE_PATTERN`` below for
``tiltfilePath`` and ``ci.expect``. Unit tests compare these with the CRD's rules and a
property test on the dev cluster checks that both accept exactly the same strings.
"""

from __future__ import annotations

import re
from typing import Any

from tiltrun.api.duration import BOUNDS_TEXT, DurationRangeError, parse_bounded_duration
from tiltrun.api.healthcheck import HealthCheckError, read_health_checks
from tiltrun.api.model import CISettings, ExitCondition, RunSpec
from tiltrun.api.selector import selector_of

DEFAULT_TIMEOUT = "30m"
DEFAULT_READINESS_TIMEOUT = "5m"
DEFAULT_GRACE_PERIOD = "0"

#: Code points that show nothing: Unicode's White_Space, the control characters (Cc)
#: and the Default_Ignorable_Code_Point set (zero-width spaces and joiners, bidi
#: controls, the byte order mark, Hangul fillers, variation selectors, tags), Unicode
#: 15.0. A name made only of these looks empty, so it counts as empty. Listed here, not
#: taken from ``unicodedata``, so that the operator and the API server (Go's tables,
#: another Unicode version) cannot disagree.
INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0020),  # C0 controls (NUL, TAB, LF, ...) and SPACE
    (0x007F, 0x00A0),  # DEL, C1 controls (NEL U+0085 among them), NO-BREAK SPACE
    (0x00AD, 0x00AD),  # SOFT HYPHEN
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x115F, 0x1160),  # HANGUL CHOSEONG and JUNGSEONG FILLER
    (0x1680, 0x1680),  # OGHAM SPACE MARK
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ and AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS, VOWEL SEPARATOR
    (0x2000, 0x200F),  # EN QUAD .. HAIR SPACE, ZERO WIDTH SPACE/(NON-)JOINER, LRM, RLM
    (0x2028, 0x202F),  # LINE and PARAGRAPH SEPARATOR, bidi embeddings and overrides, NNBSP
    (0x205F, 0x206F),  # MEDIUM MATHEMATICAL SPACE, WORD JOINER, invisible operators, isolates
    (0x3000, 0x3000),  # IDEOGRAPHIC SPACE
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTORS
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE (byte order mark)
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xFFF0, 0xFFF8),  # unassigned, reserved as default-ignorable
    (0x1BCA0, 0x1BCA3),  # SHORTHAND FORMAT CONTROLS
    (0x1D173, 0x1D17A),  # MUSICAL SYMBOL BEGIN/END BEAM, TIE, SLUR, PHRASE
    (0xE0000, 0xE0FFF),  # TAGS, VARIATION SELECTORS SUPPLEMENT, and reserved
)


def _re2_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(
        rf"\x{{{low:X}}}" if low == high else rf"\x{{{low:X}}}-\x{{{high:X}}}"
        for low, high in ranges
    )


#: RE2 (the CRD's CEL ``matches``): a string that has a visible character matches.
VISIBLE_PATTERN = rf"[^{_re2_class(INVISIBLE_RANGES)}]"
#: The same class for Python's ``re``.
_VISIBLE = re.compile(
    "[^"
    + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in INVISIBLE_RANGES)
    + "]"
)


class SpecError(ValueError):
    """A spec the CRD should have rejected (for example, written before validation)."""


def has_visible_character(text: str) -> bool:
    """True when ``text`` has a character that shows (see ``INVISIBLE_RANGES``)."""
    return _VISIBLE.search(text) is not None


def read_spec(run: dict[str, Any]) -> RunSpec:
    """The spec of a TiltRun object; raises SpecError with a plain message when invalid."""
    spec = run.get("spec") or {}
    try:
        exit_condition = ExitCondition(spec.get("exitCondition", ExitCondition.MANUAL))
    except ValueError:
        raise SpecError(
            f"spec.exitCondition {spec.get('exitCondition')!r} is neither 'manual' nor 'ci'"
        ) from None
    tiltfile_path = spec.get("tiltfilePath", "")
    if not isinstance(tiltfile_path, str) or not has_visible_character(tiltfile_path):
        raise SpecError(
            "spec.tiltfilePath must not be empty or only spaces and invisible characters"
        )
    selector = dict(selector_of(run))
    ci = spec.get("ci") or {}
    expect = tuple(str(entry) for entry in ci.get("expect") or ())
    if not all(has_visible_character(entry) for entry in expect):
        raise SpecError("spec.ci.expect entries must not be empty or only invisible characters")
    settings = CISettings(
        timeout=_duration(ci, "timeout", DEFAULT_TIMEOUT),
        readiness_timeout=_duration(ci, "readinessTimeout", DEFAULT_READINESS_TIMEOUT),
        grace_period=_duration(ci, "gracePeriod", DEFAULT_GRACE_PERIOD),
        failures_allowed=_non_negative(ci.get("failuresAllowed", 0)),
        stable_for=_duration(ci, "stableFor", "0"),
        expect=expect,
    )
    try:
        checks = read_health_checks(spec.get("healthChecks"), "spec.healthChecks")
    except HealthCheckError as err:
        raise SpecError(str(err)) from None
    return RunSpec(
        tiltfile_path=tiltfile_path,
        exit_condition=exit_condition,
        selector=selector,
        ci=settings,
        health_checks=checks,
    )


def _duration(ci: dict[str, Any], field: str, default: str) -> float:
    value = ci.get(field, default)
    try:
        return parse_bounded_duration(value)
    except DurationRangeError:
        raise SpecError(f"spec.ci.{field} {value!r} is out of range: 0, or {BOUNDS_TEXT}") from None
    except ValueError:
        raise SpecError(
            f"spec.ci.{field} {value!r} is not a duration like 90s, 5m or 1h30m"
        ) from None


def _non_negative(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"spec.ci.failuresAllowed {value!r} is not a whole number of 0 or more")
    return value
