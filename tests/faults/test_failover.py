"""High availability: two operators, one Lease, the leader SIGKILLed.

The standby watches all along; when the leader dies it takes the Lease over and carries
on from what the leader stored. Nothing is lost: startTime is kept, a finished result
is untouched, no Event is posted twice, and every run agrees with the truth computed
from the cluster (``tests/faults/truth.py``). The time from the SIGKILL to a change
showing in a status is printed (``-s``): docs/operations.md gives the figures.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.conftest import Cluster, start_run, tiltrun, wait_for
from tests.faults.conftest import KillableOperator
from tests.faults.truth import Lister, converged
from tests.integration.runs import (
    events_about,
    state,
    status,
    stored_run,
    wait_for_run,
    wait_until_done,
)
from tests.integration.workloads import COMPLETE_DELAY, deployment, job

pytestmark = pytest.mark.cluster

StartOperator = Callable[..., KillableOperator]


def _holder(cluster: Cluster, namespace: str) -> str:
    lease = cluster.get("lease", "tiltrun-operator", "-n", namespace)
    return str(lease["spec"].get("holderIdentity") or "")


def _pid_of(identity: str) -> int:
    """The PID in an identity made outside a pod: ``<host>_<pid>_<random>``."""
    return int(identity.split("_")[-2])


def _events(cluster: Cluster, namespace: str, runs: list[str]) -> Counter[tuple[str, str, str]]:
    """(run, reason, message) of every Event about ``runs``, counted with their ``count``."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for name in runs:
        for event in events_about(cluster, namespace, name):
            seen[(name, event["reason"], event["message"])] += int(event.get("count") or 1)
    return seen


def test_the_standby_takes_over_when_the_leader_is_killed(
    cluster: Cluster, crd: str, namespace: str, start_operator: StartOperator
) -> None:
    elect = ("--leader-elect", f"--leader-elect-namespace={namespace}")
    first = start_operator(cluster, [namespace], *elect)
    second = start_operator(cluster, [namespace], *elect)
    leader_pid = _pid_of(wait_for(lambda: _holder(cluster, namespace), what="a leader"))
    leader, standby = (first, second) if leader_pid == first.pid else (second, first)
    assert leader.pid == leader_pid

    start_run(cluster, namespace, tiltrun("finished", ci={"timeout": "10m"}))
    start_run(cluster, namespace, tiltrun("running", ci={"timeout": "10m"}))
    start_run(cluster, namespace, tiltrun("board", exit_condition="manual"))
    cluster.apply(
        [
            job("migrate", "finished"),
            deployment("web", "running"),
            job("report", "running", pod_annotations={COMPLETE_DELAY: "1h"}),
            job("broken", "board", behavior="fail", backoff_limit=0),
        ],
        namespace,
    )
    finished = wait_until_done(cluster, namespace, "finished")
    before = wait_for_run(
        cluster,
        namespace,
        "running",
        lambda r: status(r).get("progress") == "1/2",
        what="deployment/web up, job/report running",
    )
    wait_for_run(
        cluster,
        namespace,
        "board",
        lambda r: (
            bool(status(r).get("targets"))
            and bool(state(r, "job/broken").get("terminated", {}).get("error"))
        ),
        what="the board's failing job",
    )
    runs = ["finished", "running", "board"]
    wait_for(
        lambda: (
            {(r, reason) for r, reason, _ in _events(cluster, namespace, runs)}
            >= {("finished", "Succeeded"), ("board", "TargetFailed")}
        ),
        what="the leader's Events",
    )
    events_before = _events(cluster, namespace, runs)
    assert all(status(r)["pid"] == leader.pid for r in (finished, before))

    leader.kill()
    killed = time.monotonic()
    # A change the leader never sees: the Job the run waits on goes away.
    cluster.kubectl("delete", "job", "report", "-n", namespace, "--wait=false")
    after = wait_until_done(cluster, namespace, "running", timeout=60)
    print(f"failover: the change showed {time.monotonic() - killed:.1f}s after the SIGKILL")

    assert status(after)["pid"] == standby.pid
    assert status(after)["startTime"] == status(before)["startTime"]
    assert _pid_of(_holder(cluster, namespace)) == standby.pid
    lease = cluster.get("lease", "tiltrun-operator", "-n", namespace)
    assert lease["spec"]["leaseTransitions"] == 1
    # The finished run is a record: not rewritten by the new leader.
    assert status(stored_run(cluster, namespace, "finished")) == status(finished)
    lister = Lister(cluster.kubeconfig)
    for name in runs:
        converged(lister, namespace, name, what="after the failover")
    # Every Event before the failover once; afterwards only the new verdict's.
    events_after = _events(cluster, namespace, runs)
    new = events_after - events_before
    assert all(count == 1 for count in events_after.values()), events_after
    assert [(r, reason) for r, reason, _ in new] == [("running", "Succeeded")]
    assert standby.alive()
