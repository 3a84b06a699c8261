"""The store keeps projections of objects; judging them must give what the whole gives."""

from __future__ import annotations

import json

import pytest

from tests.unit.judge.conftest import load_scenario, scenario_names
from tiltrun.judge.projection import LAST_APPLIED, project
from tiltrun.judge.target import Related, judge


@pytest.mark.parametrize("name", scenario_names())
def test_a_projected_scenario_is_judged_as_the_whole(name: str) -> None:
    scenario = load_scenario(name)
    whole = judge(scenario.workload, scenario.related)
    slim = judge(
        project(scenario.workload["kind"], scenario.workload),
        Related(
            replicasets=[project("ReplicaSet", rs) for rs in scenario.replicasets],
            pods=[project("Pod", pod) for pod in scenario.pods],
        ),
    )
    assert slim == whole


def test_a_pod_keeps_a_small_part_of_itself() -> None:
    pod = load_scenario("deployment-crashloopbackoff").pods[0]
    pod["metadata"]["managedFields"] = [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}]
    kept = project("Pod", pod)
    assert "managedFields" not in kept["metadata"]
    assert "containers" not in kept["spec"]
    assert (
        kept["status"]["containerStatuses"][0]["state"]
        == (pod["status"]["containerStatuses"][0]["state"])
    )
    assert len(json.dumps(kept)) < len(json.dumps(pod)) / 2


def test_an_unknown_kind_loses_only_managed_fields_and_the_last_applied_copy() -> None:
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": "w",
            "managedFields": [{"manager": "x"}],
            "annotations": {LAST_APPLIED: "{...}", "team": "a"},
        },
        "spec": {"size": 3},
        "status": {"ready": True},
    }
    kept = project("Widget", obj)
    assert kept == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "annotations": {"team": "a"}},
        "spec": {"size": 3},
        "status": {"ready": True},
    }


@pytest.mark.parametrize("odd", [{}, {"metadata": None}, {"status": "x", "spec": [1]}])
def test_odd_objects_are_projected_without_error(odd: dict[str, object]) -> None:
    assert isinstance(project("Pod", odd), dict)
