"""Deployment rules (SPEC, "Classifying a workload"), one test per rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.judge.conftest import judged, load_scenario, name_of, stamp
from tiltrun.api.model import TargetType
from tiltrun.judge.deployment import current_replicaset
from tiltrun.judge.target import judge


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def _ready(pod: dict[str, Any]) -> bool:
    return _condition(pod, "Ready")["status"] == "True"


def test_fully_available_deployment_is_active_and_ready() -> None:
    """Rule: ready when updated = available = desired replicas and Available=True."""
    scenario = load_scenario("deployment-available")
    target = judge(scenario.workload, scenario.related)
    assert target.name == "deployment/web"
    assert target.type is TargetType.SERVER
    assert target.state.active is not None
    assert target.state.active.ready
    assert target.state.active.reason == ""
    # Started when the revision's first pod did.
    first_start = min(stamp(pod["status"]["startTime"]) for pod in scenario.pods)
    assert target.state.active.start_time == first_start


def test_paused_deployment_is_disabled() -> None:
    """Rule: disabled when spec.paused."""
    state = judged("deployment-paused").state
    assert state.disabled
    assert state.to_dict() == {"disabled": True}


def test_deployment_scaled_to_zero_is_disabled() -> None:
    """Rule: disabled when spec.replicas is 0."""
    assert judged("deployment-scaled-to-zero").state.disabled


def test_deployment_waits_until_its_generation_is_observed() -> None:
    """Rule: waiting while the controller has not observed the latest generation."""
    state = judged("deployment-generation-not-observed").state
    assert state.waiting is not None
    assert state.waiting.reason == "generation 3 not yet observed by its controller (observed: 2)"


def test_rollout_waits_while_no_new_pod_runs_though_old_pods_are_ready() -> None:
    """Rule: waiting while no pod of the new revision runs (old revision's readiness is moot)."""
    scenario = load_scenario("deployment-rollout-in-progress")
    old, new = scenario.replicasets
    assert all(_ready(pod) for pod in scenario.pods_of(old))
    (new_pod,) = scenario.pods_of(new)
    state = judge(scenario.workload, scenario.related).state
    assert state.waiting is not None
    assert state.waiting.reason == f"pod {name_of(new_pod)}: ContainerCreating"
    # The rollout began when its ReplicaSet was created.
    assert state.waiting.trigger_time == stamp(new["metadata"]["creationTimestamp"])


def test_rollout_with_new_pods_running_is_active_but_not_ready() -> None:
    """Rule: active, not ready, while the new revision runs but is not fully available."""
    scenario = load_scenario("deployment-rollout-not-ready")
    old, new = scenario.replicasets
    assert all(_ready(pod) for pod in scenario.pods_of(old))
    (new_pod,) = scenario.pods_of(new)
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == (
        f"0/2 ready; pod {name_of(new_pod)}: ContainersNotReady: "
        "containers with unready status: [app]"
    )
    assert state.active.start_time == stamp(new_pod["status"]["startTime"])


def test_progress_deadline_exceeded_is_an_error() -> None:
    """Rule: terminated with an error when Progressing says ProgressDeadlineExceeded."""
    scenario = load_scenario("deployment-progress-deadline-exceeded")
    (replicaset,) = scenario.replicasets
    state = judge(scenario.workload, scenario.related).state
    assert state.terminated is not None
    error = state.terminated.error
    assert error.startswith(
        f'ProgressDeadlineExceeded: ReplicaSet "{name_of(replicaset)}" has timed out progressing.'
    )
    # What the rollout was stuck on comes with it: the first pod that is not ready.
    assert error.endswith(
        f"; 0/2 ready; pod {name_of(scenario.pods[0])}: ContainersNotReady: "
        "containers with unready status: [app]"
    )
    progressing = _condition(scenario.workload, "Progressing")
    assert state.terminated.finish_time == stamp(progressing["lastTransitionTime"])


def test_fatal_signal_on_a_current_revision_pod_is_an_error() -> None:
    """Rule: terminated with an error when a pod of the newest ReplicaSet shows a fatal signal."""
    scenario = load_scenario("deployment-crashloopbackoff")
    old, new = scenario.replicasets
    assert all(_ready(pod) for pod in scenario.pods_of(old))
    (new_pod,) = scenario.pods_of(new)
    app = new_pod["status"]["containerStatuses"][0]
    state = judge(scenario.workload, scenario.related).state
    assert state.terminated is not None
    assert state.terminated.error == (
        f"pod {name_of(new_pod)} container app: CrashLoopBackOff "
        f"({app['state']['waiting']['message']}), "
        f"last exit code 1 (Error), {app['restartCount']} restarts"
    )
    assert state.terminated.start_time == stamp(new_pod["status"]["startTime"])
    # The last crash.
    assert state.terminated.finish_time == stamp(app["lastState"]["terminated"]["finishedAt"])


def test_pods_of_old_replicasets_are_ignored() -> None:
    """Rule: judged on the current revision only; an old ReplicaSet's crashing pod is moot."""
    scenario = load_scenario("deployment-rollout-replaces-crashing-pods")
    old, _ = scenario.replicasets
    old_pods = scenario.pods_of(old)
    assert old_pods
    for pod in old_pods:
        assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == (
            "CrashLoopBackOff"
        )
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert state.active.ready


def test_deployment_waits_for_the_replicaset_of_its_newest_revision() -> None:
    """Rule: waiting while the newest revision's ReplicaSet has not been seen (cache lag)."""
    state = judged("deployment-new-replicaset-not-seen").state
    assert state.waiting is not None
    assert state.waiting.reason == "ReplicaSet of revision 2 not seen yet"


def test_replica_failure_is_the_waiting_reason() -> None:
    """Rule: waiting while the new ReplicaSet cannot create pods; ReplicaFailure says why."""
    scenario = load_scenario("deployment-replica-failure")
    _, new = scenario.replicasets
    assert scenario.pods_of(new) == []
    state = judge(scenario.workload, scenario.related).state
    assert state.waiting is not None
    assert state.waiting.reason.startswith(f'ReplicaFailure: FailedCreate: pods "{name_of(new)}-')
    assert " is forbidden: exceeded quota: pods, " in state.waiting.reason


def test_available_false_keeps_the_deployment_not_ready() -> None:
    """Rule: ready needs Available=True as well as the counts."""
    scenario = load_scenario("deployment-available")
    available = scenario.workload["status"]["conditions"][0]
    available.update(status="False", reason="MinimumReplicasUnavailable")
    available["message"] = "Deployment does not have minimum availability."
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == (
        "3/3 ready; Available=False: MinimumReplicasUnavailable: "
        "Deployment does not have minimum availability."
    )


@pytest.mark.parametrize(
    ("available", "reason"),
    [
        ({"type": "Available", "status": "Unknown"}, "Available=Unknown"),
        ({"type": "Available", "status": "Maybe"}, "Available=Maybe"),
        ({"type": "Available"}, "Available=Unknown"),
        (None, "no Available condition reported yet"),
    ],
)
def test_an_odd_available_condition_is_reported_as_it_is(
    available: dict[str, str] | None, reason: str
) -> None:
    """Bad input: an Available condition neither True nor False, or none, is named as found."""
    scenario = load_scenario("deployment-available")
    conditions = scenario.workload["status"]["conditions"]
    conditions[:] = [c for c in conditions if c["type"] != "Available"]
    if available is not None:
        conditions.append(available)
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    # After the pods' count ("3/3 ready; "), which all pass.
    assert state.active.reason.split("; ")[1:] == [reason]


def test_an_old_replica_left_keeps_the_deployment_not_ready() -> None:
    """Rule: ready needs updated = available = desired with no old replica still counted."""
    scenario = load_scenario("deployment-available")
    scenario.workload["status"]["replicas"] = 4
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == "3/3 ready; 1 old replica still running"


def test_newest_replicaset_is_the_highest_revision_not_the_latest_created() -> None:
    """Rule: the current revision is the highest deployment.kubernetes.io/revision (rollbacks)."""
    scenario = load_scenario("deployment-rollout-in-progress")
    old, new = scenario.replicasets
    # A rollback re-numbers the old ReplicaSet as revision 3.
    old["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    scenario.workload["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    assert current_replicaset(scenario.workload, scenario.replicasets) is old
    assert new["metadata"]["creationTimestamp"] > old["metadata"]["creationTimestamp"]


def test_replicasets_other_deployments_control_are_ignored() -> None:
    """Rule: ReplicaSets are matched to the Deployment by controller ownerReference uid."""
    scenario = load_scenario("deployment-rollout-in-progress")
    old, new = scenario.replicasets
    new["metadata"]["ownerReferences"][0]["uid"] = "00000000-0000-0000-0000-000000000000"
    current = current_replicaset(scenario.workload, scenario.replicasets)
    assert current is None  # revision 1 is not the Deployment's revision 2
    scenario.workload["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "1"
    assert current_replicaset(scenario.workload, scenario.replicasets) is old
