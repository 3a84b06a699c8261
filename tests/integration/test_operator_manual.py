"""Runs that keep going: a manual run as a live health board, edits, and quiet worlds.

A manual run never sets ``done`` but keeps its targets true as the workloads change;
an edited TiltRun is judged again under its new spec; and when nothing a status shows
has changed, the operator writes nothing (counted in the dev cluster's audit log).
"""

from __future__ import annotations

import pytest

from tests.conftest import Cluster, OperatorProcess, tiltrun
from tests.integration.runs import (
    conditions,
    now,
    state,
    status,
    status_patches,
    target,
    wait_for_run,
    wait_until_done,
)
from tests.integration.workloads import deployment, job, pod
from tiltrun.api.model import RESOURCE_ANNOTATION, RUN_LABEL

pytestmark = pytest.mark.cluster


def _scale(cluster: Cluster, namespace: str, name: str, replicas: int) -> None:
    cluster.kubectl("scale", "deployment", name, "-n", namespace, f"--replicas={replicas}")


def _web_is(cluster: Cluster, namespace: str, run: str, test, what: str) -> dict:
    return wait_for_run(
        cluster,
        namespace,
        run,
        lambda r: any(
            t["name"] == "deployment/web" and test(t) for t in status(r).get("targets") or []
        ),
        what=what,
    )


def test_manual_run_tracks_its_workloads_and_never_finishes(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    # Timeouts that would long have ended a ci run; manual mode ignores them.
    board = tiltrun(
        "board", exit_condition="manual", ci={"timeout": "1s", "readinessTimeout": "1s"}
    )
    cluster.apply([board, deployment("web", "board")], namespace)

    up = wait_for_run(
        cluster, namespace, "board", lambda r: status(r).get("progress") == "1/1", what="1/1 up"
    )
    assert state(up, "deployment/web")["active"]["ready"] is True
    assert conditions(up)["Ready"] == ("True", "AllTargetsUp")

    # Scaled to zero: disabled, and the run shows it has nothing to wait on.
    _scale(cluster, namespace, "web", 0)
    idle = _web_is(
        cluster, namespace, "board", lambda t: t["state"] == {"disabled": True}, "disabled"
    )
    assert status(idle)["progress"] == "0/0"
    assert status(idle)["summary"] == "no enabled workloads match the selector tilt.dev/run=board"

    # Scaled up again, with a second workload joining the run.
    _scale(cluster, namespace, "web", 3)
    cluster.apply([job("seed", "board")], namespace)
    back = wait_for_run(
        cluster, namespace, "board", lambda r: status(r).get("progress") == "2/2", what="2/2 up"
    )
    assert [t["name"] for t in status(back)["targets"]] == ["deployment/web", "job/seed"]
    assert state(back, "deployment/web")["active"]["ready"] is True
    web = cluster.get("deployment", "web", "-n", namespace)
    assert web["status"]["availableReplicas"] == 3

    # A workload deleted leaves the run.
    cluster.kubectl("delete", "job", "seed", "-n", namespace)
    gone = wait_for_run(
        cluster, namespace, "board", lambda r: len(status(r)["targets"]) == 1, what="job gone"
    )
    # Through all of it, well past every ci timeout: never done, no error.
    for seen in (up, idle, back, gone):
        assert status(seen)["done"] is False
        assert status(seen)["error"] == ""
        assert conditions(seen)["Stalled"][0] == "False"


def test_unchanged_world_makes_no_status_patch(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    began = now()
    cluster.apply(
        [
            tiltrun("quiet", exit_condition="manual"),
            deployment("web", "quiet", replicas=2),
            pod("solo", "quiet"),
        ],
        namespace,
    )
    wait_for_run(
        cluster,
        namespace,
        "quiet",
        lambda r: conditions(r).get("Ready") == ("True", "AllTargetsUp"),
        what="all up",
    )
    settled = now()
    # The count works: the operator's own writes so far are in the log.
    assert status_patches(cluster, namespace, since=began, until=settled, name="quiet")

    window = now()
    # Events that change nothing the status shows, one on each watch the status comes
    # from: a label on the Deployment, an annotation on a pod, and on the TiltRun. (Not
    # an annotation on the Deployment: the API server counts that as a new generation,
    # which the run rightly shows until the controller has observed it.)
    cluster.kubectl("label", "deployment", "web", "-n", namespace, "example.com/team=a")
    cluster.kubectl("annotate", "pod", "solo", "-n", namespace, "example.com/note=hello")
    cluster.kubectl("annotate", "tiltrun", "quiet", "-n", namespace, "example.com/note=hi")
    # Then, on each of those watches, a change that the status must show. Each watch
    # delivers in order, so when a change's status write arrives, the quiet event before
    # it on the same watch has been handled: the window is proven by writes, not by time.
    sentinels = (
        (
            ["annotate", "pod", "solo", f"{RESOURCE_ANNOTATION}=solo-renamed"],
            lambda r: target(r, "pod/solo")["resources"] == ["solo-renamed"],
        ),
        (
            ["label", "deployment", "web", f"{RUN_LABEL}-"],
            lambda r: [t["name"] for t in status(r)["targets"]] == ["pod/solo"],
        ),
        (
            [
                "patch",
                "tiltrun",
                "quiet",
                "--type=merge",
                "-p",
                '{"spec":{"ci":{"timeout":"31m"}}}',
            ],
            lambda r: status(r)["observedGeneration"] == 2,
        ),
    )
    for command, shown in sentinels:
        cluster.kubectl(*command, "-n", namespace)
        wait_for_run(cluster, namespace, "quiet", shown, what=f"the status after {command[:2]}")
    # One write per sentinel, and none for the quiet events before them.
    assert len(status_patches(cluster, namespace, since=window, name="quiet")) == len(sentinels)


def test_edited_run_is_judged_again(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    nothing = {"matchLabels": {"tier": "none"}}
    cluster.apply(
        [
            tiltrun("edit", ci={"timeout": "0"}, selector=nothing),
            deployment("web", "other", labels={"tier": "front"}),
        ],
        namespace,
    )
    before = wait_for_run(
        cluster, namespace, "edit", lambda r: status(r).get("summary"), what="a summary"
    )
    assert status(before)["summary"] == "no enabled workloads match the selector tier=none"
    assert status(before)["observedGeneration"] == 1

    # Point the selector at the Deployment: the run is judged again and succeeds.
    cluster.kubectl(
        "patch",
        "tiltrun",
        "edit",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"selector": {"matchLabels": {"tier": "front"}}}}',
    )
    run = wait_until_done(cluster, namespace, "edit")
    assert run["metadata"]["generation"] == 2
    assert status(run)["observedGeneration"] == 2
    assert status(run)["error"] == ""
    assert [t["name"] for t in status(run)["targets"]] == ["deployment/web"]
    assert {c["observedGeneration"] for c in status(run)["conditions"]} == {2}
