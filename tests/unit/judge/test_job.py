"""Job rules (SPEC, "Classifying a workload"), one test per rule."""

from __future__ import annotations

import pytest

from tests.unit.judge.conftest import at, judged, load_scenario
from tiltrun.api.model import TargetType
from tiltrun.judge.target import judge


def test_complete_job_terminates_ok() -> None:
    """Rule: ok when the Complete condition is True; finished at completionTime."""
    target = judged("job-complete")
    assert target.type is TargetType.JOB
    assert target.resources == ("db-migrate",)
    terminated = target.state.terminated
    assert terminated is not None
    assert terminated.error == ""
    assert terminated.start_time == at("09:14:03")
    assert terminated.finish_time == at("09:14:41")


def test_success_criteria_met_terminates_ok_before_complete() -> None:
    """Rule: ok when SuccessCriteriaMet is True, even before Complete is set."""
    terminated = judged("job-success-criteria-met").state.terminated
    assert terminated is not None
    assert terminated.error == ""
    assert terminated.finish_time == at("09:14:44")


def test_failed_job_error_carries_reason_message_and_exit_code() -> None:
    """Rule: error on Failed, with reason, message and the failed container's exit evidence."""
    terminated = judged("job-failed-backoff-limit").state.terminated
    assert terminated is not None
    assert terminated.error == (
        "BackoffLimitExceeded: Job has reached the specified backoff limit; "
        "pod migrate-tq2hn container migrate: terminated with exit code 1 "
        '(Error: migration 0042_add_order_index failed: pq: relation "orders" does not exist), '
        "0 restarts"
    )
    assert terminated.finish_time == at("09:14:55")


def test_failure_target_fails_the_job_before_failed_is_set() -> None:
    """Rule: error on FailureTarget (set while the controller still stops the pods)."""
    terminated = judged("job-failure-target").state.terminated
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
    active = judged("job-running").state.active
    assert active is not None
    assert not active.ready
    assert active.reason == "1 pod running, 0/1 succeeded"
    assert active.start_time == at("09:14:03")


def test_job_waits_while_its_pod_is_not_running_yet() -> None:
    """Rule: waiting while its pods are not running yet."""
    waiting = judged("job-pod-pending").state.waiting
    assert waiting is not None
    assert waiting.reason == "pod migrate-r3x7p: ContainerCreating"


def test_job_waits_until_started() -> None:
    """Rule: waiting while not started."""
    waiting = judged("job-not-started").state.waiting
    assert waiting is not None
    assert waiting.reason == "not started yet"
    assert waiting.trigger_time == at("09:14:03")


def test_failed_pod_fails_the_job_while_it_retries() -> None:
    """Rule: a job pod's container terminated non-zero is a fatal signal."""
    terminated = judged("job-pod-failed-retrying").state.terminated
    assert terminated is not None
    assert terminated.error.startswith(
        "pod migrate-8wz4k container migrate: terminated with exit code 1 (Error: migration"
    )


def test_container_restarted_after_failure_fails_the_job() -> None:
    """Rule: a non-zero exit in lastState (restartPolicy OnFailure) is a fatal signal too."""
    terminated = judged("job-container-restarted-after-failure").state.terminated
    assert terminated is not None
    assert terminated.error == (
        "pod migrate-r3x7p container migrate: restarted after exit code 2 "
        "(Error: dial tcp 10.96.14.3:5432: connect: connection refused), 1 restart"
    )


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "CreateContainerConfigError"])
def test_fatal_waiting_reason_fails_a_job(reason: str) -> None:
    """Rule: a fatal pod signal fails a Job as it fails a server."""
    scenario = load_scenario("job-pod-pending")
    status = scenario.pods[0]["status"]["containerStatuses"][0]
    status["state"] = {"waiting": {"reason": reason, "message": "details"}}
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None
    assert (
        terminated.error == f"pod migrate-r3x7p container migrate: {reason} (details), 0 restarts"
    )


def test_pods_of_other_jobs_are_ignored() -> None:
    """Rule: a Job is judged on the pods it controls (controller ownerReference uid)."""
    scenario = load_scenario("job-pod-failed-retrying")
    for pod in scenario.pods:
        pod["metadata"]["ownerReferences"][0]["uid"] = "00000000-0000-0000-0000-000000000000"
    waiting = judge(scenario.workload, scenario.related).state.waiting
    assert waiting is not None
    assert waiting.reason == "no pods created yet"
