"""The benchmark report's comparisons: which passes are compared, and the targets' verdicts."""

from __future__ import annotations

from typing import Any

from bench import report


def _reaction(p50: float | None) -> dict[str, Any]:
    return {"n": 1, "p50": p50, "p95": p50, "p99": p50, "max": p50}


def _pass(name: str, busy: int = 0, size: str = "100x10", **figures: Any) -> dict[str, Any]:
    return {"size": size, "pass": name, "busy_cores": busy, "layout": "shared", **figures}


def _contender(p50: float) -> dict[str, Any]:
    return {"reaction_to_up": _reaction(p50)}


def test_the_operator_alone_is_compared_with_the_baselines_alone_of_the_same_condition() -> None:
    passes = [
        _pass("operator", busy=0),
        _pass("baselines", busy=1),
        _pass("operator", busy=1),
        _pass("baselines", busy=0),
        _pass("baselines", busy=0, size="10x10"),
    ]
    pairs = [(op["busy_cores"], base["busy_cores"]) for op, base in report._pairs(passes)]
    assert pairs == [(0, 0), (1, 1)]


def test_faster_than_the_poller_is_judged_on_the_worst_pass() -> None:
    passes = [
        _pass("together", operator=_contender(0.05), poll_2s=_contender(1.0)),  # 20x
        _pass("together", busy=1, operator=_contender(0.2), poll_2s=_contender(1.0)),  # 5x
    ]
    _, measured, met = report._faster(passes)
    assert met is False
    assert measured == "5.0× at worst (100x10 together, 1 core busy)"


def test_api_server_cost_subtracts_the_floor_and_compares_with_the_poller_alone() -> None:
    passes = [
        _pass("operator", apiserver={"live": 12.0}),
        _pass("poll-2s", apiserver={"live": 20.0}),
        _pass("none", apiserver={"live": 10.0}),
    ]
    _, measured, met = report._apiserver_target(passes)
    assert met is True
    assert measured == "2.0 s vs 10.0 s (floor subtracted)"


def test_api_server_cost_against_all_baselines_is_shown_but_not_judged() -> None:
    passes = [
        _pass("operator", apiserver={"live": 12.0}),
        _pass("baselines", apiserver={"live": 30.0}),
    ]
    _, measured, met = report._apiserver_target(passes)
    assert met is None
    assert "poll-2s was not run alone" in measured
