"""What the engine needs from the cluster, as a protocol: a status patch and an Event.

The engine imports no network library; the operator hands it ``wiring.writer``'s
``ClusterWriter``, and the engine's tests a fake that records what would be written.
"""

from __future__ import annotations

from typing import Any, Protocol

Obj = dict[str, Any]


class Gone(Exception):
    """The TiltRun no longer exists."""


class Writer(Protocol):
    """What the engine needs from the cluster: a status patch and an Event."""

    async def patch_status(self, namespace: str, name: str, status: Obj) -> None: ...

    async def post_event(self, run: Obj, type_: str, reason: str, message: str) -> None: ...
