"""``tiltrun inspect``: offline, the same verdicts as the operator's code on the same objects."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.cli.conftest import CLI_FIXTURES
from tests.unit.judge.conftest import OBJECTS, load_scenario, scenario_names
from tiltrun.cli.inspect import evidence_lines, inspect_objects, load_objects, parse_selector
from tiltrun.cli.kube import CommandError
from tiltrun.cli.main import cli
from tiltrun.judge.exit import Outcome
from tiltrun.judge.target import is_target, judge

NOW = datetime(2026, 11, 26, 23, 20, tzinfo=UTC)
DUMP = CLI_FIXTURES / "dump-broken.yaml"
REPO = Path(__file__).parents[3]


@pytest.mark.parametrize("name", scenario_names())
def test_inspect_relates_objects_as_the_judge_expects(name: str) -> None:
    """Every judge scenario, read from its file: the Store finds the same related objects."""
    scenario = load_scenario(name)
    objects = load_objects((OBJECTS / f"{name}.yaml").read_text(), name)
    targets = [
        t
        for i in inspect_objects(objects, selector=None, run=None, now=NOW)
        for t in i.desired.targets
    ]
    expected = judge(scenario.workload, scenario.related)
    if is_target(scenario.workload):
        assert expected in targets
    else:
        assert expected.name not in [t.name for t in targets]


def test_a_dump_with_its_tiltrun_is_judged_for_that_run() -> None:
    (found,) = inspect_objects(
        load_objects(DUMP.read_text(), "dump"), selector=None, run="shop", now=NOW
    )
    assert (found.namespace, found.run) == ("ci-try-2", "shop")
    assert found.desired.verdict.outcome is Outcome.FAILED
    web, worker = found.desired.status["targets"]
    assert web["name"] == "deployment/web"
    assert "container web: ImagePullBackOff" in web["state"]["terminated"]["error"]
    assert worker["state"]["active"]["ready"] is True


def test_a_selector_narrows_the_workloads() -> None:
    objects = load_objects(DUMP.read_text(), "dump")
    (found,) = inspect_objects(
        objects, selector=parse_selector("app.kubernetes.io/name=worker"), run=None, now=NOW
    )
    assert [t.name for t in found.desired.targets] == ["deployment/worker"]
    assert found.desired.verdict.outcome is Outcome.SUCCEEDED


def test_hand_written_manifests_without_uids_or_status_are_judged_too() -> None:
    text = "\n---\n".join(
        p.read_text() for p in sorted((REPO / "examples" / "stack").glob("*.yaml"))
    )
    (found,) = inspect_objects(load_objects(text, "stack"), selector=None, run=None, now=NOW)
    names = [t.name for t in found.desired.targets]
    assert names == ["deployment/web", "deployment/worker", "job/migrate", "statefulset/db"]
    assert found.desired.verdict.outcome is Outcome.RUNNING


def test_a_run_that_is_not_in_the_input_is_an_error() -> None:
    with pytest.raises(CommandError, match="holds no TiltRun named nope"):
        inspect_objects(load_objects(DUMP.read_text(), "dump"), selector=None, run="nope", now=NOW)


@pytest.mark.parametrize(
    ("text", "selector"),
    [
        ("app=web", {"matchLabels": {"app": "web"}}),
        (
            "app==web,tier",
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "Exists"}],
            },
        ),
        (
            "env in (dev, qa),!legacy",
            {
                "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["dev", "qa"]},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ]
            },
        ),
        (
            "tilt.dev/run!=shop",
            {
                "matchExpressions": [
                    {"key": "tilt.dev/run", "operator": "NotIn", "values": ["shop"]}
                ]
            },
        ),
        ("", {"matchLabels": {}}),
    ],
)
def test_selectors_read_as_kubectl_writes_them(text: str, selector: dict[str, object]) -> None:
    assert parse_selector(text) == selector


def test_a_selector_that_does_not_parse_is_an_error() -> None:
    with pytest.raises(CommandError, match="cannot read 'a b c'"):
        parse_selector("a b c")


def test_json_output_has_the_status_the_operator_would_write() -> None:
    result = CliRunner().invoke(
        cli, ["inspect", "-f", str(DUMP), "--run", "shop", "-o", "json", "--now", NOW.isoformat()]
    )
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.output)["results"]
    assert found["outcome"] == "Failed"
    assert found["status"]["progress"] == "1/2"
    assert found["status"]["error"].startswith("deployment/web: pod web-5d5456c679-")


def test_table_output_ends_with_the_verdict() -> None:
    result = CliRunner().invoke(cli, ["inspect", "-f", str(DUMP)])
    assert result.exit_code == 0, result.output
    assert "deployment/web" in result.output
    assert "verdict: would fail: failed: deployment/web: pod web-5d5456c679-" in result.output


def test_input_from_stdin_that_is_not_yaml_exits_3() -> None:
    result = CliRunner().invoke(cli, ["inspect", "-f", "-"], input="a: [b")
    assert result.exit_code == 3
    assert "stdin is not valid YAML" in result.output


#: A timestamp the API server writes, quoted as the fixtures (and kubectl) quote it.
_QUOTED_TIME = re.compile(r"'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)'")


def unquoted(text: str) -> str:
    """The same YAML with its timestamps unquoted, as other tools often write them."""
    return _QUOTED_TIME.sub(r"\1", text)


@pytest.mark.parametrize("name", scenario_names())
def test_unquoted_timestamps_are_read_as_the_api_server_reads_them(name: str) -> None:
    """Issue 13, item 4: an unquoted timestamp stays the string it is (PyYAML would make a
    datetime, which every time reader then ignores)."""
    text = (OBJECTS / f"{name}.yaml").read_text()
    assert load_objects(unquoted(text), name) == load_objects(text, name)
    assert load_objects(json.dumps(load_objects(text, name)), name) == load_objects(text, name)


def test_a_server_with_unquoted_timestamps_keeps_its_times() -> None:
    text = unquoted((OBJECTS / "pod-running-not-ready.yaml").read_text())
    assert "startTime: 20" in text  # really unquoted
    pod = load_objects(text, "pod")[0]
    (found,) = inspect_objects([pod], selector=None, run=None, now=NOW)
    (target,) = found.desired.status["targets"]
    assert target["state"]["active"]["startTime"].startswith(pod["status"]["startTime"][:19])
    assert not target["state"]["active"]["startTime"].startswith("1970")


def test_a_terminating_pod_with_an_unquoted_deletion_timestamp_is_terminating() -> None:
    text = unquoted((OBJECTS / "pod-container-creating.yaml").read_text())
    text = text.replace(
        "  creationTimestamp:", "  deletionTimestamp: 2026-11-26T23:40:00Z\n  creationTimestamp:", 1
    )
    (found,) = inspect_objects(load_objects(text, "pod"), selector=None, run=None, now=NOW)
    (target,) = found.desired.status["targets"]
    assert target["state"]["waiting"]["reason"] == "Terminating"


RESOURCES = Path(__file__).parents[2] / "fixtures" / "resources"


def _run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["inspect", *args, "--now", "2026-05-12T09:30:00Z"])
    return result.exit_code, result.output


def test_custom_resources_are_judged_with_the_library_and_their_pods() -> None:
    code, out = _run_cli(
        "-f",
        str(RESOURCES / "cnpg-cluster-crashloop.yaml"),
        "-f",
        str(RESOURCES / "certificate-ready.yaml"),
        "-o",
        "json",
    )
    assert code == 0
    (result,) = json.loads(out)["results"]
    assert result["outcome"] == str(Outcome.FAILED)
    error = result["status"]["error"]
    assert error.startswith("cluster/db: pod db-1 container postgres: CrashLoopBackOff")
    names = [t["name"] for t in result["status"]["targets"]]
    assert names == ["certificate/web-tls", "cluster/db"]


def test_kinds_without_a_check_are_judged_only_when_the_configuration_watches_them(
    tmp_path: Path,
) -> None:
    widget = str(RESOURCES / "kstatus-widget-no-status.yaml")
    code, out = _run_cli("-f", widget, "-o", "json")
    assert (code, json.loads(out)["results"]) == (0, [])
    config = tmp_path / "config.yaml"
    config.write_text("watch: [example.tilt.dev/v1/widgets]\n")
    code, out = _run_cli("-f", widget, "--health-checks", str(config), "-o", "json")
    (result,) = json.loads(out)["results"]
    (only,) = result["status"]["targets"]
    assert (
        only["state"]["waiting"]["reason"] == "no status yet: its controller has not reported on it"
    )


def test_operator_wide_checks_from_a_file(tmp_path: Path) -> None:
    checks = tmp_path / "checks.yaml"
    checks.write_text(
        '- apiVersion: example.tilt.dev\n  kind: Widget\n  current: "self.spec.size == 3"\n'
    )
    widget = str(RESOURCES / "kstatus-widget-no-status.yaml")
    _, out = _run_cli("-f", widget, "--health-checks", str(checks), "-o", "json")
    (result,) = json.loads(out)["results"]
    assert result["outcome"] == str(Outcome.SUCCEEDED)


def test_a_check_that_does_not_compile_exits_3_quoting_it(tmp_path: Path) -> None:
    checks = tmp_path / "checks.yaml"
    checks.write_text(
        '- apiVersion: example.tilt.dev\n  kind: Widget\n  current: "self.spec.size =="\n'
    )
    code, out = _run_cli(
        "-f", str(RESOURCES / "kstatus-widget-no-status.yaml"), "--health-checks", str(checks)
    )
    assert code == 3
    assert (
        '[0].current: cannot compile "self.spec.size ==": ERROR: <input>:1:18: Syntax error' in out
    )


def test_the_table_ends_with_each_unsatisfied_targets_evidence() -> None:
    result = CliRunner().invoke(cli, ["inspect", "-f", str(DUMP), "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    assert (
        "  deployment/web: ImagePullBackOff in pod web-5d5456c679-6m6hh container web "
        "(0 restarts)\n" in result.output
    )


def test_evidence_lines_read_the_fields_not_the_words() -> None:
    status = {
        "targets": [
            {
                "name": "job/migrate",
                "type": "job",
                "state": {
                    "terminated": {
                        "error": "worded in any way at all",
                        "evidence": {"reason": "Error", "pod": "m-1", "exitCode": 3},
                    }
                },
            },
            {"name": "deployment/ok", "type": "server", "state": {"active": {"ready": True}}},
        ]
    }
    assert evidence_lines(status) == ["job/migrate: Error in pod m-1 (exit code 3)"]
