"""The store with watched custom kinds: which objects are candidates, and their pods."""

from __future__ import annotations

from typing import Any

from tiltrun.engine.store import Store
from tiltrun.judge.kinds import BUILTIN, CUSTOM_RESOURCE_DEFINITION, Kind, Registry

Obj = dict[str, Any]


def watching(*names: str, group: str = "example.com") -> Registry:
    """The built-in registry, also watching the kinds of these names in ``group``."""
    return BUILTIN.watching(*(Kind(group, "v1", f"{name.lower()}s", name) for name in names))


def obj(kind: str, name: str, uid: str, *, ns: str = "shop", owner: str = "", **extra: Any) -> Obj:
    meta: Obj = {"name": name, "namespace": ns, "uid": uid, "labels": {"tilt.dev/run": "shop"}}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "X", "name": "x"}]
    if not ns:
        del meta["namespace"]
    return {"kind": kind, "metadata": meta, **extra}


def run(ns: str = "shop") -> Obj:
    return {"kind": "TiltRun", "metadata": {"name": "shop", "namespace": ns, "uid": f"r-{ns}"}}


def names(store: Store, key: tuple[str, str]) -> dict[str, list[str]]:
    return {
        o["metadata"]["name"]: sorted(p["metadata"]["name"] for p in related.pods)
        for o, related in store.candidates(key)
    }


def test_an_object_of_a_watched_kind_is_a_candidate_with_the_pods_it_owns() -> None:
    store = Store(kinds=watching("Cluster"))
    key = store.put_run(run())
    store.put("Cluster", obj("Cluster", "db", "c1"))
    store.put("Pod", obj("Pod", "db-1", "p1", owner="c1"))
    store.put("Pod", obj("Pod", "other", "p2", owner="zzz"))
    assert names(store, key) == {"db": ["db-1"]}


def test_pods_reach_their_target_through_a_chain_of_any_kinds() -> None:
    # pod -> ReplicaSet -> Rollout; pod -> StatefulSet -> Kafka.
    store = Store(kinds=watching("Rollout", "Kafka"))
    key = store.put_run(run())
    store.put("Rollout", obj("Rollout", "web", "ro"))
    store.put("ReplicaSet", obj("ReplicaSet", "web-1", "rs", owner="ro"))
    store.put("Pod", obj("Pod", "web-1-a", "pa", owner="rs"))
    store.put("Kafka", obj("Kafka", "events", "k"))
    store.put("StatefulSet", obj("StatefulSet", "events-kafka", "sts", owner="k"))
    store.put("Pod", obj("Pod", "events-kafka-0", "pk", owner="sts"))
    assert names(store, key) == {"web": ["web-1-a"], "events": ["events-kafka-0"]}


def test_a_pod_event_under_a_custom_target_affects_its_runs() -> None:
    store = Store(kinds=watching("Cluster"))
    key = store.put_run(run())
    store.put("Cluster", obj("Cluster", "db", "c1"))
    before = store.revision["c1"]
    assert store.put("Pod", obj("Pod", "db-1", "p1", owner="c1")) == {key}
    assert store.revision["c1"] > before


def test_a_controlled_object_of_a_watched_kind_is_part_of_its_owner() -> None:
    store = Store(kinds=watching("Certificate", "CertificateRequest"))
    key = store.put_run(run())
    store.put("Certificate", obj("Certificate", "web-tls", "c"))
    store.put("CertificateRequest", obj("CertificateRequest", "web-tls-1", "cr", owner="c"))
    assert list(names(store, key)) == ["web-tls"]


def test_kinds_not_watched_are_not_candidates() -> None:
    store = Store()
    key = store.put_run(run())
    store.put("Cluster", obj("Cluster", "db", "c1"))
    assert names(store, key) == {}


def test_a_cluster_scoped_object_is_a_candidate_of_every_namespace() -> None:
    store = Store(kinds=BUILTIN.watching(CUSTOM_RESOURCE_DEFINITION))
    first = store.put_run(run("a"))
    store.put("CustomResourceDefinition", obj("CustomResourceDefinition", "w.x.io", "crd", ns=""))
    second = store.put_run(run("b"))
    assert list(names(store, first)) == ["w.x.io"]
    assert list(names(store, second)) == ["w.x.io"]
    assert store.delete("CustomResourceDefinition", obj("X", "w.x.io", "crd", ns="")) == {
        first,
        second,
    }


def test_targets_of_two_kinds_with_one_name_carry_their_group() -> None:
    from tiltrun.judge.status import judge_all

    cnpg = Kind("postgresql.cnpg.io", "v1", "clusters", "Cluster")
    capi = Kind("cluster.x-k8s.io", "v1beta1", "clusters", "Cluster")
    store = Store(kinds=BUILTIN.watching(cnpg, capi))
    key = store.put_run(run())
    store.put("Cluster", {**obj("Cluster", "db", "c1"), "apiVersion": "postgresql.cnpg.io/v1"})
    store.put("Cluster", {**obj("Cluster", "db", "c2"), "apiVersion": "cluster.x-k8s.io/v1beta1"})
    names = [t.name for t in judge_all(store.candidates(key))]
    assert names == ["cluster.cluster.x-k8s.io/db", "cluster.postgresql.cnpg.io/db"]
