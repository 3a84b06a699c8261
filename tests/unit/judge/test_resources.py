"""Custom resources and other kinds, one real-shaped object per rule (docs/api.md).

Each fixture in tests/fixtures/resources/ is an object (and, for ownership, the pods it
owns) in the status shape its controller writes; its first lines say where the shape
comes from. The table names the rule each file proves and the state it must give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.judge.conftest import stamp
from tiltrun.api.model import TargetState
from tiltrun.judge.custom import classify
from tiltrun.judge.related import Related

RESOURCES = Path(__file__).parents[2] / "fixtures" / "resources"


def load(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fixture's object and the pods that follow it."""
    documents = [d for d in yaml.safe_load_all((RESOURCES / f"{name}.yaml").read_text()) if d]
    return documents[0], [d for d in documents[1:] if d.get("kind") == "Pod"]


def state_of(name: str) -> TargetState:
    obj, pods = load(name)
    return classify(obj, Related(pods=pods))


def verdict(state: TargetState) -> tuple[str, str]:
    """``(state, reason or error)``: ``("waiting", "...")``, ``("ready", "")``..."""
    if state.waiting is not None:
        return "waiting", state.waiting.reason
    if state.active is not None:
        return ("ready" if state.active.ready else "not ready"), state.active.reason
    if state.terminated is not None:
        return ("failed" if state.terminated.error else "done"), state.terminated.error
    return "none", ""


CASES = [
    # (fixture, rule it proves, expected state, words the reason/error must contain)
    ("crd-established", "CRD: Established=True is up", "ready", ""),
    ("crd-installing", "CRD: Established=False waits", "waiting", "Established=False: Installing"),
    (
        "crd-names-not-accepted",
        "CRD: NamesAccepted=False fails",
        "failed",
        'NamesAccepted=False: SingularConflict: "widget" is already in use',
    ),
    ("pvc-bound", "PVC: Bound is up", "ready", ""),
    (
        "pvc-pending",
        "PVC: Pending waits, naming the class",
        "waiting",
        "Pending (storage class manual)",
    ),
    (
        "pvc-lost",
        "PVC: Lost fails",
        "failed",
        "Lost: the claim's volume capture-data-pv no longer exists",
    ),
    ("service-clusterip", "Service: not a LoadBalancer is up", "ready", ""),
    (
        "service-loadbalancer-pending",
        "Service: LB without address waits",
        "waiting",
        "no load-balancer address yet",
    ),
    ("service-loadbalancer-ip", "Service: LB with an ip is up", "ready", ""),
    ("service-loadbalancer-hostname", "Service: LB with a hostname is up", "ready", ""),
    ("kstatus-widget-no-status", "kstatus 1: no status waits", "waiting", "no status yet"),
    (
        "kstatus-flux-kustomization-stale",
        "kstatus 2: observedGeneration behind waits",
        "waiting",
        "generation 2 not yet observed by its controller (observed: 1)",
    ),
    (
        "kstatus-issuer-stale-ready",
        "kstatus 2: a condition for an older generation is ignored",
        "waiting",
        "Ready condition is for generation 1, the object is at generation 2",
    ),
    (
        "kstatus-flux-helmrelease-stalled",
        "kstatus 3: Stalled=True fails",
        "failed",
        "Stalled=True: RetriesExceeded: Failed to install after 2 attempt(s)",
    ),
    ("kstatus-flux-kustomization-ready", "kstatus 4: Ready=True is up", "ready", ""),
    (
        "kstatus-certificaterequest-failed",
        "kstatus 4: Ready=False with a terminal reason fails",
        "failed",
        "Ready=False: Failed: Failed to wait for order",
    ),
    (
        "kstatus-certificaterequest-pending",
        "kstatus 4: Ready=False with another reason waits",
        "waiting",
        "Ready=False: Pending: Waiting on certificate issuance",
    ),
    (
        "kstatus-flux-kustomization-reconciling",
        "kstatus 4: Ready=Unknown waits with its words",
        "waiting",
        "Ready=Unknown: Progressing: Reconciliation in progress",
    ),
    (
        "kstatus-knative-configuration-failed",
        "kstatus 4: every Ready=False reason of Knative is terminal",
        "failed",
        "Ready=False: RevisionFailed",
    ),
    ("kstatus-prometheus-no-ready", "kstatus 5: no Ready, no Reconciling is up", "ready", ""),
    (
        "certificate-no-status",
        "library: no status waits (optional fields)",
        "waiting",
        "not current yet: no status yet",
    ),
    (
        "certificate-issuing",
        "library cert-manager: Issuing=True waits",
        "waiting",
        "in progress: Ready=False: DoesNotExist",
    ),
    (
        "certificate-failed",
        "library cert-manager: Issuing=False/Failed fails",
        "failed",
        "health check failed: ",
    ),
    ("certificate-ready", "library cert-manager: Ready=True is up", "ready", ""),
    (
        "certificate-stale-ready",
        "library cert-manager: Ready=True of an older generation is not current",
        "waiting",
        "not current yet",
    ),
    ("cnpg-cluster-healthy", "library CloudNativePG: healthy state is up", "ready", ""),
    (
        "cnpg-cluster-setting-up",
        "library CloudNativePG: bootstrapping waits",
        "waiting",
        "not current yet: Ready=False: ClusterIsNotReady: Cluster Is Not Ready",
    ),
    (
        "cnpg-cluster-unrecoverable",
        "library CloudNativePG: unrecoverable phase fails",
        "failed",
        "health check failed",
    ),
    (
        "cnpg-cluster-crashloop",
        "ownership: an owned pod's CrashLoopBackOff fails the Cluster",
        "failed",
        "pod db-1 container postgres: CrashLoopBackOff (back-off 40s restarting failed "
        "container=postgres pod=db-1_shop(1a2b3c4d-0000-4000-8000-00000000db01)), last exit "
        "code 1 (Error: FATAL: could not access status of transaction), 3 restarts",
    ),
    ("argo-rollout-healthy", "library Argo Rollouts: Healthy is up", "ready", ""),
    (
        "argo-rollout-progressing",
        "library Argo Rollouts: Progressing waits",
        "waiting",
        "not current yet: Progressing: more replicas need to be updated",
    ),
    (
        "argo-rollout-paused",
        "library Argo Rollouts: Paused waits",
        "waiting",
        "in progress: Paused: CanaryPauseStep",
    ),
    (
        "argo-rollout-degraded",
        "library Argo Rollouts: Degraded fails",
        "failed",
        "Degraded: ProgressDeadlineExceeded",
    ),
    (
        "argo-rollout-stale",
        "observedGeneration as a string (Argo Rollouts) is compared as a number",
        "waiting",
        "generation 4 not yet observed by its controller (observed: 3)",
    ),
    ("knative-service-ready", "library Knative: Ready=True is up", "ready", ""),
    (
        "knative-service-deploying",
        "library Knative: Ready=Unknown waits",
        "waiting",
        "not current yet: Ready=Unknown: RevisionMissing",
    ),
    (
        "knative-service-failed",
        "library Knative: Ready=False fails",
        "failed",
        'Ready=False: RevisionFailed: Revision "hello-00001" failed',
    ),
    ("strimzi-kafka-ready", "library Strimzi: Ready=True is up", "ready", ""),
    (
        "strimzi-kafka-creating",
        "library Strimzi: NotReady=True waits",
        "waiting",
        "in progress: NotReady=True: Creating: Kafka cluster is being deployed",
    ),
    (
        "strimzi-kafka-invalid",
        "library Strimzi: InvalidResourceException fails",
        "failed",
        "NotReady=True: InvalidResourceException: The Kafka cluster events is invalid",
    ),
]


