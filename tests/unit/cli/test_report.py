"""Outcomes, exit codes, timings, and the JSON and JUnit reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.cli.conftest import captured
from tiltrun.cli.diagnosis import Diagnosis
from tiltrun.cli.report import (
    EXIT_CODES,
    Result,
    json_report,
    junit_xml,
    outcome_of,
    timings,
)
from tiltrun.judge.exit import Outcome

FINISHED = datetime(2026, 11, 26, 23, 20, tzinfo=UTC)


def _result(fixture: str, outcome: Outcome, **extra: Any) -> Result:
    run = captured(fixture)
    return Result(
        run["metadata"]["namespace"], run["metadata"]["name"], run, outcome, FINISHED, **extra
    )


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("run-succeeded", Outcome.SUCCEEDED),
        ("run-failed", Outcome.FAILED),
        ("run-timed-out", Outcome.TIMED_OUT),
        ("run-waiting", None),
    ],
)
def test_the_outcome_comes_from_done_error_and_the_ready_reason(
    fixture: str, expected: Outcome | None
) -> None:
    assert outcome_of(captured(fixture)) == expected


def test_without_conditions_a_finished_run_with_an_error_failed() -> None:
    run = captured("run-failed")
    del run["status"]["conditions"]
    assert outcome_of(run) is Outcome.FAILED


def test_a_readiness_timeout_is_a_failure_not_a_timeout() -> None:
    run = captured("run-failed")
    for condition in run["status"]["conditions"]:
        condition["reason"] = "ReadinessTimeout"
    assert outcome_of(run) is Outcome.FAILED


def test_exit_codes_are_the_documented_ones() -> None:
    assert EXIT_CODES == {
        Outcome.SUCCEEDED: 0,
        Outcome.FAILED: 1,
        Outcome.TIMED_OUT: 2,
        Outcome.CLIENT_TIMEOUT: 2,
    }


def test_headlines_say_how_the_run_ended() -> None:
    assert (
        _result("run-succeeded", Outcome.SUCCEEDED).headline()
        == "TiltRun shop succeeded after 4.2s: all 4 targets up"
    )
    failed = _result("run-failed", Outcome.FAILED).headline()
    assert failed.startswith("TiltRun shop failed: deployment/web: pod web-6d447bd547-bq5h2")
    assert (
        _result("run-timed-out", Outcome.TIMED_OUT)
        .headline()
        .startswith("TiltRun slow timed out after 4s; waiting on 1 of 1: deployment/slow")
    )
    gave_up = _result("run-waiting", Outcome.CLIENT_TIMEOUT, client_timeout="3s").headline()
    assert gave_up.startswith("gave up on TiltRun slow2 after --timeout 3s; it is still running")


def test_timings_measure_from_the_run_start() -> None:
    result = _result("run-succeeded", Outcome.SUCCEEDED)
    by_name = {t["name"]: t for t in timings(result)}
    start = datetime.fromisoformat(result.run["status"]["startTime"])
    migrate = result.run["status"]["targets"][2]
    finish = datetime.fromisoformat(migrate["state"]["terminated"]["finishTime"])
    assert by_name["job/migrate"]["finishedAfter"] == round((finish - start).total_seconds(), 3)
    assert by_name["job/migrate"]["finishedAfter"] > 0
    web = result.run["status"]["targets"][0]["state"]["active"]
    ready = datetime.fromisoformat(web["readySince"])
    assert by_name["deployment/web"]["readyAfter"] == round((ready - start).total_seconds(), 3)
    assert by_name["deployment/web"]["finishedAfter"] is None


def test_what_the_command_saw_is_the_ready_time_when_none_is_stored() -> None:
    seen = datetime.fromisoformat("2026-11-30T15:08:07.000000+00:00")
    result = _result("run-succeeded", Outcome.SUCCEEDED, satisfied_seen={"deployment/web": seen})
    del result.run["status"]["targets"][0]["state"]["active"]["readySince"]
    start = datetime.fromisoformat(result.run["status"]["startTime"])
    web = next(t for t in timings(result) if t["name"] == "deployment/web")
    assert web["readyAfter"] == round((seen - start).total_seconds(), 3)


def test_json_report_holds_the_stored_status_unchanged() -> None:
    result = _result("run-failed", Outcome.FAILED)
    report = json.loads(json.dumps(json_report(result)))
    assert report["status"] == captured("run-failed")["status"]
    assert (report["outcome"], report["exitCode"]) == ("failed", 1)
    assert [t["name"] for t in report["timings"]] == ["deployment/web", "deployment/worker"]


DIAGNOSIS = Diagnosis(
    target="deployment/web",
    reason='pod web-6d447bd547-bq5h2 container web: ImagePullBackOff (Back-off pulling image "x")',
    pod="web-6d447bd547-bq5h2",
    container="web",
    logs=None,
    logs_note="no logs available (connection refused)",
    events=("23:13:37Z Pod/web-6d447bd547-bq5h2 Failed: Error: ErrImagePull\x1b",),
)


def _parse(xml: str) -> ET.Element:
    return ET.fromstring(xml.encode())


def test_junit_has_a_case_per_target_and_the_failure_carries_the_diagnosis() -> None:
    suites = _parse(junit_xml(_result("run-failed", Outcome.FAILED, diagnoses=(DIAGNOSIS,))))
    suite = suites.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "tiltrun/run-failed/shop"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "0")
    web, worker = suite.findall("testcase")
    failure = web.find("failure")
    assert failure is not None and failure.text is not None
    assert failure.get("message", "").startswith("pod web-6d447bd547-bq5h2 container web")
    assert "no logs available (connection refused)" in failure.text
    assert "\x1b" not in failure.text  # not valid in XML 1.0: dropped
    assert worker.get("name") == "deployment/worker" and list(worker) == []


def test_junit_skips_disabled_and_unfinished_targets() -> None:
    result = _result("run-failed", Outcome.FAILED, diagnoses=(DIAGNOSIS,))
    targets = result.run["status"]["targets"]
    targets.append({"name": "deployment/off", "type": "server", "state": {"disabled": True}})
    targets.append(
        {"name": "job/seed", "type": "job", "state": {"waiting": {"reason": "Init:0/1"}}}
    )
    cases = {c.get("name"): c for c in _parse(junit_xml(result)).iter("testcase")}
    assert cases["deployment/off"].find("skipped").get("message") == "disabled"  # type: ignore[union-attr]
    skipped = cases["job/seed"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "not finished when the run ended: waiting (Init:0/1)"


def test_junit_blames_the_run_when_no_target_failed() -> None:
    result = _result("run-timed-out", Outcome.TIMED_OUT)
    result.run["status"]["targets"] = []
    cases = list(_parse(junit_xml(result)).iter("testcase"))
    assert [c.get("name") for c in cases] == ["tiltrun/slow"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "timedOut"


def test_junit_of_a_success_has_no_failure() -> None:
    suites = _parse(junit_xml(_result("run-succeeded", Outcome.SUCCEEDED)))
    assert suites.get("failures") == "0" and suites.get("tests") == "4"
    assert all(float(c.get("time", "-1")) >= 0 for c in suites.iter("testcase"))


def test_json_diagnoses_carry_the_stored_evidence() -> None:
    run = captured("run-failed-evidence")
    migrate = next(t for t in run["status"]["targets"] if t["name"] == "job/migrate")
    evidence = migrate["state"]["terminated"]["evidence"]
    diagnosis = Diagnosis("job/migrate", "failed", evidence, evidence["pod"], "main")
    report = json_report(_result("run-failed-evidence", Outcome.FAILED, diagnoses=(diagnosis,)))
    (found,) = report["diagnoses"]
    assert found["evidence"] == evidence
    assert (found["pod"], found["container"]) == (evidence["pod"], "main")


def test_junit_cases_carry_the_evidence_and_failure_as_properties() -> None:
    run = captured("run-failed-evidence")
    xml = ET.fromstring(junit_xml(_result("run-failed-evidence", Outcome.FAILED)))
    for target in run["status"]["targets"]:
        (case,) = [c for c in xml.iter("testcase") if c.get("name") == target["name"]]
        found = {p.get("name"): p.get("value") for p in case.iter("property")}
        state = target["state"]
        stored = (state.get("terminated") or state.get("active") or {}).get("evidence") or {}
        expected = {f"evidence.{key}": str(value) for key, value in stored.items()}
        failure = state.get("failure") or {}
        expected |= {f"failure.{k}": str(v) for k, v in failure.items() if k != "message"}
        assert found == expected
    assert any(
        p.get("name") == "evidence.exitCode" and p.get("value") == "1" for p in xml.iter("property")
    )
