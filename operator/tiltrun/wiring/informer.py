"""Informers: the operator's picture of each observed kind, kept whole through any gap.

One ``Informer`` per (kind, namespace) the operator watches (the namespace is ``None``
when it watches the whole cluster). It does what client-go's reflector does:

1. **list**, in pages (``limit``/``continue``), and hand the sink the complete picture
   at once with ``replace``: objects the sink holds of that kind and namespace that the
   list did not return are gone, whatever happened while nobody was watching;
2. **watch** from the list's ``resourceVersion`` with bookmarks, passing every event on;
3. when the stream ends or breaks, **watch again** from the last resourceVersion seen
   (bookmarks keep it recent); when that is impossible (410 Gone: the API server no
   longer has that history) or refused, **list again**, and the new picture replaces
   the old one.

Failed attempts wait a capped, jittered exponential backoff (``Backoff``): a few
tenths of a second at first, never more than ``RECONNECT_CAP`` seconds, so the operator
sees again within a couple of seconds of the API server serving again, and many
informers do not reconnect in lockstep.

Objects are slimmed as they are decoded (``project``), so the store never holds more of
an object than the judgement reads, and a listed page is dropped as soon as it is read.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tiltrun.wiring.session import ApiError, ApiSession, Unavailable

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: Objects per list page: small enough to decode without holding the loop for long,
#: large enough that 5,000 pods take ten requests.
PAGE_SIZE = 500
#: Reconnect backoff: the first wait, and the most any wait can be.
RECONNECT_FIRST = 0.2
RECONNECT_CAP = 2.0
#: A watch request asks the API server to end it after 5 to 10 minutes (as client-go
#: does), so connections are renewed and spread across API servers.
WATCH_SECONDS = (300, 600)
#: With bookmarks the API server sends something at least every minute; silence for
#: longer means the connection died without a word (a partition, a frozen server).
IDLE_SECONDS = 90.0


class Sink(Protocol):
    """Where an informer delivers: the engine."""

    def replace(self, source: str, kind: str, namespace: str | None, objs: list[Obj]) -> None:
        """The complete, current picture of ``kind`` (in ``namespace``; all if ``None``)."""

    def observe(self, kind: str, event_type: str, obj: Obj) -> None:
        """One change: ``ADDED``, ``MODIFIED`` or ``DELETED``."""


@dataclass(frozen=True)
class Resource:
    """What an informer watches: one kind, and how to slim its objects."""

    api_version: str  # "apps/v1", "v1"
    plural: str
    kind: str
    namespaced: bool = True
    #: Keeps what the judgement reads of an object (returns a new, smaller dict).
    project: Callable[[Obj], Obj] = field(default=lambda obj: obj)

    def path(self, namespace: str | None) -> str:
        """The collection's REST path, across namespaces when ``namespace`` is ``None``."""
        group, _, version = self.api_version.rpartition("/")
        root = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if self.namespaced and namespace is not None:
            root += f"/namespaces/{namespace}"
        return f"{root}/{self.plural}"


