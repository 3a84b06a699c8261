"""Kubernetes Events about TiltRuns, aggregated the way Kubernetes components do it.

An Event is a courtesy (the status holds the facts), so it must never flood a namespace:

- **one Event per run, type, reason and subject** (the target it is about, or nothing):
  the same again within ``WINDOW`` updates that Event (``count``, ``lastTimestamp``,
  ``message``) with a PATCH instead of creating another, as client-go's EventCorrelator
  does;
- **similar Events are combined**: past ``SIMILAR`` distinct subjects of one run, type and
  reason within the window, further ones go into one Event whose message starts
  ``(combined from similar events):``, as client-go's EventAggregator does, so a run
  whose 500 targets fail at once makes 11 Events, not 500;
- **no Event in a namespace being deleted**: the API server refuses to create anything
  there; the first refusal closes the namespace to Events for ``CLOSED_SECONDS``, so a
  board restarted while its namespace goes away attempts one Event, not hundreds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tiltrun.api.model import GROUP, KIND, VERSION
from tiltrun.wiring.session import ApiError, ApiSession

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: How long a posted Event is updated rather than posted again (client-go: 10 minutes).
WINDOW = 600.0
#: Distinct subjects of one run, type and reason before they are combined (client-go: 10).
SIMILAR = 10
#: How long a namespace that refused an Event as being deleted gets no more attempts.
CLOSED_SECONDS = 300.0
#: Events cap messages at 1 KiB; the full text is in the TiltRun's status.
MESSAGE_LIMIT = 1024
COMBINED = "(combined from similar events): "


@dataclass
class _Posted:
    name: str
    count: int
    first: str
    last_seen: float


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _trim(message: str) -> str:
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 3] + "..."


def _terminating(err: ApiError) -> bool:
    """The refusal NamespaceLifecycle gives in a namespace being deleted (or already gone)."""
    if err.status == 403 and "being terminated" in err.message:
        return True
    return err.status == 404 and "namespaces" in err.message


class EventRecorder:
    """Posts and updates Events through ``session``; see the module docstring.

    ``on_error(operation, http_status)`` is told of every error answer (``create_event``,
    ``patch_event``), for the metrics. ``clock`` is a monotonic clock in seconds.
    """

    def __init__(
        self,
        session: ApiSession,
        *,
        on_error: Callable[[str, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session = session
        self._on_error = on_error or (lambda operation, status: None)
        self._clock = clock
        self._wall = wall
        self._posted: dict[tuple[str, ...], _Posted] = {}
        # (namespace, run uid, type, reason) -> subjects with an Event of their own
        self._subjects: dict[tuple[str, ...], dict[str, float]] = {}
        self._closed: dict[str, float] = {}
        #: Events created and updated (for tests and metrics).
        self.created = 0
        self.updated = 0

    async def record(
        self, run: Obj, type_: str, reason: str, message: str, subject: str = ""
    ) -> None:
        """An Event about ``run``; ``subject`` (a target name) tells same from similar."""
        meta = run.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        now = self._clock()
        closed = self._closed.get(namespace)
        if closed is not None:
            if now < closed:
                return
            del self._closed[namespace]
        self._expire(now)
        similar = (namespace, str(meta.get("uid") or ""), type_, reason)
        subjects = self._subjects.setdefault(similar, {})
        if subject not in subjects and len(subjects) >= SIMILAR:
            subject, message = "\0combined", COMBINED + message
        subjects[subject] = now
        key = (*similar, subject)
        held = self._posted.get(key)
        try:
            if held is not None and await self._update(namespace, held, message, now):
                return
            await self._create(namespace, run, key, type_, reason, message, now)
        except ApiError as err:
            if _terminating(err):
                self._closed[namespace] = now + CLOSED_SECONDS
                log.info("namespace %s is being deleted: no more Events there for now", namespace)
                return
            log.warning("could not post event %s on %s: %s", reason, meta.get("name"), err)

    async def _create(
        self,
        namespace: str,
        run: Obj,
        key: tuple[str, ...],
        type_: str,
        reason: str,
        message: str,
        now: float,
    ) -> None:
        meta = run.get("metadata") or {}
        stamp = _timestamp(self._wall())
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name', 'tiltrun')}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": meta.get("name"),
                "namespace": namespace,
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": _trim(message),
            "source": {"component": "tiltrun-operator"},
            "reportingComponent": "tilt.dev/tiltrun-operator",
            "reportingInstance": "tiltrun-operator",
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            created = await self._session.request(
                "POST", f"/api/v1/namespaces/{namespace}/events", body=body
            )
        except ApiError as err:
            self._on_error("create_event", err.status)
            raise
        self.created += 1
        name = str((created.get("metadata") or {}).get("name") or "")
        self._posted[key] = _Posted(name, 1, stamp, now)

    async def _update(self, namespace: str, held: _Posted, message: str, now: float) -> bool:
        """Count one more occurrence on the Event already posted; False if it is gone."""
        body = {
            "count": held.count + 1,
            "lastTimestamp": _timestamp(self._wall()),
            "message": _trim(message),
        }
        try:
            await self._session.request(
                "PATCH",
                f"/api/v1/namespaces/{namespace}/events/{held.name}",
                body=body,
                content_type="application/merge-patch+json",
            )
        except ApiError as err:
            if err.status == 404 and not _terminating(err):
                return False  # expired (Events live an hour) or deleted: post a new one
            self._on_error("patch_event", err.status)
            raise
        self.updated += 1
        held.count += 1
        held.last_seen = now
        return True

    def _expire(self, now: float) -> None:
        """Forget Events and subjects older than the window."""
        if not self._posted and not self._subjects:
            return
        cutoff = now - WINDOW
        self._posted = {k: v for k, v in self._posted.items() if v.last_seen >= cutoff}
        for similar in list(self._subjects):
            kept = {s: t for s, t in self._subjects[similar].items() if t >= cutoff}
            if kept:
                self._subjects[similar] = kept
            else:
                del self._subjects[similar]
