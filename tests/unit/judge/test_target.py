"""What every target shares: name, type, resources, and which objects are targets at all."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.judge.conftest import load_scenario, stamp
from tiltrun.api.model import TargetType
from tiltrun.judge.related import Related
from tiltrun.judge.target import is_target, judge


def _with_annotation(scenario: str, key: str, value: str) -> dict[str, Any]:
    workload = load_scenario(scenario).workload
    workload["metadata"].setdefault("annotations", {})[key] = value
    return workload


@pytest.mark.parametrize(
    ("scenario", "name"),
    [
        ("deployment-available", "deployment/web"),
        ("statefulset-ready", "statefulset/db"),
        ("daemonset-ready", "daemonset/node-agent"),
        ("job-complete", "job/migrate"),
        ("pod-running-ready", "pod/debug-web"),
    ],
)
def test_target_name_is_lower_case_kind_and_name(scenario: str, name: str) -> None:
    """Rule: name is <kind>/<object-name>, kind in lower case."""
    assert judge(load_scenario(scenario).workload).name == name


@pytest.mark.parametrize(
    ("scenario", "restart_policy", "expected"),
    [
        ("deployment-available", None, TargetType.SERVER),
        ("statefulset-ready", None, TargetType.SERVER),
        ("daemonset-ready", None, TargetType.SERVER),
        ("job-running", None, TargetType.JOB),
        ("pod-running-ready", "Always", TargetType.SERVER),
        ("pod-running-ready", "Never", TargetType.JOB),
        ("pod-running-ready", "OnFailure", TargetType.JOB),
    ],
)
def test_target_type_follows_the_kind(
    scenario: str, restart_policy: str | None, expected: TargetType
) -> None:
    """Rule: Jobs and bare Pods with restartPolicy Never/OnFailure are jobs, the rest servers."""
    workload = load_scenario(scenario).workload
    if restart_policy:
        workload["spec"]["restartPolicy"] = restart_policy
    assert judge(workload).type is expected


@pytest.mark.parametrize(
    ("scenario", "value", "expected"),
    [
        ("deployment-available", "job", TargetType.JOB),
        ("job-running", "server", TargetType.SERVER),
        ("pod-running-ready", " Job ", TargetType.JOB),
        ("job-running", "", TargetType.JOB),
    ],
)
def test_target_type_annotation_overrides(scenario: str, value: str, expected: TargetType) -> None:
    """Rule: annotation tilt.dev/target-type overrides (blanks and case ignored; empty: absent)."""
    workload = _with_annotation(scenario, "tilt.dev/target-type", value)
    target = judge(workload)
    assert target.type is expected
    assert target.state.waiting is None or "target-type" not in target.state.waiting.reason


def test_invalid_target_type_annotation_keeps_the_default_and_waits() -> None:
    """Decision: any other value keeps the default type and holds the target waiting."""
    scenario = load_scenario("deployment-available")
    scenario.workload["metadata"]["annotations"]["tilt.dev/target-type"] = "daemon"
    target = judge(scenario.workload, scenario.related)
    assert target.type is TargetType.SERVER
    assert target.state.waiting is not None
    assert target.state.waiting.reason == (
        'annotation tilt.dev/target-type: expected "job" or "server", got "daemon"'
    )
    created = scenario.workload["metadata"]["creationTimestamp"]
    assert target.state.waiting.trigger_time == stamp(created)


def test_job_annotated_as_server_that_completes_carries_an_error() -> None:
    """Rule: a server that terminates always carries an error."""
    scenario = load_scenario("job-complete")
    scenario.workload["metadata"]["annotations"]["tilt.dev/target-type"] = "server"
    target = judge(scenario.workload, scenario.related)
    assert target.type is TargetType.SERVER
    assert target.state.terminated is not None
    assert target.state.terminated.error == (
        "job/migrate finished without error, but a server is expected to keep running"
    )


def test_a_running_ready_job_pod_is_active_but_not_ready() -> None:
    """Decision: ready is a server's word; a job-type target is never ready while it runs,
    even when its pod reports Ready=True (restartPolicy Never, like a Job's pod)."""
    pod = load_scenario("pod-job-running").workload
    assert pod["spec"]["restartPolicy"] == "Never"
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
    target = judge(pod)
    assert target.type is TargetType.JOB
    assert target.state.active is not None
    assert not target.state.active.ready
    assert target.state.active.reason == "running"
    assert target.state.active.ready_since is None


def test_a_job_with_a_ready_pod_is_active_but_not_ready() -> None:
    """Decision: the same meaning for a Job: its ready pod does not make it ready."""
    scenario = load_scenario("job-running")
    (pod,) = scenario.pods
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
    active = judge(scenario.workload, scenario.related).state.active
    assert active is not None
    assert not active.ready


def test_a_server_workload_annotated_job_is_never_ready_while_it_runs() -> None:
    """Decision: the meaning follows the target type, not the kind."""
    scenario = load_scenario("deployment-available")
    scenario.workload["metadata"]["annotations"]["tilt.dev/target-type"] = "job"
    target = judge(scenario.workload, scenario.related)
    assert target.type is TargetType.JOB
    assert target.state.active is not None
    assert not target.state.active.ready
    assert target.state.active.reason == "running"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("web", ("web",)),
        ("web, api", ("web", "api")),
        (" web ,, api ,web, ", ("web", "api")),
        (" , ", ("web",)),
    ],
)
def test_resources_come_from_the_annotation(value: str, expected: tuple[str, ...]) -> None:
    """Rule: resources are tilt.dev/resource, comma-separated (stripped, empties dropped)."""
    workload = _with_annotation("deployment-available", "tilt.dev/resource", value)
    assert judge(workload).resources == expected


