"""The operator's in-memory view of the cluster, fed by watch events.

It keeps the TiltRuns, the candidate workloads, and each controller's children
(a Deployment's ReplicaSets, a ReplicaSet's or Job's pods) indexed by owner uid, so
that an event maps to the few TiltRuns it can affect without scanning everything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tiltrun.api.selector import SelectorError, matches, selector_of
from tiltrun.judge.kinds import BUILTIN, POD, REPLICASET, Registry
from tiltrun.judge.objects import controller_ref, get_str, labels_of, name_of, uid_of
from tiltrun.judge.related import Related
from tiltrun.judge.target import is_target, is_workload

Obj = dict[str, Any]
RunKey = tuple[str, str]  # (namespace, name)
#: The longest owner chain followed from a pod to its target: pod -> ReplicaSet ->
#: Deployment -> Revision -> Configuration -> Service (Knative) is five links.
CHAIN_LIMIT = 6


def _namespace(obj: Obj) -> str:
    return get_str(obj, "metadata", "namespace")


def _controller_uid(obj: Obj) -> str | None:
    ref = controller_ref(obj)
    return (get_str(ref, "uid") or None) if ref is not None else None


def run_key(run: Obj) -> RunKey:
    """``(namespace, name)``: how the engine names a TiltRun."""
    return (_namespace(run), name_of(run))


def same_object(a: Obj, b: Obj) -> bool:
    """True when ``a`` and ``b`` are versions of one object, not two under one name."""
    return uid_of(a) == uid_of(b)


def uid_of_run(run: Obj) -> str:
    """``metadata.uid`` of a TiltRun (empty when missing)."""
    return uid_of(run)


@dataclass
class Store:
    """Objects by identity, plus the indexes the engine asks questions of.

    ``kinds`` is the registry (``judge/kinds.py``) of what the operator watches: an
    uncontrolled object of a target kind, or of an extra kind (``--watch``), is a
    candidate target; pods whose owner chain leads to an extra kind's object are its
    evidence. A cluster-scoped object (namespace ``""``) is a candidate of the runs of
    every namespace.
    """

    kinds: Registry = BUILTIN
    runs: dict[RunKey, Obj] = field(default_factory=dict)
    # namespace -> uid -> candidate workload (no controller owner)
    workloads: dict[str, dict[str, Obj]] = field(default_factory=lambda: defaultdict(dict))
    # uid -> any workload or ReplicaSet we know, to walk owner chains
    by_uid: dict[str, Obj] = field(default_factory=dict)
    # controller uid -> child uid -> child (ReplicaSets and pods)
    children: dict[str, dict[str, Obj]] = field(default_factory=lambda: defaultdict(dict))
    # child uid -> controller uid, so finding a child costs one lookup, not a scan
    parent: dict[str, str] = field(default_factory=dict)
    # Which runs select which candidate workloads, both ways, kept current as runs and
    # workloads come, go or change labels, so that neither an event nor a recompute
    # matches every run against every workload of the namespace.
    selected: dict[RunKey, set[str]] = field(default_factory=dict)
    selected_by: dict[str, set[RunKey]] = field(default_factory=dict)
    # candidate workload uid -> a counter bumped whenever it, or one of its ReplicaSets or
    # pods, changes: a judgement made at one revision holds until the next
    revision: dict[str, int] = field(default_factory=dict)
    # kind -> uids held of that kind, so that a relist can tell what vanished
    by_kind: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # candidate workload uid -> (its revision, the object, its Related) as last gathered:
    # a recompute gathers again only the workloads that changed since
    _related: dict[str, tuple[int, Obj, Related]] = field(default_factory=dict)

    # -- updates --------------------------------------------------------------------

    def put_run(self, run: Obj) -> RunKey:
        key = run_key(run)
        old = self.runs.get(key)
        self.runs[key] = _slim(run)
        if old is None or selector_of(old) != selector_of(run):
            self._unselect_run(key)
            chosen = {
                uid
                for ns in {key[0], ""}
                for uid, obj in self.workloads.get(ns, {}).items()
                if _selects(run, labels_of(obj))
            }
            self.selected[key] = chosen
            for uid in chosen:
                self.selected_by.setdefault(uid, set()).add(key)
        return key

    def drop_run(self, run: Obj | RunKey) -> RunKey:
        key = run if isinstance(run, tuple) else run_key(run)
        self.runs.pop(key, None)
        self._unselect_run(key)
        return key

    def _unselect_run(self, key: RunKey) -> None:
        for uid in self.selected.pop(key, set()):
            self.selected_by.get(uid, set()).discard(key)

    def put(self, kind: str, obj: Obj) -> set[RunKey]:
        """Record a workload, ReplicaSet or pod; return the runs it can affect."""
        obj = {**_slim(obj), "kind": kind}  # watch events of typed lists may omit kind
        uid = uid_of(obj)
        if not uid:
            return set()
        old = self.by_uid.get(uid) or self._child(uid)
        version = get_str(obj, "metadata", "resourceVersion")
        if old is not None and version and get_str(old, "metadata", "resourceVersion") == version:
            return set()  # the same version again (a relist, a resent event): nothing new
        self.by_kind[kind].add(uid)
        affected = self._touch(old)
        self._forget(uid, old)
        ns = _namespace(obj)
        owner = _controller_uid(obj)
        if owner:
            self.children[owner][uid] = obj
            self.parent[uid] = owner
        # A controlled pod owns nothing judged: found through its owner, it needs no entry.
        if kind != POD.kind or not owner:
            self.by_uid[uid] = obj
        if self._is_candidate(obj):
            self.workloads[ns][uid] = obj
            if old is None or uid not in self.selected_by or labels_of(old) != labels_of(obj):
                self._select_workload(uid, obj)
        else:
            self._unselect_workload(uid)
        return affected | self._touch(obj)

    def delete(self, kind: str, obj: Obj) -> set[RunKey]:
        """Forget an object; return the runs it affected."""
        uid = uid_of(obj)
        if not uid:
            return set()
        old = self.by_uid.get(uid) or self._child(uid) or {**obj, "kind": kind}
        affected = self._touch(old)
        self._forget(uid, old)
        self._unselect_workload(uid)
        self.children.pop(uid, None)
        self.revision.pop(uid, None)
        self._related.pop(uid, None)
        self.by_kind[kind].discard(uid)
        return affected

    def replace(self, kind: str, namespace: str | None, objs: list[Obj]) -> set[RunKey]:
        """Make ``objs`` the whole picture of ``kind`` (in ``namespace``; all if ``None``).

        Objects held of that kind there and missing from ``objs`` are deleted; the rest
        are put. Returns every run any of it can affect.
        """
        listed = {uid_of(obj) for obj in objs}
        affected: set[RunKey] = set()
        for uid in list(self.by_kind.get(kind, ())):
            if uid in listed:
                continue
            held = self.by_uid.get(uid) or self._child(uid)
            if held is None:
                self.by_kind[kind].discard(uid)
                continue
            if namespace is not None and _namespace(held) != namespace:
                continue
            affected |= self.delete(kind, held)
        for obj in objs:
            affected |= self.put(kind, obj)
        return affected

    def _touch(self, obj: Obj | None) -> set[RunKey]:
        """A new revision for the workload ``obj`` belongs to; the runs that workload affects."""
        top = self._top(obj) if obj else None
        if top is None:
            return set()
        uid = uid_of(top)
        if uid:
            self.revision[uid] = self.revision.get(uid, 0) + 1
        return self._runs_of(top)

    def _is_candidate(self, obj: Obj) -> bool:
        """True when ``obj`` can be a target: a workload or an extra kind's object, uncontrolled."""
        return is_target(obj, self.kinds)

    def _select_workload(self, uid: str, obj: Obj) -> None:
        self._unselect_workload(uid)
        ns, labels = _namespace(obj), labels_of(obj)
        runs = {
            key
            for key, run in self.runs.items()
            if (key[0] == ns or not ns) and _selects(run, labels)
        }
        self.selected_by[uid] = runs
        for key in runs:
            self.selected.setdefault(key, set()).add(uid)

    def _unselect_workload(self, uid: str) -> None:
        for key in self.selected_by.pop(uid, set()):
            self.selected.get(key, set()).discard(uid)

    def _child(self, uid: str) -> Obj | None:
        owner = self.parent.get(uid)
        return self.children.get(owner, {}).get(uid) if owner else None

    def _forget(self, uid: str, old: Obj | None) -> None:
        self.by_uid.pop(uid, None)
        self.parent.pop(uid, None)
        if old is None:
            return
        owner = _controller_uid(old)
        if owner and owner in self.children:
            self.children[owner].pop(uid, None)
            if not self.children[owner]:
                del self.children[owner]
        self.workloads.get(_namespace(old), {}).pop(uid, None)

    # -- questions --------------------------------------------------------------------

    def _top(self, obj: Obj) -> Obj | None:
        """The candidate workload ``obj`` belongs to (itself, its RS's Deployment...)."""
        seen = 0
        while seen < CHAIN_LIMIT:
            owner = _controller_uid(obj)
            if owner is None:
                return obj if self._is_candidate(obj) else None
            parent = self.by_uid.get(owner)
            if parent is None:
                return None
            obj, seen = parent, seen + 1
        return None

    def _runs_of(self, top: Obj) -> set[RunKey]:
        """The runs that select the candidate workload ``top``."""
        uid = uid_of(top)
        if uid in self.selected_by:
            return set(self.selected_by[uid])
        # Not a workload we hold (the last copy of a deleted one): ask every run.
        ns, labels = _namespace(top), labels_of(top)
        return {
            key
            for key, run in self.runs.items()
            if (key[0] == ns or not ns) and _selects(run, labels)
        }

    def candidates(self, key: RunKey) -> Iterator[tuple[Obj, Related]]:
        """The workloads a run selects, each with its ReplicaSets and pods."""
        if key not in self.runs:
            return
        held = self.workloads.get(key[0], {})
        cluster_wide = self.workloads.get("", {})
        for uid in list(self.selected.get(key, ())):
            obj = held.get(uid) or cluster_wide.get(uid)
            if obj is None:
                continue
            revision = self.revision.get(uid, 0)
            cached = self._related.get(uid)
            if cached is not None and cached[0] == revision and cached[1] is obj:
                yield obj, cached[2]
                continue
            related = self._gather(uid, obj)
            self._related[uid] = (revision, obj, related)
            yield obj, related

    def _gather(self, uid: str, obj: Obj) -> Related:
        """The ReplicaSets and pods of the workload ``obj`` (any kind's pods for others)."""
        if not is_workload(obj, self.kinds):
            return Related(pods=self._owned_pods(uid))
        kids = list(self.children.get(uid, {}).values())
        replicasets = [k for k in kids if k.get("kind") == REPLICASET.kind]
        pods = [k for k in kids if k.get("kind") == POD.kind]
        for rs in replicasets:
            pods += [p for p in self.children.get(uid_of(rs), {}).values()]
        return Related(replicasets=replicasets, pods=pods)

    def _owned_pods(self, uid: str) -> list[Obj]:
        """The pods whose chain of controller owners leads to ``uid``, through any kind."""
        pods: list[Obj] = []
        level, depth = [uid], 0
        while level and depth < CHAIN_LIMIT:
            below: list[str] = []
            for owner in level:
                for child_uid, child in self.children.get(owner, {}).items():
                    if child.get("kind") == POD.kind:
                        pods.append(child)
                    else:
                        below.append(child_uid)
            level, depth = below, depth + 1
        return pods


def _slim(obj: Obj) -> Obj:
    """``obj`` without ``metadata.managedFields``: nothing judges them, and they are about
    half of what the store would hold."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _selects(run: Obj, labels: dict[str, str]) -> bool:
    try:
        return matches(selector_of(run), labels)
    except SelectorError:
        return False
