"""Properties of the exit logic that must hold for every world, checked with hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from tiltrun.api.model import (
    Active,
    CISettings,
    ExitCondition,
    RunSpec,
    Target,
    TargetState,
    TargetType,
    Terminated,
    Waiting,
)
from tiltrun.judge.conditions import conditions
from tiltrun.judge.exit import Outcome, Verdict, decide
from tiltrun.judge.status import words_only

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7))])
#: Every instant in a test falls in a window of a few days, so "much later" is representable.
WINDOW = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2024, 1, 5), timezones=ZONES
)
#: The whole calendar, for "never raises" at the edges.
ANY_TIME = st.datetimes(timezones=ZONES)
DURATIONS = st.one_of(
    st.just(0.0),
    st.sampled_from([1.0, 30.0, 60.0, 300.0, 1800.0, 86400.0]),
    st.floats(min_value=0, max_value=1e13, allow_nan=False, allow_infinity=False),
)
NAMES = st.sampled_from(
    ["deployment/web", "deployment/api", "statefulset/db", "job/migrate", "job/seed", "pod/x"]
)
ERRORS = st.sampled_from(["", "exit code 1", "CrashLoopBackOff\nlast log: boom", " "])
REASONS = st.sampled_from(["", "ContainerCreating", "1/3 ready", "Init:0/1\nmore"])


def states(times: st.SearchStrategy[datetime]) -> st.SearchStrategy[TargetState]:
    return st.one_of(
        st.just(TargetState()),
        st.just(TargetState(disabled=True)),
        st.builds(lambda t, r: TargetState(waiting=Waiting(t, r)), times, REASONS),
        st.builds(
            lambda t, ready, r: TargetState(active=Active(t, ready, r)),
            times,
            st.booleans(),
            REASONS,
        ),
        st.builds(
            lambda s, f, e: TargetState(terminated=Terminated(s, f, e)), times, times, ERRORS
        ),
    )


def targets(
    times: st.SearchStrategy[datetime] = WINDOW, *, enabled_only: bool = False
) -> st.SearchStrategy[list[Target]]:
    target = st.builds(
        Target,
        name=NAMES,
        type=st.sampled_from(TargetType),
        resources=st.just(("r",)),
        state=states(times).filter(lambda s: not (enabled_only and s.disabled)),
    )
    return st.lists(target, max_size=6, unique_by=lambda t: t.name)


def specs(mode: st.SearchStrategy[ExitCondition] | None = None) -> st.SearchStrategy[RunSpec]:
    return st.builds(
        RunSpec,
        tiltfile_path=st.just("Tiltfile"),
        exit_condition=st.sampled_from(ExitCondition) if mode is None else mode,
        selector=st.sampled_from([{}, {"matchLabels": {"tilt.dev/run": "demo"}}]),
        ci=st.builds(
            CISettings, timeout=DURATIONS, readiness_timeout=DURATIONS, grace_period=DURATIONS
        ),
    )


def check_invariants(verdict: Verdict, world: list[Target]) -> None:
    counted = [t for t in world if not t.state.disabled]
    assert verdict.total == len(counted)
    assert 0 <= verdict.satisfied <= verdict.total
    assert verdict.progress == f"{verdict.satisfied}/{verdict.total}"
    assert not set(verdict.failing) & set(verdict.retrying)
    assert "\n" not in verdict.summary and verdict.summary


@settings(max_examples=300)
@given(specs(), targets(ANY_TIME), ANY_TIME, ANY_TIME)
def test_decide_never_raises(
    spec: RunSpec, world: list[Target], start: datetime, now: datetime
) -> None:
    verdict = decide(spec, world, start_time=start, now=now)
    check_invariants(verdict, world)


@settings(max_examples=300)
@given(specs(), targets(), WINDOW, WINDOW)
def test_done_means_error_empty_exactly_when_every_counted_target_is_satisfied(
    spec: RunSpec, world: list[Target], start: datetime, now: datetime
) -> None:
    """With zero counted targets nothing is satisfied in the sense of rule 4 (rule 6)."""
    verdict = decide(spec, world, start_time=start, now=now)
    check_invariants(verdict, world)
    if verdict.done:
        all_up = verdict.total > 0 and verdict.satisfied == verdict.total
        assert (verdict.error == "") == all_up
        assert verdict.outcome is not Outcome.RUNNING
    else:
        assert verdict.error == "" and verdict.outcome is Outcome.RUNNING


@given(specs(st.just(ExitCondition.MANUAL)), targets(), WINDOW, WINDOW)
def test_manual_is_never_done(
    spec: RunSpec, world: list[Target], start: datetime, now: datetime
) -> None:
    verdict = decide(spec, world, start_time=start, now=now)
    assert not verdict.done and verdict.error == ""


@settings(max_examples=300)
@given(specs(), targets(ANY_TIME), ANY_TIME, ANY_TIME)
def test_wake_at_is_none_or_after_now(
    spec: RunSpec, world: list[Target], start: datetime, now: datetime
) -> None:
    verdict = decide(spec, world, start_time=start, now=now)
    assert verdict.wake_at is None or verdict.wake_at > now


@settings(max_examples=300)
@given(specs(), targets(), WINDOW, WINDOW)
def test_nothing_changes_before_wake_at_and_something_changes_at_it(
    spec: RunSpec, world: list[Target], start: datetime, now: datetime
) -> None:
    """wake_at is exact: the verdict holds until then (so no wake-up is missed) and the
    recompute it schedules is never wasted."""
    verdict = decide(spec, world, start_time=start, now=now)
    if verdict.done:
        return
    if verdict.wake_at is None:
        assert decide(spec, world, start_time=start, now=now + timedelta(days=3650)) == verdict
        return
    just_before = max(now, verdict.wake_at - timedelta(microseconds=1))
    assert decide(spec, world, start_time=start, now=just_before) == verdict
    assert decide(spec, world, start_time=start, now=verdict.wake_at) != verdict


@settings(max_examples=300)
@given(
    specs(),
    targets(),
    st.lists(
        st.builds(
            Target,
            name=st.sampled_from(["deployment/off", "job/off", "deployment/web"]),
            type=st.sampled_from(TargetType),
            resources=st.just(()),
            state=st.just(TargetState(disabled=True)),
        )
    ),
    st.randoms(use_true_random=False),
    WINDOW,
    WINDOW,
)
def test_adding_disabled_targets_never_changes_the_verdict(
    spec: RunSpec,
    world: list[Target],
    extra: list[Target],
    rng: Random,
    start: datetime,
    now: datetime,
) -> None:
    # Slip the disabled targets in anywhere, keeping the world's own order.
    mixed = list(world)
    for target in extra:
        mixed.insert(rng.randint(0, len(mixed)), target)
    assert decide(spec, mixed, start_time=start, now=now) == decide(
        spec, world, start_time=start, now=now
    )


@given(specs(), targets(), st.randoms(use_true_random=False), WINDOW, WINDOW)
def test_the_order_targets_arrive_in_does_not_matter(
    spec: RunSpec, world: list[Target], rng: Random, start: datetime, now: datetime
) -> None:
    shuffled = list(world)
    rng.shuffle(shuffled)
    assert decide(spec, shuffled, start_time=start, now=now) == decide(
        spec, world, start_time=start, now=now
    )


@given(specs(), targets(), WINDOW, WINDOW)
def test_conditions_are_kstatus_consistent(
    spec: RunSpec, world: list[Target], start: datetime, now: datetime
) -> None:
    verdict = decide(spec, world, start_time=start, now=now)
    result = conditions(verdict, spec.exit_condition, generation=1, previous=[], now=now)
    status = {c["type"]: c["status"] == "True" for c in result}
    # Exactly one of the three holds: ready, in progress, or stalled.
    assert sum(status.values()) == 1
    later = now + timedelta(hours=1)
    again = conditions(verdict, spec.exit_condition, generation=1, previous=result, now=later)
    assert again == result


def _reworded(target: Target, rng: Random) -> Target:
    """``target`` with other words: reasons, an error's text (not whether there is one),
    and since when a waiting target waits."""
    state = target.state
    if state.waiting is not None:
        waiting = Waiting(
            state.waiting.trigger_time - timedelta(seconds=rng.randint(0, 99)),
            rng.choice(["", "ErrImagePull", "Pending\nnow"]),
        )
        state = TargetState(waiting=waiting)
    elif state.active is not None:
        active = state.active
        state = TargetState(
            active=Active(
                active.start_time, active.ready, rng.choice(["", "0/1 ready"]), active.ready_since
            )
        )
    elif state.terminated is not None:
        done = state.terminated
        error = rng.choice(["exit code 2", "OOMKilled"]) if done.error else ""
        state = TargetState(terminated=Terminated(done.start_time, done.finish_time, error))
    return Target(target.name, target.type, target.resources, state, target.policy)


def _phase_of(verdict: Verdict) -> tuple[object, ...]:
    return (
        verdict.done,
        verdict.outcome,
        verdict.reason,
        verdict.satisfied,
        verdict.total,
        verdict.failing,
        verdict.retrying,
        verdict.wake_at,
        verdict.optional_failing,
        {name: grace.get("status") for name, grace in verdict.grace.items()},
        set(verdict.failures),
    )


@settings(max_examples=300)
@given(specs(), targets(), WINDOW, WINDOW, st.integers(0, 2**32))
def test_targets_that_differ_in_words_only_get_the_same_verdict_but_for_its_words(
    spec: RunSpec, world: list[Target], start: datetime, now: datetime, seed: int
) -> None:
    """What lets the engine leave a change of words undecided until it is written."""
    rng = Random(seed)
    other = [_reworded(t, rng) for t in world]
    assert words_only(world, other)
    before = decide(spec, world, start_time=start, now=now)
    after = decide(spec, other, start_time=start, now=now)
    assert _phase_of(before) == _phase_of(after)


@given(targets(), st.integers(0, 2**32))
def test_a_change_of_phase_is_never_words_only(world: list[Target], seed: int) -> None:
    rng = Random(seed)
    for i, target in enumerate(world):
        moved = TargetState(
            active=Active(
                at_random(rng), ready=not bool(target.state.active and target.state.active.ready)
            )
        )
        changed = [
            *world[:i],
            Target(target.name, target.type, target.resources, moved),
            *world[i + 1 :],
        ]
        assert not words_only(world, changed)


def at_random(rng: Random) -> datetime:
    return datetime(2024, 1, 2, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 9999))
