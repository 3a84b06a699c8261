"""The only code that writes to the API server: TiltRun status patches and Events.

Both go out on the operator's event loop through its one ``ApiSession``: a PATCH is a
coroutine, not a thread blocked on a socket, so any number can be in flight (the
engine's ``AdaptiveLimit`` decides how many) and none holds the GIL while it waits.
Nothing here writes to a workload: the operator only ever patches ``tiltruns/status``
and creates or updates Events about TiltRuns.

A status PATCH that is in flight when the operator stops still lands: the cleanup
handler waits for the writes in flight (``Engine.drain``) before the session closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tiltrun.api.model import GROUP, PLURAL, VERSION
from tiltrun.engine.writer import Gone, Refused
from tiltrun.wiring.events import EventRecorder
from tiltrun.wiring.session import ApiError, ApiSession

Obj = dict[str, Any]


#: What etcd and the API server say of a request too large to store (they answer 500).
_TOO_LARGE = ("request is too large", "resourceexhausted", "too large", "entity too large")


def refused_for_what_it_is(err: ApiError) -> bool:
    """True when sending the same status again would be refused again.

    400/413/422 judge the request itself (a schema limit, a body too large). etcd's
    "request is too large" comes back as a 500, or as gRPC's ResourceExhausted; other
    5xx, 409 and 429 are the moment's, and worth retrying.
    """
    if err.status in (400, 413, 422):
        return True
    text = f"{err.reason} {err.message}".lower()
    return err.status >= 500 and any(marker in text for marker in _TOO_LARGE)


class ClusterWriter:
    """The engine's ``Writer``, backed by the operator's ``ApiSession``.

    ``on_error(operation, http_status)`` is told of every error the API server answers
    a write with (``patch_status``, ``create_event``, ``patch_event``), for the metrics.
    """

    def __init__(
        self, session: ApiSession, *, on_error: Callable[[str, int], None] | None = None
    ) -> None:
        self._session = session
        self._on_error = on_error or (lambda operation, status: None)
        self.events = EventRecorder(session, on_error=self._on_error)

    async def patch_status(self, namespace: str, name: str, status: Obj) -> None:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"
        try:
            await self._session.request(
                "PATCH",
                path,
                body={"status": status},
                # A merge patch replaces lists whole: targets and conditions are always
                # written complete, so that is what we want.
                content_type="application/merge-patch+json",
                decode=False,
            )
        except ApiError as err:
            if err.status == 404:
                raise Gone(f"{namespace}/{name}") from None
            self._on_error("patch_status", err.status)
            if refused_for_what_it_is(err):
                raise Refused(f"{err.status} {err.reason}: {err.message}") from None
            raise

    async def post_event(
        self, run: Obj, type_: str, reason: str, message: str, subject: str = ""
    ) -> None:
        await self.events.record(run, type_, reason, message, subject)
