"""The benchmark's plan: sizes, layouts, and one release schedule for every pass of a size."""

from __future__ import annotations

import pytest

from bench.scenario import GATE, PASS_LABEL, RUN_LABEL, Size, plan


@pytest.mark.parametrize(
    ("text", "size", "label"),
    [
        ("100x10", Size(1, 100, 10), "100x10"),
        ("100x1x10", Size(100, 1, 10), "100x1x10"),
        (" 5X4 ", Size(1, 5, 4), "5x4"),
    ],
)
def test_sizes_read_as_namespaces_runs_workloads(text: str, size: Size, label: str) -> None:
    assert Size.parse(text) == size
    assert size.label == label


@pytest.mark.parametrize("text", ["100", "0x10", "1x2x3x4", "ax10"])
def test_a_size_that_is_not_one_says_so(text: str) -> None:
    with pytest.raises(ValueError):
        Size.parse(text)


def test_one_run_per_namespace_releases_like_one_namespace_of_as_many_runs() -> None:
    shared = plan(Size(1, 20, 10), spread=60, prefix="a")
    spread = plan(Size(20, 1, 10), spread=60, prefix="b")
    assert shared.namespaces == ("a",)
    assert spread.namespaces == tuple(f"b-{i:03d}" for i in range(20))
    assert [r.namespace for r in spread.runs] == list(spread.namespaces)

    def schedule(scenario: object) -> list[tuple[str, float, bool]]:
        return [(w.name, w.release_at, w.fails) for w in scenario.workloads]  # type: ignore[attr-defined]

    assert schedule(shared) == schedule(spread)


def test_every_object_of_a_pass_carries_its_label_and_parked_pods_are_gated() -> None:
    scenario = plan(Size(1, 10, 4), spread=10, prefix="ns")
    run = scenario.runs[0]
    assert run.manifest("p1")["metadata"]["labels"] == {PASS_LABEL: "p1"}
    for workload in run.workloads:
        manifest = workload.manifest("p1")
        template = manifest["spec"]["template"]
        assert manifest["metadata"]["labels"][PASS_LABEL] == "p1"
        assert manifest["metadata"]["labels"][RUN_LABEL] == run.name
        assert template["metadata"]["labels"][PASS_LABEL] == "p1"
        assert template["spec"]["schedulingGates"] == [{"name": GATE}]