class Backoff:
    """Capped exponential backoff with jitter: each wait is drawn from [d/2, d]."""

    def __init__(
        self,
        first: float = RECONNECT_FIRST,
        cap: float = RECONNECT_CAP,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._first, self._cap, self._rng = first, cap, rng
        self._failures = 0

    def next(self) -> float:
        """The wait before the next attempt; each call doubles the next, up to the cap."""
        ceiling = min(self._cap, self._first * 2**self._failures)
        self._failures = min(self._failures + 1, 32)
        return float(ceiling * (0.5 + 0.5 * self._rng()))

    def reset(self) -> None:
        """An attempt succeeded: the next failure starts from the first wait again."""
        self._failures = 0


class Informer:
    """Lists and watches one kind in one namespace (or all), forever; see the module doc."""

    def __init__(
        self,
        session: ApiSession,
        resource: Resource,
        namespace: str | None,
        sink: Sink,
        *,
        page_size: int = PAGE_SIZE,
        backoff: Backoff | None = None,
        on_error: Callable[[str, int], None] | None = None,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self._session = session
        self._sink = sink
        self._page_size = page_size
        self._backoff = backoff or Backoff()
        # Told of each failed list or watch: ("list" or "watch", HTTP status; 0: no answer).
        self._on_error = on_error or (lambda operation, status: None)
        #: How many complete lists were delivered (the first, then every relist).
        self.lists = 0
        # The last resourceVersion seen (list, event or bookmark); None: list first.
        self._version: str | None = None
        self.source = f"{resource.plural}.{resource.api_version}" + (
            f"@{namespace}" if namespace is not None else ""
        )

    async def run(self) -> None:
        """List, then watch, for ever; cancel the task to stop."""
        while True:
            operation = "list" if self._version is None else "watch"
            try:
                if self._version is None:
                    self._version = await self._list()
                    operation = "watch"
                await self._watch()
                continue  # the server ended the watch: go on from where it stopped
            except ApiError as err:
                if err.status == 410:
                    # Too old: the history between then and now is gone. List again
                    # at once; nothing is wrong with the server.
                    log.info("%s: %s; listing again", self.source, err.message or err.reason)
                    self._version = None
                    continue
                log.warning("%s: %s", self.source, err)
                self._on_error(operation, err.status)
                self._version = None  # a refused watch cannot be trusted to continue
            except Unavailable as err:
                # Broken or refused connection: resume from the last version seen.
                log.info("%s: %s", self.source, err)
                self._on_error(operation, 0)
            except Exception:
                log.exception("%s: unexpected failure; listing again", self.source)
                self._version = None
            await asyncio.sleep(self._backoff.next())

    async def _list(self) -> str:
        """One complete list, delivered as one ``replace``; its resourceVersion."""
        objs: list[Obj] = []
        params = {"limit": str(self._page_size)}
        path = self.resource.path(self.namespace)
        project = self.resource.project
        while True:
            try:
                page = await self._session.request("GET", path, params=params)
            except ApiError as err:
                if err.status == 410 and "continue" in params:
                    # The continue token expired mid-list: start over, consistent again.
                    objs, params = [], {"limit": str(self._page_size)}
                    continue
                raise
            for item in page.get("items") or []:
                if isinstance(item, dict):
                    objs.append(self._stamp(project(item)))
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                version = str(meta.get("resourceVersion") or "")
                break
            params = {"limit": str(self._page_size), "continue": str(token)}
        self._sink.replace(self.source, self.resource.kind, self.namespace, objs)
        self.lists += 1
        log.debug("%s: listed %d objects at %s", self.source, len(objs), version)
        return version

    async def _watch(self) -> None:
        """Watch from the last version seen until the server ends the stream."""
        params = {
            "resourceVersion": str(self._version),
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(random.randint(*WATCH_SECONDS)),
        }
        path = self.resource.path(self.namespace)
        project = self.resource.project
        kind = self.resource.kind
        first = True
        async for event in self._session.watch(path, params, idle_timeout=IDLE_SECONDS):
            if first:
                self._backoff.reset()  # the server answers: the next failure starts low
                first = False
            event_type = event.get("type")
            obj = event.get("object")
            if not isinstance(obj, dict):
                continue
            if event_type == "ERROR":
                code = int(obj.get("code") or 0)
                raise ApiError(code, str(obj.get("reason") or ""), str(obj.get("message") or ""))
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if isinstance(version, str) and version:
                self._version = version
            if event_type in ("ADDED", "MODIFIED", "DELETED"):
                self._sink.observe(kind, event_type, self._stamp(project(obj)))

    def _stamp(self, obj: Obj) -> Obj:
        # Items of a list carry no kind or apiVersion; the store and the judge need both.
        obj["kind"] = self.resource.kind
        obj["apiVersion"] = self.resource.api_version
        return obj
