"""The kind registry: every Kubernetes kind tiltrun knows, one ``Kind`` entry each.

An entry says where the kind lives in the API (group, version, plural, whether it is
namespaced), what role it plays, and how it is judged:

- a **target** kind has a workload judge (``classify``): an object of it that nothing
  controls is a target of its own (Deployment, StatefulSet, DaemonSet, Job, Pod);
- a **child** kind is evidence for the target that controls it: the store keeps its
  objects under their controller (ReplicaSet, and Pod, which is both);
- an **extra** kind is one the operator was told to watch (``--watch``, the
  configuration file; ``Registry.watching``): an object of it that nothing controls is a
  target too, judged by the kind's health ``rule`` (``custom``), and the pods whose
  owner chain leads to it are its evidence;
- any other kind (TiltRun, Service, PersistentVolumeClaim, ConfigMap, Event, Namespace,
  CustomResourceDefinition) is known so that tools can find it and, for the
  non-workload kinds with a rule of their own (CRD, PVC, Service), so that the rule is
  at hand once the kind is watched: the operator does not watch it, and no object of it
  is a target, until it is an extra kind.

Every kind carries its health ``rule``: the kstatus conventions unless it has one of its
own. It judges an object of the kind when the object is a target and no workload judge
applies; a CEL health check for the kind comes before it (``custom``).

Everything that lists kinds reads this module: the judge (``target``, ``custom``), the
store, the operator's watches and RBAC check (``wiring``), the CLI's diagnosis and
``inspect``, the demo and the benchmark. Adding a kind is adding one entry: to
``BUILTIN`` for a kind the product always knows, or, for a kind chosen at run time, to a
registry made with ``BUILTIN.watching(...)`` (or ``extended``) and handed to the code
that needs it.

Objects are matched to entries by Kind and API group; the version is not compared, so
an object read through another served version of the same kind is still that kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from urllib.parse import quote

from tiltrun.api.model import GROUP, KIND, PLURAL, VERSION, TargetType
from tiltrun.judge import crd, daemonset, deployment, job, kstatus, pod, pvc, service, statefulset
from tiltrun.judge.health import Rule
from tiltrun.judge.objects import Obj, get_str
from tiltrun.judge.pods import is_job_pod
from tiltrun.judge.related import Classifier


def server(obj: Obj) -> TargetType:
    """The default type of most kinds: it runs until stopped."""
    return TargetType.SERVER


def job_type(obj: Obj) -> TargetType:
    """The default type of a kind that runs to completion."""
    return TargetType.JOB


def _pod_type(obj: Obj) -> TargetType:
    # A bare pod that is not restarted (``Never`` or ``OnFailure``) runs to completion.
    return TargetType.JOB if is_job_pod(obj) else TargetType.SERVER


@dataclass(frozen=True)
class Kind:
    """One kind tiltrun knows (see the module docstring)."""

    #: The API group; ``""`` is the core group (Pods, Services).
    group: str
    version: str
    #: The resource name in URLs and RBAC rules, e.g. ``deployments``.
    plural: str
    #: The ``kind`` field of its objects, e.g. ``Deployment``.
    kind: str
    namespaced: bool = True
    #: The kind's judge; set exactly when the kind can be a target of its own.
    classify: Classifier | None = None
    #: Its objects are evidence for the target that controls them (kept as children).
    child: bool = False
    #: The target type an object of this kind has unless annotated otherwise.
    default_type: Callable[[Obj], TargetType] = server
    #: The health rule of an object of this kind that no workload judge (``classify``)
    #: judges: the kstatus conventions unless the kind has its own (CRD, PVC, Service).
    rule: Rule = kstatus.judge
    #: The operator was told to watch it (``Registry.watching``): an object of it that
    #: nothing controls is a target, judged by ``rule``.
    extra: bool = False

    @property
    def api_version(self) -> str:
        """``apps/v1``; ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def target(self) -> bool:
        """True when an object of this kind that nothing controls is a target."""
        return self.classify is not None

    @property
    def watched(self) -> bool:
        """True when the operator watches this kind: targets, their children, extra kinds."""
        return self.target or self.child or self.extra

    def path(self, namespace: str | None = None, name: str = "") -> str:
        """The REST path of the collection (in ``namespace``, if namespaced) or of one object.

        ``namespace`` ``None`` (or a cluster-scoped kind) gives the path across namespaces.
        """
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            root += f"/namespaces/{quote(namespace, safe='')}"
        path = f"{root}/{self.plural}"
        return f"{path}/{quote(name, safe='')}" if name else path


