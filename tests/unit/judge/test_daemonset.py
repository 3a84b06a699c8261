"""DaemonSet rules (SPEC, "Classifying a workload"), one test per rule."""

from __future__ import annotations

from typing import Any

from tests.unit.judge.conftest import Scenario, judged, load_scenario, name_of, stamp
from tiltrun.judge.target import judge


def _generation_2(scenario: Scenario) -> dict[str, Any]:
    """The one pod of the rollout's new template generation."""
    (pod,) = [p for p in scenario.pods if p["metadata"]["labels"]["pod-template-generation"] == "2"]
    return pod


def test_daemonset_with_every_scheduled_pod_updated_and_available_is_ready() -> None:
    """Rule: ready when updated = available = desired scheduled pods."""
    state = judged("daemonset-ready").state
    assert state.active is not None
    assert state.active.ready


def test_daemonset_with_zero_of_zero_pods_is_ready() -> None:
    """Rule: 0 of 0 is ready (no node wants a pod)."""
    scenario = load_scenario("daemonset-no-nodes")
    assert scenario.pods == []
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert state.active.ready
    # No pod: the DaemonSet's creation.
    assert state.active.start_time == stamp(scenario.workload["metadata"]["creationTimestamp"])


def test_daemonset_rollout_with_new_pod_running_is_active_but_not_ready() -> None:
    """Rule: active, not ready, while the current generation runs but is not fully available."""
    scenario = load_scenario("daemonset-rollout-not-ready")
    desired = scenario.workload["status"]["desiredNumberScheduled"]
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    assert state.active.reason == (
        f"0/{desired} ready; pod {name_of(_generation_2(scenario))}: ContainersNotReady: "
        "containers with unready status: [agent]"
    )


def test_daemonset_rollout_waits_while_no_new_pod_runs_though_old_pods_are_ready() -> None:
    """Rule: waiting while no pod of the current generation runs."""
    scenario = load_scenario("daemonset-rollout-in-progress")
    new = _generation_2(scenario)
    old = [pod for pod in scenario.pods if pod is not new]
    assert old
    assert all(pod["status"]["phase"] == "Running" for pod in old)
    state = judge(scenario.workload, scenario.related).state
    assert state.waiting is not None
    assert state.waiting.reason == f"pod {name_of(new)}: ContainerCreating"
    # The first new pod's creation.
    assert state.waiting.trigger_time == stamp(new["metadata"]["creationTimestamp"])


def test_fatal_signal_on_a_current_generation_pod_is_an_error() -> None:
    """Rule: terminated with an error when a current-generation pod shows a fatal signal."""
    scenario = load_scenario("daemonset-imagepullbackoff")
    first = name_of(scenario.pods[0])  # pods by name: the judge names the first that fails
    state = judge(scenario.workload, scenario.related).state
    assert state.terminated is not None
    assert state.terminated.error.startswith(
        f'pod {first} container agent: ImagePullBackOff (Back-off pulling image "'
    )


def test_a_spec_change_that_keeps_the_template_keeps_the_pods_current() -> None:
    """Rule: pods are compared with the template generation, not metadata.generation."""
    scenario = load_scenario("daemonset-updated-without-new-template")
    metadata = scenario.workload["metadata"]
    assert metadata["generation"] == 2
    assert metadata["annotations"]["deprecated.daemonset.template.generation"] == "1"
    assert {pod["metadata"]["labels"]["pod-template-generation"] for pod in scenario.pods} == {"1"}
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert state.active.ready


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


def test_on_delete_daemonset_is_ready_with_every_pod_of_the_old_template() -> None:
    """Rule: OnDelete: ready when available = desired, whatever the pods' generation; the
    reason names the pods left on an older template."""
    scenario = load_scenario("daemonset-on-delete")
    workload = scenario.workload
    assert workload["spec"]["updateStrategy"]["type"] == "OnDelete"
    assert workload["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"
    assert {p["metadata"]["labels"]["pod-template-generation"] for p in scenario.pods} == {"1"}
    state = judge(workload, scenario.related).state
    assert state.active is not None
    assert state.active.ready
    names = ", ".join(sorted(name_of(p) for p in scenario.pods))
    assert state.active.reason == (
        f"updateStrategy OnDelete: pods {names} still on an older template "
        "(delete a pod to update it)"
    )


def test_on_delete_daemonset_is_not_ready_while_a_pod_is_unavailable() -> None:
    """Rule: OnDelete: not ready while available < desired."""
    scenario = load_scenario("daemonset-on-delete")
    status = scenario.workload["status"]
    status["numberAvailable"] = status["desiredNumberScheduled"] - 1
    lagging = sorted(scenario.pods, key=name_of)[0]
    ready = next(c for c in lagging["status"]["conditions"] if c["type"] == "Ready")
    ready.update(status="False", reason="ContainersNotReady", message="warming up")
    state = judge(scenario.workload, scenario.related).state
    assert state.active is not None
    assert not state.active.ready
    desired = status["desiredNumberScheduled"]
    assert state.active.reason == (
        f"{desired - 1}/{desired} ready; pod {name_of(lagging)}: ContainersNotReady: warming up"
    )


def test_daemonset_without_desired_number_scheduled_waits_and_says_so() -> None:
    """Rule: a status without desiredNumberScheduled is incomplete: waiting, never 0 of 0."""
    scenario = load_scenario("daemonset-status-incomplete")
    workload = scenario.workload
    assert workload["status"]["observedGeneration"] == workload["metadata"]["generation"]
    state = judge(workload, scenario.related).state
    assert state.waiting is not None
    assert state.waiting.reason == "status incomplete: no desiredNumberScheduled yet"
    assert state.waiting.trigger_time == stamp(workload["metadata"]["creationTimestamp"])


def test_a_daemonset_with_pods_but_no_desired_count_waits_too() -> None:
    """Rule: the count is what readiness is measured against; pods do not stand in for it."""
    scenario = load_scenario("daemonset-ready")
    del scenario.workload["status"]["desiredNumberScheduled"]
    state = judge(scenario.workload, scenario.related).state
    assert state.waiting is not None
    assert state.waiting.reason.startswith("status incomplete")
