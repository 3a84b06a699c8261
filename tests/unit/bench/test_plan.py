"""What ``python -m bench`` runs: the default plan, or every combination asked for."""

from __future__ import annotations

import pytest

from bench.__main__ import DEFAULT_PLAN, Step, parse_args
from bench.scenario import Size


def test_without_sizes_passes_or_conditions_the_default_plan_runs() -> None:
    plan = parse_args([]).plan
    assert plan == list(DEFAULT_PLAN)
    # The asks, each somewhere in the plan.
    curve = {"together", "operator"}
    assert {s.size.runs for s in plan if s.pass_name in curve and not s.busy} >= {10, 100, 200}
    # Rollout, idle and start-up are measured with the operator alone and side by side.
    assert {s.pass_name for s in plan if s.size == Size(1, 100, 10) and not s.live_only} >= {
        "operator",
        "together",
    }
    assert {s.pass_name for s in plan if s.size == Size(1, 100, 10)} >= {
        "operator",
        "baselines",
        "together",
    }
    assert any(s.busy for s in plan)
    assert any(s.pass_name == "shard" and s.size.namespaces == 100 for s in plan)
    assert any(s.restart_pods >= 5000 for s in plan)


def test_sizes_passes_and_conditions_combine_and_restarts_go_to_operator_passes() -> None:
    plan = parse_args(
        [
            "--sizes",
            "10x10,2x1x3",
            "--passes",
            "operator,baselines",
            "--busy-cores",
            "0,1",
            "--restart-pods",
            "300",
        ]
    ).plan
    assert len(plan) == 8
    assert Step(Size(2, 1, 3), "baselines", 1, 0) in plan
    assert Step(Size(1, 10, 10), "operator", 0, 300) in plan


def test_live_only_applies_to_every_pass_asked_for() -> None:
    plan = parse_args(["--sizes", "50x10", "--passes", "together,operator", "--live-only"]).plan
    assert [s.live_only for s in plan] == [True, True]
    assert not any(s.live_only for s in parse_args(["--sizes", "50x10"]).plan)


def test_quick_mode_is_one_small_side_by_side_pass() -> None:
    assert parse_args(["--quick"]).plan == [Step(Size(1, 5, 4), "together")]


@pytest.mark.parametrize(
    "args", [["--passes", "sideways"], ["--sizes", "10"], ["--busy-cores", "-1"]]
)
def test_a_bad_plan_is_refused_before_anything_runs(args: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(args)
