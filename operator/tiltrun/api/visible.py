"""Whether a string shows anything: the rule for names and expressions in a TiltRun.

A ``tiltfilePath``, a ``ci.expect`` entry or a health check's expression made only of
spaces, control and invisible characters looks empty, so it counts as empty. The CRD
checks the same with ``VISIBLE_PATTERN``; a unit test keeps the two equal.
"""

from __future__ import annotations

import re

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


def has_visible_character(text: str) -> bool:
    """True when ``text`` has a character that shows (see ``INVISIBLE_RANGES``)."""
    return _VISIBLE.search(text) is not None
