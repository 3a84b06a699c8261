"""Durations: the operator computes exactly what Go computes, and keeps the bounds."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings

from tests.unit.api.strategies import DURATION_TEXT
from tiltrun.api.duration import (
    DURATION_PATTERN,
    MAX_NS,
    MIN_NS,
    DurationError,
    DurationRangeError,
    duration_ns,
    parse_bounded_duration,
    parse_duration,
)

GRAMMAR = re.compile(DURATION_PATTERN, re.ASCII)

#: Go's ``time.ParseDuration`` on each line of stdin: nanoseconds, or ``error``.
GO_PROGRAM = """
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		d, err := time.ParseDuration(in.Text())
		if err != nil {
			fmt.Println("error")
		} else {
			fmt.Println(int64(d))
		}
	}
}
"""


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("0s", 0),
        ("1ms", 1_000_000),
        ("1.5h", 5_400_000_000_000),
        ("1h2m3s4ms5us6ns", 3_723_004_005_006),
        ("1µs", 1_000),
        ("0.0000000001ns", 0),  # Go truncates to whole nanoseconds
        ("0.9999999999ms", 999_999),
        ("00000000000000000000000001h", 3_600_000_000_000),
        ("9223372036854775807ns", 2**63 - 1),
    ],
)
def test_duration_ns_is_what_go_computes(text: str, nanoseconds: int) -> None:
    assert duration_ns(text) == nanoseconds


@pytest.mark.parametrize(
    "text", ["", "5", "-5m", "5 m", "1d", "1.h", ".5h", "٣s", "1h ", "9223372036854775808ns"]
)
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(DurationError):
        duration_ns(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("0s", 0.0), ("0.000ms", 0.0), ("1ms", 0.001), ("168h", 604_800.0)],
)
def test_zero_and_the_bounds_themselves_are_accepted(text: str, seconds: float) -> None:
    assert parse_bounded_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["0.0000000001ns", "999999ns", "0.9999999999ms", "168h1ns", "169h", "9999999999h", "8000h"],
)
def test_durations_out_of_bounds_are_refused(text: str) -> None:
    with pytest.raises(DurationRangeError, match="at least 1ms and at most 168h"):
        parse_bounded_duration(text)


def test_the_client_side_parser_has_no_bounds() -> None:
    assert parse_duration("200h") == 720_000.0


@given(DURATION_TEXT)
def test_bounded_is_zero_or_within_bounds(text: str) -> None:
    try:
        seconds = parse_bounded_duration(text)
    except DurationError:
        return
    assert seconds == 0 or MIN_NS / 1e9 <= seconds <= MAX_NS / 1e9


@pytest.fixture(scope="module")
def go_parse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    assert go is not None, "the dev cluster's toolchain (go) is needed to compare with Go"
    folder = tmp_path_factory.mktemp("goparse")
    (folder / "main.go").write_text(GO_PROGRAM)
    (folder / "go.mod").write_text("module goparse\n\ngo 1.22\n")
    binary = folder / "goparse"
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=folder, check=True, timeout=300)
    return binary


@settings(max_examples=300, deadline=None)
@given(DURATION_TEXT)
def test_duration_ns_agrees_with_go_on_the_grammar(go_parse: Path, text: str) -> None:
    """Within the grammar every value, or overflow, is Go's to the nanosecond; outside it
    the operator refuses (Go's grammar is wider: ``.5h``, ``1.h``, ``+1s``, ``μs``)."""
    try:
        mine: int | str = duration_ns(text)
    except DurationError:
        mine = "error"
    if not GRAMMAR.fullmatch(text):
        assert mine == "error"
        return
    out = subprocess.run(
        [str(go_parse)], input=text + "\n", capture_output=True, text=True, check=True
    ).stdout.strip()
    assert mine == ("error" if out == "error" else int(out)), text
