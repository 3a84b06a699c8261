"""Reading back what the API server stored about a TiltRun: status, Events, audit records."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster, wait_for
from tiltrun.api.model import parse_time

Obj = dict[str, Any]

#: The user the dev cluster's kubeconfig authenticates as (the operator's and kubectl's).
ADMIN_USER = "tiltrun-admin"


def stored_run(cluster: Cluster, namespace: str, name: str) -> Obj:
    """The TiltRun as the API server holds it now."""
    return cluster.get("tiltrun", name, "-n", namespace)


def wait_for_run(
    cluster: Cluster,
    namespace: str,
    name: str,
    test: Callable[[Obj], object],
    *,
    what: str,
    timeout: float = 60,
) -> Obj:
    """The stored TiltRun, once ``test(run)`` holds."""

    def check() -> Obj | None:
        run = stored_run(cluster, namespace, name)
        return run if test(run) else None

    result: Obj = wait_for(check, timeout=timeout, what=f"tiltrun/{name}: {what}")
    return result


def wait_until_done(cluster: Cluster, namespace: str, name: str, timeout: float = 60) -> Obj:
    return wait_for_run(
        cluster, namespace, name, lambda r: status(r).get("done"), what="done", timeout=timeout
    )


def status(run: Obj) -> Obj:
    return run.get("status") or {}


def target(run: Obj, name: str) -> Obj:
    """The stored target called ``name`` (``deployment/web``)."""
    found = [t for t in status(run).get("targets") or [] if t.get("name") == name]
    assert found, f"no target {name} in {status(run).get('targets')}"
    return found[0]


def state(run: Obj, name: str) -> Obj:
    result: Obj = target(run, name)["state"]
    return result


def condition(run: Obj, kind: str) -> Obj:
    found = [c for c in status(run).get("conditions") or [] if c.get("type") == kind]
    assert found, f"no condition {kind} in {status(run).get('conditions')}"
    return found[0]


def conditions(run: Obj) -> dict[str, tuple[str, str]]:
    """``{type: (status, reason)}`` of the stored conditions."""
    return {c["type"]: (c["status"], c["reason"]) for c in status(run).get("conditions") or []}


def time_of(value: object) -> datetime:
    parsed = parse_time(value) if isinstance(value, str) else None
    assert parsed is not None, f"not a time: {value!r}"
    return parsed


def status_written_at(cluster: Cluster, namespace: str, name: str) -> datetime:
    """When the API server last stored a status write (managedFields, whole seconds)."""
    run = cluster.get("tiltrun", name, "-n", namespace, "--show-managed-fields")
    times = [
        time_of(entry["time"])
        for entry in run["metadata"].get("managedFields") or []
        if entry.get("subresource") == "status"
    ]
    assert times, "no status write recorded in managedFields"
    return max(times)


def events_about(cluster: Cluster, namespace: str, name: str) -> list[Obj]:
    """Events whose involved object is the TiltRun ``name`` (second-resolution order)."""
    items = cluster.get(
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.kind=TiltRun,involvedObject.name={name}",
    )["items"]
    return sorted(items, key=lambda e: e["metadata"]["creationTimestamp"])


def audit_log(cluster: Cluster) -> Path:
    """The dev cluster's audit log; skips the test on a cluster that has none."""
    path = Path(cluster.kubeconfig).parent / "logs" / "audit.log"
    if not path.is_file():
        pytest.skip("this cluster keeps no audit log (not a tiltrun dev cluster)")
    return path


def audit_events(
    cluster: Cluster, namespace: str, *, since: datetime, until: datetime | None = None
) -> list[Obj]:
    """Completed requests about ``namespace`` the API server received in [since, until]."""
    path = audit_log(cluster)
    until = until or datetime.max.replace(tzinfo=UTC)
    needle = f'"namespace":"{namespace}"'
    found: list[Obj] = []
    # The log rotates at 200 MB into audit-<time>.log beside it; read those too.
    for log in sorted(path.parent.glob("audit*.log")):
        with log.open(errors="replace") as lines:
            for line in lines:
                if needle not in line:
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line being written as we read
                if event.get("stage") != "ResponseComplete":
                    continue
                if since <= time_of(event["requestReceivedTimestamp"]) <= until:
                    found.append(event)
    return found


def status_patches(
    cluster: Cluster,
    namespace: str,
    *,
    since: datetime,
    until: datetime | None = None,
    name: str | None = None,
) -> list[Obj]:
    """PATCH requests on ``tiltruns/status`` in ``namespace`` by the admin user."""
    return [
        event
        for event in audit_events(cluster, namespace, since=since, until=until)
        if event.get("verb") == "patch"
        and event["user"].get("username") == ADMIN_USER
        and event["objectRef"].get("resource") == "tiltruns"
        and event["objectRef"].get("subresource") == "status"
        and (name is None or event["objectRef"].get("name") == name)
    ]


def now() -> datetime:
    return datetime.now(UTC)
