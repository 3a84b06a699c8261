"""A status the API server refuses: shown, and never retried silently for ever (issue 11).

Before: every write of a status too large for etcd was refused and retried forever,
while ``kubectl get`` showed a stale status and nothing said the writes failed.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.engine.test_engine import (
    RecordingWriter,
    advance,
    drive,
    feed,
    load,
    namespaced,
    run,
)
from tiltrun.engine.engine import Engine
from tiltrun.engine.writer import Refused
from tiltrun.wiring.session import ApiError
from tiltrun.wiring.writer import refused_for_what_it_is


class RefusingWriter(RecordingWriter):
    """Refuses every status that lists targets, as etcd refuses one too large."""

    def __init__(self) -> None:
        super().__init__()
        self.refusals = 0

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        if status.get("targets"):
            self.refusals += 1
            raise Refused("500 InternalError: etcdserver: request is too large")
        self.patches.append((namespace, name, copy.deepcopy(status)))


def test_a_refused_status_is_replaced_by_one_that_says_so_and_not_resent() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await engine.idle()
        await advance(120)  # no retry loop: nothing happens with time alone
        engine.observe_run("MODIFIED", run(exit_condition="manual"))
        await engine.idle()

    writer = drive(body, RefusingWriter())
    assert isinstance(writer, RefusingWriter)
    assert writer.refusals == 1
    assert len(writer.patches) == 1
    stored = writer.patches[0][2]
    assert stored["targets"] == []
    assert stored["truncation"]["writeRefused"].endswith("request is too large")
    assert stored["truncation"]["targetCounts"]["ready"] == 1
    assert stored["progress"] == "1/1"


def test_a_refused_status_is_tried_again_once_it_changes() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        engine.observe_run("ADDED", run(exit_condition="manual"))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await engine.idle()
        feed(engine, namespaced(load("job-running.yaml")))  # a new target: a new status
        await engine.idle()

    writer = drive(body, RefusingWriter())
    assert isinstance(writer, RefusingWriter)
    assert writer.refusals == 2
    assert writer.patches[-1][2]["truncation"]["targets"] == 2


def test_which_answers_mean_the_same_status_would_be_refused_again() -> None:
    again = [
        ApiError(422, "Invalid", "status.summary: Too long: may not be longer than 1024"),
        ApiError(413, "RequestEntityTooLarge", "request is too large"),
        ApiError(500, "InternalError", "etcdserver: request is too large"),
        ApiError(
            500,
            "InternalError",
            "rpc error: code = ResourceExhausted desc = trying to send message larger than max",
        ),
    ]
    moment = [
        ApiError(500, "InternalError", "etcdserver: request timed out"),
        ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request"),
        ApiError(429, "TooManyRequests", "rate limited"),
        ApiError(409, "Conflict", "the object has been modified"),
    ]
    assert all(refused_for_what_it_is(err) for err in again)
    assert not any(refused_for_what_it_is(err) for err in moment)


class FrozenWriter(RecordingWriter):
    """Refuses every status until ``thaw``: an admission policy on ``tiltruns/status``."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen = True
        self.refusals = 0

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        if self.frozen:
            self.refusals += 1
            raise Refused("422 Invalid: status writes frozen")
        self.patches.append((namespace, name, copy.deepcopy(status)))


def test_when_even_the_smaller_status_is_refused_the_full_one_is_retried_until_it_lands() -> None:
    async def body(engine: Engine, writer: RecordingWriter) -> None:
        assert isinstance(writer, FrozenWriter)
        engine.observe_run("ADDED", run(exit_condition="manual"))
        feed(engine, namespaced(load("deployment-available.yaml")))
        await engine.idle()
        assert writer.refusals == 2  # the status, then the smaller one saying so
        await advance(3.5)  # the backoff: 1 s, then 2 s
        assert writer.refusals == 6
        writer.frozen = False
        await advance(60)

    writer = drive(body, FrozenWriter())
    assert len(writer.patches) == 1
    landed = writer.patches[0][2]
    assert [t["name"] for t in landed["targets"]] == ["deployment/web"]
    assert landed.get("truncation") is None, landed.get("truncation")
