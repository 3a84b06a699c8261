"""docs/api.md and crds/tiltrun.yaml describe the same fields: a test fails when they drift.

Every field path of the CRD's schema (``spec.ci.timeout``,
``status.targets[].state.waiting.reason``) must appear in a field table of the API
reference, and every field a table names must exist in the schema.

How the reference is read: a table whose first header cell is ``Field`` lists fields,
one per row, named in backticks in the first cell. A heading that is itself a path
(``## spec``, ``### spec.ci``) says where its rows live; a heading named after a type
(``### Target``) gets its path from the rows that link to it (``targets`` is a "list
of [Target](#target)", so Target's rows live under ``status.targets[]``); a type that
several rows link to (``Evidence``) has its rows under each of them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "tiltrun.yaml"
API_DOC = REPO / "docs" / "api.md"

_HEADING = re.compile(r"^(#{2,6})\s+(.*?)\s*$")
_PATH_HEADING = re.compile(r"^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$")
_LINK = re.compile(r"\]\(#([^)]+)\)")
_FIELD = re.compile(r"^`([^`]+)`")


def schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Every field path under ``schema``; ``[]`` marks list items. Maps are leaves."""
    paths: set[str] = set()
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        paths.add(path)
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            paths |= schema_paths(sub["items"], path + "[]")
        elif sub.get("type") == "object":
            paths |= schema_paths(sub, path)
    return paths


def crd_paths() -> set[str]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = crd["spec"]["versions"]
    root = version["schema"]["openAPIV3Schema"]
    paths = set()
    for top in ("spec", "status"):
        paths |= {top} | schema_paths(root["properties"][top], top)
    return paths


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def documented_paths(text: str) -> set[str]:
    """Every field path the reference's field tables name."""
    prefixes: dict[str, list[str]] = {}  # anchor -> paths of the rows that link to it
    paths: set[str] = set()
    here: list[str] = []
    in_fields = False
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            title = heading.group(2).strip("`")
            here = [title] if _PATH_HEADING.match(title) else prefixes.get(slug(title), [])
            in_fields = False
            continue
        if not line.startswith("|"):
            in_fields = False
            continue
        cells = _cells(line)
        if cells[0] == "Field":
            in_fields = bool(here)
            continue
        if not in_fields or set(cells[0]) <= {"-", ":"}:
            continue
        field = _FIELD.match(cells[0])
        if not field:
            continue
        row = " ".join(cells[1:])
        for prefix in here:
            path = f"{prefix}.{field.group(1)}"
            paths.add(path)
            for anchor in _LINK.findall(row):
                linked = path + "[]" if "list of" in row else path
                prefixes.setdefault(anchor, []).append(linked)
    return paths


def test_the_reference_reads_some_fields_of_every_section() -> None:
    # Guards the parser: if it silently read nothing, the drift tests would pass.
    paths = documented_paths(API_DOC.read_text())
    for expected in (
        "spec.tiltfilePath",
        "spec.selector.matchExpressions[].key",
        "spec.ci.timeout",
        "status.targets",
        "status.targets[].state",
        "status.targets[].state.waiting.reason",
        "status.targets[].state.waiting.evidence.pod",
        "status.targets[].state.terminated.evidence.exitCode",
        "status.conditions[].lastTransitionTime",
    ):
        assert expected in paths


def test_every_documented_field_exists_in_the_crd() -> None:
    unknown = documented_paths(API_DOC.read_text()) - crd_paths()
    assert not unknown, f"docs/api.md documents fields the CRD lacks: {sorted(unknown)}"


def test_every_crd_field_is_documented() -> None:
    documented = documented_paths(API_DOC.read_text())
    # An object is documented when one of its fields is (``waiting`` by ``waiting.reason``).
    missing = {
        path
        for path in crd_paths()
        if path not in documented
        and not any(d.startswith(path + ".") for d in documented)
        and not any(d.startswith(path + "[].") for d in documented)
    }
    assert not missing, (
        f"crds/tiltrun.yaml has fields docs/api.md does not document: {sorted(missing)}"
    )
