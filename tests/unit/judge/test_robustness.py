"""Robustness is a hard rule: ``judge`` never raises, and the same input gives the same output.

Objects come from other programs: status may be missing, ``null`` or partial, counts may
be strings, conditions may lack fields, timestamps may be absent. Each of those must be
judged on what is there, without falling back to the "cannot judge" safety net, which is
only for what nobody foresaw.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import reduce
from operator import getitem
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.judge.conftest import (
    load_objects,
    load_scenario,
    name_of,
    scenario_names,
    split,
    stamp,
)
from tiltrun.api.model import Target, TargetState
from tiltrun.judge import kinds
from tiltrun.judge.objects import EPOCH
from tiltrun.judge.related import Related
from tiltrun.judge.target import judge

SCENARIOS = scenario_names()
TIME_KEYS = ("Time", "Timestamp", "startedAt", "finishedAt")


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every mapping inside ``value``."""
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def _delete_status(objects: list[Any]) -> None:
    for obj in objects:
        obj.pop("status", None)


def _null_status(objects: list[Any]) -> None:
    for obj in objects:
        obj["status"] = None


def _empty_status(objects: list[Any]) -> None:
    for obj in objects:
        obj["status"] = {}


def _status_of_the_wrong_type(objects: list[Any]) -> None:
    for obj in objects:
        obj["status"] = ["Running"]


def _conditions_missing_fields(objects: list[Any]) -> None:
    for obj in objects:
        status = obj.get("status") or {}
        kinds = [c.get("type") for c in status.get("conditions") or []]
        status["conditions"] = [{}, None, "Ready", *({"type": kind} for kind in kinds)]


def _counts_as_strings(objects: list[Any]) -> None:
    for obj in objects:
        for mapping in _walk(obj.get("status")):
            for key, value in mapping.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    mapping[key] = str(value)


def _no_container_statuses(objects: list[Any]) -> None:
    for obj in objects:
        status = obj.get("status") or {}
        status.pop("containerStatuses", None)
        status.pop("initContainerStatuses", None)


def _junk_in_lists(objects: list[Any]) -> None:
    for obj in objects:
        status = obj.get("status") or {}
        for key in ("conditions", "containerStatuses", "initContainerStatuses"):
            if key in status:
                status[key] = [None, 3, "x", *status[key]]
        obj.setdefault("metadata", {})["ownerReferences"] = [None, "x", {"controller": "true"}]


def _no_timestamps(objects: list[Any]) -> None:
    for mapping in _walk(objects):
        for key in [k for k in mapping if k.endswith(TIME_KEYS)]:
            del mapping[key]


def _malformed_timestamps(objects: list[Any]) -> None:
    for mapping in _walk(objects):
        for key in [k for k in mapping if k.endswith(TIME_KEYS)]:
            mapping[key] = "yesterday"


def _no_metadata(objects: list[Any]) -> None:
    for obj in objects:
        obj.pop("metadata", None)


def _null_spec(objects: list[Any]) -> None:
    for obj in objects:
        obj["spec"] = None


MUTATIONS: dict[str, Callable[[list[Any]], None]] = {
    "status missing": _delete_status,
    "status null": _null_status,
    "status empty": _empty_status,
    "status not a mapping": _status_of_the_wrong_type,
    "conditions missing fields": _conditions_missing_fields,
    "counts as strings": _counts_as_strings,
    "pods without containerStatuses": _no_container_statuses,
    "junk in lists": _junk_in_lists,
    "timestamps missing": _no_timestamps,
    "timestamps malformed": _malformed_timestamps,
    "metadata missing": _no_metadata,
    "spec null": _null_spec,
}


def _judge_mutated(scenario: str, mutation: str) -> Target:
    objects = load_objects(scenario)
    MUTATIONS[mutation](objects)
    loaded = split(scenario, objects)
    return judge(loaded.workload, loaded.related)


def _reasons(state: TargetState) -> str:
    return json.dumps(state.to_dict())


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_missing_or_partial_status_is_judged_without_raising(scenario: str, mutation: str) -> None:
    """Hard rule: odd objects are judged on what is there; never raise, never 'cannot judge'."""
    target = _judge_mutated(scenario, mutation)
    assert isinstance(target, Target)
    assert "cannot judge" not in _reasons(target.state)


@pytest.mark.parametrize(
    ("scenario", "mutation", "reason"),
    [
        (
            "deployment-available",
            "status missing",
            "generation 1 not yet observed by its controller (observed: 0)",
        ),
        ("statefulset-ready", "status null", "generation 1 not yet observed"),
        ("daemonset-ready", "status empty", "generation 1 not yet observed"),
        ("job-running", "status null", "pod {pod}: Pending"),
        ("pod-running-ready", "status missing", "Pending"),
    ],
)
def test_objects_without_status_wait(scenario: str, mutation: str, reason: str) -> None:
    """A workload its controller has not reported on yet is waiting, and says so."""
    pods = load_scenario(scenario).pods
    state = _judge_mutated(scenario, mutation).state
    assert state.waiting is not None
    assert state.waiting.reason.startswith(reason.format(pod=name_of(pods[0]) if pods else ""))


