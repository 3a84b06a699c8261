"""The operator's spec reader refuses what the CRD refuses, from the same definitions."""

from __future__ import annotations

import itertools
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

from tiltrun.api.duration import BOUNDED_PATTERN, DURATION_PATTERN, NONZERO_PATTERN
from tiltrun.api.spec import SpecError, read_spec
from tiltrun.api.visible import INVISIBLE_RANGES, VISIBLE_PATTERN, has_visible_character

REPO = Path(__file__).resolve().parents[3]
TILTRUNS = REPO / "tests" / "fixtures" / "tiltruns"
DURATION_FIELDS = ("timeout", "readinessTimeout", "gracePeriod", "stableFor")
#: The characters issue 11 found accepted as a tiltfilePath of their own.
ISSUE_11 = ["\u00a0", "\u2003", "\u3000", "\u2028", "\u0085", "\u200b", "\ufeff", "\x00", "\u202e"]


def _spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "crds" / "tiltrun.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    return dict(version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"])


def _rules(schema: dict[str, Any]) -> list[str]:
    return [entry["rule"] for entry in schema.get("x-kubernetes-validations", [])]


def test_the_crd_checks_names_with_the_operators_visible_pattern() -> None:
    spec = _spec_schema()
    expect_item = spec["ci"]["properties"]["expect"]["items"]
    wanted = f'self.matches(r"{VISIBLE_PATTERN}")'
    assert _rules(spec["tiltfilePath"]) == [wanted]
    assert _rules(expect_item) == [wanted]
    check = spec["healthChecks"]["items"]["properties"]
    for field in ("current", "failed", "inProgress"):
        assert _rules(check[field]) == [wanted], field


@pytest.mark.parametrize("field", DURATION_FIELDS)
def test_the_crd_checks_durations_with_the_operators_patterns(field: str) -> None:
    grammar, bounds = _rules(_spec_schema()["ci"]["properties"][field])
    assert grammar == f'self.matches(r"{DURATION_PATTERN}")'
    for pattern in (DURATION_PATTERN, NONZERO_PATTERN, BOUNDED_PATTERN):
        assert f'self.matches(r"{pattern}")' in bounds
    assert 'duration(self) >= duration("1ms")' in bounds
    assert 'duration(self) <= duration("168h")' in bounds


@pytest.mark.parametrize("char", ISSUE_11, ids=lambda c: f"U+{ord(c):04X}")
def test_each_invisible_character_of_issue_11_is_no_name(char: str) -> None:
    assert not has_visible_character(char)
    assert not has_visible_character(f" {char}{char}\t")


def test_every_space_and_control_character_is_invisible() -> None:
    """A sanity check of the table against Python's own Unicode data (not its source)."""
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) in ("Zs", "Zl", "Zp", "Cc") or char.isspace():
            assert not has_visible_character(char), f"U+{code:04X}"


@pytest.mark.parametrize("text", ["Tiltfile", "a", "\u3042", "é", "\U0001f600", " x ", "\u200bx"])
def test_a_name_with_one_visible_character_is_a_name(text: str) -> None:
    assert has_visible_character(text)


def test_the_ranges_are_sorted_and_disjoint() -> None:
    for (_, high), (low, _) in itertools.pairwise(INVISIBLE_RANGES):
        assert high + 1 < low
    assert all(low <= high for low, high in INVISIBLE_RANGES)
    assert re.fullmatch(r"\[\^(\\x\{[0-9A-F]+\}(-\\x\{[0-9A-F]+\})?)+\]", VISIBLE_PATTERN)


def _run(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "r"}, "spec": {"tiltfilePath": "Tiltfile", **spec}}


@pytest.mark.parametrize("path", ["", "   ", *ISSUE_11, "\u200b\ufeff\u202e"])
def test_read_spec_refuses_a_tiltfile_path_that_shows_nothing(path: str) -> None:
    with pytest.raises(SpecError, match="tiltfilePath must not be empty"):
        read_spec(_run(tiltfilePath=path))


@pytest.mark.parametrize("field", DURATION_FIELDS)
@pytest.mark.parametrize("value", ["9999999999h", "0.0000000001ns", "169h", "500us"])
def test_read_spec_refuses_durations_out_of_bounds(field: str, value: str) -> None:
    with pytest.raises(SpecError, match=f"spec.ci.{field} .* is out of range"):
        read_spec(_run(ci={field: value}))


def test_read_spec_refuses_an_expect_entry_that_shows_nothing() -> None:
    with pytest.raises(SpecError, match=r"ci\.expect entries must not be empty"):
        read_spec(_run(ci={"expect": ["deployment/web", "\u3000"]}))


@pytest.mark.parametrize("path", sorted(TILTRUNS.glob("valid-*.yaml")), ids=lambda p: p.stem)
def test_read_spec_accepts_every_valid_fixture(path: Path) -> None:
    read_spec(yaml.safe_load(path.read_text()))


def test_bounds_and_zero_are_read_in_seconds() -> None:
    ci = read_spec(_run(ci={"timeout": "168h", "readinessTimeout": "1ms", "gracePeriod": "0s"})).ci
    assert (ci.timeout, ci.readiness_timeout, ci.grace_period) == (604_800.0, 0.001, 0.0)


#: Invalid fixtures whose fault lies in what read_spec reads (not in the selector's shape).
READ_SPEC_REFUSES = [
    "invalid-blank-tiltfilepath",
    "invalid-empty-tiltfilepath",
    "invalid-invisible-tiltfilepath",
    "invalid-exit-condition",
    "invalid-ci-timeout",
    "invalid-ci-timeout-too-long",
    "invalid-ci-grace-period",
    "invalid-ci-grace-period-too-short",
    "invalid-ci-readiness-timeout",
    "invalid-ci-stable-for",
    "invalid-ci-failures-allowed",
]


@pytest.mark.parametrize("name", READ_SPEC_REFUSES)
def test_read_spec_refuses_what_the_api_server_refuses(name: str) -> None:
    with pytest.raises(SpecError):
        read_spec(yaml.safe_load((TILTRUNS / f"{name}.yaml").read_text()))
