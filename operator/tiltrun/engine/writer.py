"""What the engine needs from the cluster: a status patch and an Event.

The engine imports no network library; ``tiltrun.wiring.writer.ClusterWriter`` is the
implementation that talks to the API server, and the unit tests pass a recording one.
"""

from __future__ import annotations

from typing import Any, Protocol

Obj = dict[str, Any]


class Gone(Exception):
    """The TiltRun no longer exists."""


class Refused(Exception):
    """The API server refused this status for what it is (invalid, or too large to store).

    The same status would be refused again: the engine does not retry it, it stores a
    smaller status that says so (``tiltrun.judge.budget.refused``). ``answer`` is the API
    server's message.
    """

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.answer = answer


class Writer(Protocol):
    """Writes a TiltRun's status and Events about it."""

    async def patch_status(self, namespace: str, name: str, status: Obj) -> None:
        """Store ``status`` as the run's status.

        Raises ``Gone`` when the run is no more, ``Refused`` when the API server refuses
        this status for what it is; anything else is worth retrying.
        """

    async def post_event(
        self, run: Obj, type_: str, reason: str, message: str, subject: str = ""
    ) -> None:
        """An Event about ``run``; ``subject`` (a target's name) tells similar Events apart."""
