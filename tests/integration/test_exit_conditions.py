"""Customizable exit conditions on the real control plane: tolerance, optional, expect."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Cluster, OperatorProcess, start_run, tiltrun, wait_for

pytestmark = pytest.mark.cluster


def deployment(
    name: str,
    run: str,
    *,
    pod_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    pod_annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "labels": {"tilt.dev/run": run},
            "annotations": annotations or {},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name, **(pod_labels or {})},
                    "annotations": pod_annotations or {},
                },
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    }


CRASH_TWICE = {"fake.tilt.dev/behavior": "crashloop", "fake.tilt.dev/recover-after": "2"}
SLOW_RESTARTS = {"fake.tilt.dev/restart-delay": "2s"}


def finished(cluster: Cluster, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
    run: dict[str, Any] = wait_for(
        lambda: (
            (r := cluster.get("tiltrun", name, "-n", namespace))["status"].get("done") and r
            if "status" in (r := cluster.get("tiltrun", name, "-n", namespace))
            else None
        ),
        timeout=timeout,
        what=f"tiltrun {name} done",
    )
    return run["status"]


def target(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in status["targets"] if t["name"] == name)


def test_crash_twice_then_recover_passes_with_failures_allowed(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    start_run(cluster, namespace, tiltrun("tol", ci={"failuresAllowed": 3}))
    cluster.apply(
        [deployment("web", "tol", pod_labels=CRASH_TWICE, pod_annotations=SLOW_RESTARTS)],
        namespace,
    )
    # While it crashes, the stored status explains why the run has not failed yet.
    tolerated = wait_for(
        lambda: (
            target(s, "deployment/web")["state"].get("grace")
            if (s := cluster.get("tiltrun", "tol", "-n", namespace).get("status"))
            and s.get("targets")
            else None
        ),
        what="grace on deployment/web",
    )
    assert tolerated["status"] == "tolerated"
    assert tolerated["budget"] == "3 restarts"
    status = finished(cluster, namespace, "tol")
    assert status["error"] == ""
    assert target(status, "deployment/web")["state"]["active"]["ready"] is True


def test_the_same_crash_fails_fast_without_failures_allowed(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    start_run(cluster, namespace, tiltrun("strict"))
    cluster.apply([deployment("web", "strict", pod_labels=CRASH_TWICE)], namespace)
    status = finished(cluster, namespace, "strict")
    assert "deployment/web" in status["error"]
    assert "CrashLoopBackOff" in status["error"]


def test_failures_allowed_annotation_overrides_the_run(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("ann"),
            deployment(
                "web", "ann", pod_labels=CRASH_TWICE, annotations={"tilt.dev/failures-allowed": "3"}
            ),
        ],
        namespace,
    )
    status = finished(cluster, namespace, "ann")
    assert status["error"] == ""


def test_grace_period_annotation_tolerates_the_crash_loop(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("grace"),
            deployment(
                "web", "grace", pod_labels=CRASH_TWICE, annotations={"tilt.dev/grace-period": "60s"}
            ),
        ],
        namespace,
    )
    status = finished(cluster, namespace, "grace")
    assert status["error"] == ""


def test_optional_workload_failing_is_reported_but_does_not_fail_the_run(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    # The optional workload first: once its failure is on record, the required one comes.
    # (Applied together, the required one can be up before the optional one crashes, and
    # a finished run is not written again.)
    cluster.apply(
        [
            tiltrun("opt"),
            deployment(
                "metrics",
                "opt",
                pod_labels={"fake.tilt.dev/behavior": "crashloop"},
                annotations={"tilt.dev/optional": "true"},
            ),
        ],
        namespace,
    )
    waiting = wait_for(
        lambda: (
            (s := cluster.get("tiltrun", "opt", "-n", namespace).get("status"))
            and s.get("targets")
            and "terminated" in target(s, "deployment/metrics")["state"]
            and s
        ),
        what="the optional deployment/metrics failed",
    )
    assert waiting["done"] is False and waiting["error"] == ""
    cluster.apply([deployment("web", "opt")], namespace)
    status = wait_for(
        lambda: (
            (s := cluster.get("tiltrun", "opt", "-n", namespace).get("status"))
            and s.get("done")
            and "optional: deployment/metrics" in s.get("summary", "")
            and s
        ),
        what="done with the optional failure in the summary",
        timeout=60,
    )
    assert status["error"] == ""
    assert status["progress"] == "1/1"
    assert target(status, "deployment/metrics")["optional"] is True


def test_expect_holds_success_until_the_expected_deployment_appears(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    migrate = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "labels": {"tilt.dev/run": "exp"}},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "m", "image": "busybox"}],
                }
            }
        },
    }
    cluster.apply([tiltrun("exp", ci={"expect": ["deployment/api"]}), migrate], namespace)
    waiting = wait_for(
        lambda: (
            (s := cluster.get("tiltrun", "exp", "-n", namespace).get("status"))
            and s.get("satisfied") == 1
            and s
        ),
        what="the job done and the run still waiting",
    )
    assert waiting["done"] is False
    assert "deployment/api (expected, not found yet)" in waiting["summary"]
    cluster.apply([deployment("api", "exp")], namespace)
    status = finished(cluster, namespace, "exp")
    assert status["error"] == "" and status["progress"] == "2/2"


def test_stable_for_delays_success_and_a_flap_restarts_the_window(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [tiltrun("stable", ci={"stableFor": "15s"}), deployment("web", "stable")], namespace
    )
    first = wait_for(
        lambda: (
            (s := cluster.get("tiltrun", "stable", "-n", namespace).get("status"))
            and s.get("targets")
            and target(s, "deployment/web")["state"].get("active", {}).get("readySince")
            and s
        ),
        what="deployment/web ready",
    )
    assert first["done"] is False
    assert "must stay ready for 15s" in first["summary"]
    # A readiness flap: the pod reports not ready, then ready again, which moves readySince.
    # Its transition is stamped at least a second after the first readiness: the API's
    # times have whole seconds, and the operator can report readiness within that second.
    flapped_at = _later_of_now_and(target(first, "deployment/web")["state"]["active"]["readySince"])
    pod = cluster.get("pods", "-n", namespace, "-l", "app=web")["items"][0]["metadata"]["name"]
    for ready in ("False", "True"):
        patch = {
            "status": {
                "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": flapped_at}]
            }
        }
        cluster.kubectl(
            "patch",
            "pod",
            pod,
            "-n",
            namespace,
            "--subresource=status",
            "--type=strategic",
            "-p",
            json.dumps(patch),
        )
    status_after = finished(cluster, namespace, "stable", timeout=30)
    ready_since = target(status_after, "deployment/web")["state"]["active"]["readySince"]
    assert ready_since > target(first, "deployment/web")["state"]["active"]["readySince"]
    # Success came no earlier than stableFor after the flap.
    done_at = next(
        c["lastTransitionTime"] for c in status_after["conditions"] if c["type"] == "Ready"
    )
    assert _seconds_between(ready_since, done_at) >= 15


def _pods_failing_to_pull(cluster: Cluster, namespace: str) -> list[str]:
    """Names of the pods in ``namespace`` whose container waits on an image pull error."""
    return [
        pod["metadata"]["name"]
        for pod in cluster.get("pods", "-n", namespace)["items"]
        for container in (pod.get("status") or {}).get("containerStatuses") or []
        if ((container.get("state") or {}).get("waiting") or {}).get("reason")
        in ("ErrImagePull", "ImagePullBackOff")
    ]


def _later_of_now_and(ready_since: str) -> str:
    """Now, or one second after ``ready_since`` if that is later, as the API writes times."""
    from datetime import UTC, datetime, timedelta

    from tiltrun.api.model import parse_time

    after = parse_time(ready_since)
    assert after
    return max(datetime.now(UTC), after + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_between(a: str, b: str) -> float:
    from tiltrun.api.model import parse_time

    start, end = parse_time(a), parse_time(b)
    assert start and end
    return (end - start).total_seconds()


def test_two_failing_workloads_are_both_named(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    pull = {"fake.tilt.dev/behavior": "image-pull-error"}
    # Both failing before the run starts: applied together, one pod can start failing
    # more than the grace period after the other, and the run ends on the first alone.
    cluster.apply(
        [deployment("web", "two", pod_labels=pull), deployment("api", "two", pod_labels=pull)],
        namespace,
    )
    wait_for(
        lambda: len(_pods_failing_to_pull(cluster, namespace)) == 2,
        what="both pods failing to pull their image",
    )
    # No grace: with one, counted from each target's start, a pod that began failing
    # less than the period before the first judgement is still tolerated then.
    cluster.apply([tiltrun("two", ci={"gracePeriod": "0"})], namespace)
    status = finished(cluster, namespace, "two")
    lines = status["error"].splitlines()
    assert {line.split(":")[0] for line in lines if not line.startswith(" ")} == {
        "deployment/api",
        "deployment/web",
    }


def test_malformed_annotation_is_named_in_the_target_reason(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    cluster.apply(
        [
            tiltrun("bad", exit_condition="manual"),
            deployment("web", "bad", annotations={"tilt.dev/failures-allowed": "lots"}),
        ],
        namespace,
    )
    reason = wait_for(
        lambda: (
            (s := cluster.get("tiltrun", "bad", "-n", namespace).get("status"))
            and s.get("targets")
            and target(s, "deployment/web")["state"].get("waiting", {}).get("reason")
        ),
        what="a waiting reason",
    )
    assert reason == (
        'annotation tilt.dev/failures-allowed: expected a whole number of 0 or more, got "lots"'
    )


@pytest.mark.parametrize(
    ("ci", "message"),
    [
        ({"failuresAllowed": -1}, "spec.ci.failuresAllowed"),
        ({"stableFor": "a while"}, "ci.stableFor must be a duration"),
        ({"expect": [""]}, "ci.expect entries must not be empty"),
    ],
)
def test_malformed_spec_ci_is_rejected_by_the_api_server(
    cluster: Cluster, namespace: str, crd: str, ci: dict[str, Any], message: str
) -> None:
    import yaml

    result = cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        check=False,
        input=yaml.safe_dump(tiltrun("bad", ci=ci)),
    )
    assert result.returncode != 0
    assert message in result.stderr
