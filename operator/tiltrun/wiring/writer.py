"""The only code that writes to the API server: TiltRun status patches and Events.

``ClusterWriter`` is the engine's ``Writer`` (``engine/writer.py``) for a real cluster.

It uses the official client, whose calls block, in worker threads: a pool of its own,
one thread per pooled connection, rather than asyncio's default pool (``cpu + 4``
threads, six on two cores), which capped how many runs could be written at once
when many changed together. The pool's threads are joined at interpreter exit, so a
PATCH in flight when the operator stops still lands. Nothing here writes to a
workload: the operator only ever patches ``tiltruns/status`` and creates Events
about TiltRuns.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tiltrun.api.model import GROUP, KIND, PLURAL, VERSION
from tiltrun.engine.writer import Gone

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class ClusterWriter:
    """Writer backed by the official Kubernetes client.

    ``on_error(operation, http_status)`` is told of every error the API server answers
    a write with (``patch_status`` or ``create_event``), for the operator's metrics.
    """

    def __init__(
        self, api: client.ApiClient, *, on_error: Callable[[str, int], None] | None = None
    ) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._core = client.CoreV1Api(api)
        self._on_error = on_error or (lambda operation, status: None)
        # More threads than pooled connections would only open and drop connections.
        size = int(getattr(api.configuration, "connection_pool_maxsize", 0) or 8)
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="writer")

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    async def patch_status(self, namespace: str, name: str, status: Obj) -> None:
        try:
            await self._call(
                self._custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": status},
                # A merge patch replaces lists whole: targets and conditions are
                # always written complete, so that is what we want.
                _content_type="application/merge-patch+json",
            )
        except ApiException as err:
            if err.status == 404:
                raise Gone(f"{namespace}/{name}") from None
            self._on_error("patch_status", err.status or 0)
            raise

    async def post_event(self, run: Obj, type_: str, reason: str, message: str) -> None:
        meta = run.get("metadata") or {}
        now = datetime.now(UTC)
        body: Any = {
            "metadata": {
                "generateName": f"{meta.get('name', 'tiltrun')}.",
                "namespace": meta.get("namespace"),
            },
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            # Events cap messages at 1 KiB; the full text is in the TiltRun's status.
            "message": message if len(message) <= 1024 else message[:1021] + "...",
            "source": {"component": "tiltrun-operator"},
            "reportingComponent": "tilt.dev/tiltrun-operator",
            "reportingInstance": "tiltrun-operator",
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        try:
            await self._call(self._core.create_namespaced_event, str(meta.get("namespace")), body)
        except ApiException as err:
            # An Event is a courtesy; the status already holds the facts.
            self._on_error("create_event", err.status or 0)
            log.warning("could not post event %s on %s: %s", reason, meta.get("name"), err.reason)
