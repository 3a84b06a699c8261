"""ci runs on the real control plane: success, and each way a run fails (SPEC, "Exit logic").

Every assertion reads the TiltRun back from the API server, so what was pruned or
refused there would show.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import Cluster, OperatorProcess, start_run, tiltrun
from tests.integration.runs import (
    condition,
    conditions,
    state,
    status,
    wait_for_run,
    wait_until_done,
)
from tests.integration.workloads import (
    EXIT_CODE,
    RECOVER_AFTER,
    RESTART_DELAY,
    deployment,
    job,
    statefulset,
)

pytestmark = pytest.mark.cluster


def _pods(cluster: Cluster, namespace: str, app: str) -> list[dict]:
    return cluster.get("pods", "-n", namespace, "-l", f"app={app}")["items"]


def test_deployment_statefulset_and_job_reach_done_without_error(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("stack", ci={"timeout": "60s"}),
            deployment("web", "stack", replicas=2),
            statefulset("db", "stack", replicas=2),
            job("migrate", "stack"),
        ],
        namespace,
    )
    run = wait_until_done(cluster, namespace, "stack")
    got = status(run)
    assert got["error"] == ""
    assert [t["name"] for t in got["targets"]] == [
        "deployment/web",
        "job/migrate",
        "statefulset/db",
    ]
    assert [t["type"] for t in got["targets"]] == ["server", "job", "server"]
    assert [t["resources"] for t in got["targets"]] == [["web"], ["migrate"], ["db"]]
    assert state(run, "deployment/web")["active"]["ready"] is True
    assert state(run, "statefulset/db")["active"]["ready"] is True
    migrate = state(run, "job/migrate")["terminated"]
    assert "error" not in migrate
    assert migrate["finishTime"] >= migrate["startTime"]
    assert (got["progress"], got["satisfied"], got["total"]) == ("3/3", 3, 3)
    assert got["summary"] == "all 3 targets up"
    assert got["pid"] == operator.pid
    assert got["observedGeneration"] == run["metadata"]["generation"]
    # The real controllers did the work: the StatefulSet really has both pods ready.
    db = cluster.get("statefulset", "db", "-n", namespace)
    assert db["status"]["readyReplicas"] == 2


def test_failing_job_fails_the_run_naming_the_job_its_reason_and_exit_code(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("migration", ci={"timeout": "60s"}),
            deployment("web", "migration"),
            job(
                "migrate",
                "migration",
                behavior="fail",
                backoff_limit=0,
                pod_annotations={EXIT_CODE: "3"},
            ),
        ],
        namespace,
    )
    run = wait_until_done(cluster, namespace, "migration")
    [migrate_pod] = _pods(cluster, namespace, "migrate")
    pod_name = migrate_pod["metadata"]["name"]
    error = status(run)["error"]
    # Only the Job fails; the error names it, the Job's reason, its pod, container and exit code.
    assert error.startswith("job/migrate: BackoffLimitExceeded")
    assert f"pod {pod_name} container main: terminated with exit code 3" in error
    assert "simulated failure: exit code 3" in error  # the container's termination message
    assert "\n" not in error
    assert "deployment/web" not in error
    assert error == f"job/migrate: {state(run, 'job/migrate')['terminated']['error']}"
    assert status(run)["summary"].startswith("failed: job/migrate: BackoffLimitExceeded")
    assert status(run)["progress"] in ("0/2", "1/2")  # web may or may not be up by then


def test_crash_looping_deployment_fails_the_run_with_the_evidence(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("crashy", ci={"timeout": "60s"}),
            deployment("api", "crashy", behavior="crashloop"),
        ],
        namespace,
    )
    run = wait_until_done(cluster, namespace, "crashy")
    [api_pod] = _pods(cluster, namespace, "api")
    error = status(run)["error"]
    match = re.fullmatch(
        r"deployment/api: pod (?P<pod>\S+) container app: CrashLoopBackOff \((?P<message>.+)\), "
        r"last exit code 1 \(Error\), (?P<restarts>\d+) restarts?",
        error,
    )
    assert match, error
    assert match["pod"] == api_pod["metadata"]["name"]
    assert "back-off" in match["message"]
    restarts = int(match["restarts"])
    assert 1 <= restarts <= api_pod["status"]["containerStatuses"][0]["restartCount"]
    assert state(run, "deployment/api")["terminated"]["error"] in error


def test_grace_period_tolerates_a_crash_loop_until_the_pod_recovers(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    # The run first, so the operator is up before the crashes it must see.
    start_run(cluster, namespace, tiltrun("flaky", ci={"timeout": "90s", "gracePeriod": "60s"}))
    cluster.apply(
        [
            deployment(
                "api",
                "flaky",
                behavior="crashloop",
                pod_labels={RECOVER_AFTER: "2"},
                # Restarts slow enough that the retrying state is plainly visible.
                pod_annotations={RESTART_DELAY: "2s"},
            )
        ],
        namespace,
    )
    retrying = wait_for_run(
        cluster,
        namespace,
        "flaky",
        lambda r: status(r).get("targets") and "terminated" in state(r, "deployment/api"),
        what="the crash loop to show",
    )
    # Inside the grace period the crash is tolerated: not done, the run says it is retrying.
    assert status(retrying)["done"] is False
    crash = state(retrying, "deployment/api")
    assert "CrashLoopBackOff" in crash["terminated"]["error"]
    assert crash["grace"]["status"] == "tolerated"
    assert crash["grace"]["budget"] == "1m"
    assert status(retrying)["summary"].startswith("waiting on 1 of 1: deployment/api (retrying: ")
    assert conditions(retrying)["Reconciling"] == ("True", "Retrying")
    assert conditions(retrying)["Stalled"][0] == "False"

    run = wait_until_done(cluster, namespace, "flaky")
    assert status(run)["error"] == ""
    assert state(run, "deployment/api")["active"]["ready"] is True
    # It really crashed twice before it came up.
    [api_pod] = _pods(cluster, namespace, "api")
    assert api_pod["status"]["containerStatuses"][0]["restartCount"] == 2
    assert conditions(run)["Ready"] == ("True", "Succeeded")


def test_suspended_job_is_disabled_and_does_not_block_success(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("partial", ci={"timeout": "60s"}),
            deployment("web", "partial"),
            job("later", "partial", suspend=True),
        ],
        namespace,
    )
    run = wait_until_done(cluster, namespace, "partial")
    assert status(run)["error"] == ""
    assert state(run, "job/later") == {"disabled": True}
    assert (status(run)["progress"], status(run)["total"]) == ("1/1", 1)
    # The Job really never ran.
    assert _pods(cluster, namespace, "later") == []


def test_selector_matching_nothing_never_succeeds(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    nothing = {"matchLabels": {"app": "nothing-here"}}
    cluster.apply(
        [
            tiltrun("empty", ci={"timeout": "0"}, selector=nothing),
            # A second run in the same namespace, to know the operator has been at work.
            tiltrun("real", ci={"timeout": "60s"}),
            job("migrate", "real"),
        ],
        namespace,
    )
    wait_until_done(cluster, namespace, "real")
    run = wait_for_run(cluster, namespace, "empty", status, what="a status")
    got = status(run)
    assert got["done"] is False
    assert got["summary"] == "no enabled workloads match the selector app=nothing-here"
    assert (got["progress"], got["targets"]) == ("0/0", [])
    assert conditions(run) == {
        "Ready": ("False", "NoMatchingWorkloads"),
        "Reconciling": ("True", "NoMatchingWorkloads"),
        "Stalled": ("False", "NoMatchingWorkloads"),
    }


def test_selector_matching_nothing_fails_at_the_timeout_with_that_summary(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("empty", ci={"timeout": "2s"}, selector={"matchLabels": {"app": "ghost"}}),
            deployment("web", "unrelated"),
        ],
        namespace,
    )
    run = wait_until_done(cluster, namespace, "empty")
    expected = "timed out after 2s; no enabled workloads match the selector app=ghost"
    assert status(run)["error"] == expected
    assert status(run)["summary"] == expected
    assert condition(run, "Stalled")["reason"] == "TimedOut"
