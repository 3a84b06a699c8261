"""Bare Pod rules (SPEC, "Classifying a workload"), one test per rule."""

from __future__ import annotations

from tests.unit.judge.conftest import judged, load_scenario, stamp
from tiltrun.api.model import TargetType
from tiltrun.judge.target import judge


def test_running_ready_pod_is_active_and_ready() -> None:
    """Rule: active while running; ready when Ready=True."""
    pod = load_scenario("pod-running-ready").workload
    target = judge(pod)
    assert target.type is TargetType.SERVER
    assert target.state.active is not None
    assert target.state.active.ready
    assert target.state.active.start_time == stamp(pod["status"]["startTime"])


def test_running_pod_that_is_not_ready_says_why() -> None:
    """Rule: active, not ready, with the Ready condition's reason."""
    active = judged("pod-running-not-ready").state.active
    assert active is not None
    assert not active.ready
    assert active.reason == "ContainersNotReady: containers with unready status: [app]"


def test_unscheduled_pod_waits_with_the_schedulers_message() -> None:
    """Rule: waiting while not scheduled: Unschedulable: <scheduler message>."""
    pod = load_scenario("pod-unschedulable").workload
    waiting = judge(pod).state.waiting
    assert waiting is not None
    assert waiting.reason.startswith("Unschedulable: 0/3 nodes are available: ")
    assert "3 Insufficient memory." in waiting.reason
    assert waiting.trigger_time == stamp(pod["metadata"]["creationTimestamp"])


def test_pod_waits_while_containers_are_created() -> None:
    """Rule: waiting while its containers are being created."""
    waiting = judged("pod-container-creating").state.waiting
    assert waiting is not None
    assert waiting.reason == "ContainerCreating"


def test_pod_without_any_kubelet_report_waits_as_pending() -> None:
    """Rule: waiting, reason Pending, before the kubelet reports anything."""
    waiting = judged("pod-pending").state.waiting
    assert waiting is not None
    assert waiting.reason == "Pending"


def test_pod_waits_while_init_containers_run() -> None:
    """Rule: waiting while init containers run: Init:<done>/<total>."""
    waiting = judged("pod-init-running").state.waiting
    assert waiting is not None
    assert waiting.reason == "Init:0/1"


def test_succeeded_job_pod_terminates_ok() -> None:
    """Rule: restartPolicy Never makes a job; phase Succeeded terminates it ok."""
    pod = load_scenario("pod-job-succeeded").workload
    target = judge(pod)
    assert target.type is TargetType.JOB
    terminated = target.state.terminated
    assert terminated is not None
    assert terminated.error == ""
    assert terminated.start_time == stamp(pod["status"]["startTime"])
    # The container's finishedAt.
    finished = pod["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
    assert terminated.finish_time == stamp(finished)


def test_failed_pod_error_carries_exit_code_and_termination_message() -> None:
    """Rule: phase Failed terminates with an error naming pod, container and exit evidence."""
    pod = load_scenario("pod-job-failed").workload
    message = pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    terminated = judge(pod).state.terminated
    assert terminated is not None
    assert terminated.error == (
        f"pod seed-data container seed: terminated with exit code 3 (Error: {message}), 0 restarts"
    )


def test_server_pod_that_terminates_carries_an_error() -> None:
    """Rule: a server that terminates always carries an error, even after a clean exit."""
    target = judged("pod-server-succeeded")
    assert target.type is TargetType.SERVER
    terminated = target.state.terminated
    assert terminated is not None
    assert terminated.error == (
        "pod debug-web: Succeeded; container app: terminated with exit code 0 (Completed); "
        "a server is expected to keep running"
    )


def test_evicted_pod_error_carries_the_pods_reason() -> None:
    """Rule: phase Failed: the pod-level reason and message come first (Evicted)."""
    terminated = judged("pod-evicted").state.terminated
    assert terminated is not None
    assert terminated.error.startswith(
        "pod debug-web: Evicted: The node was low on resource: memory."
    )


def test_crash_looping_init_container_fails_the_pod() -> None:
    """Rule: an init container waiting with CrashLoopBackOff is a fatal signal."""
    terminated = judged("pod-init-container-crashloopbackoff").state.terminated
    assert terminated is not None
    assert terminated.error == (
        "pod debug-web init container wait-for-db: CrashLoopBackOff (back-off 1m20s restarting "
        "failed container=wait-for-db pod=debug-web_shop(f5c6a866-5e50-5e68-8414-1c9a441f7dbe)), "
        "last exit code 1 (Error: nc: bad address 'db'), 4 restarts"
    )
