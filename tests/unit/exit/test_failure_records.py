"""The exit logic's per-target failure: which targets fail the run, in fields (issue 13).

Tools find the failing targets of a run from ``state.failure`` instead of splitting the
run's ``error`` into lines: each failing target carries the reason word, its own line of
the error and when it failed; tolerated (retrying) and satisfied targets carry none.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.unit.exit.exit_targets import active, at, failed, job, ok, server, spec, waiting
from tiltrun.api.model import CISettings, ExitCondition
from tiltrun.judge.exit import decide
from tiltrun.judge.status import desired_status


def test_each_failing_target_has_its_line_of_the_error_as_a_record() -> None:
    targets = [
        job("job/migrate", failed("BackoffLimitExceeded: Job has reached the limit", 0, 20)),
        server("deployment/web", active(0, ready=False, reason="0/1 ready; pod web-1: NotReady")),
        job("job/seed", ok()),
        server("deployment/db", active(0, ready=True)),
    ]
    verdict = decide(spec(readiness_timeout=60), targets, start_time=at(0), now=at(61))
    assert verdict.done
    assert dict(verdict.failures) == {
        "job/migrate": {
            "reason": "TargetFailed",
            "message": "BackoffLimitExceeded: Job has reached the limit",
            "since": at(20),
        },
        "deployment/web": {
            "reason": "ReadinessTimeout",
            "message": "not ready after 1m (0/1 ready; pod web-1: NotReady)",
            "since": at(60),
        },
    }
    # The records and the run's error say the same thing, target by target.
    lines = {f"{name}: {record['message']}" for name, record in verdict.failures.items()}
    assert set(verdict.error.splitlines()) == lines


def test_a_tolerated_failure_and_a_pending_target_have_no_record() -> None:
    tolerant = replace(spec(), ci=replace(CISettings(), grace_period=60))
    targets = [
        server("deployment/web", failed("CrashLoopBackOff", 0, 5)),
        job("job/x", waiting("")),
    ]
    verdict = decide(tolerant, targets, start_time=at(0), now=at(10))
    assert verdict.retrying == ("deployment/web",)
    assert verdict.failures == {}


def test_manual_runs_record_what_is_failing_now() -> None:
    board = spec(ExitCondition.MANUAL)
    verdict = decide(
        board, [server("deployment/web", failed("boom", 0, 5))], start_time=at(0), now=at(6)
    )
    assert not verdict.done
    assert verdict.failures["deployment/web"]["reason"] == "TargetFailed"


def _run(ci: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "demo", "generation": 1},
        "spec": {"tiltfilePath": "Tiltfile", "exitCondition": "ci", "ci": ci},
    }


def test_the_status_stores_the_record_on_the_target() -> None:
    from tests.unit.judge.conftest import load_scenario

    scenario = load_scenario("deployment-crashloopbackoff")
    scenario.workload["metadata"]["labels"]["tilt.dev/run"] = "demo"
    desired = desired_status(
        _run({}), [(scenario.workload, scenario.related)], start_time=at(0), now=at(0), pid=1
    )
    (target,) = desired.status["targets"]
    state = target["state"]
    assert state["failure"]["reason"] == "TargetFailed"
    assert desired.status["error"] == f"deployment/web: {state['failure']['message']}"
    assert state["failure"]["since"] == state["terminated"]["finishTime"]
    assert state["terminated"]["evidence"]["reason"] == "CrashLoopBackOff"


def test_a_record_is_written_on_a_copy_the_judged_target_keeps_its_own_dict() -> None:
    """The engine composes a run again from the same Target objects: the failure record
    of one composition must not stay behind in what the next one starts from."""
    from tests.unit.judge.conftest import load_scenario
    from tiltrun.judge.status import judge_all

    scenario = load_scenario("deployment-crashloopbackoff")
    scenario.workload["metadata"]["labels"]["tilt.dev/run"] = "demo"
    (judged,) = judge_all([(scenario.workload, scenario.related)])
    for _ in range(2):
        failing = desired_status(
            _run({}), [], start_time=at(0), now=at(0), pid=1, targets=(judged,)
        )
        assert "failure" in failing.status["targets"][0]["state"]
        assert "failure" not in judged.as_dict()["state"]
        assert judged.as_dict() == judged.to_dict()
