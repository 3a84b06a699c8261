"""How a run reports to tools and people: kstatus conditions and Kubernetes Events.

Conditions follow kstatus (``Ready``, ``Reconciling``, ``Stalled``), so generic tools
gate on a TiltRun; ``kubectl wait --for=condition=...`` stands in for them here.
"""

from __future__ import annotations

import pytest

from tests.conftest import Cluster, OperatorProcess, start_run, tiltrun, wait_for
from tests.integration.runs import (
    condition,
    conditions,
    events_about,
    status,
    time_of,
    wait_for_run,
)
from tests.integration.workloads import deployment, job

pytestmark = pytest.mark.cluster

START_DELAY = "fake.tilt.dev/start-delay"


def _wait_condition(cluster: Cluster, namespace: str, name: str, kind: str) -> None:
    cluster.kubectl(
        "wait", f"tiltrun/{name}", "-n", namespace, f"--for=condition={kind}", "--timeout=60s"
    )


def _events(cluster: Cluster, namespace: str, name: str, count: int) -> list[dict]:
    found: list[dict] = wait_for(
        lambda: (e := events_about(cluster, namespace, name)) and len(e) >= count and e,
        what=f"{count} Events on tiltrun/{name}",
    )
    return found


def _assert_well_formed(run: dict) -> None:
    generation = run["metadata"]["generation"]
    assert [c["type"] for c in status(run)["conditions"]] == ["Ready", "Reconciling", "Stalled"]
    for entry in status(run)["conditions"]:
        assert entry["observedGeneration"] == generation
        assert entry["message"] == status(run)["summary"]
        time_of(entry["lastTransitionTime"])
    # kstatus: never both in progress and stuck.
    assert not (
        condition(run, "Reconciling")["status"] == "True"
        and condition(run, "Stalled")["status"] == "True"
    )


def test_success_reads_reconciling_then_ready_and_posts_succeeded(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    start_run(cluster, namespace, tiltrun("shop", ci={"timeout": "60s"}))
    cluster.apply([deployment("web", "shop", pod_annotations={START_DELAY: "3s"})], namespace)
    waiting = wait_for_run(
        cluster, namespace, "shop", lambda r: status(r).get("total") == 1, what="one target"
    )
    assert conditions(waiting) == {
        "Ready": ("False", "Waiting"),
        "Reconciling": ("True", "Waiting"),
        "Stalled": ("False", "Waiting"),
    }
    _assert_well_formed(waiting)

    _wait_condition(cluster, namespace, "shop", "Ready")
    run = wait_for_run(cluster, namespace, "shop", lambda r: status(r)["done"], what="done")
    assert status(run)["error"] == ""
    assert conditions(run) == {
        "Ready": ("True", "Succeeded"),
        "Reconciling": ("False", "Succeeded"),
        "Stalled": ("False", "Succeeded"),
    }
    _assert_well_formed(run)
    # lastTransitionTime marks status changes only: Stalled never changed.
    assert (
        condition(run, "Stalled")["lastTransitionTime"]
        == (condition(waiting, "Stalled")["lastTransitionTime"])
    )
    assert time_of(condition(run, "Ready")["lastTransitionTime"]) > time_of(
        condition(waiting, "Ready")["lastTransitionTime"]
    )

    [event] = _events(cluster, namespace, "shop", 1)
    assert (event["type"], event["reason"], event["message"]) == (
        "Normal",
        "Succeeded",
        "1 target up",
    )
    assert event["involvedObject"]["uid"] == run["metadata"]["uid"]


def test_failure_reads_stalled_and_posts_target_failed_and_failed(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [tiltrun("broken"), job("migrate", "broken", behavior="fail", backoff_limit=0)], namespace
    )
    _wait_condition(cluster, namespace, "broken", "Stalled")
    run = wait_for_run(cluster, namespace, "broken", lambda r: status(r)["done"], what="done")
    assert conditions(run) == {
        "Ready": ("False", "Failed"),
        "Reconciling": ("False", "Failed"),
        "Stalled": ("True", "Failed"),
    }
    _assert_well_formed(run)

    events = {e["reason"]: e for e in _events(cluster, namespace, "broken", 2)}
    assert sorted(events) == ["Failed", "TargetFailed"]
    assert {e["type"] for e in events.values()} == {"Warning"}
    target_failed, failed = events["TargetFailed"], events["Failed"]
    assert target_failed["message"].startswith("job/migrate: BackoffLimitExceeded")
    assert failed["message"] == status(run)["error"]
    assert {e["involvedObject"]["uid"] for e in events.values()} == {run["metadata"]["uid"]}
    assert {e["source"]["component"] for e in events.values()} == {"tiltrun-operator"}