def test_counts_as_strings_are_read_as_numbers() -> None:
    """Replicas written as strings still count."""
    state = _judge_mutated("deployment-available", "counts as strings").state
    assert state.active is not None
    assert state.active.ready


def test_pods_without_container_statuses_are_judged_on_their_phase() -> None:
    """A pod without containerStatuses is judged on phase and conditions."""
    state = _judge_mutated("pod-running-ready", "pods without containerStatuses").state
    assert state.active is not None
    assert state.active.ready


@pytest.mark.parametrize("mutation", ["timestamps missing", "timestamps malformed"])
def test_missing_times_fall_back_to_the_epoch(mutation: str) -> None:
    """Decision: a missing time falls back to creationTimestamp, then the Unix epoch."""
    state = _judge_mutated("pod-running-ready", mutation).state
    assert state.active is not None
    assert state.active.start_time == EPOCH


def test_missing_start_time_falls_back_to_creation() -> None:
    """Decision: a missing time falls back to the object's creationTimestamp first."""
    scenario = load_scenario("job-running")
    del scenario.workload["status"]["startTime"]
    for pod in scenario.pods:
        del pod["status"]["startTime"]
    (pod,) = scenario.pods
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert state.active.start_time == stamp(pod["metadata"]["creationTimestamp"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_objects_give_the_same_target_in_any_order(scenario: str) -> None:
    """Pure: same input, same output; the order related objects come in does not matter."""
    loaded = load_scenario(scenario)
    first = judge(loaded.workload, loaded.related)
    shuffled = Related(replicasets=loaded.replicasets[::-1], pods=loaded.pods[::-1])
    assert judge(loaded.workload, shuffled) == first
    assert judge(loaded.workload, loaded.related) == first


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_judge_does_not_change_its_input(scenario: str) -> None:
    """Pure: the objects are read, never written (they are the engine's cache)."""
    loaded = load_scenario(scenario)
    before = copy.deepcopy((loaded.workload, loaded.replicasets, loaded.pods))
    judge(loaded.workload, loaded.related)
    assert (loaded.workload, loaded.replicasets, loaded.pods) == before


def test_safety_net_turns_the_unforeseen_into_a_waiting_reason() -> None:
    """Hard rule: judge catches anything unexpected: waiting, 'cannot judge <name>: <what>'."""

    def explode(obj: Any, related: Related) -> TargetState:
        raise RuntimeError("boom")

    exploding = kinds.BUILTIN.extended(replace(kinds.DEPLOYMENT, classify=explode))
    loaded = load_scenario("deployment-available")
    target = judge(loaded.workload, loaded.related, kinds=exploding)
    assert target.name == "deployment/web"
    assert target.resources == ("web",)
    assert target.state.waiting is not None
    assert target.state.waiting.reason == "cannot judge deployment/web: RuntimeError: boom"
    created = loaded.workload["metadata"]["creationTimestamp"]
    assert target.state.waiting.trigger_time == stamp(created)


# --- property: arbitrarily mangled fixtures ------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(
        [
            "",
            "True",
            "False",
            "3",
            "-1",
            "Running",
            "Succeeded",
            "Failed",
            "CrashLoopBackOff",
            "Always",
            "Never",
            "2026-05-12T09:14:03Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
        ]
    ),
    st.lists(st.none() | st.integers() | st.text(max_size=3), max_size=3),
    st.dictionaries(
        st.sampled_from(["type", "status", "reason", "controller", "uid", "name", "exitCode"]),
        st.none() | st.integers() | st.text(max_size=3) | st.booleans(),
        max_size=3,
    ),
)

# Deep, unread parts of pod templates would soak up most draws; leave them out.
_UNREAD = {"template", "volumes", "tolerations", "volumeMounts", "managedFields", "affinity"}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            if key not in _UNREAD:
                yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@settings(max_examples=400, deadline=None)
@given(data=st.data(), scenario=st.sampled_from(SCENARIOS))
def test_judge_never_raises_on_mangled_objects(data: st.DataObject, scenario: str) -> None:
    """Hard rule, as a property: random deletions and replacements (None, strings, ints,
    lists, dicts) anywhere in a scenario's objects never make judge raise, nor fall back
    to its safety net."""
    objects: Any = load_objects(scenario)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8), label="edits")):
        paths = list(_paths(objects))
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent = reduce(getitem, path[:-1], objects)
        if isinstance(parent, dict) and data.draw(st.booleans(), label="delete"):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JUNK, label="value")

    workload, *rest = objects
    related = Related(
        replicasets=[o for o in rest if not isinstance(o, dict) or o.get("kind") == "ReplicaSet"],
        pods=[o for o in rest if not isinstance(o, dict) or o.get("kind") != "ReplicaSet"],
    )
    target = judge(workload, related)
    assert isinstance(target, Target)
    assert "cannot judge" not in _reasons(target.state), target.state
    assert judge(workload, related) == target