@pytest.mark.parametrize(("fixture", "rule", "expected", "words"), CASES, ids=[c[0] for c in CASES])
def test_rule(fixture: str, rule: str, expected: str, words: str) -> None:
    got, reason = verdict(state_of(fixture))
    assert got == expected, f"{rule}: {reason}"
    assert words in reason, rule


def test_every_fixture_is_in_the_table() -> None:
    files = {path.stem for path in RESOURCES.glob("*.yaml")}
    assert files == {case[0] for case in CASES}


def test_waiting_since_the_transition_the_verdict_rests_on() -> None:
    obj, _ = load("kstatus-certificaterequest-pending")
    state = classify(obj, Related())
    assert state.waiting is not None
    assert state.waiting.trigger_time == stamp("2026-05-12T09:19:06Z")


def test_without_a_time_the_creation_time() -> None:
    obj, _ = load("pvc-pending")
    state = classify(obj, Related())
    assert state.waiting is not None
    assert state.waiting.trigger_time == stamp(obj["metadata"]["creationTimestamp"])


def test_ready_since_is_the_ready_transition() -> None:
    obj, _ = load("kstatus-flux-kustomization-ready")
    state = classify(obj, Related())
    assert state.active is not None and state.active.ready
    assert state.active.ready_since == stamp("2026-05-12T09:19:31Z")


def test_failure_times_come_from_the_failing_condition() -> None:
    obj, _ = load("kstatus-flux-helmrelease-stalled")
    state = classify(obj, Related())
    assert state.terminated is not None
    assert state.terminated.start_time == stamp(obj["metadata"]["creationTimestamp"])
    assert state.terminated.finish_time == stamp("2026-05-12T09:24:11Z")


