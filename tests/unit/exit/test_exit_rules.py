"""The exit rules of SPEC "Exit logic", one test (or a few) per rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.unit.exit.exit_targets import (
    T0,
    active,
    at,
    disabled,
    failed,
    job,
    ok,
    server,
    spec,
    waiting,
)
from tiltrun.api.model import ExitCondition, Target, TargetState
from tiltrun.api.selector import format_selector
from tiltrun.judge.exit import Outcome, Reason, Verdict, decide

MICRO = timedelta(microseconds=1)


def run(
    targets: list[Target],
    now: float,
    *,
    exit_condition: ExitCondition = ExitCondition.CI,
    selector: dict[str, Any] | None = None,
    **ci: float,
) -> Verdict:
    """Decide a run ``now`` seconds after it started; ``ci`` are CISettings overrides."""
    run_spec = spec(exit_condition, selector=selector, **ci)
    return decide(run_spec, targets, start_time=T0, now=at(now))


# Rule 1: only targets that are not disabled count.


def test_rule1_disabled_targets_do_not_count() -> None:
    verdict = run(
        [server("deployment/web", active(ready=True)), job("job/seed", disabled())], now=60
    )
    assert (verdict.satisfied, verdict.total, verdict.progress) == (1, 1, "1/1")
    assert verdict.done and verdict.outcome is Outcome.SUCCEEDED
    assert verdict.summary == "1 target up"


# Rule 2: a target terminated with an error fails the run, unless inside its grace period.


def test_rule2_terminated_with_error_fails_the_run() -> None:
    targets = [
        server("deployment/web", active(ready=True)),
        job("job/migrate", failed("pod migrate-x7k2p container migrate: exit code 1")),
    ]
    verdict = run(targets, now=60)
    assert verdict.done and verdict.outcome is Outcome.FAILED
    assert verdict.reason is Reason.FAILED
    assert verdict.error == "job/migrate: pod migrate-x7k2p container migrate: exit code 1"
    assert verdict.failing == ("job/migrate",)
    assert (
        verdict.summary == "failed: job/migrate: pod migrate-x7k2p container migrate: exit code 1"
    )


def test_rule2_error_lists_every_failing_target_by_finish_time_then_name() -> None:
    targets = [
        job("job/b", failed("B broke", finish=30)),
        job("job/z", failed("Z broke", finish=20)),
        job("job/a", failed("A broke", finish=30)),
        server("deployment/web", waiting("ContainerCreating")),
    ]
    verdict = run(targets, now=60)
    assert verdict.error.splitlines() == ["job/z: Z broke", "job/a: A broke", "job/b: B broke"]
    assert verdict.failing == ("job/z", "job/a", "job/b")
    assert verdict.summary == "failed: job/z: Z broke (and 2 more)"
    # Input order does not matter: the same world gives the same error.
    assert run(list(reversed(targets)), now=60) == verdict


def test_rule2_multiline_target_error_is_indented_under_its_target() -> None:
    targets = [
        job("job/a", failed("exit code 1\nlast log line:\n  panic: boom\n", finish=1)),
        job("job/b", failed("OOMKilled", finish=2)),
    ]
    verdict = run(targets, now=60)
    assert verdict.error == (
        "job/a: exit code 1\n  last log line:\n    panic: boom\njob/b: OOMKilled"
    )
    assert verdict.summary == "failed: job/a: exit code 1 (and 1 more)"


def test_rule2_failure_inside_grace_period_is_retrying() -> None:
    crash = failed("CrashLoopBackOff: back-off 10s restarting container api", start=0, finish=5)
    verdict = run([server("deployment/api", crash)], now=30, grace_period=60)
    assert not verdict.done and verdict.error == ""
    assert verdict.retrying == ("deployment/api",) and verdict.failing == ()
    assert verdict.reason is Reason.RETRYING
    assert verdict.summary == (
        "waiting on 1 of 1: deployment/api (retrying: CrashLoopBackOff: back-off 10s "
        "restarting container api)"
    )
    assert verdict.wake_at == at(60)


def test_rule2_retrying_turns_failing_exactly_at_grace_expiry() -> None:
    """Grace is counted from terminated.start_time; the expiry instant itself is failure."""
    crash = failed("CrashLoopBackOff", start=10, finish=15)
    targets = [server("deployment/api", crash)]
    before = decide(spec(grace_period=60), targets, start_time=T0, now=at(70) - MICRO)
    assert before.retrying == ("deployment/api",) and not before.done
    assert before.wake_at == at(70)
    expiry = decide(spec(grace_period=60), targets, start_time=T0, now=before.wake_at)
    assert expiry.done and expiry.failing == ("deployment/api",)
    assert expiry.error == "deployment/api: CrashLoopBackOff"


def test_rule2_zero_grace_fails_at_once_even_with_a_start_time_ahead_of_now() -> None:
    # A target whose clock runs ahead of ours must not get an accidental grace period.
    verdict = run([job("job/migrate", failed("exit code 2", start=100, finish=120))], now=50)
    assert verdict.done and verdict.failing == ("job/migrate",)


def test_rule2_a_server_that_stops_fails_even_without_an_error() -> None:
    verdict = run([server("pod/web", ok())], now=60)
    assert verdict.done and verdict.outcome is Outcome.FAILED
    assert verdict.error == "pod/web: stopped running (no error reported)"


def test_rule2_a_job_with_a_blank_error_still_fails_with_a_readable_message() -> None:
    verdict = run([job("job/migrate", failed("  \n"))], now=60)
    assert verdict.error == "job/migrate: failed (no error reported)"


# Rule 3: a server active but not ready longer than ci.readinessTimeout fails the run.


def test_rule3_server_not_ready_past_readiness_timeout_fails_naming_it() -> None:
    web = server("deployment/web", active(since=60, ready=False, reason="1/3 ready"))
    verdict = run([web, job("job/migrate", ok())], now=60 + 300)
    assert verdict.done and verdict.outcome is Outcome.FAILED
    assert verdict.reason is Reason.READINESS_TIMEOUT
    assert verdict.error == "deployment/web: not ready after 5m (1/3 ready)"
    assert verdict.summary == "failed: deployment/web: not ready after 5m (1/3 ready)"


def test_rule3_boundary_one_microsecond_before_the_deadline_is_still_waiting() -> None:
    web = server("deployment/web", active(since=60, ready=False, reason="1/3 ready"))
    verdict = decide(spec(), [web], start_time=T0, now=at(360) - MICRO)
    assert not verdict.done
    assert verdict.summary == "waiting on 1 of 1: deployment/web (1/3 ready)"
    assert verdict.wake_at == at(360)


def test_rule3_never_applies_to_jobs() -> None:
    verdict = run([job("job/migrate", active(since=0, ready=False))], now=29 * 60)
    assert not verdict.done
    assert verdict.summary == "waiting on 1 of 1: job/migrate (running)"
    assert verdict.wake_at == at(30 * 60)  # only the run timeout


def test_rule3_zero_readiness_timeout_disables_it() -> None:
    web = server("deployment/web", active(ready=False))
    verdict = run([web], now=29 * 60, readiness_timeout=0)
    assert not verdict.done and verdict.wake_at == at(30 * 60)


def test_rule3_mixed_failures_use_the_general_reason() -> None:
    targets = [
        server("deployment/web", active(since=0, ready=False)),
        job("job/migrate", failed("exit code 1", finish=400)),
    ]
    verdict = run(targets, now=500)
    # The readiness failure happened at 300s, before the job failed at 400s.
    assert verdict.error == "deployment/web: not ready after 5m\njob/migrate: exit code 1"
    assert verdict.reason is Reason.FAILED


# Rule 4: success when at least one target counts and every counted target is satisfied.


def test_rule4_success_when_servers_ready_and_jobs_succeeded() -> None:
    targets = [
        server("deployment/web", active(ready=True)),
        server("statefulset/db", active(ready=True)),
        job("job/migrate", ok()),
    ]
    verdict = run(targets, now=60)
    assert verdict.done and verdict.error == ""
    assert verdict.outcome is Outcome.SUCCEEDED and verdict.reason is Reason.SUCCEEDED
    assert verdict.summary == "all 3 targets up"
    assert verdict.progress == "3/3"
    assert verdict.wake_at is None


def test_rule4_a_running_job_or_unready_server_is_not_success() -> None:
    targets = [
        server("deployment/web", active(ready=False, reason="1/3 ready")),
        job("job/migrate", active(ready=True)),
        server("deployment/api", active(ready=True)),
        server("daemonset/agent", waiting("ContainerCreating")),
        server("pod/new", TargetState()),
    ]
    verdict = run(targets, now=60)
    assert not verdict.done and verdict.outcome is Outcome.RUNNING
    assert verdict.reason is Reason.WAITING
    assert verdict.progress == "1/5"
    assert verdict.summary == (
        "waiting on 4 of 5: daemonset/agent (ContainerCreating), deployment/web (1/3 ready), "
        "job/migrate (running), pod/new (no status yet)"
    )


# Rule 5: when ci.timeout passes first, fail saying what was still awaited, and since when.


def test_rule5_timeout_names_what_was_waiting_not_ready_or_retrying_and_since_when() -> None:
    targets = [
        server("deployment/web", waiting("ContainerCreating", since=63)),
        server("deployment/db", active(since=120, ready=False, reason="0/1 ready")),
        job("job/migrate", active(since=200, ready=False)),
        server("deployment/api", failed("CrashLoopBackOff", start=1700, finish=1750)),
        job("job/seed", ok()),
    ]
    verdict = run(targets, now=1800, readiness_timeout=0, grace_period=300)
    assert verdict.done and verdict.outcome is Outcome.TIMED_OUT
    assert verdict.reason is Reason.TIMED_OUT
    assert verdict.error == (
        "timed out after 30m; still waiting on: "
        "deployment/api (retrying (budget 5m): CrashLoopBackOff, failing since 22:29:10Z), "
        "deployment/db (0/1 ready, active since 22:02:00Z), "
        "deployment/web (ContainerCreating, waiting since 22:01:03Z), "
        "job/migrate (running since 22:03:20Z)"
    )
    assert verdict.summary == (
        "timed out after 30m; waiting on 4 of 5: deployment/api (retrying: CrashLoopBackOff), "
        "deployment/db (0/1 ready), deployment/web (ContainerCreating), job/migrate (running)"
    )
    assert verdict.retrying == ("deployment/api",)


def test_rule5_timeout_boundary_is_inclusive() -> None:
    targets = [server("deployment/web", waiting("Unschedulable: 0/1 nodes available"))]
    just_before = decide(spec(), targets, start_time=T0, now=at(1800) - MICRO)
    assert not just_before.done and just_before.wake_at == at(1800)
    exactly = decide(spec(), targets, start_time=T0, now=just_before.wake_at)
    assert exactly.done and exactly.outcome is Outcome.TIMED_OUT


def test_rule5_times_on_another_day_carry_the_date() -> None:
    targets = [server("deployment/web", waiting("ContainerCreating", since=0))]
    verdict = run(targets, now=86400, timeout=86400)
    assert verdict.error == (
        "timed out after 24h; still waiting on: "
        "deployment/web (ContainerCreating, waiting since 2024-05-01T22:00:00Z)"
    )


def test_rule5_zero_timeout_disables_it() -> None:
    targets = [server("deployment/web", waiting("ContainerCreating"))]
    verdict = run(targets, now=10 * 86400, timeout=0)
    assert not verdict.done and verdict.wake_at is None


def test_rule5_a_failure_is_reported_rather_than_the_timeout() -> None:
    """Both true at once (the operator was down): the error names what actually broke."""
    verdict = run([job("job/migrate", failed("exit code 1", finish=1900))], now=2000)
    assert verdict.outcome is Outcome.FAILED
    assert verdict.error == "job/migrate: exit code 1"


def test_rule5_success_wins_over_a_passed_timeout() -> None:
    verdict = run([server("deployment/web", active(ready=True))], now=2000)
    assert verdict.outcome is Outcome.SUCCEEDED


# Rule 6: a selector that matches nothing is never success.


def test_rule6_no_targets_is_never_success_and_names_the_selector() -> None:
    verdict = run([], now=60)
    assert not verdict.done and verdict.progress == "0/0"
    assert verdict.reason is Reason.NO_MATCHING_WORKLOADS
    assert verdict.summary == "no enabled workloads match the selector tilt.dev/run=demo"
    assert verdict.wake_at == at(1800)


def test_rule6_only_disabled_targets_reads_the_same_as_none() -> None:
    assert run([job("job/seed", disabled())], now=60) == run([], now=60)


def test_rule6_timeout_with_zero_targets_says_nothing_matched() -> None:
    verdict = run([], now=1800)
    assert verdict.done and verdict.outcome is Outcome.TIMED_OUT
    assert verdict.error == (
        "timed out after 30m; no enabled workloads match the selector tilt.dev/run=demo"
    )
    assert verdict.summary == verdict.error


def test_rule6_describe_selector_in_kubectl_form() -> None:
    selector = {
        "matchLabels": {"tilt.dev/run": "demo", "app": "shop"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["worker", "web"]},
            {"key": "zone", "operator": "NotIn", "values": ["b"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "canary", "operator": "Exists"},
        ],
    }
    assert format_selector(selector) == (
        "app=shop,canary,!legacy,tier in (web,worker),tilt.dev/run=demo,zone notin (b)"
    )


def test_rule6_describe_selector_tolerates_empty_and_malformed_input() -> None:
    assert format_selector({}) == ""
    assert format_selector({"matchLabels": None, "matchExpressions": "x"}) == ""
    assert format_selector({"matchExpressions": [42, {"key": "k", "operator": "Odd"}]}) == (
        "k Odd ()"
    )
    verdict = run([], now=60, selector={})
    assert verdict.summary == "no enabled workloads match the empty selector"


# Rule 7: time-based transitions happen on time: wake_at is the next one.


def test_rule7_wake_at_is_the_earliest_of_grace_readiness_and_run_timeout() -> None:
    targets = [
        server("deployment/api", failed("CrashLoopBackOff", start=100, finish=110)),
        server("deployment/web", active(since=50, ready=False)),
    ]
    # grace expires at 100+240=340, readiness at 50+300=350, run timeout at 1800.
    assert run(targets, now=120, grace_period=240).wake_at == at(340)
    assert run(targets, now=120, grace_period=400).wake_at == at(350)
    assert run(targets, now=120, grace_period=400, readiness_timeout=0).wake_at == at(500)
    assert run(targets, now=120, grace_period=9000, readiness_timeout=0, timeout=600).wake_at == at(
        600
    )


def test_rule7_waking_at_wake_at_makes_the_change_happen() -> None:
    targets = [server("deployment/web", active(since=50, ready=False, reason="2/3 ready"))]
    first = run(targets, now=100)
    assert first.wake_at is not None
    later = decide(spec(), targets, start_time=T0, now=first.wake_at)
    assert later.done and later.error == "deployment/web: not ready after 5m (2/3 ready)"


def test_rule7_done_runs_need_no_wake_up() -> None:
    assert run([job("job/migrate", failed("exit 1"))], now=60).wake_at is None
    assert run([job("job/migrate", ok())], now=60).wake_at is None


def test_rule7_deadlines_beyond_the_calendar_never_arrive() -> None:
    crash = server("deployment/api", failed("CrashLoopBackOff"))
    verdict = run([crash], now=60, grace_period=1e15, timeout=1e15)
    assert verdict.retrying == ("deployment/api",) and verdict.wake_at is None


# Manual mode: never done, but the board is kept current.


def test_manual_is_never_done_even_with_failures_and_past_every_timeout() -> None:
    targets = [
        job("job/migrate", failed("exit code 1")),
        server("deployment/web", active(since=0, ready=False, reason="0/1 ready")),
        server("deployment/api", active(ready=True)),
    ]
    verdict = run(targets, now=10 * 86400, exit_condition=ExitCondition.MANUAL)
    assert not verdict.done and verdict.error == ""
    assert verdict.failing == ("job/migrate",)  # no readiness timeout in manual mode
    assert verdict.reason is Reason.FAILING
    assert verdict.progress == "1/3"
    assert verdict.summary == (
        "waiting on 2 of 3: job/migrate (failed: exit code 1), deployment/web (0/1 ready)"
    )
    assert verdict.wake_at is None


def test_manual_wakes_only_for_grace_expiry() -> None:
    targets = [
        server("deployment/api", failed("CrashLoopBackOff", start=0, finish=5)),
        server("deployment/web", active(since=0, ready=False)),
    ]
    verdict = run(targets, now=10, exit_condition=ExitCondition.MANUAL, grace_period=60)
    assert verdict.retrying == ("deployment/api",) and verdict.wake_at == at(60)
    later = decide(spec(ExitCondition.MANUAL, grace_period=60), targets, start_time=T0, now=at(60))
    assert later.failing == ("deployment/api",) and not later.done and later.wake_at is None


def test_manual_all_up_and_empty() -> None:
    up = run(
        [server("deployment/web", active(ready=True))], now=60, exit_condition=ExitCondition.MANUAL
    )
    assert not up.done and up.reason is Reason.ALL_TARGETS_UP and up.summary == "1 target up"
    empty = run([], now=10 * 86400, exit_condition=ExitCondition.MANUAL)
    assert not empty.done and empty.reason is Reason.NO_MATCHING_WORKLOADS


# Summaries: one line, stable while the world is unchanged.


def test_summary_names_at_most_five_targets() -> None:
    targets = [server(f"deployment/w{i}", waiting("ContainerCreating")) for i in range(8)]
    verdict = run(targets, now=60)
    assert verdict.summary == (
        "waiting on 8 of 8: deployment/w0 (ContainerCreating), deployment/w1 "
        "(ContainerCreating), deployment/w2 (ContainerCreating), deployment/w3 "
        "(ContainerCreating), deployment/w4 (ContainerCreating) and 3 more"
    )


def test_summary_cuts_long_details_to_one_short_line() -> None:
    reason = "Unschedulable: " + "x" * 200 + "\nsecond line"
    verdict = run([server("deployment/web", waiting(reason))], now=60)
    detail = verdict.summary.removeprefix("waiting on 1 of 1: deployment/web (").removesuffix(")")
    assert len(detail) == 80 and detail.endswith("…") and "\n" not in verdict.summary


def test_summary_does_not_change_with_time_alone() -> None:
    targets = [
        server("deployment/web", waiting("ContainerCreating", since=5)),
        job("job/migrate", active(since=7, ready=False)),
    ]
    first, later = run(targets, now=60), run(targets, now=1000)
    assert first.summary == later.summary and first.wake_at == later.wake_at
