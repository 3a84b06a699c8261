"""Hypothesis strategies for the strings a TiltRun's spec takes: durations and names.

Shared by the unit tests (the operator's parser against Go's) and the integration test
that puts the same strings to the API server, so both probe the same edges: the bounds
(1ms, 168h), leading zeros, long fractions, numbers past int64 nanoseconds, digits
that are not ASCII, and Unicode spaces and invisible characters.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tiltrun.api.visible import INVISIBLE_RANGES

UNITS = ["ns", "us", "µs", "ms", "s", "m", "h"]
#: Non-ASCII digits and near-misses that a careless grammar would take for digits or units.
ODD = ["٣", "５", "²", "-", "+", " ", ".", "e", "d", "μs", "\u00a0", "h ", "1_000"]

_whole = st.one_of(
    st.integers(min_value=0, max_value=20).map(str),
    st.sampled_from(["0", "1", "168", "169", "10080", "604800", "604801", "999", "1000"]),
    st.integers(min_value=0, max_value=10**25).map(str),
    st.tuples(st.integers(0, 30), st.integers(0, 1000)).map(lambda zi: "0" * zi[0] + str(zi[1])),
)
_fraction = st.one_of(
    st.just(""),
    st.text("0123456789", min_size=1, max_size=25).map(lambda digits: "." + digits),
)
_part = st.tuples(_whole, _fraction, st.sampled_from(UNITS)).map("".join)

#: Strings in (or near) the duration grammar, and some far from it.
DURATION_TEXT = st.one_of(
    st.lists(_part, min_size=1, max_size=4).map("".join),
    st.sampled_from(
        [
            "0",
            "0s",
            "0.0ms",
            "1ms",
            "0.999999ms",
            "0.9999999999ms",
            "999999ns",
            "1000000ns",
            "168h",
            "168h0.000000001s",
            "167h59m60s",
            "604800s",
            "604800000000000ns",
            "604800000000001ns",
            "10080m",
            "9999999999h",
            "0.0000000001ns",
            "1h30m",
            "5 minutes",
            "-5m",
            "",
            "1d",
        ]
    ),
    st.tuples(_part, st.sampled_from(ODD), _part).map("".join),
    st.lists(st.sampled_from([*"0123456789.hmsnuµ", *ODD]), max_size=12).map("".join),
).filter(lambda text: len(text) <= 64)  # the CRD's maxLength: past it, a length error

_invisible = st.sampled_from(INVISIBLE_RANGES).flatmap(lambda r: st.integers(r[0], r[1])).map(chr)
#: Strings made mostly of spaces and invisible characters, some with a visible one.
NAME_TEXT = st.one_of(
    st.lists(_invisible, max_size=8).map("".join),
    st.lists(
        st.one_of(
            _invisible,
            st.sampled_from(["a", "/", ".", "Tiltfile", "é", "\u3042", "\U0001f600", "\u0301"]),
        ),
        min_size=1,
        max_size=8,
    ).map("".join),
    st.text(max_size=8),
)
