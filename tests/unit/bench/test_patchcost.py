"""The status PATCH benchmark writes what the operator writes, to the CRD as shipped."""

from __future__ import annotations

from typing import Any

import yaml

from bench.patchcost import ATOMIC, CRD, run_status


def _status_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    version = crd["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def _unknown(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Paths in ``value`` that ``schema`` does not declare."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        found = []
        for key, item in value.items():
            if key not in props:
                found.append(f"{path}.{key}")
            else:
                found.extend(_unknown(item, props[key], f"{path}.{key}"))
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _unknown(item, schema["items"], path)]
    return []


def test_the_benchmarks_status_uses_only_fields_the_crd_declares() -> None:
    for first_active in (False, True):
        status = run_status(10, first_active=first_active)
        assert _unknown(status, _status_schema(), "status") == []
        assert len(status["targets"]) == 10


def test_the_two_shapes_differ_in_one_targets_phase() -> None:
    waiting, active = run_status(10, first_active=False), run_status(10, first_active=True)
    changed = [
        a["name"] for a, b in zip(waiting["targets"], active["targets"], strict=True) if a != b
    ]
    assert changed == ["deployment/r000-d0"]
    assert "active" in active["targets"][0]["state"]


def test_targets_are_an_atomic_list_so_the_keyed_variant_can_be_derived() -> None:
    assert _status_schema()["properties"]["targets"]["x-kubernetes-list-type"] == "atomic"
    assert CRD.read_text().count(ATOMIC) == 1