class Registry:
    """A set of ``Kind`` entries, with the lookups the rest of the code needs.

    Immutable: ``extended`` makes a new registry, so the built-in one is never changed
    behind the back of code that holds it.
    """

    def __init__(self, entries: Iterable[Kind]) -> None:
        self._entries = tuple(entries)
        for key in ("kind", "plural"):
            seen: set[tuple[str, str]] = set()
            for entry in self._entries:
                pair = (entry.group, getattr(entry, key))
                if pair in seen:
                    raise ValueError(f"two entries for {key} {pair[1]!r} in group {pair[0]!r}")
                seen.add(pair)

    def __iter__(self) -> Iterator[Kind]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def extended(self, *entries: Kind) -> Registry:
        """This registry plus ``entries``; one of the same group and Kind is replaced."""
        replaced = {(e.group, e.kind) for e in entries}
        kept = [e for e in self._entries if (e.group, e.kind) not in replaced]
        return Registry([*kept, *entries])

    def watching(self, *entries: Kind) -> Registry:
        """This registry, also watching ``entries`` (``--watch``) as extra kinds.

        Each keeps where the cluster serves it (version, plural, scope) and, when this
        registry knows its group and Kind, that entry's judges (a watched Service keeps
        its rule; a watched Deployment stays a workload). Of two entries of one group
        and Kind (two versions of one resource), the first is taken.
        """
        chosen: dict[tuple[str, str], Kind] = {}
        for entry in entries:
            key = (entry.group, entry.kind)
            known = next((e for e in self._entries if (e.group, e.kind) == key), entry)
            chosen.setdefault(
                key,
                replace(
                    known,
                    version=entry.version,
                    plural=entry.plural,
                    namespaced=entry.namespaced,
                    extra=True,
                ),
            )
        return self.extended(*chosen.values())

    @property
    def targets(self) -> tuple[Kind, ...]:
        """The kinds that can be targets of their own."""
        return tuple(e for e in self._entries if e.target)

    @property
    def watched(self) -> tuple[Kind, ...]:
        """The kinds the operator watches besides TiltRuns: targets, children, extras."""
        return tuple(e for e in self._entries if e.watched)

    def lookup(self, kind: str, api_version: str = "") -> Kind | None:
        """The entry for ``kind`` from the group of ``api_version`` (``apps/v1``, ``v1``).

        Without an ``api_version`` (hand-written objects, watch events that omit it), the
        first entry of that Kind, built-in ones first.
        """
        group = api_version.rpartition("/")[0]
        for entry in self._entries:
            if entry.kind == kind and (not api_version or entry.group == group):
                return entry
        return None

    def of(self, obj: Obj) -> Kind | None:
        """The entry for an object, by its ``kind`` and ``apiVersion``."""
        return self.lookup(get_str(obj, "kind"), get_str(obj, "apiVersion"))

    def by_plural(self, plural: str, group: str | None = None) -> Kind | None:
        """The entry for a resource name (``deployments``), in ``group`` when given."""
        for entry in self._entries:
            if entry.plural == plural and (group is None or entry.group == group):
                return entry
        return None

    def by_target_name(self, name: str) -> Kind | None:
        """The target kind a target name (``deployment/web``) starts with."""
        prefix = name.partition("/")[0]
        return next((e for e in self.targets if e.kind.lower() == prefix), None)


DEPLOYMENT = Kind("apps", "v1", "deployments", "Deployment", classify=deployment.classify)
STATEFULSET = Kind("apps", "v1", "statefulsets", "StatefulSet", classify=statefulset.classify)
DAEMONSET = Kind("apps", "v1", "daemonsets", "DaemonSet", classify=daemonset.classify)
REPLICASET = Kind("apps", "v1", "replicasets", "ReplicaSet", child=True)
JOB = Kind("batch", "v1", "jobs", "Job", classify=job.classify, default_type=job_type)
POD = Kind("", "v1", "pods", "Pod", classify=pod.classify, child=True, default_type=_pod_type)
TILTRUN = Kind(GROUP, VERSION, PLURAL, KIND)
SERVICE = Kind("", "v1", "services", "Service", rule=service.judge)
PERSISTENT_VOLUME_CLAIM = Kind(
    "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", rule=pvc.judge
)
CONFIGMAP = Kind("", "v1", "configmaps", "ConfigMap")
EVENT = Kind("", "v1", "events", "Event")
NAMESPACE = Kind("", "v1", "namespaces", "Namespace", namespaced=False)
CUSTOM_RESOURCE_DEFINITION = Kind(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
    rule=crd.judge,
)

#: The kinds the product always knows. Each kind's rules are in its judge's module
#: (a workload's ``classify``, a non-workload kind's ``rule``).
BUILTIN = Registry(
    [
        DEPLOYMENT,
        STATEFULSET,
        DAEMONSET,
        REPLICASET,
        JOB,
        POD,
        TILTRUN,
        SERVICE,
        PERSISTENT_VOLUME_CLAIM,
        CONFIGMAP,
        EVENT,
        NAMESPACE,
        CUSTOM_RESOURCE_DEFINITION,
    ]
)
