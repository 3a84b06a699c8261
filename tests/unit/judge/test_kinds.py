"""The kind registry: one entry per kind, and the lookups everything else relies on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tiltrun.api.model import TargetType
from tiltrun.judge import deployment, kinds, kstatus, service
from tiltrun.judge.kinds import BUILTIN, Kind, Registry


def test_the_operator_watches_the_target_kinds_and_their_children() -> None:
    assert [k.kind for k in BUILTIN.targets] == [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "Pod",
    ]
    assert [(k.api_version, k.plural) for k in BUILTIN.watched] == [
        ("apps/v1", "deployments"),
        ("apps/v1", "statefulsets"),
        ("apps/v1", "daemonsets"),
        ("apps/v1", "replicasets"),
        ("batch/v1", "jobs"),
        ("v1", "pods"),
    ]
    assert not kinds.REPLICASET.target and kinds.REPLICASET.child
    assert not kinds.TILTRUN.watched and not kinds.SERVICE.watched


def test_objects_are_matched_by_kind_and_group() -> None:
    assert BUILTIN.lookup("Deployment", "apps/v1") is kinds.DEPLOYMENT
    assert BUILTIN.lookup("Deployment", "apps/v1beta2") is kinds.DEPLOYMENT
    assert BUILTIN.lookup("Deployment") is kinds.DEPLOYMENT
    assert BUILTIN.lookup("Deployment", "example.com/v1") is None
    assert BUILTIN.lookup("Pod", "v1") is kinds.POD
    assert BUILTIN.lookup("Pod", "apps/v1") is None
    assert BUILTIN.of({"kind": "Job", "apiVersion": "batch/v1"}) is kinds.JOB
    assert BUILTIN.of({"kind": 7}) is None
    assert BUILTIN.by_plural("jobs") is kinds.JOB
    assert BUILTIN.by_plural("jobs", group="") is None
    assert BUILTIN.by_target_name("statefulset/db") is kinds.STATEFULSET
    assert BUILTIN.by_target_name("replicaset/web-1") is None


def test_default_types() -> None:
    assert kinds.JOB.default_type({}) is TargetType.JOB
    assert kinds.DEPLOYMENT.default_type({}) is TargetType.SERVER
    assert kinds.POD.default_type({"spec": {"restartPolicy": "Never"}}) is TargetType.JOB
    assert kinds.POD.default_type({"spec": {"restartPolicy": "Always"}}) is TargetType.SERVER


def test_rest_paths() -> None:
    assert kinds.POD.path("shop") == "/api/v1/namespaces/shop/pods"
    assert kinds.DEPLOYMENT.path("shop", "web") == "/apis/apps/v1/namespaces/shop/deployments/web"
    assert kinds.DEPLOYMENT.path() == "/apis/apps/v1/deployments"
    assert kinds.CUSTOM_RESOURCE_DEFINITION.path("ignored", "tiltruns.tilt.dev") == (
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/tiltruns.tilt.dev"
    )
    assert kinds.POD.path("a/b", "c d") == "/api/v1/namespaces/a%2Fb/pods/c%20d"


def test_a_kind_is_added_or_replaced_as_one_entry() -> None:
    widget = Kind("example.com", "v1", "widgets", "Widget", classify=deployment.classify)
    wider = BUILTIN.extended(widget)
    assert wider.lookup("Widget", "example.com/v1") is widget
    assert widget in wider.targets and widget in wider.watched
    assert BUILTIN.lookup("Widget") is None  # the built-in registry is left alone
    quiet = BUILTIN.extended(replace(kinds.POD, classify=None, child=False))
    assert len(quiet) == len(BUILTIN)
    assert "Pod" not in [k.kind for k in quiet.watched]


def test_two_entries_for_one_kind_are_refused() -> None:
    with pytest.raises(ValueError, match="two entries for kind 'Pod' in group ''"):
        Registry([kinds.POD, replace(kinds.POD, plural="pods2")])
    with pytest.raises(ValueError, match="two entries for plural 'pods' in group ''"):
        Registry([kinds.POD, replace(kinds.POD, kind="Pod2")])


def test_the_kinds_no_health_check_may_judge_are_the_watched_ones() -> None:
    """api/healthcheck.py (below the judge, so it cannot read the registry) and the CRD
    list the kinds whose judgement is the operator's own; they are the watched kinds."""
    from tiltrun.api.healthcheck import WORKLOAD_KINDS

    assert {(k.group, k.kind) for k in BUILTIN.watched} == WORKLOAD_KINDS


def test_watching_a_kind_makes_it_an_extra_entry_that_keeps_its_rule() -> None:
    """``--watch``: a known kind keeps its judges; an unknown one is judged by kstatus."""
    served = Kind("", "v1", "services", "Service")
    widget = Kind("example.com", "v1beta1", "widgets", "Widget", namespaced=False)
    wider = BUILTIN.watching(served, widget, replace(widget, version="v1"))
    svc = wider.lookup("Service", "v1")
    assert svc is not None and svc.extra and svc.rule is service.judge
    found = wider.lookup("Widget", "example.com/v1")
    assert found is not None and found.extra and found.rule is kstatus.judge
    assert (found.version, found.namespaced) == ("v1beta1", False)  # the first of two
    assert [k.kind for k in wider.watched if k.extra] == ["Service", "Widget"]
    assert not kinds.SERVICE.extra and BUILTIN.lookup("Service", "v1") is kinds.SERVICE
    deployment = BUILTIN.watching(kinds.DEPLOYMENT).lookup("Deployment", "apps/v1")
    assert deployment is not None and deployment.extra and deployment.target


def test_watching_matches_known_kinds_by_group_even_without_a_version() -> None:
    """``tiltrun inspect`` knows no versions: a core-group Kind must not take another
    group's entry of the same name."""
    wider = BUILTIN.watching(Kind("", "", "CustomResourceDefinition", "CustomResourceDefinition"))
    builtin = wider.lookup("CustomResourceDefinition", "apiextensions.k8s.io/v1")
    assert builtin is kinds.CUSTOM_RESOURCE_DEFINITION and not builtin.extra
    core = wider.lookup("CustomResourceDefinition", "v1")
    assert core is not None and core.extra and core.rule is kstatus.judge
