"""Label selectors: the text form reads back as the selector it was written from, and
matching agrees with the API server's rules, whichever of the two forms is used."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiltrun.api.model import RUN_LABEL
from tiltrun.api.selector import (
    SelectorError,
    default_selector,
    format_selector,
    matches,
    parse_selector,
    selector_of,
)

# Label keys and values as Kubernetes allows them (a key may carry a DNS prefix): an
# alphanumeric first and last character, dashes, underscores and dots between.
_ALNUM = "abcxyz019"
_NAME = st.builds(
    lambda head, middle, tail: head + (middle + tail if tail else ""),
    st.sampled_from(_ALNUM),
    st.text(alphabet=_ALNUM + "-_.", max_size=4),
    st.sampled_from(["", *_ALNUM]),
)
KEYS = st.one_of(_NAME, st.builds(lambda p, n: f"{p}/{n}", _NAME, _NAME))
VALUES = _NAME  # non-empty: kubectl's set syntax has no spelling for an empty value
LABEL_VALUES = st.one_of(st.just(""), _NAME)


@st.composite
def expressions(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(KEYS)
    operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
    if operator in ("Exists", "DoesNotExist"):
        return {"key": key, "operator": operator}
    values = draw(st.lists(VALUES, min_size=1, max_size=3, unique=True))
    return {"key": key, "operator": operator, "values": values}


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    labels = draw(st.dictionaries(KEYS, LABEL_VALUES, max_size=3))
    if labels:
        selector["matchLabels"] = labels
    listed = draw(st.lists(expressions(), max_size=4))
    if listed:
        selector["matchExpressions"] = listed
    return selector


def canonical(selector: dict[str, Any]) -> dict[str, Any]:
    """The order ``format_selector`` writes in: expressions by key, set values sorted."""
    out = dict(selector)
    if "matchExpressions" in out:
        out["matchExpressions"] = sorted(
            (
                {**e, "values": sorted(e["values"])} if "values" in e else e
                for e in out["matchExpressions"]
            ),
            key=lambda e: e["key"],
        )
    return out


@settings(deadline=None)
@given(selectors())
def test_parse_reads_back_what_format_wrote(selector: dict[str, Any]) -> None:
    written = canonical(selector)
    assert parse_selector(format_selector(written)) == written


@settings(deadline=None)
@given(selectors(), st.dictionaries(KEYS, LABEL_VALUES, max_size=4), st.data())
def test_the_text_form_matches_the_same_labels(
    selector: dict[str, Any], labels: dict[str, str], data: st.DataObject
) -> None:
    # Borrow some of the selector's own keys and values so that matches are not rare.
    for expression in selector.get("matchExpressions", []):
        if data.draw(st.booleans()):
            labels[expression["key"]] = data.draw(st.sampled_from(expression.get("values") or [""]))
    for key, value in selector.get("matchLabels", {}).items():
        if data.draw(st.booleans()):
            labels[key] = value
    read_back = parse_selector(format_selector(selector))
    assert matches(read_back, labels) == matches(selector, labels)


def test_kubectl_spellings_read_as_the_api_writes_them() -> None:
    assert parse_selector("a==b, c != d ,!e,f") == {
        "matchLabels": {"a": "b"},
        "matchExpressions": [
            {"key": "c", "operator": "NotIn", "values": ["d"]},
            {"key": "e", "operator": "DoesNotExist"},
            {"key": "f", "operator": "Exists"},
        ],
    }
    assert parse_selector("  ") == {}


def test_text_that_is_not_a_selector_is_an_error() -> None:
    with pytest.raises(SelectorError, match="cannot read 'a b c' in the selector 'x=1,a b c'"):
        parse_selector("x=1,a b c")


def test_an_unknown_operator_cannot_be_matched() -> None:
    with pytest.raises(SelectorError, match="unknown selector operator 'Near'"):
        matches({"matchExpressions": [{"key": "a", "operator": "Near"}]}, {})


def test_an_omitted_or_empty_selector_is_the_run_label() -> None:
    assert default_selector("shop") == {"matchLabels": {RUN_LABEL: "shop"}}
    for spec in ({}, {"selector": None}, {"selector": {}}, {"selector": ["not", "a", "map"]}):
        assert selector_of({"metadata": {"name": "shop"}, "spec": spec}) == {
            "matchLabels": {"tilt.dev/run": "shop"}
        }
    given_one = {"matchLabels": {"app": "web"}}
    assert selector_of({"metadata": {"name": "shop"}, "spec": {"selector": given_one}}) == (
        given_one
    )
