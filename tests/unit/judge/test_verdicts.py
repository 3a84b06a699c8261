"""Every captured object and the verdict it gets, one line per case (Argo CD's style).

Each case is a file in ``tests/fixtures/objects`` (a real object as the API server
stored it, with the ReplicaSets and pods it is judged with); the line says the state
the judge must give it, whether it is ready (active only), the evidence's reason word
and how the human reason (or error) begins. The per-kind test files prove each rule in
detail; this table is the whole picture on one screen.
"""

# ruff: noqa: E501 - a table reads best one case per line, however long the line

from __future__ import annotations

import pytest

from tests.unit.judge.conftest import load_scenario, scenario_names
from tiltrun.judge.target import is_target, judge

W, A, T, D = "waiting", "active", "terminated", "disabled"
NOT_A_TARGET = "not a target"

# fmt: off
CASES = [
    # fixture                                   state ready  evidence                      reason (or error) starts with
    ("daemonset-imagepullbackoff",                T,  None,  "ImagePullBackOff",           "pod node-agent-"),
    ("daemonset-no-nodes",                        A,  True,  "",                           ""),
    ("daemonset-on-delete",                       A,  True,  "",                           "updateStrategy OnDelete: pods node-agent-"),
    ("daemonset-ready",                           A,  True,  "",                           ""),
    ("daemonset-rollout-in-progress",             W,  None,  "ContainerCreating",          "pod node-agent-"),
    ("daemonset-rollout-not-ready",               A,  False, "ContainersNotReady",         "0/3 ready; pod node-agent-"),
    ("daemonset-status-incomplete",               W,  None,  "StatusIncomplete",           "status incomplete"),
    ("daemonset-updated-without-new-template",    A,  True,  "",                           ""),
    ("deployment-available",                      A,  True,  "",                           ""),
    ("deployment-crashloopbackoff",               T,  None,  "CrashLoopBackOff",           "pod web-"),
    ("deployment-generation-not-observed",        W,  None,  "GenerationNotObserved",      "generation 3 not yet observed"),
    ("deployment-new-replicaset-not-seen",        W,  None,  "ReplicaSetNotSeen",          "ReplicaSet of revision 2 not seen yet"),
    ("deployment-paused",                         D,  None,  "",                           ""),
    ("deployment-progress-deadline-exceeded",     T,  None,  "ProgressDeadlineExceeded",   "ProgressDeadlineExceeded: ReplicaSet"),
    ("deployment-replica-failure",                W,  None,  "FailedCreate",               "ReplicaFailure: FailedCreate: pods"),
    ("deployment-rollout-in-progress",            W,  None,  "ContainerCreating",          "pod web-"),
    ("deployment-rollout-not-ready",              A,  False, "ContainersNotReady",         "0/2 ready; pod web-"),
    ("deployment-rollout-replaces-crashing-pods", A,  True,  "",                           ""),
    ("deployment-scaled-to-zero",                 D,  None,  "",                           ""),
    ("job-complete",                              T,  None,  "",                           ""),
    ("job-container-restarted-after-failure",     T,  None,  "Error",                      "pod migrate-"),
    ("job-failed-backoff-limit",                  T,  None,  "BackoffLimitExceeded",       "BackoffLimitExceeded: Job has reached"),
    ("job-failure-target",                        T,  None,  "DeadlineExceeded",           "DeadlineExceeded: Job was active longer"),
    ("job-not-started",                           W,  None,  "NotStarted",                 "not started yet"),
    ("job-owned-by-cronjob",                      NOT_A_TARGET, None, "", ""),
    ("job-pod-failed-retrying",                   T,  None,  "Error",                      "pod migrate-"),
    ("job-pod-pending",                           W,  None,  "ContainerCreating",          "pod migrate-"),
    ("job-running",                               A,  False, "",                           "1 pod running, 0/1 succeeded"),
    ("job-success-criteria-met",                  T,  None,  "",                           ""),
    ("job-suspended",                             D,  None,  "",                           ""),
    ("pod-container-creating",                    W,  None,  "ContainerCreating",          "ContainerCreating"),
    ("pod-crash-loop-back-off",                   T,  None,  "CrashLoopBackOff",           "pod debug-web container app: CrashLoopBackOff"),
    ("pod-create-container-config-error",         T,  None,  "CreateContainerConfigError", "pod debug-web container app: CreateContainerConfigError"),
    ("pod-create-container-error",                T,  None,  "CreateContainerError",       "pod debug-web container app: CreateContainerError"),
    ("pod-err-image-never-pull",                  T,  None,  "ErrImageNeverPull",          "pod debug-web container app: ErrImageNeverPull"),
    ("pod-err-image-pull",                        T,  None,  "ErrImagePull",               "pod debug-web container app: ErrImagePull"),
    ("pod-evicted",                               T,  None,  "Evicted",                    "pod debug-web: Evicted: The node was low"),
    ("pod-image-pull-back-off",                   T,  None,  "ImagePullBackOff",           "pod debug-web container app: ImagePullBackOff"),
    ("pod-init-container-crashloopbackoff",       T,  None,  "CrashLoopBackOff",           "pod debug-web init container wait-for-db:"),
    ("pod-init-running",                          W,  None,  "Init:0/1",                   "Init:0/1"),
    ("pod-invalid-image-name",                    T,  None,  "InvalidImageName",           "pod debug-web container app: InvalidImageName"),
    ("pod-job-failed",                            T,  None,  "Error",                      "pod seed-data container seed: terminated with exit code 3"),
    ("pod-job-running",                           A,  False, "",                           "running"),
    ("pod-job-succeeded",                         T,  None,  "",                           ""),
    ("pod-pending",                               W,  None,  "Pending",                    "Pending"),
    ("pod-run-container-error",                   T,  None,  "RunContainerError",          "pod debug-web container app: RunContainerError"),
    ("pod-running-not-ready",                     A,  False, "ContainersNotReady",         "ContainersNotReady: containers with unready"),
    ("pod-running-ready",                         A,  True,  "",                           ""),
    ("pod-server-succeeded",                      T,  None,  "Succeeded",                  "pod debug-web: Succeeded; container app:"),
    ("pod-unschedulable",                         W,  None,  "Unschedulable",              "Unschedulable: 0/3 nodes are available"),
    ("statefulset-crashloopbackoff",              T,  None,  "CrashLoopBackOff",           "pod db-0 container postgres: CrashLoopBackOff"),
    ("statefulset-on-delete",                     A,  True,  "",                           "updateStrategy OnDelete: pods db-0, db-1, db-2"),
    ("statefulset-on-delete-pod-replaced",        A,  True,  "",                           "updateStrategy OnDelete: pods db-0, db-2"),
    ("statefulset-partition-rolling-out",         A,  False, "ContainersNotReady",         "2/3 ready; pod db-2: ContainersNotReady"),
    ("statefulset-pod-unschedulable",             W,  None,  "Unschedulable",              "pod db-0: Unschedulable: 0/3 nodes"),
    ("statefulset-ready",                         A,  True,  "",                           ""),
    ("statefulset-rolling-update",                A,  True,  "",                           "partition 2: pods db-0, db-1 keep"),
    ("statefulset-scaled-to-zero",                D,  None,  "",                           ""),
]
# fmt: on


@pytest.mark.parametrize(("name", "state", "ready", "evidence", "reason"), CASES, ids=lambda c: c)
def test_verdict(name: str, state: str, ready: bool | None, evidence: str, reason: str) -> None:
    scenario = load_scenario(name)
    if state == NOT_A_TARGET:
        assert not is_target(scenario.workload)
        return
    assert is_target(scenario.workload)
    found = judge(scenario.workload, scenario.related).state
    if found.disabled:
        assert (state, ready, evidence, reason) == (D, None, "", "")
        return
    if found.waiting is not None:
        seen = (W, None, found.waiting.evidence, found.waiting.reason)
    elif found.active is not None:
        seen = (A, found.active.ready, found.active.evidence, found.active.reason)
    else:
        assert found.terminated is not None
        seen = (T, None, found.terminated.evidence, found.terminated.error)
    got_state, got_ready, facts, words = seen
    assert (got_state, got_ready) == (state, ready)
    assert (facts.reason if facts is not None else "") == evidence
    assert words.startswith(reason)
    if not reason:  # an empty prefix means no words at all
        assert words == ""


def test_every_captured_object_has_a_line() -> None:
    assert [case[0] for case in CASES] == scenario_names()
