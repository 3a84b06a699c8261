"""StatefulSet rules (SPEC, "Classifying a workload"), one test per rule."""

from __future__ import annotations

from tests.unit.judge.conftest import Scenario, judged, load_scenario
from tiltrun.judge.statefulset import ordinal
from tiltrun.judge.target import judge


def test_statefulset_with_every_replica_ready_on_one_revision_is_ready() -> None:
    """Rule: ready when ready replicas = desired and currentRevision = updateRevision."""
    state = judged("statefulset-ready").state
    assert state.active is not None
    assert state.active.ready


def test_statefulset_scaled_to_zero_is_disabled() -> None:
    """Rule: disabled when spec.replicas is 0."""
    assert judged("statefulset-scaled-to-zero").state.disabled


def _without_partition(scenario: Scenario) -> Scenario:
    """The captured partitioned rollout as a plain rolling update (partition 0)."""
    del scenario.workload["spec"]["updateStrategy"]["rollingUpdate"]
    return scenario


def test_statefulset_is_not_ready_while_current_revision_is_not_update_revision() -> None:
    """Rule: not ready while currentRevision != updateRevision, though every replica is ready."""
    scenario = _without_partition(load_scenario("statefulset-rolling-update"))
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
    scenario = _without_partition(load_scenario("statefulset-rolling-update"))
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


def test_partitioned_statefulset_is_ready_once_the_ordinals_from_p_up_are_updated() -> None:
    """Rule: partition P: ready when the ordinals >= P are updated and every replica is ready;
    the reason names the pods below P, which keep the older revision by design."""
    scenario = load_scenario("statefulset-rolling-update")
    assert scenario.workload["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 2
    status = scenario.workload["status"]
    assert status["currentRevision"] != status["updateRevision"]
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert state.active.ready
    assert state.active.reason == "partition 2: pods db-0, db-1 keep the older revision"


def test_partitioned_statefulset_is_not_ready_while_an_ordinal_above_the_partition_is_not() -> None:
    """Rule: partition P: not ready while an updated ordinal >= P is not ready."""
    scenario = load_scenario("statefulset-partition-rolling-out")
    status = scenario.workload["status"]
    assert scenario.workload["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 1
    db_2 = scenario.pod("db-2")
    assert db_2["metadata"]["labels"]["controller-revision-hash"] == status["updateRevision"]
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == (
        "2/3 ready; pod db-2: ContainersNotReady: containers with unready status: [postgres]"
    )


def test_partitioned_statefulset_waits_for_the_update_of_every_ordinal_from_the_partition() -> None:
    """Rule: partition P: not ready until updatedReplicas reaches desired - P."""
    scenario = load_scenario("statefulset-rolling-update")
    scenario.workload["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 1
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    update = scenario.workload["status"]["updateRevision"]
    # db-1, on the old revision at an ordinal >= 1, is not judged (it is to be replaced)
    # but it serves until then, so it counts among the ready replicas.
    assert state.active.reason == (
        f"3/3 ready; 1/2 replicas from ordinal 1 up updated to revision {update}"
    )


def test_a_fatal_signal_below_the_partition_fails_the_statefulset() -> None:
    """Rule: partition P: the pods below P serve, so their fatal signals count."""
    scenario = load_scenario("statefulset-rolling-update")
    (status,) = scenario.pod("db-0")["status"]["containerStatuses"]
    status["restartCount"] = 4
    status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
    state = judge(scenario.workload, scenario.related).state
    assert state.terminated is not None
    assert state.terminated.error.startswith(
        "pod db-0 container postgres: CrashLoopBackOff (back-off 40s)"
    )


def test_on_delete_statefulset_is_ready_with_every_pod_on_the_old_revision() -> None:
    """Rule: OnDelete: ready when every replica is ready, whatever its revision; the reason
    names the pods still on an older revision."""
    scenario = load_scenario("statefulset-on-delete")
    status = scenario.workload["status"]
    assert scenario.workload["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert status["currentRevision"] != status["updateRevision"]
    assert not any(
        pod["metadata"]["labels"]["controller-revision-hash"] == status["updateRevision"]
        for pod in scenario.pods
    )
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert state.active.ready
    assert state.active.reason == (
        "updateStrategy OnDelete: pods db-0, db-1, db-2 still on an older revision "
        "(delete a pod to update it)"
    )


def test_on_delete_statefulset_judges_old_and_new_pods_alike() -> None:
    """Rule: OnDelete: every pod is judged; only the old ones are named."""
    scenario = load_scenario("statefulset-on-delete-pod-replaced")
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert state.active.ready
    assert state.active.reason == (
        "updateStrategy OnDelete: pods db-0, db-2 still on an older revision "
        "(delete a pod to update it)"
    )


def test_on_delete_statefulset_is_not_ready_while_a_replica_is_not() -> None:
    """Rule: OnDelete: not ready while ready replicas < desired."""
    scenario = load_scenario("statefulset-on-delete")
    scenario.workload["status"]["readyReplicas"] = 2
    ready = next(c for c in scenario.pod("db-1")["status"]["conditions"] if c["type"] == "Ready")
    ready.update(status="False", reason="ContainersNotReady", message="not yet")
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == "2/3 ready; pod db-1: ContainersNotReady: not yet"


def test_on_delete_old_revision_pods_do_fail_the_statefulset() -> None:
    """Rule: OnDelete: nothing replaces an old pod, so its fatal signal counts."""
    scenario = load_scenario("statefulset-on-delete")
    (status,) = scenario.pod("db-2")["status"]["containerStatuses"]
    status["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": "gone"}}
    state = judge(scenario.workload, scenario.related).state
    assert state.terminated is not None
    assert state.terminated.error.startswith("pod db-2 container postgres: ImagePullBackOff")


def test_an_ordinal_is_read_from_the_name_when_the_label_is_missing() -> None:
    """Rule: a pod's ordinal: label apps.kubernetes.io/pod-index, else its name's suffix."""
    scenario = load_scenario("statefulset-rolling-update")
    for pod in scenario.pods:
        del pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"]
    assert [ordinal(p, scenario.workload) for p in scenario.pods] == [0, 1, 2]
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert state.active.ready


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
