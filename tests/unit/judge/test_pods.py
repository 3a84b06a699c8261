"""Pod-level facts: fatal signals, waiting reasons, readiness, times."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.judge.conftest import judged, load_scenario, stamp
from tiltrun.judge.pods import (
    FATAL_WAITING_REASONS,
    find_fatal_signal,
    readiness_reason,
    start_time,
    waiting_reason,
)


def _kebab(reason: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", reason).lower()


def fatal_signal(pod: dict[str, Any], *, job: bool) -> str | None:
    """The evidence of the pod's first fatal signal, ``None`` when it shows none."""
    signal = find_fatal_signal(pod, job=job)
    return signal.evidence if signal else None


def _pod(name: str) -> dict[str, Any]:
    return load_scenario(name).workload


def test_every_fatal_reason_of_the_spec_has_a_scenario() -> None:
    """The SPEC's list of fatal waiting reasons, exactly."""
    assert sorted(FATAL_WAITING_REASONS) == sorted(
        [
            "CrashLoopBackOff",
            "ErrImagePull",
            "ImagePullBackOff",
            "InvalidImageName",
            "ErrImageNeverPull",
            "CreateContainerConfigError",
            "CreateContainerError",
            "RunContainerError",
        ]
    )


@pytest.mark.parametrize("reason", sorted(FATAL_WAITING_REASONS))
def test_fatal_waiting_reason_fails_the_pod_with_evidence(reason: str) -> None:
    """Rule: a container waiting with <reason> is fatal; the error names pod and container and
    carries reason, message and restart count."""
    scenario = f"pod-{_kebab(reason)}"
    pod = _pod(scenario)
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]

    evidence = fatal_signal(pod, job=False)
    assert evidence is not None
    assert evidence.startswith(f"pod debug-web container app: {reason} ({waiting['message']})")
    assert evidence.endswith(f"{restarts} restart" + ("" if restarts == 1 else "s"))

    terminated = judged(scenario).state.terminated
    assert terminated is not None
    assert terminated.error == evidence


def test_crash_loop_evidence_carries_the_last_exit() -> None:
    """Rule: for CrashLoopBackOff the exit code comes from lastState.terminated."""
    pod = _pod("pod-crash-loop-back-off")
    app = pod["status"]["containerStatuses"][0]
    last = app["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (1, "Error")
    evidence = fatal_signal(pod, job=False)
    assert evidence == (
        f"pod debug-web container app: CrashLoopBackOff ({app['state']['waiting']['message']}), "
        f"last exit code 1 (Error), {app['restartCount']} restarts"
    )


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing", "Unknown", ""])
def test_other_waiting_reasons_are_not_fatal(reason: str) -> None:
    """Rule: only the SPEC's list of waiting reasons is fatal."""
    pod = _pod("pod-container-creating")
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": reason}}
    assert fatal_signal(pod, job=False) is None
    assert fatal_signal(pod, job=True) is None


def test_non_zero_exit_is_fatal_only_for_job_pods() -> None:
    """Rule: a container terminated with a non-zero exit code is fatal for job pods only
    (a server's container is restarted; it becomes fatal as CrashLoopBackOff)."""
    pod = _pod("pod-job-failed")
    assert fatal_signal(pod, job=True) is not None
    assert fatal_signal(pod, job=False) is None


def test_zero_exit_is_never_fatal() -> None:
    """Rule: exit code 0 is success."""
    assert fatal_signal(_pod("pod-job-succeeded"), job=True) is None


def test_running_containers_are_not_fatal() -> None:
    """A healthy pod shows no signal."""
    assert fatal_signal(_pod("pod-running-ready"), job=True) is None


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("pod-container-creating", "ContainerCreating"),
        ("pod-init-running", "Init:0/1"),
        ("pod-pending", "Pending"),
        ("pod-unschedulable", "Unschedulable: 0/3 nodes are available: "),
        ("pod-job-succeeded", "Completed"),
    ],
)
def test_waiting_reason_speaks_kubectl(scenario: str, expected: str) -> None:
    """waiting_reason says what ``kubectl get pods`` says, except Unschedulable says why."""
    assert waiting_reason(_pod(scenario)).startswith(expected)


@pytest.mark.parametrize(
    ("terminated", "expected"),
    [
        ({"exitCode": 1, "reason": "Error"}, "Init:Error"),
        ({"exitCode": 137, "signal": 9}, "Init:Signal:9"),
        ({"exitCode": 2}, "Init:ExitCode:2"),
    ],
)
def test_waiting_reason_of_a_failed_init_container(
    terminated: dict[str, Any], expected: str
) -> None:
    """kubectl's Init:<reason>, Init:Signal:<n>, Init:ExitCode:<n>."""
    pod = _pod("pod-init-running")
    pod["status"]["initContainerStatuses"][0]["state"] = {"terminated": terminated}
    assert waiting_reason(pod) == expected


def test_started_sidecar_does_not_hold_initialisation() -> None:
    """A restartable init container (sidecar) that started counts as done."""
    pod = _pod("pod-init-running")
    pod["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    pod["status"]["initContainerStatuses"][0]["started"] = True
    assert waiting_reason(pod) == "PodInitializing"


def test_waiting_reason_of_a_terminating_pod() -> None:
    """kubectl says Terminating once a pod is being deleted."""
    pod = _pod("pod-container-creating")
    pod["metadata"]["deletionTimestamp"] = "2026-05-12T09:20:00Z"
    assert waiting_reason(pod) == "Terminating"


def test_readiness_reason() -> None:
    """Why a pod is not ready comes from its Ready condition; empty when ready."""
    assert readiness_reason(_pod("pod-running-ready")) == ""
    assert readiness_reason(_pod("pod-running-not-ready")) == (
        "ContainersNotReady: containers with unready status: [app]"
    )
    assert readiness_reason(_pod("pod-unschedulable")) == "Ready condition not reported yet"


def test_start_time_falls_back_to_creation() -> None:
    """A pod's start is status.startTime, else its creationTimestamp."""
    pod = _pod("pod-running-ready")
    assert start_time(pod) == stamp(pod["status"]["startTime"])
    del pod["status"]["startTime"]
    assert start_time(pod) == stamp(pod["metadata"]["creationTimestamp"])
