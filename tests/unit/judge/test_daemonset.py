"""DaemonSet rules (SPEC, "Classifying a workload"), one test per rule."""

from __future__ import annotations

from tests.unit.judge.conftest import at, judged, load_scenario
from tiltrun.judge.target import judge


def test_daemonset_with_every_scheduled_pod_updated_and_available_is_ready() -> None:
    """Rule: ready when updated = available = desired scheduled pods."""
    state = judged("daemonset-ready").state
    assert state.active is not None
    assert state.active.ready


def test_daemonset_with_zero_of_zero_pods_is_ready() -> None:
    """Rule: 0 of 0 is ready (no node wants a pod)."""
    state = judged("daemonset-no-nodes").state
    assert state.active is not None
    assert state.active.ready
    assert state.active.start_time == at("09:14:03")  # no pod: the DaemonSet's creation


def test_daemonset_rollout_with_new_pod_running_is_active_but_not_ready() -> None:
    """Rule: active, not ready, while the current generation runs but is not fully available."""
    state = judged("daemonset-rollout-not-ready").state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == (
        "0/2 ready; pod node-agent-q9t3n: ContainersNotReady: "
        "containers with unready status: [agent]"
    )


def test_daemonset_rollout_waits_while_no_new_pod_runs_though_old_pods_are_ready() -> None:
    """Rule: waiting while no pod of the current generation runs."""
    state = judged("daemonset-rollout-in-progress").state
    assert state.waiting is not None
    assert state.waiting.reason == "pod node-agent-q9t3n: ContainerCreating"
    assert state.waiting.trigger_time == at("09:22:23")  # the first new pod's creation


def test_fatal_signal_on_a_current_generation_pod_is_an_error() -> None:
    """Rule: terminated with an error when a current-generation pod shows a fatal signal."""
    state = judged("daemonset-imagepullbackoff").state
    assert state.terminated is not None
    assert state.terminated.error.startswith(
        'pod node-agent-7kq2x container agent: ImagePullBackOff (Back-off pulling image "'
    )


def test_pods_without_a_generation_label_count_as_current() -> None:
    """Rule: fall back to all the DaemonSet's pods when pod-template-generation is absent."""
    scenario = load_scenario("daemonset-rollout-in-progress")
    for pod in scenario.pods:
        del pod["metadata"]["labels"]["pod-template-generation"]
    state = judge(scenario.workload, scenario.related).state
    # The old pod that still runs now counts, so the DaemonSet is running, not waiting.
    assert state.active is not None
    assert not state.active.ready


def test_daemonset_waits_until_its_generation_is_observed() -> None:
    """Rule: waiting while the controller has not observed the latest generation."""
    scenario = load_scenario("daemonset-ready")
    scenario.workload["metadata"]["generation"] = 2
    state = judge(scenario.workload, scenario.related).state
    assert state.waiting is not None
    assert state.waiting.reason.startswith("generation 2 not yet observed")