def test_resources_default_to_the_object_name() -> None:
    """Rule: without the annotation, the resource is the object's name."""
    workload = load_scenario("statefulset-ready").workload
    del workload["metadata"]["annotations"]
    assert judge(workload).resources == ("db",)


@pytest.mark.parametrize(
    "scenario",
    [
        "deployment-available",
        "statefulset-ready",
        "daemonset-ready",
        "job-running",
        "pod-running-ready",
    ],
)
def test_uncontrolled_workloads_are_targets(scenario: str) -> None:
    """Rule: Deployments, StatefulSets, DaemonSets, Jobs and Pods no one controls are targets."""
    assert is_target(load_scenario(scenario).workload)


def test_objects_with_a_controller_are_not_targets() -> None:
    """Rule: a pod or ReplicaSet with a controller owner is judged as part of its controller."""
    scenario = load_scenario("deployment-available")
    assert not is_target(scenario.replicasets[0])
    assert not is_target(scenario.pods[0])
    assert not is_target(load_scenario("job-running").pods[0])


def test_job_owned_by_a_cronjob_is_not_a_target() -> None:
    """Rule: a Job owned by a CronJob is left out, controller flag or not."""
    workload = load_scenario("job-owned-by-cronjob").workload
    assert not is_target(workload)
    workload["metadata"]["ownerReferences"][0]["controller"] = False
    assert not is_target(workload)


def test_non_controller_owner_does_not_hide_a_target() -> None:
    """Rule: only an owner reference with controller: true makes a part of something else."""
    workload = load_scenario("pod-running-ready").workload
    workload["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "debug", "uid": "1234"}
    ]
    assert is_target(workload)


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"}},
        {"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "web"}},
        {"metadata": {"name": "no-kind"}},
        {},
    ],
)
def test_other_kinds_are_not_targets(obj: dict[str, Any]) -> None:
    """Rule: kinds outside the list (or from another API group) are ignored."""
    assert not is_target(obj)


def test_other_kinds_are_judged_by_kstatus_not_raised() -> None:
    """Robustness: judge answers for any object; other kinds follow kstatus (docs/api.md)."""
    target = judge({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}})
    assert target.name == "configmap/web"
    assert target.state.waiting is not None
    assert target.state.waiting.reason == "no status yet: its controller has not reported on it"


def test_a_custom_resource_named_like_a_workload_is_not_judged_as_one() -> None:
    odd = {"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "x"}}
    odd["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    target = judge(odd)
    assert target.state.active is not None and target.state.active.ready


def test_related_defaults_to_nothing() -> None:
    """A workload judged without related objects waits for its pods."""
    assert Related() == Related(replicasets=(), pods=())
    state = judge(load_scenario("job-running").workload).state
    assert state.waiting is not None
    assert state.waiting.reason == "no pods created yet"
