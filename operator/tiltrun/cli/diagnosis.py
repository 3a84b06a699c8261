"""Why a target failed or is still waiting: the evidence a person needs, gathered once.

For each target: the reason the status gives, the last lines of the failing container's
log (the previous container's for a crash loop) and the recent Warning events of the
pod and the workload. A container that has never run (its image cannot be pulled) has
no log to read, and the diagnosis says so. Gathering never fails the command: a log the
node cannot serve (a node that is gone, a kubelet that refuses) reads "no logs
available", with the API server's reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from tiltrun.api.model import parse_time
from tiltrun.api.selector import format_selector
from tiltrun.cli import kube as cluster
from tiltrun.cli.kube import CONNECTION_ERRORS, Kube, api_message, unreachable
from tiltrun.cli.progress import describe_row, rows, unsatisfied
from tiltrun.judge.exit.wording import clock
from tiltrun.judge.kinds import BUILTIN, EVENT, POD, REPLICASET, Kind
from tiltrun.judge.objects import (
    controller_ref,
    get_bool,
    get_int,
    get_map,
    get_maps,
    get_str,
    name_of,
    uid_of,
)

Obj = dict[str, Any]

#: (connect, read) seconds per request: diagnosis must not hold up the exit for long.
DIAGNOSIS_TIMEOUT = (2.0, 5.0)
#: How many Warning events per target are shown, newest last.
EVENTS_SHOWN = 5


@dataclass(frozen=True)
class Lead:
    """Why a target is diagnosed, and where to look, both from the stored status."""

    #: What the status says about it (may span lines).
    reason: str
    #: The facts the judge stored with its state (``evidence``): the pod and container
    #: to read the logs of come from here, never from the wording of ``reason``.
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Diagnosis:
    """The evidence about one target."""

    target: str
    #: What the status says (may span lines).
    reason: str
    #: The judge's facts about it, as stored (``state.*.evidence``).
    evidence: Mapping[str, Any] = field(default_factory=dict)
    pod: str = ""
    container: str = ""
    #: The log is the previous container's (it crashed and was restarted).
    previous: bool = False
    #: The last log lines, or ``None`` when no log could be read (see ``logs_note``).
    logs: tuple[str, ...] | None = None
    logs_note: str = ""
    events: tuple[str, ...] = field(default_factory=tuple)

    def render(self) -> str:
        """Plain text, indented, for logs and JUnit failures."""
        lines = [f"{self.target}:"]
        lines += [f"  {line}" for line in self.reason.splitlines() if line.strip()]
        if self.pod:
            which = "previous container" if self.previous else "container"
            where = f"pod {self.pod} {which} {self.container}".rstrip()
            if self.logs:
                lines.append(f"  last {len(self.logs)} log lines of {where}:")
                lines += [f"    | {line}" for line in self.logs]
            else:
                lines.append(f"  logs of {where}: {self.logs_note or 'empty'}")
        elif self.logs_note:
            lines.append(f"  logs: {self.logs_note}")
        if self.events:
            lines.append("  recent warning events:")
            lines += [f"    {event}" for event in self.events]
        else:
            lines.append("  recent warning events: none")
        return "\n".join(lines)


# -- which targets, and why ----------------------------------------------------------------


def failing_reasons(status: Mapping[str, Any]) -> dict[str, Lead]:
    """The targets that fail the run → why (``state.failure``) and where (``evidence``)."""
    return {
        r.name: Lead(str(r.failure.get("message") or r.reason), r.evidence)
        for r in rows(status)
        if r.failure
    }


def pending_reasons(status: Mapping[str, Any]) -> dict[str, Lead]:
    """Unsatisfied target → where it stands and since when, and its facts, for a timeout."""
    return {
        r.name: Lead(describe_row(r) + (f", since {clock(r.since)}" if r.since else ""), r.evidence)
        for r in unsatisfied(status)
    }


# -- gathering -------------------------------------------------------------------------------


def diagnose(
    kube: Kube, namespace: str, reasons: Mapping[str, Lead], *, log_lines: int = 20
) -> list[Diagnosis]:
    """A Diagnosis per target in ``reasons``, gathered in parallel; never raises."""
    if not reasons:
        return []
    reader = _Reader(kube, namespace)
    with ThreadPoolExecutor(max_workers=min(8, len(reasons) + 1)) as pool:
        warnings = pool.submit(reader.warning_events)
        found = list(
            pool.map(
                lambda item: _diagnose_one(reader, item[0], item[1], log_lines), reasons.items()
            )
        )
        events = warnings.result()
    return [
        replace(diagnosis, events=tuple(format_event(e) for e in recent(events, involved)))
        for diagnosis, involved in found
    ]


def _diagnose_one(
    reader: _Reader, target: str, lead: Lead, log_lines: int
) -> tuple[Diagnosis, set[tuple[str, str]]]:
    """The diagnosis without its events, and the objects whose events belong to it.

    The pod and container are the evidence's; without them (a status that names none),
    the pod and container most worth a look.
    """
    prefix, _, name = target.partition("/")
    kind = BUILTIN.by_target_name(target)
    pods, replicasets, note = reader.pods_of(kind, prefix, name)
    involved = {(POD.kind, name_of(p)) for p in pods} | {(kind.kind if kind else prefix, name)}
    involved |= {(REPLICASET.kind, rs) for rs in replicasets}
    pod_name = str(lead.evidence.get("pod") or "")
    container = str(lead.evidence.get("container") or "")
    pod = next((p for p in pods if name_of(p) == pod_name), None) or pick_pod(pods)
    found = Diagnosis(target, lead.reason, lead.evidence)
    if pod is None:
        return replace(found, logs_note=note or "no pod found"), involved
    if name_of(pod) != pod_name:
        container = ""  # the evidence's container belongs to another pod
    evidence = lead.evidence if name_of(pod) == pod_name else {}
    container = container or pick_container(pod)
    previous = crashed(pod, container)
    waiting = not_started(pod, container, evidence)
    if log_lines == 0:
        logs, why = None, "not read (--log-lines 0)"
    elif waiting is not None:
        # A kubelet answers a log request for it with an error ("is waiting to start").
        logs, why = None, f"the container has not started ({waiting}), so it has no log yet"
    else:
        logs, why = reader.logs(name_of(pod), container, previous, log_lines)
    return replace(
        found,
        pod=name_of(pod),
        container=container,
        previous=previous,
        logs=logs,
        logs_note=why,
    ), involved


def pick_pod(pods: Sequence[Obj]) -> Obj | None:
    """The pod most worth a look: not ready and most restarted, newest first."""
    if not pods:
        return None

    def interest(pod: Obj) -> tuple[bool, int, str]:
        statuses = get_maps(pod, "status", "containerStatuses")
        ready = all(get_bool(s, "ready") for s in statuses) and bool(statuses)
        restarts = sum(get_int(s, "restartCount") for s in statuses)
        return (not ready, restarts, get_str(pod, "metadata", "creationTimestamp"))

    return max(pods, key=interest)


def pick_container(pod: Obj) -> str:
    """The first container that is not ready, else the first container."""
    for entry in _container_statuses(pod):
        if not get_bool(entry, "ready") and not _succeeded(entry):
            return get_str(entry, "name")
    containers = get_maps(pod, "spec", "containers")
    return get_str(containers[0], "name") if containers else ""


def _container_statuses(pod: Obj) -> list[Mapping[str, Any]]:
    return get_maps(pod, "status", "initContainerStatuses") + get_maps(
        pod, "status", "containerStatuses"
    )


def _succeeded(entry: Mapping[str, Any]) -> bool:
    terminated = get_map(entry, "state", "terminated")
    return bool(terminated) and get_int(terminated, "exitCode") == 0


def crashed(pod: Obj, container: str) -> bool:
    """True when the container was restarted and is not running now: its last run crashed."""
    for entry in _container_statuses(pod):
        if get_str(entry, "name") == container:
            running = "running" in get_map(entry, "state")
            return get_int(entry, "restartCount") > 0 and not running
    return False


def not_started(pod: Obj, container: str, evidence: Mapping[str, Any]) -> str | None:
    """Why the container has never run (``ImagePullBackOff``), or ``None`` when it has.

    It has never run when the evidence counts no restart and no exit code, and the pod
    shows it waiting with no earlier run, or does not list it yet (still being created).
    """
    if evidence.get("exitCode") is not None or get_int(evidence, "restarts") > 0:
        return None
    for entry in _container_statuses(pod):
        if get_str(entry, "name") != container:
            continue
        if get_int(entry, "restartCount") > 0 or get_map(entry, "lastState", "terminated"):
            return None
        state = get_map(entry, "state")
        if "waiting" not in state:
            return None
        return get_str(state, "waiting", "reason") or str(evidence.get("reason") or "waiting")
    return get_str(pod, "status", "phase") or "not created yet"


def recent(
    events: Iterable[Obj], involved: set[tuple[str, str]], limit: int = EVENTS_SHOWN
) -> list[Obj]:
    """The newest ``limit`` events about the ``(kind, name)`` objects, oldest first."""
    mine = [e for e in events if _involved(e) in involved]
    return sorted(mine, key=_event_time)[-limit:]


def _involved(event: Obj) -> tuple[str, str]:
    about = event.get("involvedObject") or event.get("regarding") or {}
    return (str(about.get("kind", "")), str(about.get("name", "")))


def _event_time(event: Obj) -> datetime:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        parsed = parse_time(event.get(key))
        if parsed:
            return parsed
    series = parse_time((event.get("series") or {}).get("lastObservedTime"))
    return (
        series
        or parse_time((event.get("metadata") or {}).get("creationTimestamp"))
        or (datetime.min.replace(tzinfo=UTC))
    )


def format_event(event: Obj) -> str:
    """``23:08:33Z Pod/web-x Failed: Failed to pull image "web:1" (x3)``."""
    involved = event.get("involvedObject") or {}
    count = int(event.get("count") or (event.get("series") or {}).get("count") or 1)
    times = f" (x{count})" if count > 1 else ""
    when = _event_time(event)
    stamp = clock(when) if when.year > 1 else "--:--:--"
    message = " ".join(str(event.get("message") or "").split())
    return (
        f"{stamp} {involved.get('kind', '?')}/{involved.get('name', '?')} "
        f"{event.get('reason', '')}: {message}{times}"
    )


class _Reader:
    """The few reads a diagnosis makes, each with a short timeout and a plain failure."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self._kube = kube
        self._namespace = namespace

    @contextmanager
    def _failing(self, why: list[str]) -> Iterator[None]:
        """Turn a failed read into the one sentence ``why`` holds afterwards."""
        try:
            yield
        except ApiException as err:
            why.append(api_message(err))
        except (*CONNECTION_ERRORS, ValueError) as err:
            why.append(unreachable(self._kube.server, err))

    def _get(self, kind: Kind, name: str) -> tuple[Obj, str]:
        """One object, or ``{}`` and why it could not be read."""
        why: list[str] = []
        with self._failing(why):
            found = cluster.read(self._kube, kind, self._namespace, name, timeout=DIAGNOSIS_TIMEOUT)
            return found, ""
        return {}, why[0]

    def _list(self, kind: Kind, **selectors: str) -> tuple[list[Obj], str]:
        """The objects of a kind in the namespace, or ``[]`` and why they could not be read."""
        why: list[str] = []
        with self._failing(why):
            found = cluster.list_objects(
                self._kube,
                kind,
                self._namespace,
                timeout=DIAGNOSIS_TIMEOUT,
                **selectors,
            )
            return found, ""
        return [], why[0]

    def warning_events(self) -> list[Obj]:
        found, _ = self._list(EVENT, field_selector="type=Warning")
        return found

    def pods_of(
        self, kind: Kind | None, prefix: str, name: str
    ) -> tuple[list[Obj], list[str], str]:
        """The target's pods and (for a Deployment) ReplicaSet names; a note on failure.

        ``prefix`` is the target name's kind part (``deployment``), for the messages.
        """
        if kind is None:
            return [], [], f"kind {prefix!r} is not one tiltrun judges"
        workload, problem = self._get(kind, name)
        if problem:
            return [], [], f"cannot read {prefix}/{name}: {problem}"
        if kind is POD:
            return [workload], [], ""
        selector = format_selector(get_map(workload, "spec", "selector"))
        listed, problem = self._list(POD, label_selector=selector)
        replicasets = self._replicasets(workload, selector) if kind.kind == "Deployment" else {}
        owners = {uid_of(workload)} | set(replicasets)
        pods = [p for p in listed if _controller(p) in owners]
        return pods, list(replicasets.values()), f"cannot list pods: {problem}" if problem else ""

    def _replicasets(self, deployment: Obj, selector: str) -> dict[str, str]:
        """uid → name of the ReplicaSets a Deployment controls."""
        listed, _ = self._list(REPLICASET, label_selector=selector)
        return {uid_of(rs): name_of(rs) for rs in listed if _controller(rs) == uid_of(deployment)}

    def logs(
        self, pod: str, container: str, previous: bool, lines: int
    ) -> tuple[tuple[str, ...] | None, str]:
        """The log's last ``lines`` lines, or ``None`` and why there are none."""
        why: list[str] = []
        with self._failing(why):
            text = cluster.pod_log(
                self._kube,
                self._namespace,
                pod,
                container=container,
                previous=previous,
                tail_lines=lines,
                timeout=DIAGNOSIS_TIMEOUT,
            )
            found = tuple(_printable(line) for line in text.splitlines())
            return (found, "") if found else (None, "no logs available (the log is empty)")
        return None, f"no logs available ({why[0]})"


def _controller(obj: Obj) -> str:
    """The uid of the object's controller, empty when nothing controls it."""
    ref = controller_ref(obj)
    return get_str(ref, "uid") if ref is not None else ""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\x1b\[[0-9;]*[A-Za-z]")


def _printable(line: str) -> str:
    """A log line without terminal escapes or control characters (CI logs, JUnit XML)."""
    return _CONTROL.sub("", line)
