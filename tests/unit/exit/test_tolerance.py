"""Per-workload tolerance, optional targets, stableFor and expect (customizable exits)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.unit.exit.exit_targets import at, failed, job, ok, server, spec, waiting
from tiltrun.api.model import Active, CISettings, RunSpec, Target, TargetPolicy, TargetState
from tiltrun.judge.exit import Outcome, decide
from tiltrun.judge.policy import read_policy

CRASH = "pod web-1 container app: CrashLoopBackOff (back-off), last exit code 1, 2 restarts"


def crashing(name: str, restarts: int, policy: TargetPolicy | None = None) -> Target:
    return replace(
        server(name, failed(CRASH, start=0, finish=5)),
        crash_restarts=restarts,
        policy=policy or TargetPolicy(),
    )


def ci(**settings: Any) -> RunSpec:
    """The default spec with these ``spec.ci`` settings."""
    return replace(spec(), ci=replace(CISettings(), **settings))


def test_failures_allowed_tolerates_a_crash_loop_within_its_restarts() -> None:
    verdict = decide(
        ci(failures_allowed=3),
        [crashing("deployment/web", 2)],
        start_time=at(0),
        now=at(6),
    )
    assert not verdict.done
    assert verdict.retrying == ("deployment/web",)
    assert verdict.grace["deployment/web"] == {
        "status": "tolerated",
        "restarts": 2,
        "budget": "3 restarts",
    }


def test_failures_allowed_exceeded_fails_the_run_and_says_so() -> None:
    verdict = decide(
        ci(failures_allowed=3),
        [crashing("deployment/web", 4)],
        start_time=at(0),
        now=at(6),
    )
    assert verdict.done and verdict.outcome is Outcome.FAILED
    assert verdict.grace["deployment/web"]["status"] == "exceeded"
    assert "CrashLoopBackOff" in verdict.error


def test_without_failures_allowed_the_first_crash_fails_fast() -> None:
    verdict = decide(spec(), [crashing("deployment/web", 1)], start_time=at(0), now=at(6))
    assert verdict.done and verdict.failing == ("deployment/web",)
    assert "deployment/web" not in verdict.grace  # no budget, nothing to explain


def test_failures_allowed_never_tolerates_a_failure_that_is_not_a_crash_loop() -> None:
    pull = server("deployment/web", failed("pod web-1 container app: ImagePullBackOff"))
    verdict = decide(ci(failures_allowed=5), [pull], start_time=at(0), now=at(6))
    assert verdict.done and verdict.failing == ("deployment/web",)


def test_workload_annotation_overrides_spec_ci() -> None:
    """Precedence: annotation over spec.ci over default."""
    strict = crashing("deployment/web", 2, TargetPolicy(failures_allowed=0))
    lenient = crashing("deployment/api", 2, TargetPolicy(failures_allowed=5))
    verdict = decide(
        ci(failures_allowed=3),
        [strict, lenient],
        start_time=at(0),
        now=at(6),
    )
    assert verdict.failing == ("deployment/web",)
    assert verdict.grace["deployment/api"]["budget"] == "5 restarts"


def test_annotation_grace_period_retries_then_fails_on_time() -> None:
    target = crashing("deployment/web", 1, TargetPolicy(grace_period=30))
    inside = decide(spec(), [target], start_time=at(0), now=at(29))
    assert inside.retrying == ("deployment/web",) and inside.wake_at == at(30)
    after = decide(spec(), [target], start_time=at(0), now=at(30))
    assert after.done and after.grace["deployment/web"]["status"] == "exceeded"


def test_annotation_readiness_timeout_overrides_spec() -> None:
    slow = replace(
        server("deployment/web", TargetState(active=Active(at(0), ready=False, reason="0/1"))),
        policy=TargetPolicy(readiness_timeout=10),
    )
    verdict = decide(spec(), [slow], start_time=at(0), now=at(10))
    assert verdict.done and "not ready after 10s" in verdict.error


def test_optional_target_failing_does_not_fail_the_run_but_is_reported() -> None:
    flaky = replace(
        server("deployment/metrics", failed("container exporter: exit 1")),
        policy=TargetPolicy(optional=True),
    )
    verdict = decide(spec(), [flaky, job("job/migrate", ok())], start_time=at(0), now=at(20))
    assert verdict.done and verdict.error == ""
    assert verdict.total == 1
    assert verdict.optional_failing == ("deployment/metrics",)
    assert "optional: deployment/metrics" in verdict.summary


def test_optional_target_alone_never_makes_a_run_succeed() -> None:
    only = replace(job("job/lint", ok()), policy=TargetPolicy(optional=True))
    verdict = decide(spec(timeout=60), [only], start_time=at(0), now=at(20))
    assert not verdict.done and verdict.total == 0


def _ready(since: float) -> Target:
    state = TargetState(active=Active(at(0), ready=True, ready_since=at(since)))
    return server("deployment/web", state)


def test_stable_for_delays_success_until_the_server_stayed_ready() -> None:
    settings = ci(stable_for=30)
    early = decide(settings, [_ready(5)], start_time=at(0), now=at(20))
    assert not early.done and early.wake_at == at(35)
    assert "must stay ready for 30s" in early.summary
    on_time = decide(settings, [_ready(5)], start_time=at(0), now=at(35))
    assert on_time.done and on_time.outcome is Outcome.SUCCEEDED


def test_stable_for_window_restarts_after_a_readiness_flap() -> None:
    """A flap moves readySince forward, so the window starts again from it."""
    settings = ci(stable_for=30)
    flapped = decide(settings, [_ready(25)], start_time=at(0), now=at(40))
    assert not flapped.done and flapped.wake_at == at(55)


def test_expect_holds_success_until_the_expected_workload_appears() -> None:
    settings = ci(expect=("deployment/api",))
    without = decide(settings, [job("job/migrate", ok())], start_time=at(0), now=at(5))
    assert not without.done and without.progress == "1/2"
    assert "deployment/api (expected, not found yet)" in without.summary
    api = server("deployment/api", TargetState(active=Active(at(0), ready=True)))
    both = decide(settings, [job("job/migrate", ok()), api], start_time=at(0), now=at(6))
    assert both.done and both.outcome is Outcome.SUCCEEDED


def test_expect_matches_resource_names_too() -> None:
    settings = ci(expect=("migrate",))
    migrate = replace(job("job/migrate", ok()), resources=("migrate",))
    verdict = decide(settings, [migrate], start_time=at(0), now=at(5))
    assert verdict.done and verdict.outcome is Outcome.SUCCEEDED


def test_expect_missing_at_timeout_is_named_in_the_error() -> None:
    settings = replace(spec(timeout=60), ci=CISettings(timeout=60, expect=("deployment/api",)))
    verdict = decide(settings, [waiting_job()], start_time=at(0), now=at(60))
    assert verdict.outcome is Outcome.TIMED_OUT
    assert "deployment/api (expected, not found yet)" in verdict.error


def waiting_job() -> Target:
    return job("job/migrate", waiting("ContainerCreating"))


def test_two_failing_workloads_are_both_named_in_order_of_failure() -> None:
    first = server("deployment/web", failed("boom", finish=3))
    second = job("job/migrate", failed("BackoffLimitExceeded", finish=7))
    verdict = decide(spec(), [second, first], start_time=at(0), now=at(8))
    assert verdict.error.splitlines() == [
        "deployment/web: boom",
        "job/migrate: BackoffLimitExceeded",
    ]


@pytest.mark.parametrize(
    ("annotations", "problem"),
    [
        (
            {"tilt.dev/grace-period": "soon"},
            "annotation tilt.dev/grace-period: expected a duration",
        ),
        ({"tilt.dev/failures-allowed": "-1"}, "tilt.dev/failures-allowed: expected a whole number"),
        ({"tilt.dev/failures-allowed": "three"}, 'got "three"'),
        ({"tilt.dev/readiness-timeout": "5 minutes"}, "tilt.dev/readiness-timeout: expected"),
        ({"tilt.dev/optional": "yes"}, 'tilt.dev/optional: expected "true" or "false"'),
    ],
)
def test_malformed_annotations_are_named_with_what_was_expected(
    annotations: dict[str, str], problem: str
) -> None:
    _, problems = read_policy(annotations)
    assert len(problems) == 1 and problem in problems[0]


def test_well_formed_annotations_become_the_policy() -> None:
    policy, problems = read_policy(
        {
            "tilt.dev/grace-period": "1m30s",
            "tilt.dev/failures-allowed": "3",
            "tilt.dev/readiness-timeout": "2m",
            "tilt.dev/optional": "TRUE",
        }
    )
    assert problems == []
    assert policy == TargetPolicy(
        grace_period=90, failures_allowed=3, readiness_timeout=120, optional=True
    )
