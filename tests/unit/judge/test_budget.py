"""The status size budget: any run's status fits, and the CRD accepts it.

The property: whatever the number of targets, the length of their names, errors and
resources, and the selector, ``desired_status`` gives a status that (1) serialises under
``STATUS_BUDGET_BYTES``, (2) passes the CRD's status schema, and (3) says when it was cut.
tests/faults/test_status_limits.py proves the same against a real API server.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiltrun.api.model import (
    Active,
    Target,
    TargetPolicy,
    TargetState,
    TargetType,
    Terminated,
    Waiting,
)
from tiltrun.judge.budget import (
    ERROR_CHARS,
    STATUS_BUDGET_BYTES,
    SUMMARY_CHARS,
    _surely_within,
    clip,
    fit,
    refused,
    state_of,
)
from tiltrun.judge.related import Related
from tiltrun.judge.status import desired_status

REPO = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = T0 + timedelta(minutes=3)


def _status_schema() -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "crds" / "tiltrun.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


STATUS_SCHEMA = _status_schema()


def assert_accepted(status: dict[str, Any]) -> None:
    """What the API server checks of a status: the schema, list-map keys, the state rule."""
    stored = json.loads(json.dumps({k: v for k, v in status.items() if v is not None}))
    jsonschema.validate(stored, STATUS_SCHEMA)
    names = [t["name"] for t in stored.get("targets") or []]
    assert len(names) == len(set(names)), "status.targets is a map list keyed by name"
    types = [c["type"] for c in stored.get("conditions") or []]
    assert len(types) == len(set(types))
    for target in stored.get("targets") or []:
        state = target["state"]
        phases = sum(p in state for p in ("waiting", "active", "terminated"))
        assert phases <= (0 if state.get("disabled") else 1)


def size(status: dict[str, Any]) -> int:
    return len(json.dumps(status))


# -- generated runs -------------------------------------------------------------------

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3000
) | st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "\n", "😀"]), st.integers(0, 20000))

states = st.one_of(
    st.just(TargetState(disabled=True)),
    st.builds(lambda r: TargetState(waiting=Waiting(T0, r)), texts),
    st.builds(
        lambda ready, r: TargetState(active=Active(T0, ready, "" if ready else r)),
        st.booleans(),
        texts,
    ),
    st.builds(lambda e: TargetState(terminated=Terminated(T0, NOW, e)), texts),
)


@st.composite
def target_lists(draw: st.DrawFn) -> list[Target]:
    count = draw(st.sampled_from([0, 1, 3, 40, 400, 1600]))
    name_length = draw(st.sampled_from([5, 60, 253]))
    kinds = draw(st.sampled_from([["pod"], ["deployment", "job", "pod"]]))
    error = draw(texts)
    resources = draw(st.lists(st.text(max_size=300), max_size=80))
    variety = draw(st.lists(states, min_size=1, max_size=4))
    targets = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        state = variety[i % len(variety)]
        if state.terminated is not None and i % 3 == 0:
            state = TargetState(terminated=Terminated(T0, NOW, f"{error} #{i}"))
        number = str(i).rjust(6, "0")
        targets.append(
            Target(
                name=f"{kind}/{('p' * name_length)[: name_length - 7]}-{number}",
                type=TargetType.JOB if kind == "job" else TargetType.SERVER,
                resources=tuple(resources),
                state=state,
                policy=TargetPolicy(optional=i % 7 == 3),
            )
        )
    return targets


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, Any] | None:
    shape = draw(st.sampled_from(["none", "labels", "huge"]))
    if shape == "none":
        return None
    if shape == "labels":
        return {"matchLabels": {"app": draw(st.from_regex(r"[a-z]{1,63}", fullmatch=True))}}
    # About as large as the CRD allows: 32 expressions of 128 values of 63 characters.
    expressions = draw(st.integers(1, 32))
    return {
        "matchExpressions": [
            {
                "key": f"example.com/key-{e}",
                "operator": "In",
                "values": [f"{'v' * 58}{e:02d}{v:03d}" for v in range(128)],
            }
            for e in range(expressions)
        ]
    }


def _run(exit_condition: str, selector: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tiltfilePath": "./Tiltfile",
        "exitCondition": exit_condition,
        "ci": {"timeout": "1m", "gracePeriod": "0"},
    }
    if selector:
        spec["selector"] = selector
    return {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "TiltRun",
        "metadata": {"name": "big", "namespace": "ns", "generation": 1, "uid": "u"},
        "spec": spec,
    }


def _compose(run: dict[str, Any], targets: list[Target]) -> dict[str, Any]:
    by_uid = {str(i): t for i, t in enumerate(targets)}
    candidates = [({"metadata": {"uid": uid}}, Related()) for uid in by_uid]
    desired = desired_status(
        run,
        candidates,
        start_time=T0,
        now=NOW,
        pid=1,
        judge_one=lambda obj, _related, _checks: by_uid[obj["metadata"]["uid"]],
    )
    return desired.status


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    targets=target_lists(),
    selector=selectors(),
    exit_condition=st.sampled_from(["ci", "manual"]),
)
def test_any_run_gets_a_status_under_budget_that_the_crd_accepts(
    targets: list[Target], selector: dict[str, Any] | None, exit_condition: str
) -> None:
    status = _compose(_run(exit_condition, selector), targets)
    assert size(status) <= STATUS_BUDGET_BYTES
    assert_accepted(status)
    truncation = status.get("truncation")
    listed = status["targets"]
    # The verdict still counts every target, listed or not.
    assert status["total"] == sum(not t.state.disabled and not t.policy.optional for t in targets)
    if truncation is None:
        assert len(listed) == len(targets)
    else:
        assert truncation["targets"] == len(targets)
        assert truncation["listedTargets"] == len(listed)
        assert sum(truncation["targetCounts"].values()) == len(targets)
    if len(listed) < len(targets):
        assert truncation is not None
        # Nothing left out matters more than something listed: failing targets first.
        rank = {"failed": 0, "waiting": 1, "notReady": 1, "ready": 2, "succeeded": 2}
        left_out = {t.name for t in targets} - {t["name"] for t in listed}
        worst_left_out = min(
            (rank.get(state_of(t.to_dict()), 3) for t in targets if t.name in left_out),
            default=3,
        )
        assert all(rank.get(state_of(t), 3) <= worst_left_out for t in listed)


def test_a_status_that_fits_is_returned_as_it_is() -> None:
    targets = [
        Target(f"pod/p{i}", TargetType.SERVER, ("p",), TargetState(active=Active(T0, True)))
        for i in range(20)
    ]
    status = _compose(_run("ci", None), targets)
    assert status["truncation"] is None
    assert [t["name"] for t in status["targets"]] == sorted(t.name for t in targets)
    without = {k: v for k, v in status.items() if k != "truncation"}
    assert fit(without) is without


def test_1600_crash_looping_pods_with_long_names_fit_and_are_counted() -> None:
    """Issue 11's case: every write was refused and the status stayed at a stale 0/1153."""
    crash = "\n".join(
        f"container app: CrashLoopBackOff: back-off restarting, exit code 1, {n} restarts"
        for n in range(3)
    )
    targets = [
        Target(
            f"pod/{'crash-looping-pod-with-a-very-long-name-' * 5}{i:05d}",
            TargetType.SERVER,
            (f"resource-{i}",),
            TargetState(terminated=Terminated(T0, NOW, crash)),
        )
        for i in range(1600)
    ]
    status = _compose(_run("ci", None), targets)
    assert size(status) <= STATUS_BUDGET_BYTES
    assert_accepted(status)
    assert status["done"] is True
    assert status["progress"] == "0/1600"
    truncation = status["truncation"]
    assert truncation["targets"] == 1600
    assert truncation["targetCounts"]["failed"] == 1600
    assert 0 < truncation["listedTargets"] == len(status["targets"]) < 1600
    assert "error" in truncation["shortened"]
    assert len(status["error"]) <= ERROR_CHARS
    assert status["error"].endswith("more characters)")