def test_a_job_type_target_that_is_current_has_finished_without_error() -> None:
    obj, _ = load("kstatus-flux-kustomization-ready")
    state = classify(obj, Related(), job=True)
    assert state.terminated is not None
    assert state.terminated.error == ""
    assert state.terminated.finish_time == stamp("2026-05-12T09:19:31Z")


def test_an_object_being_deleted_waits_whatever_it_says() -> None:
    obj, _ = load("kstatus-flux-helmrelease-stalled")
    obj["metadata"]["deletionTimestamp"] = "2026-05-12T09:30:00Z"
    assert verdict(classify(obj, Related())) == ("waiting", "being deleted")


def test_owned_pods_do_not_count_while_the_status_is_stale() -> None:
    # The pods may belong to the spec being replaced (the bug the new spec fixes).
    obj, pods = load("cnpg-cluster-crashloop")
    obj["metadata"]["generation"] = 2
    obj["status"]["observedGeneration"] = 1
    got, reason = verdict(classify(obj, Related(pods=pods)))
    assert (got, reason) == (
        "waiting",
        "generation 2 not yet observed by its controller (observed: 1)",
    )


def test_owned_pods_that_ended_or_are_being_deleted_are_left_out() -> None:
    obj, pods = load("cnpg-cluster-crashloop")
    deleting = {
        **pods[0],
        "metadata": {**pods[0]["metadata"], "deletionTimestamp": "2026-05-12T09:21:00Z"},
    }
    assert verdict(classify(obj, Related(pods=[deleting])))[0] == "waiting"
    ended = {**pods[0], "status": {**pods[0]["status"], "phase": "Failed"}}
    assert verdict(classify(obj, Related(pods=[ended])))[0] == "waiting"


def test_an_owned_pod_failure_is_timed_from_the_pods() -> None:
    obj, pods = load("cnpg-cluster-crashloop")
    state = classify(obj, Related(pods=pods))
    assert state.terminated is not None
    assert state.terminated.start_time == stamp("2026-05-12T09:19:21Z")
    assert state.terminated.finish_time == stamp("2026-05-12T09:20:03Z")


def test_the_objects_own_failure_comes_before_its_pods() -> None:
    obj, pods = load("cnpg-cluster-crashloop")
    unrecoverable, _ = load("cnpg-cluster-unrecoverable")
    obj["status"] = unrecoverable["status"]
    _, error = verdict(classify(obj, Related(pods=pods)))
    assert error.startswith("health check failed")


EVIDENCE = [
    # (fixture, the evidence's reason word, the condition whose reason and message it is)
    ("crd-installing", "Installing", "Established"),
    ("crd-names-not-accepted", "SingularConflict", "NamesAccepted"),
    ("kstatus-flux-helmrelease-stalled", "RetriesExceeded", "Stalled"),
    ("kstatus-certificaterequest-failed", "Failed", "Ready"),
    ("kstatus-certificaterequest-pending", "Pending", "Ready"),
    ("kstatus-flux-kustomization-reconciling", "Progressing", "Ready"),
    ("kstatus-knative-configuration-failed", "RevisionFailed", "Ready"),
    # The rule's own word where no condition says it.
    ("pvc-pending", "Pending", None),
    ("pvc-lost", "Lost", None),
    ("service-loadbalancer-pending", "NoLoadBalancerAddress", None),
    ("kstatus-widget-no-status", "NoStatus", None),
    ("kstatus-flux-kustomization-stale", "GenerationNotObserved", None),
    ("kstatus-issuer-stale-ready", "GenerationNotObserved", None),
    ("argo-rollout-stale", "GenerationNotObserved", None),
    # A CEL rule: which expression held; the object's own words are the message.
    ("certificate-no-status", "HealthCheckNotCurrent", None),
    ("certificate-issuing", "HealthCheckInProgress", None),
    ("cnpg-cluster-unrecoverable", "HealthCheckFailed", None),
    ("argo-rollout-degraded", "HealthCheckFailed", None),
]


@pytest.mark.parametrize(("fixture", "reason", "condition"), EVIDENCE)
def test_the_evidence_names_what_the_verdict_rests_on(
    fixture: str, reason: str, condition: str | None
) -> None:
    """Not a generic InProgress/Failed: the condition's own reason and message, or the
    rule's word, so that tools read why without parsing the sentence."""
    obj, _ = load(fixture)
    state = state_of(fixture)
    part = state.waiting or state.terminated
    assert part is not None and part.evidence is not None
    assert part.evidence.reason == reason
    if condition is not None:
        (entry,) = [c for c in obj["status"]["conditions"] if c["type"] == condition]
        assert (entry["reason"], entry["message"]) == (reason, part.evidence.message)
        assert part.evidence.since == stamp(entry["lastTransitionTime"])
    if reason.startswith("HealthCheck"):
        sentence = verdict(state)[1]
        assert part.evidence.message and sentence.endswith(part.evidence.message)
