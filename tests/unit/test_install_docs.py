"""docs/install.md's CI examples stay copy-paste ready: valid YAML, valid ``tiltrun`` commands.

The pipelines themselves cannot run here (no GitHub or GitLab runner); what can rot
unnoticed is checked: each example parses as YAML, its TiltRun is one the CLI accepts,
and every ``tiltrun`` command line in them parses with the real command's options.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tiltrun.api.spec import read_spec
from tiltrun.cli.ci import ci, load_manifest

DOC = Path(__file__).resolve().parents[2] / "docs" / "install.md"


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def yaml_blocks(text: str) -> list[Any]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def commands(pipeline: Any) -> list[str]:
    """Every shell line of a GitHub workflow or a GitLab job."""
    lines: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("run", "script", "before_script", "after_script"):
                    items = value if isinstance(value, list) else str(value).splitlines()
                    lines.extend(str(item) for item in items)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(pipeline)
    return lines


def test_each_example_parses_and_its_tiltrun_is_accepted() -> None:
    tiltrun, github, gitlab = yaml_blocks(section("In a CI pipeline"))
    spec = read_spec(load_manifest(yaml.safe_dump(tiltrun), "ci/tiltrun.yaml"))
    assert spec.exit_condition.value == "ci"
    assert set(github["jobs"]) == {"stack-up"}
    assert gitlab["stack-up"]["artifacts"]["reports"]["junit"] == "reports/tiltrun.xml"


@pytest.mark.parametrize("example", ["github", "gitlab"])
def test_every_tiltrun_command_parses_with_the_real_cli(
    example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiltrun, github, gitlab = yaml_blocks(section("In a CI pipeline"))
    found = [c for c in commands(github if example == "github" else gitlab) if "tiltrun " in c]
    found = [c for c in found if c.lstrip().startswith("tiltrun ")]
    assert found, f"the {example} example runs no tiltrun command"
    # -f opens its file while the arguments are parsed: give it the example's TiltRun.
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "tiltrun.yaml").write_text(yaml.safe_dump(tiltrun))
    monkeypatch.chdir(tmp_path)
    for line in found:
        args = shlex.split(os.path.expandvars(line.replace("$NAMESPACE", "ci-1")))[1:]
        assert args[0] == "ci", line
        try:
            ci.make_context("ci", args[1:]).close()
        except click.UsageError as err:
            pytest.fail(f"{line!r} does not parse: {err.format_message()}")
