"""Issue 11, item 1: no ghosts after a watch gap, on a real gap between two API servers.

Every managed, highly available control plane runs several kube-apiservers on one etcd.
The operator talks to the first one; it is killed while, through the second, workloads
are deleted and replaced; when it comes back, the operator's resumed watches get 410
Gone and it lists again. After that relist it must hold exactly what was listed: the
three symptoms issue 11 saw, each checked against the truth (``tests/faults/truth.py``):

- a ci run must not finish with an error from a pod that was replaced by a healthy one;
- a deleted Job must not be "still waited on";
- a manual board must drop its deleted targets.

Slow (a cluster of its own, an API server restarted): marked ``chaos``, run by ``make chaos``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import Cluster, start_run, tiltrun, wait_for
from tests.faults.conftest import KillableOperator, PrivateCluster, new_namespace, private
from tests.faults.truth import converged
from tests.integration.runs import state, status, wait_for_run
from tests.integration.workloads import COMPLETE_DELAY, deployment, job, pod

pytestmark = [pytest.mark.cluster, pytest.mark.chaos]

StartOperator = Callable[..., KillableOperator]


def _gone(cluster: Cluster, namespace: str, *objects: str) -> bool:
    """True when none of ``objects`` (``job/blocker``...) exists any more."""
    found = cluster.kubectl("get", *objects, "-n", namespace, "-o", "name", check=False)
    return found.stdout.strip() == ""


def _pods_of(cluster: Cluster, namespace: str, selector: str) -> list[dict]:
    return cluster.get("pods", "-n", namespace, "-l", selector)["items"]


def _ready(pod_obj: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod_obj.get("status", {}).get("conditions") or []
    )


def _gap_scenario(cluster: Cluster, namespace: str) -> None:
    """Runs whose targets the watch gap will delete or replace."""
    start_run(
        cluster,
        namespace,
        # Tolerated long enough that the crash loop alone cannot end the run in this test.
        tiltrun("replaced", ci={"timeout": "10m", "gracePeriod": "5m"}),
    )
    start_run(cluster, namespace, tiltrun("blocked", ci={"timeout": "10m"}))
    start_run(cluster, namespace, tiltrun("board", exit_condition="manual"))
    cluster.apply(
        [
            pod("api", "replaced", behavior="crashloop"),
            deployment("web", "blocked"),
            job("blocker", "blocked", pod_annotations={COMPLETE_DELAY: "1h"}),
            *(deployment(name, "board") for name in ("front", "cache", "queue")),
        ],
        namespace,
    )
    wait_for_run(
        cluster,
        namespace,
        "replaced",
        lambda r: status(r).get("targets") and "terminated" in state(r, "pod/api"),
        what="pod/api crash-looping",
    )
    wait_for_run(
        cluster,
        namespace,
        "blocked",
        lambda r: status(r).get("progress") == "1/2",
        what="deployment/web up, job/blocker running",
    )
    wait_for_run(
        cluster,
        namespace,
        "board",
        lambda r: status(r).get("progress") == "3/3",
        what="the board's three targets up",
    )


def _change_during_gap(cluster: Cluster, namespace: str) -> None:
    """Through the second API server: replace the crashing pod, delete a Job and two targets."""
    cluster.kubectl("delete", "pod", "api", "-n", namespace, "--wait=true")
    cluster.apply([pod("api", "replaced")], namespace)
    cluster.kubectl("delete", "job", "blocker", "-n", namespace, "--cascade=foreground")
    cluster.kubectl(
        "delete", "deployment", "cache", "queue", "-n", namespace, "--cascade=foreground"
    )
    wait_for(
        lambda: _ready(cluster.get("pod", "api", "-n", namespace)), what="the new pod/api ready"
    )
    wait_for(
        lambda: (
            _gone(cluster, namespace, "jobs", "deployments/y", "deployments/z")
            and not _pods_of(cluster, namespace, "app in (blocker,y,z)")
        ),
        what="job/blocker, deployment/y and deployment/z gone with their pods",
        timeout=60,
    )


def _assert_no_ghosts(pc: PrivateCluster, namespace: str) -> None:
    """Each of issue 11's three symptoms, all checked, all reported."""
    lister = pc.lister()
    failures: list[str] = []

    def check(name: str, timeout: float, symptom: str, test: Callable[[dict], bool]) -> None:
        try:
            agreed = converged(lister, namespace, name, timeout=timeout, what=symptom)
        except AssertionError as err:
            failures.append(str(err))
            return
        if not test(agreed.stored):
            failures.append(f"{symptom}: {agreed.stored}")

    check(
        "replaced",
        90,
        "a ci run must not finish with an error from a replaced pod",
        lambda s: s["done"] is True and s["error"] == "",
    )
    check(
        "blocked",
        30,
        "a deleted Job must not be still waited on",
        lambda s: s["done"] is True and s["error"] == "",
    )
    check(
        "board",
        30,
        "a manual board must drop deleted targets",
        lambda s: [t.split(" ")[0] for t in s["targets"]] == ["deployment/front"],
    )
    assert not failures, "\n\n".join(failures)


@pytest.fixture
def two_apiservers_without_watch_cache() -> Iterator[PrivateCluster]:
    """Two API servers; the first reads watches from etcd's history, not its cache."""
    yield from private(
        "compact",
        second_apiserver=True,
        extra_args={"kube-apiserver": ["--watch-cache=false"]},
    )


def test_the_watch_gap_of_two_apiservers_leaves_no_ghosts(
    two_apiservers: PrivateCluster, start_operator: StartOperator
) -> None:
    """Issue 11, item 1: a gap on one API server while the other serves the changes.

    The operator talks to the first API server, which is killed while, through the
    second, a crash-looping pod is replaced by a healthy one, a Job a run waits on is
    deleted, and two targets of a board are deleted. When the first comes back, its
    fresh watch cache answers the operator's resumed watches with 410 Gone, and the
    operator lists again: what it holds must then be exactly what was listed.
    """
    pc = two_apiservers
    namespace = new_namespace(pc.b, "gap")
    start_operator(pc.a, [namespace])
    _gap_scenario(pc.b, namespace)
    pc.dev.kill("kube-apiserver")
    blind = time.monotonic()
    _change_during_gap(pc.b, namespace)
    pc.dev.revive("kube-apiserver")
    print(f"the operator's API server was down {time.monotonic() - blind:.1f}s")
    _assert_no_ghosts(pc, namespace)


def test_compaction_forces_a_relist_that_leaves_no_ghosts(
    two_apiservers_without_watch_cache: PrivateCluster, start_operator: StartOperator
) -> None:
    """The same gap, but the first API server serves watches from etcd's history.

    Without compaction its restart would replay every deletion to the resumed watches;
    with etcd compacted past the gap, they get 410 Gone and must list again.
    """
    pc = two_apiservers_without_watch_cache
    namespace = new_namespace(pc.b, "compact")
    start_operator(pc.a, [namespace])
    _gap_scenario(pc.b, namespace)
    pc.dev.kill("kube-apiserver")
    _change_during_gap(pc.b, namespace)
    pc.dev.compact()
    pc.dev.revive("kube-apiserver")
    _assert_no_ghosts(pc, namespace)