def test_a_50kb_selector_matching_nothing_gives_a_short_summary() -> None:
    """Issue 11's case: the summary repeated the selector and every write got 422."""
    selector = {
        "matchExpressions": [
            {"key": f"k{e}", "operator": "In", "values": [f"{'v' * 60}{v:03d}" for v in range(128)]}
            for e in range(7)
        ]
    }
    assert len(json.dumps(selector)) > 50_000
    status = _compose(_run("ci", selector), [])
    assert_accepted(status)
    assert len(status["summary"]) <= SUMMARY_CHARS
    assert "no enabled workloads match the selector k0 in (vvv" in status["summary"]
    assert all(len(c["message"]) <= SUMMARY_CHARS for c in status["conditions"])
    assert status["truncation"]["shortened"][0] == "summary"
    assert status["truncation"]["targets"] == 0


def test_failing_targets_are_kept_before_healthy_ones() -> None:
    healthy = [
        Target(f"pod/a{i:04d}", TargetType.SERVER, (), TargetState(active=Active(T0, True)))
        for i in range(3000)
    ]
    broken = Target(
        "pod/zzz-broken", TargetType.SERVER, (), TargetState(terminated=Terminated(T0, NOW, "boom"))
    )
    status = _compose(_run("manual", None), [*healthy, broken])
    names = [t["name"] for t in status["targets"]]
    assert "pod/zzz-broken" in names
    assert names == sorted(names)
    assert status["truncation"]["targetCounts"] == {
        "failed": 1,
        "waiting": 0,
        "notReady": 0,
        "ready": 3000,
        "succeeded": 0,
        "disabled": 0,
    }


