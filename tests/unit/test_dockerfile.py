"""The Dockerfile keeps its promises, read from the file.

Each test names one invariant of docs/install.md: a slim multi-stage build, no build
tools in the final stage, a numeric non-root user matching the Deployment's, a
read-only-root-friendly environment, and ``tiltrun operator`` as the entry point.
tests/integration/test_image.py builds the image and runs it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "cc ", "clang", "apt-get", "apk add")


@dataclass
class Stage:
    base: str
    name: str = ""
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with line continuations joined."""
    text = re.sub(r"\\\n", " ", text)
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else ""
            stages.append(Stage(base, name))
        elif keyword == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key.strip()] = default.strip()
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse((REPO / "Dockerfile").read_text())


def test_one_stage_fills_and_slims_a_virtualenv_and_the_second_copies_only_it() -> None:
    _, stages = dockerfile()
    assert len(stages) == 2
    build, final = stages
    runs = " ".join(build.all("RUN"))
    assert "python3 -m venv /opt/tiltrun" in runs
    assert "slim.py /opt/tiltrun" in runs
    assert final.all("COPY") == ["--from=build /opt/tiltrun /opt/tiltrun"]
    assert env_of(final)["PATH"].startswith("/opt/tiltrun/bin:")


def test_both_stages_use_the_slim_python_311_image() -> None:
    _, stages = dockerfile()
    assert {stage.base for stage in stages} == {"python:3.11-slim"}


def test_the_final_stage_runs_nothing_and_installs_no_build_tools() -> None:
    _, stages = dockerfile()
    final = " ".join(args for _, args in stages[-1].instructions)
    assert not [tool for tool in BUILD_TOOLS if tool in final]
    assert stages[-1].all("RUN") == []  # no layer but the virtualenv's


def test_it_runs_as_a_numeric_non_root_user_the_deployment_agrees_with() -> None:
    _, stages = dockerfile()
    (user,) = stages[-1].all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0
    assert gid == "" or (gid.isdigit() and int(gid) != 0)
    deployment = yaml.safe_load((REPO / "deploy" / "base" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)


def test_it_writes_no_bytecode_and_keeps_home_in_tmp() -> None:
    # With readOnlyRootFilesystem, /tmp (an emptyDir) is the only writable place.
    _, stages = dockerfile()
    env = env_of(stages[-1])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"].startswith("/tmp")
    assert env["USER"]  # getpass.getuser() has no /etc/passwd entry for the UID


def test_the_entry_point_is_tiltrun_operator() -> None:
    _, stages = dockerfile()
    (entrypoint,) = stages[-1].all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["tiltrun", "operator"]


def test_the_build_context_holds_only_the_package() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "operator", "hack/image/slim.py"}
    # Everything the build stage copies is let in.
    _, stages = dockerfile()
    copied = {
        word.rstrip("/")
        for args in stages[0].all("COPY")
        for word in args.split()[:-1]
        if not word.startswith("--")
    }
    assert copied == allowed
