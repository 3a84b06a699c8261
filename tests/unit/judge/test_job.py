"""Job rules (SPEC, "Classifying a workload"), one test per rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.judge.conftest import judged, load_scenario, name_of, stamp
from tiltrun.api.model import TargetType
from tiltrun.judge.target import judge


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in obj["status"].get("conditions", []) if c["type"] == type_), None)


def test_complete_job_terminates_ok() -> None:
    """Rule: ok when the Complete condition is True; finished at completionTime."""
    scenario = load_scenario("job-complete")
    target = judge(scenario.workload, scenario.related)
    assert target.type is TargetType.JOB
    assert target.resources == ("db-migrate",)
    terminated = target.state.terminated
    assert terminated is not None
    assert terminated.error == ""
    assert terminated.start_time == stamp(scenario.workload["status"]["startTime"])
    assert terminated.finish_time == stamp(scenario.workload["status"]["completionTime"])


def test_success_criteria_met_terminates_ok_before_complete() -> None:
    """Rule: ok when SuccessCriteriaMet is True, even before Complete is set."""
    scenario = load_scenario("job-success-criteria-met")
    assert _condition(scenario.workload, "Complete") is None
    assert "completionTime" not in scenario.workload["status"]
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None
    assert terminated.error == ""
    met = _condition(scenario.workload, "SuccessCriteriaMet")
    assert met is not None
    assert terminated.finish_time == stamp(met["lastTransitionTime"])


def test_failed_job_error_carries_reason_message_and_exit_code() -> None:
    """Rule: error on Failed, with reason, message and the failed container's exit evidence."""
    scenario = load_scenario("job-failed-backoff-limit")
    assert len(scenario.pods) == 2  # backoffLimit 1: the first try and one retry

    def exit_of(pod: dict[str, Any]) -> dict[str, Any]:
        return dict(pod["status"]["containerStatuses"][0]["state"]["terminated"])

    # The evidence is the last failure, the one the retries ended on.
    last = max(scenario.pods, key=lambda pod: exit_of(pod)["finishedAt"])
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None
    assert terminated.error == (
        "BackoffLimitExceeded: Job has reached the specified backoff limit; "
        f"pod {name_of(last)} container migrate: terminated with exit code 1 "
        f"(Error: {exit_of(last)['message']}), 0 restarts"
    )
    failed = _condition(scenario.workload, "Failed")
    assert failed is not None
    assert terminated.finish_time == stamp(failed["lastTransitionTime"])


def test_failure_target_fails_the_job_before_failed_is_set() -> None:
    """Rule: error on FailureTarget (set while the controller still stops the pods)."""
    scenario = load_scenario("job-failure-target")
    assert _condition(scenario.workload, "Failed") is None
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None
    assert terminated.error == "DeadlineExceeded: Job was active longer than specified deadline"


def test_suspended_job_is_disabled() -> None:
    """Rule: disabled when spec.suspend is true."""
    assert judged("job-suspended").state.disabled


def test_finished_job_stays_finished_when_suspended_later() -> None:
    """Rule (ordering): a Job's terminal conditions come before spec.suspend."""
    scenario = load_scenario("job-complete")
    scenario.workload["spec"]["suspend"] = True
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None
    assert terminated.error == ""


def test_job_with_a_running_pod_is_active() -> None:
    """Rule: active while its pods run; a job is never 'ready', its progress is the reason."""
    scenario = load_scenario("job-running")
    active = judge(scenario.workload, scenario.related).state.active
    assert active is not None
    assert not active.ready
    assert active.reason == "1 pod running, 0/1 succeeded"
    assert active.start_time == stamp(scenario.workload["status"]["startTime"])


def test_job_waits_while_its_pod_is_not_running_yet() -> None:
    """Rule: waiting while its pods are not running yet."""
    scenario = load_scenario("job-pod-pending")
    (pod,) = scenario.pods
    waiting = judge(scenario.workload, scenario.related).state.waiting
    assert waiting is not None
    assert waiting.reason == f"pod {name_of(pod)}: ContainerCreating"


def test_job_waits_until_started() -> None:
    """Rule: waiting while not started."""
    scenario = load_scenario("job-not-started")
    assert scenario.workload["status"] == {}
    waiting = judge(scenario.workload, scenario.related).state.waiting
    assert waiting is not None
    assert waiting.reason == "not started yet"
    assert waiting.trigger_time == stamp(scenario.workload["metadata"]["creationTimestamp"])


def test_failed_pod_fails_the_job_while_it_retries() -> None:
    """Rule: a job pod's container terminated non-zero is a fatal signal."""
    scenario = load_scenario("job-pod-failed-retrying")
    assert scenario.workload["status"]["active"] == 1  # the retry
    (failed,) = [pod for pod in scenario.pods if pod["status"]["phase"] == "Failed"]
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None
    assert terminated.error.startswith(
        f"pod {name_of(failed)} container migrate: terminated with exit code 1 (Error"
    )


def test_container_restarted_after_failure_fails_the_job() -> None:
    """Rule: a non-zero exit in lastState (restartPolicy OnFailure) is a fatal signal too."""
    scenario = load_scenario("job-container-restarted-after-failure")
    (pod,) = scenario.pods
    assert "running" in pod["status"]["containerStatuses"][0]["state"]
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None
    assert terminated.error == (
        f"pod {name_of(pod)} container migrate: restarted after exit code 1 (Error), 1 restart"
    )


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "CreateContainerConfigError"])
def test_fatal_waiting_reason_fails_a_job(reason: str) -> None:
    """Rule: a fatal pod signal fails a Job as it fails a server."""
    scenario = load_scenario("job-pod-pending")
    status = scenario.pods[0]["status"]["containerStatuses"][0]
    status["state"] = {"waiting": {"reason": reason, "message": "details"}}
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None
    pod = name_of(scenario.pods[0])
    assert terminated.error == f"pod {pod} container migrate: {reason} (details), 0 restarts"


def test_pods_of_other_jobs_are_ignored() -> None:
    """Rule: a Job is judged on the pods it controls (controller ownerReference uid)."""
    scenario = load_scenario("job-pod-failed-retrying")
    for pod in scenario.pods:
        pod["metadata"]["ownerReferences"][0]["uid"] = "00000000-0000-0000-0000-000000000000"
    waiting = judge(scenario.workload, scenario.related).state.waiting
    assert waiting is not None
    assert waiting.reason == "no pods created yet"


def test_a_failed_pod_the_controller_has_not_counted_yet_is_not_judged_yet() -> None:
    """Rule: a failed pod counts once the Job controller removed its tracking finalizer.

    The controller writes FailureTarget (BackoffLimitExceeded) before it lets go of the
    pod, so waiting for it keeps the Job's reason in the error.
    """
    scenario = load_scenario("job-failed-backoff-limit")
    scenario.workload["status"]["conditions"] = [
        c
        for c in scenario.workload["status"]["conditions"]
        if c["type"] not in ("Failed", "FailureTarget")
    ]
    for pod in scenario.pods:
        pod["metadata"]["finalizers"] = ["batch.kubernetes.io/job-tracking"]
    assert judge(scenario.workload, scenario.related).state.terminated is None

    # Counted, with no verdict from the Job: retries remain, the failure fails fast.
    for pod in scenario.pods:
        del pod["metadata"]["finalizers"]
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None
    assert "terminated with exit code 1" in terminated.error
