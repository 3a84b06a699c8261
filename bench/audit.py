"""Counting requests by identity from the API server's audit log.

The dev cluster writes a Metadata-level audit log (``<state folder>/logs/audit.log``).
The benchmark gives the operator and each baseline a user name of its own
(``bench:operator``, ``bench:poller-2s``...), so every request can be attributed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tiltrun.api.model import parse_time

USER_PREFIX = "bench:"


@dataclass(frozen=True)
class Request:
    """One request the API server received."""

    user: str
    verb: str
    resource: str  # "pods", "tiltruns/status", or the path of a non-resource URL
    namespace: str
    name: str
    code: int
    received: datetime

    @property
    def kind(self) -> str:
        """``verb resource``, the key requests are counted by."""
        return f"{self.verb} {self.resource}"


def audit_log_for(kubeconfig: str) -> Path | None:
    """The audit log of the dev cluster ``kubeconfig`` belongs to, if it keeps one."""
    path = Path(kubeconfig).resolve().parent / "logs" / "audit.log"
    return path if path.is_file() else None


def log_size(log: Path | None) -> int:
    """Where the log ends now: pass it to :func:`read_requests` to read only what follows."""
    try:
        return log.stat().st_size if log else 0
    except OSError:
        return 0


def read_requests(log: Path, *, offset: int = 0) -> list[Request]:
    """Every request by a benchmark identity (``bench:*``) logged after ``offset``.

    When the log has rotated since (it is shorter than ``offset``), the rotated files
    beside it are read whole as well.
    """
    needle = f'"username":"{USER_PREFIX}'.encode()
    seen: dict[str, Request] = {}
    rotated = log_size(log) < offset
    paths = sorted(log.parent.glob("audit-*.log")) if rotated else []
    for path in [*paths, log]:
        with path.open("rb") as raw:
            if path == log and not rotated:
                raw.seek(offset)
            for line in raw:
                if needle not in line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line being written as we read
                user = str((event.get("user") or {}).get("username", ""))
                request = _request(user, event)
                if request is None:
                    continue
                # A watch is logged when its response starts and again when it ends;
                # count each request once, by its audit ID.
                audit_id = str(event.get("auditID"))
                if audit_id not in seen or event.get("stage") == "ResponseComplete":
                    seen[audit_id] = request
    return sorted(seen.values(), key=lambda r: r.received)


def _request(user: str, event: dict[str, object]) -> Request | None:
    received = parse_time(str(event.get("requestReceivedTimestamp", "")))
    if received is None:
        return None
    ref = event.get("objectRef")
    if isinstance(ref, dict):
        resource = str(ref.get("resource", ""))
        if ref.get("subresource"):
            resource += f"/{ref['subresource']}"
        namespace, name = str(ref.get("namespace", "")), str(ref.get("name", ""))
    else:
        resource = str(event.get("requestURI", "")).split("?")[0]
        namespace = name = ""
    status = event.get("responseStatus")
    code = int(status.get("code", 0)) if isinstance(status, dict) else 0
    return Request(user, str(event.get("verb", "")), resource, namespace, name, code, received)


def between(
    requests: Iterable[Request], since: datetime, until: datetime | None = None
) -> list[Request]:
    """The requests received in ``[since, until]``."""
    return [r for r in requests if r.received >= since and (until is None or r.received <= until)]


def by_kind(requests: Iterable[Request]) -> dict[str, int]:
    """``{"verb resource": count}``, most frequent first."""
    return dict(Counter(r.kind for r in requests).most_common())
