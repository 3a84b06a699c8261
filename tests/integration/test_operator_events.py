"""Events do not flood: none in a namespace being deleted (issue 11, item 6).

A board restarted while its namespace was being deleted once posted one ``TargetFailed``
Event per failing target, every one refused by the API server. The operator now stops
trying in a namespace at the first refusal that says it is being deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Cluster, OperatorProcess, tiltrun, wait_for
from tests.integration.runs import ADMIN_USER, audit_events, now, status, wait_for_run
from tests.integration.workloads import pod

pytestmark = pytest.mark.cluster

#: A finalizer no controller removes: it keeps the board and its pods (and so their
#: namespace) in the middle of being deleted for as long as the test needs.
HOLD = "tilt.dev/test-hold"
PODS = 30


@pytest.fixture
def held(cluster: Cluster, namespace: str) -> Iterator[list[str]]:
    """Objects given the HOLD finalizer (``kind/name``); released after the test."""
    names: list[str] = []
    yield names
    release = json.dumps({"metadata": {"finalizers": None}})
    for name in names:
        cluster.kubectl("patch", name, "-n", namespace, "--type=merge", "-p", release, check=False)


def _waiting_reason(item: dict) -> str:
    statuses = (item.get("status") or {}).get("containerStatuses") or [{}]
    return str(((statuses[0].get("state") or {}).get("waiting") or {}).get("reason") or "")


def test_a_board_restarted_while_its_namespace_is_deleted_posts_no_flood(
    cluster: Cluster, namespace: str, operator: OperatorProcess, held: list[str]
) -> None:
    operator.stop()  # the pods fail while nobody watches: every failure is new at restart
    board = tiltrun("board", exit_condition="manual")
    board["metadata"]["finalizers"] = [HOLD]
    pods = [pod(f"p{i:02d}", "board", behavior="image-pull-error") for i in range(PODS)]
    for each in pods:
        each["metadata"]["finalizers"] = [HOLD]
    held += ["tiltrun/board", *(f"pod/{p['metadata']['name']}" for p in pods)]
    cluster.apply([board, *pods], namespace)
    wait_for(
        lambda: all(
            _waiting_reason(p) in ("ErrImagePull", "ImagePullBackOff")
            for p in cluster.get("pods", "-n", namespace)["items"]
        ),
        what=f"{PODS} pods failing to pull their image",
    )

    since = now()
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")
    wait_for(
        lambda: cluster.get("namespace", namespace)["status"].get("phase") == "Terminating",
        what=f"namespace {namespace} terminating",
    )
    operator.start()
    run = wait_for_run(
        cluster,
        namespace,
        "board",
        lambda r: (
            len([t for t in status(r).get("targets") or [] if "terminated" in t["state"]]) == PODS
        ),
        what=f"{PODS} failed targets",
    )
    assert status(run)["error"] == ""  # a manual board never finishes

    creates = [
        event
        for event in audit_events(cluster, namespace, since=since)
        if event.get("verb") == "create"
        and event["objectRef"].get("resource") == "events"
        and event["user"].get("username") == ADMIN_USER
    ]
    # One attempt, refused because the namespace is being deleted; then none.
    assert len(creates) <= 1, [c["responseStatus"] for c in creates]
    assert all(c["responseStatus"]["code"] == 403 for c in creates)
