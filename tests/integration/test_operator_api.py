"""The TiltRun API as the API server serves it: validation, status schema, printer columns.

The fixtures in ``tests/fixtures/tiltruns`` are the examples docs/api.md points to: every
``invalid-*.yaml`` names, on its ``# expect:`` line, the message the API server must
refuse it with; every ``valid-*.yaml`` must pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import FIXTURES, Cluster, OperatorProcess, tiltrun
from tests.integration.runs import status, stored_run, wait_until_done
from tests.integration.workloads import deployment, job

pytestmark = pytest.mark.cluster

TILTRUNS = FIXTURES / "tiltruns"
INVALID = sorted(TILTRUNS.glob("invalid-*.yaml"))
VALID = sorted(TILTRUNS.glob("valid-*.yaml"))


def _expected_message(path: Path) -> str:
    match = re.search(r"^# expect: (.+)$", path.read_text(), re.MULTILINE)
    assert match, f"{path.name} has no '# expect:' line"
    return match[1].strip()


def _dry_run(cluster: Cluster, path: Path):
    # A server-side dry run is validated like a real write and stores nothing, so every
    # case can share the default namespace with the other test workers.
    return cluster.kubectl(
        "apply", "--dry-run=server", "-n", "default", "-f", str(path), check=False
    )


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_tiltrun_is_refused_with_a_plain_message(
    cluster: Cluster, crd: str, path: Path
) -> None:
    result = _dry_run(cluster, path)
    assert result.returncode != 0, f"{path.name} was accepted"
    assert _expected_message(path) in result.stderr


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_tiltrun_is_accepted(cluster: Cluster, crd: str, path: Path) -> None:
    result = _dry_run(cluster, path)
    assert result.returncode == 0, result.stderr


def test_every_fixture_is_either_valid_or_invalid() -> None:
    assert len(INVALID) >= 10 and len(VALID) >= 3
    others = {p.name for p in TILTRUNS.glob("*.yaml")} - {p.name for p in INVALID + VALID}
    assert others == {"status-full.yaml"}


def test_a_full_status_reads_back_unpruned(cluster: Cluster, namespace: str, crd: str) -> None:
    """Every status field the operator may write is in the schema: nothing is pruned."""
    cluster.kubectl("apply", "-n", namespace, "-f", str(TILTRUNS / "valid-ci-full.yaml"))
    patch = yaml.safe_load((TILTRUNS / "status-full.yaml").read_text())
    cluster.kubectl(
        "patch",
        "tiltrun",
        "ci-full",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "--patch-file",
        str(TILTRUNS / "status-full.yaml"),
    )
    assert status(stored_run(cluster, namespace, "ci-full")) == patch["status"]


def _table(text: str) -> list[dict[str, str]]:
    """``kubectl get`` output as rows of {COLUMN: cell}, cut at the header's offsets."""
    header, *lines = text.rstrip("\n").split("\n")
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    bounds = [*starts[1:], None]
    return [
        {
            name: line[start:end].strip()
            for name, start, end in zip(names, starts, bounds, strict=True)
        }
        for line in lines
    ]


def test_kubectl_get_shows_the_printer_columns(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("good", ci={"timeout": "60s"}),
            deployment("web", "good"),
            tiltrun("bad", ci={"timeout": "60s"}),
            job("migrate", "bad", behavior="fail", backoff_limit=0),
            tiltrun("board", exit_condition="manual"),
        ],
        namespace,
    )
    wait_until_done(cluster, namespace, "good")
    bad = wait_until_done(cluster, namespace, "bad")

    out = cluster.kubectl("get", "tiltruns", "-n", namespace).stdout
    assert out.split("\n")[0].split() == ["NAME", "EXIT", "PROGRESS", "DONE", "ERROR", "AGE"]
    rows = {row["NAME"]: row for row in _table(out)}
    assert (rows["good"]["EXIT"], rows["good"]["PROGRESS"], rows["good"]["DONE"]) == (
        "ci",
        "1/1",
        "true",
    )
    assert rows["good"]["ERROR"] == ""
    assert (rows["bad"]["PROGRESS"], rows["bad"]["DONE"]) == ("0/1", "true")
    assert rows["bad"]["ERROR"].startswith("job/migrate: BackoffLimitExceeded")
    assert rows["bad"]["ERROR"] == status(bad)["error"]
    assert (rows["board"]["EXIT"], rows["board"]["DONE"]) == ("manual", "false")
    assert all(re.fullmatch(r"\d+s|\d+m\d*s?", row["AGE"]) for row in rows.values())

    wide = cluster.kubectl("get", "tiltruns", "-n", namespace, "-o", "wide").stdout
    assert wide.split("\n")[0].split() == [
        "NAME",
        "EXIT",
        "PROGRESS",
        "DONE",
        "ERROR",
        "SUMMARY",
        "AGE",
    ]
    wide_rows = {row["NAME"]: row for row in _table(wide)}
    assert wide_rows["good"]["SUMMARY"] == "1 target up"
    assert wide_rows["board"]["SUMMARY"].startswith("no enabled workloads match")

    # The short name and the category reach the same objects.
    for alias in ("tr", "tilt"):
        names = cluster.kubectl("get", alias, "-n", namespace, "-o", "name").stdout.split()
        assert sorted(names) == [
            "tiltrun.tilt.dev/bad",
            "tiltrun.tilt.dev/board",
            "tiltrun.tilt.dev/good",
        ]
