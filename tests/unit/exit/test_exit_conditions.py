"""Conditions: Ready / Reconciling / Stalled from a verdict, kstatus-compatible."""

from __future__ import annotations

from typing import Any

from tests.unit.exit.exit_targets import T0, active, at, failed, job, server, spec, waiting
from tiltrun.api.model import ExitCondition, Target, micro_time
from tiltrun.judge.conditions import conditions
from tiltrun.judge.exit import Verdict, decide

CI, MANUAL = ExitCondition.CI, ExitCondition.MANUAL


def verdict_for(targets: list[Target], now: float, mode: ExitCondition = CI) -> Verdict:
    return decide(spec(mode), targets, start_time=T0, now=at(now))


def table(result: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """type -> (status, reason), the part of a condition a gate reads."""
    return {c["type"]: (c["status"], c["reason"]) for c in result}


def test_ci_running_is_reconciling() -> None:
    verdict = verdict_for([server("deployment/web", waiting("ContainerCreating"))], now=10)
    result = conditions(verdict, CI, generation=3, previous=[], now=at(10))
    assert table(result) == {
        "Ready": ("False", "Waiting"),
        "Reconciling": ("True", "Waiting"),
        "Stalled": ("False", "Waiting"),
    }
    assert [c["type"] for c in result] == ["Ready", "Reconciling", "Stalled"]
    for condition in result:
        assert condition["observedGeneration"] == 3
        assert condition["lastTransitionTime"] == micro_time(at(10))
        assert condition["message"] == "waiting on 1 of 1: deployment/web (ContainerCreating)"


def test_ci_succeeded_is_ready() -> None:
    verdict = verdict_for([server("deployment/web", active(ready=True))], now=10)
    assert table(conditions(verdict, CI, generation=1, previous=[], now=at(10))) == {
        "Ready": ("True", "Succeeded"),
        "Reconciling": ("False", "Succeeded"),
        "Stalled": ("False", "Succeeded"),
    }


def test_ci_failed_and_timed_out_are_stalled() -> None:
    broken = verdict_for([job("job/migrate", failed("exit code 1"))], now=10)
    assert table(conditions(broken, CI, generation=1, previous=[], now=at(10))) == {
        "Ready": ("False", "Failed"),
        "Reconciling": ("False", "Failed"),
        "Stalled": ("True", "Failed"),
    }
    late = verdict_for([server("deployment/web", waiting("ContainerCreating"))], now=1800)
    assert table(conditions(late, CI, generation=1, previous=[], now=at(1800)))["Stalled"] == (
        "True",
        "TimedOut",
    )
    unready = verdict_for([server("deployment/web", active(ready=False))], now=300)
    assert table(conditions(unready, CI, generation=1, previous=[], now=at(300)))["Stalled"] == (
        "True",
        "ReadinessTimeout",
    )


def test_manual_ready_when_all_up() -> None:
    verdict = verdict_for([server("deployment/web", active(ready=True))], now=10, mode=MANUAL)
    assert table(conditions(verdict, MANUAL, generation=1, previous=[], now=at(10))) == {
        "Ready": ("True", "AllTargetsUp"),
        "Reconciling": ("False", "AllTargetsUp"),
        "Stalled": ("False", "AllTargetsUp"),
    }


def test_manual_with_no_targets_is_reconciling_not_ready() -> None:
    verdict = verdict_for([], now=10, mode=MANUAL)
    assert table(conditions(verdict, MANUAL, generation=1, previous=[], now=at(10))) == {
        "Ready": ("False", "NoMatchingWorkloads"),
        "Reconciling": ("True", "NoMatchingWorkloads"),
        "Stalled": ("False", "NoMatchingWorkloads"),
    }


def test_manual_failing_target_is_stalled_and_not_reconciling() -> None:
    """kstatus reads Reconciling before Stalled: both True would hide the failure."""
    targets = [
        job("job/migrate", failed("exit code 1")),
        server("deployment/web", waiting("ContainerCreating")),
    ]
    verdict = verdict_for(targets, now=10, mode=MANUAL)
    assert table(conditions(verdict, MANUAL, generation=1, previous=[], now=at(10))) == {
        "Ready": ("False", "Failing"),
        "Reconciling": ("False", "Failing"),
        "Stalled": ("True", "Failing"),
    }


def test_unchanged_world_gives_identical_conditions() -> None:
    targets = [server("deployment/web", waiting("ContainerCreating"))]
    first = conditions(verdict_for(targets, 10), CI, generation=2, previous=[], now=at(10))
    again = conditions(verdict_for(targets, 90), CI, generation=2, previous=first, now=at(90))
    assert again == first


def test_last_transition_time_kept_while_status_unchanged_and_moved_when_it_changes() -> None:
    waiting_world = [server("deployment/web", waiting("ContainerCreating"))]
    unready_world = [server("deployment/web", active(since=20, ready=False, reason="1/3 ready"))]
    ready_world = [server("deployment/web", active(since=20, ready=True))]

    first = conditions(verdict_for(waiting_world, 10), CI, generation=1, previous=[], now=at(10))
    # Same statuses, new reason/message: the transition times stay.
    second = conditions(
        verdict_for(unready_world, 30), CI, generation=1, previous=first, now=at(30)
    )
    assert {c["type"]: c["lastTransitionTime"] for c in second} == {
        c["type"]: micro_time(at(10)) for c in first
    }
    assert second[0]["message"] == "waiting on 1 of 1: deployment/web (1/3 ready)"
    # Ready and Reconciling flip; Stalled stays False and keeps its time.
    third = conditions(verdict_for(ready_world, 50), CI, generation=1, previous=second, now=at(50))
    times = {c["type"]: c["lastTransitionTime"] for c in third}
    assert times == {
        "Ready": micro_time(at(50)),
        "Reconciling": micro_time(at(50)),
        "Stalled": micro_time(at(10)),
    }


def test_previous_conditions_that_are_junk_or_foreign_are_ignored() -> None:
    verdict = verdict_for([server("deployment/web", waiting("ContainerCreating"))], now=10)
    previous: list[Any] = [
        "not a condition",
        {"status": "False"},
        {"type": "Ready", "status": "False", "lastTransitionTime": ""},
        {"type": "Reconciling", "status": "True", "lastTransitionTime": None},
        {"type": "SomethingElse", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"},
    ]
    result = conditions(verdict, CI, generation=4, previous=previous, now=at(10))
    assert [c["type"] for c in result] == ["Ready", "Reconciling", "Stalled"]
    assert all(c["lastTransitionTime"] == micro_time(at(10)) for c in result)


def test_a_new_generation_is_reported_without_moving_transition_times() -> None:
    targets = [server("deployment/web", waiting("ContainerCreating"))]
    first = conditions(verdict_for(targets, 10), CI, generation=1, previous=[], now=at(10))
    bumped = conditions(verdict_for(targets, 20), CI, generation=2, previous=first, now=at(20))
    assert all(c["observedGeneration"] == 2 for c in bumped)
    assert all(c["lastTransitionTime"] == micro_time(at(10)) for c in bumped)
