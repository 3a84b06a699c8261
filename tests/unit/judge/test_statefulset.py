"""StatefulSet rules (SPEC, "Classifying a workload"), one test per rule."""

from __future__ import annotations

from tests.unit.judge.conftest import judged, load_scenario
from tiltrun.judge.target import judge


def test_statefulset_with_every_replica_ready_on_one_revision_is_ready() -> None:
    """Rule: ready when ready replicas = desired and currentRevision = updateRevision."""
    state = judged("statefulset-ready").state
    assert state.active is not None
    assert state.active.ready


def test_statefulset_scaled_to_zero_is_disabled() -> None:
    """Rule: disabled when spec.replicas is 0."""
    assert judged("statefulset-scaled-to-zero").state.disabled


def test_statefulset_is_not_ready_while_current_revision_is_not_update_revision() -> None:
    """Rule: not ready while currentRevision != updateRevision, though every replica is ready."""
    scenario = load_scenario("statefulset-rolling-update")
    status = scenario.workload["status"]
    assert status["readyReplicas"] == scenario.workload["spec"]["replicas"]
    assert status["currentRevision"] != status["updateRevision"]
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == (
        f"1/3 ready; 1/3 replicas updated to revision {status['updateRevision']}"
    )


def test_statefulset_waits_for_its_controller_to_finish_the_update() -> None:
    """Rule: with every pod updated and ready, still not ready until currentRevision follows."""
    scenario = load_scenario("statefulset-rolling-update")
    status = scenario.workload["status"]
    current, update = status["currentRevision"], status["updateRevision"]
    for pod in scenario.pods:
        pod["metadata"]["labels"]["controller-revision-hash"] = update
    status["updatedReplicas"] = 3
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == (
        f"3/3 ready; revision {update} rolling out (current revision: {current})"
    )


def test_fatal_signal_on_an_update_revision_pod_is_an_error() -> None:
    """Rule: terminated with an error when a pod of the update revision shows a fatal signal."""
    state = judged("statefulset-crashloopbackoff").state
    assert state.terminated is not None
    assert state.terminated.error.startswith("pod db-0 container postgres: CrashLoopBackOff")


def test_old_revision_pods_do_not_fail_a_statefulset() -> None:
    """Rule: judged on the update revision's pods only."""
    scenario = load_scenario("statefulset-crashloopbackoff")
    scenario.workload["status"]["updateRevision"] = "db-7f6d5c4b8a"
    state = judge(scenario.workload, scenario.related).state
    assert state.waiting is not None
    assert state.waiting.reason == "no pods of revision db-7f6d5c4b8a yet"


def test_statefulset_waits_while_its_pod_cannot_be_scheduled() -> None:
    """Rule: waiting while no update-revision pod runs; the scheduler's message says why."""
    scenario = load_scenario("statefulset-pod-unschedulable")
    (pod,) = scenario.pods
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    state = judge(scenario.workload, scenario.related).state
    assert state.waiting is not None
    assert state.waiting.reason == f"pod db-0: Unschedulable: {scheduled['message']}"
    assert "pod has unbound immediate PersistentVolumeClaims" in state.waiting.reason


def test_statefulset_waits_until_its_generation_is_observed() -> None:
    """Rule: waiting while the controller has not observed the latest generation."""
    scenario = load_scenario("statefulset-ready")
    scenario.workload["metadata"]["generation"] = 2
    state = judge(scenario.workload, scenario.related).state
    assert state.waiting is not None
    assert state.waiting.reason.startswith("generation 2 not yet observed")
