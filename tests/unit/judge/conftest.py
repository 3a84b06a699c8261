"""Scenarios for the judgement: real API objects, one YAML file per rule.

Each file in ``tests/fixtures/objects`` is a multi-document stream (or a ``v1 List``)
holding the workload first, then the objects it is judged with (ReplicaSets, oldest
revision first, then pods), exactly as the API server returns them. A comment on top
names the rule the scenario proves. Most files are captured from the dev cluster by
``python -m tests.fixtures.capture --only <scenario>``; the few no kubelet in the dev
cluster can produce say ``# hand-written`` on their first line (``tests/fixtures/README.md``).

A capture has its own names and times, so tests read them from the fixture (``stamp``,
``Scenario.pods_of``) rather than spelling them out: re-capturing must not break a test.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tiltrun.api.model import Target
from tiltrun.judge.related import Related
from tiltrun.judge.target import judge

OBJECTS = Path(__file__).parents[2] / "fixtures" / "objects"


def stamp(value: str) -> datetime:
    """A time as the API server writes it (``2026-05-12T09:14:03Z``), read from a fixture."""
    return datetime.fromisoformat(value).astimezone(UTC)


def name_of(obj: dict[str, Any]) -> str:
    """``metadata.name``."""
    return str(obj["metadata"]["name"])


@dataclass(frozen=True)
class Scenario:
    """A workload and the objects it is judged with."""

    name: str
    workload: dict[str, Any]
    replicasets: list[dict[str, Any]]
    pods: list[dict[str, Any]]

    @property
    def related(self) -> Related:
        return Related(replicasets=self.replicasets, pods=self.pods)

    def pod(self, name: str) -> dict[str, Any]:
        """The scenario's pod called ``name``."""
        return next(p for p in self.pods if p["metadata"]["name"] == name)

    def pods_of(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        """The pods ``owner`` (a ReplicaSet, or the workload) controls, by name."""
        uid = owner["metadata"]["uid"]
        return [
            pod
            for pod in self.pods
            if any(
                ref.get("controller") and ref.get("uid") == uid
                for ref in pod["metadata"].get("ownerReferences", [])
            )
        ]


def scenario_names() -> list[str]:
    """Every scenario, by file stem."""
    return sorted(path.stem for path in OBJECTS.glob("*.yaml"))


@functools.cache
def _documents(name: str) -> tuple[dict[str, Any], ...]:
    text = (OBJECTS / f"{name}.yaml").read_text()
    objects: list[dict[str, Any]] = []
    for document in yaml.safe_load_all(text):
        if not document:
            continue
        if document.get("kind") == "List":
            objects.extend(document.get("items") or [])
        else:
            objects.append(document)
    return tuple(objects)


def load_objects(name: str) -> list[dict[str, Any]]:
    """The objects of scenario ``name`` in file order, as fresh copies a test may change."""
    return copy.deepcopy(list(_documents(name)))


def split(name: str, objects: list[Any]) -> Scenario:
    """The first object is the workload; the ReplicaSets and pods after it are related."""
    workload, *rest = objects
    return Scenario(
        name=name,
        workload=workload,
        replicasets=[o for o in rest if isinstance(o, dict) and o.get("kind") == "ReplicaSet"],
        pods=[o for o in rest if isinstance(o, dict) and o.get("kind") == "Pod"],
    )


def load_scenario(name: str) -> Scenario:
    """Scenario ``name`` (a file stem in ``tests/fixtures/objects``), freshly copied."""
    return split(name, load_objects(name))


def judged(name: str) -> Target:
    """The Target the judge makes of scenario ``name``."""
    scenario = load_scenario(name)
    return judge(scenario.workload, scenario.related)
