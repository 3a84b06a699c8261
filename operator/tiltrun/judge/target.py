"""From a workload object and its related objects to a ``Target``.

``judge`` is pure: the same objects always give the same Target. It reads no clock;
every time in a state comes from the objects (creation times, pod start times,
container state times, condition transition times). The per-kind rules live in one
short module per kind (``deployment``, ``statefulset``, ``daemonset``, ``job``,
``pod``), named by the kind registry (``kinds``); this module adds what all targets share:

- **name**: ``<kind in lower case>/<metadata.name>``, e.g. ``deployment/web``.
- **type**: ``job`` for Jobs and for bare Pods with ``restartPolicy`` ``Never`` or
  ``OnFailure``, ``server`` otherwise. The annotation ``tilt.dev/target-type``
  overrides it with ``job`` or ``server`` (surrounding blanks and case ignored; an
  empty value counts as absent). Any other value keeps the default type and holds the
  target *waiting*, the reason quoting the bad value: a misconfigured target must not
  count as up, and waiting (rather than failing) says the workload itself is not at
  fault. A target whose type is ``server`` and that finished without error (a Job
  annotated as a server) is given an error: a server that terminates always carries
  one.
- **resources**: the annotation ``tilt.dev/resource`` split on commas, blanks
  stripped, empty entries and repeats dropped; when that leaves nothing, the
  object's name.
- **policy**: the workload's own tolerance annotations (``judge/policy.py``); a
  malformed one holds the target waiting, like a bad type annotation.
- **crash restarts**: when the target failed because a container is in
  ``CrashLoopBackOff``, the highest restart count among those containers, so the exit
  logic can weigh it against ``failures-allowed``.
- **ready since**: for a ready server, the latest ``Ready`` transition among its ready
  pods: when it last became ready, which ``ci.stableFor`` counts from.
- **ready is a server's word**: a job-type target (a Job, a run-to-completion Pod, or
  any workload annotated ``job``) is never ``active.ready``; it is satisfied by
  terminating without error, and while it runs its ``reason`` says so (``running``, or
  a Job's progress). A running, ready pod of ``restartPolicy: Never`` is therefore
  ``active``, not ready, exactly like the Job that could have made it.

Robustness is a hard rule: ``judge`` never raises. The readers in ``objects`` make
missing or odd fields read as absent, and, should something slip through anyway,
``judge`` answers a waiting state whose reason starts ``cannot judge <name>:`` so the
problem is visible on the TiltRun instead of crashing the operator. A time that is
missing falls back to the object's ``creationTimestamp``, then to the Unix epoch
(``objects.EPOCH``), an instant no real event has, so it stands out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from tiltrun.api.model import (
    RESOURCE_ANNOTATION,
    TARGET_TYPE_ANNOTATION,
    Active,
    Evidence,
    Target,
    TargetState,
    TargetType,
    Waiting,
)
from tiltrun.judge import custom
from tiltrun.judge.healthchecks import DEFAULT as DEFAULT_CHECKS
from tiltrun.judge.healthchecks import HealthChecks
from tiltrun.judge.kinds import BUILTIN, Registry
from tiltrun.judge.objects import (
    Obj,
    annotations_of,
    as_map,
    condition,
    created,
    get_bool,
    get_int,
    get_str,
    get_time,
    latest,
    name_of,
    owner_references,
    time_or,
)
from tiltrun.judge.policy import read_policy
from tiltrun.judge.related import Related


def is_target(obj: Obj, kinds: Registry = BUILTIN) -> bool:
    """True when ``obj`` is a target of its own, not a part of another.

    Objects of the registry's target kinds (``judge/kinds.py``: Deployments,
    StatefulSets, DaemonSets, Jobs and Pods) and of its extra kinds (``--watch``) are
    targets unless some object controls them (an owner reference with ``controller:
    true``): a pod of a ReplicaSet is judged with its Deployment, a cert-manager
    CertificateRequest with its Certificate. A Job a CronJob made is left out (also
    when the CronJob's reference is not marked as controller), unless Jobs are an extra
    kind. When ``apiVersion`` is present its group must match (``apps``, ``batch``,
    core), so a custom resource that happens to be called ``Deployment`` is not taken
    for one.
    """
    entry = kinds.of(obj)
    if entry is None or not (entry.target or entry.extra):
        return False
    owners = owner_references(obj)
    if any(get_bool(ref, "controller") for ref in owners):
        return False
    kind = get_str(obj, "kind")
    cronjob = kind == "Job" and any(get_str(ref, "kind") == "CronJob" for ref in owners)
    return entry.extra or not cronjob


def is_workload(obj: Obj, kinds: Registry = BUILTIN) -> bool:
    """True for the registry's target kinds (of their own API group, when it is given)."""
    entry = kinds.of(obj)
    return entry is not None and entry.target


def target_name(obj: Obj) -> str:
    """``<kind in lower case>/<name>``, e.g. ``deployment/web``."""
    kind = get_str(obj, "kind").lower() or "unknown"
    return f"{kind}/{name_of(obj) or 'unnamed'}"


def default_type(obj: Obj, kinds: Registry = BUILTIN) -> TargetType:
    """The type the kind implies: Jobs and run-to-completion Pods are jobs."""
    entry = kinds.lookup(get_str(obj, "kind"))
    return entry.default_type(obj) if entry is not None else TargetType.SERVER


def target_resources(obj: Obj) -> tuple[str, ...]:
    """The Tiltfile resources: annotation ``tilt.dev/resource``, else the object's name."""
    raw = annotations_of(obj).get(RESOURCE_ANNOTATION, "")
    named = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if named:
        return named
    name = name_of(obj)
    return (name,) if name else ()


def judge(
    obj: Obj,
    related: Related | None = None,
    checks: HealthChecks | None = None,
    kinds: Registry = BUILTIN,
) -> Target:
    """The Target for ``obj``. Never raises; see the module docstring.

    Objects of other kinds than the five workloads (custom resources, CRDs, claims,
    Services) are judged by ``custom``, with ``checks``, the health checks of the run
    (default: the built-in library only), then their kind's rule in ``kinds``.
    """
    obj = as_map(obj)
    name = target_name(obj)
    fallback_type = default_type(obj, kinds)
    try:
        target_type, type_problem = _target_type(obj, kinds)
        policy, policy_problems = read_policy(annotations_of(obj))
        problem = "; ".join(p for p in (type_problem, *policy_problems) if p)
        related = related if related is not None else Related()
        state = _state(obj, related, target_type, problem, name, checks, kinds)
        pods = [obj] if get_str(obj, "kind") == "Pod" else list(related.pods)
        if target_type is TargetType.JOB and state.active is not None and state.active.ready:
            # One meaning of ``ready`` for every job-type target: a job is satisfied by
            # finishing, so while it runs it is never ready, whatever its pod says.
            reason = state.active.reason or "running"
            state = TargetState(active=Active(state.active.start_time, False, reason))
        if state.active is not None and state.active.ready and is_workload(obj, kinds):
            # Other kinds say themselves when they became ready (``custom``).
            since = _ready_since(pods)
            if since is not None:
                state = TargetState(active=replace(state.active, ready_since=since))
        restarts = _crash_restarts(pods) if state.failed else 0
        return Target(name, target_type, target_resources(obj), state, policy, restarts)
    except Exception as exc:  # the hard rule: a bad object must not stop the operator
        reason = f"cannot judge {name}: {type(exc).__name__}: {exc}"
        facts = Evidence(reason="CannotJudge", message=f"{type(exc).__name__}: {exc}")
        waiting = Waiting(time_or(created(obj)), reason, facts)
        return Target(name, fallback_type, target_resources(obj), TargetState(waiting=waiting))


def _target_type(obj: Obj, kinds: Registry) -> tuple[TargetType, str]:
    """The target type and, when the annotation is unusable, why."""
    raw = annotations_of(obj).get(TARGET_TYPE_ANNOTATION, "")
    value = raw.strip().lower()
    if not value:
        return default_type(obj, kinds), ""
    if value in (TargetType.JOB, TargetType.SERVER):
        return TargetType(value), ""
    problem = f'annotation {TARGET_TYPE_ANNOTATION}: expected "job" or "server", got "{raw}"'
    return default_type(obj, kinds), problem


def _state(
    obj: Obj,
    related: Related,
    target_type: TargetType,
    problem: str,
    name: str,
    checks: HealthChecks | None,
    kinds: Registry,
) -> TargetState:
    trigger = time_or(created(obj))
    if problem:
        facts = Evidence(reason="InvalidAnnotation", message=problem)
        return TargetState(waiting=Waiting(trigger, problem, facts))
    entry = kinds.of(obj)
    classify = entry.classify if entry is not None else None
    if classify is None:
        return custom.classify(
            obj, related, checks or DEFAULT_CHECKS, job=target_type is TargetType.JOB, kinds=kinds
        )
    state = classify(obj, related)
    ended = state.terminated
    if target_type is TargetType.SERVER and ended is not None and not ended.error:
        error = f"{name} finished without error, but a server is expected to keep running"
        expected = "a server is expected to keep running"
        facts = Evidence(reason="Completed", message=expected, since=ended.finish_time)
        return TargetState(terminated=replace(ended, error=error, evidence=facts))
    return state


def _containers(pod: Obj) -> list[Obj]:
    status = as_map(pod.get("status"))
    out: list[Obj] = []
    for key in ("initContainerStatuses", "containerStatuses"):
        value = status.get(key)
        if isinstance(value, list):
            out += [as_map(c) for c in value]
    return out


def _crash_restarts(pods: Sequence[Obj]) -> int:
    """Highest restart count among containers waiting in CrashLoopBackOff; 0 if none."""
    return max(
        (
            get_int(c, "restartCount")
            for pod in pods
            for c in _containers(as_map(pod))
            if get_str(c, "state", "waiting", "reason") == "CrashLoopBackOff"
        ),
        default=0,
    )


def _ready_since(pods: Sequence[Obj]) -> datetime | None:
    """When the last of the ready pods became ready: the target's ready-since instant."""
    times = []
    for each in pods:
        ready = condition(as_map(each), "Ready")
        if ready and ready.get("status") == "True":
            times.append(get_time(ready, "lastTransitionTime"))
    return latest(times)
