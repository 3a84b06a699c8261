"""Structured evidence: the facts behind a state, as fields, read from the same objects.

Each test compares the fields with the object's own status (not with spelled-out
values), so that a re-capture keeps them true: the pod the evidence names is the one
that shows the fact, the exit code and restart count are that container's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.unit.judge.conftest import load_scenario, name_of, stamp
from tiltrun.api.model import Evidence
from tiltrun.judge.budget import EVIDENCE_CHARS, TARGET_TEXT_CHARS, fit
from tiltrun.judge.target import judge

CRD = Path(__file__).parents[3] / "crds" / "tiltrun.yaml"


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    (status,) = pod["status"]["containerStatuses"]
    return dict(status)


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def test_a_crash_loop_names_its_pod_container_exit_code_and_restarts() -> None:
    scenario = load_scenario("deployment-crashloopbackoff")
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None and terminated.evidence is not None
    facts = terminated.evidence
    (pod,) = [p for p in scenario.pods if _container(p)["state"].get("waiting")]
    status = _container(pod)
    last = status["lastState"]["terminated"]
    assert facts == Evidence(
        reason="CrashLoopBackOff",
        message=status["state"]["waiting"]["message"],
        pod=name_of(pod),
        container="app",
        exit_code=last["exitCode"],
        restarts=status["restartCount"],
        termination_message=last.get("message", ""),
        since=stamp(last["finishedAt"]),
    )


def test_a_failed_job_gives_its_own_reason_and_the_pod_it_ended_on() -> None:
    scenario = load_scenario("job-failed-backoff-limit")
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None and terminated.evidence is not None
    failed = _condition(scenario.workload, "Failed")
    last = max(scenario.pods, key=lambda p: _container(p)["state"]["terminated"]["finishedAt"])
    exit_ = _container(last)["state"]["terminated"]
    assert terminated.evidence == Evidence(
        reason=failed["reason"],
        message=failed["message"],
        pod=name_of(last),
        container="migrate",
        exit_code=exit_["exitCode"],
        restarts=_container(last)["restartCount"],
        # The container's own last words, beside the Job's message (the rule's).
        termination_message=exit_["message"],
        since=terminated.finish_time,
    )
    stored = terminated.evidence.to_dict()
    assert exit_["message"] and stored["terminationMessage"] == exit_["message"]


def test_an_unschedulable_pod_gives_the_schedulers_reason_and_message() -> None:
    pod = load_scenario("pod-unschedulable").workload
    waiting = judge(pod).state.waiting
    assert waiting is not None and waiting.evidence is not None
    scheduled = _condition(pod, "PodScheduled")
    assert (waiting.evidence.reason, waiting.evidence.message) == (
        scheduled["reason"],
        scheduled["message"],
    )
    assert waiting.evidence.pod == name_of(pod)


def test_a_server_not_ready_names_the_lagging_pod_and_its_ready_condition() -> None:
    scenario = load_scenario("deployment-rollout-not-ready")
    active = judge(scenario.workload, scenario.related).state.active
    assert active is not None and not active.ready and active.evidence is not None
    (lagging,) = [p for p in scenario.pods if _condition(p, "Ready")["status"] != "True"]
    ready = _condition(lagging, "Ready")
    facts = active.evidence
    assert (facts.pod, facts.container) == (name_of(lagging), "app")
    assert (facts.reason, facts.message) == (ready["reason"], ready["message"])
    assert f"pod {facts.pod}: {facts.reason}: {facts.message}" in active.reason


def test_a_progress_deadline_keeps_the_deadline_as_reason_and_names_the_stuck_pod() -> None:
    scenario = load_scenario("deployment-progress-deadline-exceeded")
    terminated = judge(scenario.workload, scenario.related).state.terminated
    assert terminated is not None and terminated.evidence is not None
    progressing = _condition(scenario.workload, "Progressing")
    facts = terminated.evidence
    assert (facts.reason, facts.message) == ("ProgressDeadlineExceeded", progressing["message"])
    assert facts.pod in {name_of(p) for p in scenario.pods}
    assert f"pod {facts.pod}" in terminated.error


def test_an_evicted_pod_gives_the_kubelets_reason() -> None:
    pod = load_scenario("pod-evicted").workload
    terminated = judge(pod).state.terminated
    assert terminated is not None and terminated.evidence is not None
    assert (terminated.evidence.reason, terminated.evidence.message) == (
        pod["status"]["reason"],
        pod["status"]["message"].strip(),  # the kubelet ends it with a space
    )


def test_a_ready_target_and_a_succeeded_job_carry_no_evidence() -> None:
    for name in ("deployment-available", "job-complete"):
        scenario = load_scenario(name)
        state = judge(scenario.workload, scenario.related).state
        assert "evidence" not in str(state.to_dict())


def test_evidence_is_stored_with_its_schema_names_and_cut_to_its_limits() -> None:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = crd["spec"]["versions"]
    target = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    state = target["targets"]["items"]["properties"]["state"]["properties"]
    schema = state["terminated"]["properties"]["evidence"]["properties"]
    for key, limit in EVIDENCE_CHARS.items():
        assert schema[key]["maxLength"] == limit
    assert state["failure"]["properties"]["message"]["maxLength"] == TARGET_TEXT_CHARS
    long = Evidence(reason="R" * 300, message="m" * 5000, pod="p", exit_code=0, restarts=0)
    stored = long.to_dict()
    assert set(stored) <= set(schema)
    assert (stored["exitCode"], stored["restarts"]) == (0, 0)  # zero is a fact, kept
    assert Evidence().to_dict() == {}
    # The status budget cuts each string to its limit, saying how much it left out.
    status = {
        "targets": [
            {
                "name": "job/x",
                "type": "job",
                "state": {
                    "terminated": {"error": "e", "evidence": stored},
                    "failure": {"reason": "TargetFailed", "message": "f" * 5000},
                },
            }
        ]
    }
    (fitted,) = fit(status)["targets"]
    evidence = fitted["state"]["terminated"]["evidence"]
    assert len(evidence["message"]) <= EVIDENCE_CHARS["message"]
    assert len(evidence["reason"]) <= EVIDENCE_CHARS["reason"]
    assert evidence["message"].endswith("more characters)")
    assert len(fitted["state"]["failure"]["message"]) <= TARGET_TEXT_CHARS
    assert evidence["pod"] == "p"
