"""Deployment rules (SPEC, "Classifying a workload"), one test per rule."""

from __future__ import annotations

from tests.unit.judge.conftest import at, judged, load_scenario
from tiltrun.api.model import TargetType
from tiltrun.judge.deployment import current_replicaset
from tiltrun.judge.target import judge

NEW_RS = "web-7d4b9c6f5d"


def test_fully_available_deployment_is_active_and_ready() -> None:
    """Rule: ready when updated = available = desired replicas and Available=True."""
    target = judged("deployment-available")
    assert target.name == "deployment/web"
    assert target.type is TargetType.SERVER
    assert target.state.active is not None
    assert target.state.active.ready
    assert target.state.active.reason == ""
    # Started when the revision's first pod did.
    assert target.state.active.start_time == at("09:14:04")


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
    state = judged("deployment-rollout-in-progress").state
    assert state.waiting is not None
    assert state.waiting.reason == f"pod {NEW_RS}-x2x9z: ContainerCreating"
    # The rollout began when its ReplicaSet was created.
    assert state.waiting.trigger_time == at("09:19:03")


def test_rollout_with_new_pods_running_is_active_but_not_ready() -> None:
    """Rule: active, not ready, while the new revision runs but is not fully available."""
    state = judged("deployment-rollout-not-ready").state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == (
        f"1/3 ready; pod {NEW_RS}-p6n4d: ContainersNotReady: containers with unready status: [app]"
    )
    assert state.active.start_time == at("09:19:04")


def test_progress_deadline_exceeded_is_an_error() -> None:
    """Rule: terminated with an error when Progressing says ProgressDeadlineExceeded."""
    state = judged("deployment-progress-deadline-exceeded").state
    assert state.terminated is not None
    error = state.terminated.error
    assert error.startswith(
        f'ProgressDeadlineExceeded: ReplicaSet "{NEW_RS}" has timed out progressing.'
    )
    # What the rollout was stuck on comes with it.
    assert f"pod {NEW_RS}-x2x9z: Unschedulable: 0/3 nodes are available" in error
    assert state.terminated.finish_time == at("09:29:04")


def test_fatal_signal_on_a_current_revision_pod_is_an_error() -> None:
    """Rule: terminated with an error when a pod of the newest ReplicaSet shows a fatal signal."""
    state = judged("deployment-crashloopbackoff").state
    assert state.terminated is not None
    assert state.terminated.error.startswith(
        f"pod {NEW_RS}-x2x9z container app: CrashLoopBackOff (back-off 40s restarting"
    )
    assert state.terminated.error.endswith("last exit code 1 (Error), 3 restarts")
    assert state.terminated.start_time == at("09:19:04")
    assert state.terminated.finish_time == at("09:20:03")  # the last crash


def test_pods_of_old_replicasets_are_ignored() -> None:
    """Rule: judged on the current revision only; an old ReplicaSet's crashing pod is moot."""
    state = judged("deployment-rollout-replaces-crashing-pods").state
    assert state.active is not None
    assert state.active.ready


def test_deployment_waits_for_the_replicaset_of_its_newest_revision() -> None:
    """Rule: waiting while the newest revision's ReplicaSet has not been seen (cache lag)."""
    state = judged("deployment-new-replicaset-not-seen").state
    assert state.waiting is not None
    assert state.waiting.reason == "ReplicaSet of revision 2 not seen yet"


def test_replica_failure_is_the_waiting_reason() -> None:
    """Rule: waiting while the new ReplicaSet cannot create pods; ReplicaFailure says why."""
    state = judged("deployment-replica-failure").state
    assert state.waiting is not None
    assert state.waiting.reason.startswith(
        f'ReplicaFailure: FailedCreate: pods "{NEW_RS}-k8v2s" is forbidden: exceeded quota'
    )


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
    _, new = scenario.replicasets
    new["metadata"]["ownerReferences"][0]["uid"] = "00000000-0000-0000-0000-000000000000"
    current = current_replicaset(scenario.workload, scenario.replicasets)
    assert current is None  # revision 1 is not the Deployment's revision 2
    scenario.workload["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "1"
    current = current_replicaset(scenario.workload, scenario.replicasets)
    assert current is not None
    assert current["metadata"]["name"] == "web-6b8f7c9d4"