def test_two_targets_under_one_name_are_stored_once() -> None:
    """A list-map with a repeated key is refused whole; keep the one that matters most."""
    ok = {"name": "pod/x", "type": "server", "state": {"active": {"startTime": "t", "ready": True}}}
    bad = {"name": "pod/x", "type": "server", "state": {"terminated": {"error": "boom"}}}
    out = fit({"targets": [ok, bad], "summary": ""})
    assert out["targets"] == [bad]
    assert out["truncation"]["targets"] == 2


@pytest.mark.parametrize("limit", [0, 1, 10, 40, 1000])
def test_clip_never_exceeds_its_limit_and_says_what_it_cut(limit: int) -> None:
    text = "line of text\n" * 500
    out = clip(text, limit)
    assert len(out) <= limit
    if limit >= 40:
        assert out.endswith("more characters)")
        head, note = out.rsplit(" … (", 1)
        assert text.startswith(head)
        assert len(head) + int(note.split()[0]) == len(text)
    assert clip("short", limit + 5) == "short"


def test_a_refused_status_lists_no_target_and_quotes_the_api_server() -> None:
    targets = [
        Target(f"pod/p{i}", TargetType.SERVER, (), TargetState(waiting=Waiting(T0, "Pending")))
        for i in range(10)
    ]
    status = _compose(_run("ci", None), targets)
    answer = "etcdserver: request is too large " * 100
    out = refused(status, answer)
    assert_accepted(out)
    assert out["targets"] == []
    assert out["progress"] == status["progress"]
    assert out["truncation"]["targetCounts"]["waiting"] == 10
    assert out["truncation"]["writeRefused"].startswith("etcdserver: request is too large")
    assert len(out["truncation"]["writeRefused"]) <= 1024


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(value=_JSON, budget=st.integers(min_value=0, max_value=4096))
def test_the_quick_size_check_never_says_fits_when_the_exact_one_says_not(
    value: Any, budget: int
) -> None:
    # Any JSON, control characters and integers beyond 64 bits included.
    if _surely_within(value, budget):
        assert len(json.dumps(value)) <= budget


def test_the_quick_size_check_answers_for_an_ordinary_status() -> None:
    status = {"summary": "1 target up", "targets": [{"name": "deployment/web", "type": "server"}]}
    assert _surely_within(status, STATUS_BUDGET_BYTES)
    assert not _surely_within(status, len(json.dumps(status)) - 1)
    assert not _surely_within({"n": 2**70}, STATUS_BUDGET_BYTES)  # orjson cannot: unsure
