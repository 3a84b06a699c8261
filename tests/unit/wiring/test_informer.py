"""Informers against a scripted API server: pages, watches, gaps, 410 Gone.

The promise of issue 11 item 1: after any relist the sink holds exactly what the list
returned (a relist replaces, it does not add), whatever happened while nobody watched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import looptime
import pytest

from tiltrun.wiring.informer import Backoff, Informer, Resource
from tiltrun.wiring.session import ApiError, Unavailable

Obj = dict[str, Any]
PODS = Resource("v1", "pods", "Pod")


def pod(name: str, version: str = "1") -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "resourceVersion": version,
        }
    }


class Sink:
    """Holds what an informer delivered, as the engine's store would."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.calls: list[str] = []

    def replace(self, source: str, kind: str, namespace: str | None, objs: list[Obj]) -> None:
        self.objects = {o["metadata"]["uid"]: o for o in objs}
        self.calls.append(f"replace {len(objs)}")

    def observe(self, kind: str, event_type: str, obj: Obj) -> None:
        uid = obj["metadata"]["uid"]
        if event_type == "DELETED":
            self.objects.pop(uid, None)
        else:
            self.objects[uid] = obj
        self.calls.append(f"{event_type} {obj['metadata']['name']}")


class ScriptedServer:
    """Answers each LIST and WATCH with the next scripted answer.

    A list answer is a list of pages (dicts); a watch answer is a list of events, or an
    exception to raise after them; when the script runs out the watch blocks forever.
    """

    def __init__(self, lists: list[Any], watches: list[Any]) -> None:
        self.lists = lists
        self.watches = watches
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.done = asyncio.Event()

    async def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, **_: Any
    ) -> Obj:
        self.requests.append(("LIST", dict(params or {})))
        answer = self.lists.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    async def watch(
        self, path: str, params: Mapping[str, str], *, idle_timeout: float
    ) -> AsyncIterator[Obj]:
        self.requests.append(("WATCH", dict(params)))
        if not self.watches:
            self.done.set()
            await asyncio.Event().wait()
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        for event in script:
            if isinstance(event, Exception):
                raise event
            yield event


def page(items: list[Obj], version: str, token: str = "") -> Obj:
    meta = {"resourceVersion": version}
    if token:
        meta["continue"] = token
    return {"items": items, "metadata": meta}


def run_informer(
    server: ScriptedServer, sink: Sink, errors: list[tuple[str, int]] | None = None
) -> Informer:
    """Run an informer on ``server`` until its script is played; the informer, stopped.

    Its failed requests are appended to ``errors`` as ``(operation, status)``.
    """
    informer = Informer(
        server,  # type: ignore[arg-type]
        PODS,
        "ns",
        sink,
        page_size=2,
        on_error=lambda operation, status: (errors if errors is not None else []).append(
            (operation, status)
        ),
    )

    async def main() -> None:
        task = asyncio.create_task(informer.run())
        await server.done.wait()
        task.cancel()

    loop = looptime.new_event_loop(start=0)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return informer


def test_a_paged_list_is_delivered_whole_then_watched_from_its_version() -> None:
    server = ScriptedServer(
        lists=[page([pod("a"), pod("b")], "10", token="next"), page([pod("c")], "10")],
        watches=[[{"type": "ADDED", "object": pod("d", "11")}]],
    )
    sink = Sink()
    run_informer(server, sink)
    assert sink.calls == ["replace 3", "ADDED d"]
    assert sorted(sink.objects) == ["uid-a", "uid-b", "uid-c", "uid-d"]
    assert server.requests[1] == ("LIST", {"limit": "2", "continue": "next"})
    kind, params = server.requests[2]
    assert kind == "WATCH" and params["resourceVersion"] == "10"
    assert params["allowWatchBookmarks"] == "true"
    # The watch ended: it is resumed from the last version seen, without a list.
    assert server.requests[3][0] == "WATCH" and server.requests[3][1]["resourceVersion"] == "11"
    assert all(o["kind"] == "Pod" and o["apiVersion"] == "v1" for o in sink.objects.values())


def test_a_410_relists_and_the_relist_drops_what_vanished_meanwhile() -> None:
    gone = ApiError(410, "Expired", "too old resource version: 10 (50)")
    server = ScriptedServer(
        lists=[page([pod("a"), pod("b")], "10"), page([pod("b", "40"), pod("c", "45")], "50")],
        watches=[[], gone],  # the stream ends; resuming it is refused: the history is gone
    )
    sink = Sink()
    informer = run_informer(server, sink)
    # "a" was deleted during the gap and no DELETED ever came: the relist drops it.
    assert sorted(sink.objects) == ["uid-b", "uid-c"]
    assert sink.objects["uid-b"]["metadata"]["resourceVersion"] == "40"
    assert informer.lists == 2
    assert server.requests[-1][1]["resourceVersion"] == "50"


def test_an_error_event_in_the_stream_relists() -> None:
    expired = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
    server = ScriptedServer(
        lists=[page([pod("a")], "10"), page([], "60")],
        watches=[[{"type": "MODIFIED", "object": pod("a", "12")}, expired]],
    )
    sink = Sink()
    run_informer(server, sink)
    assert sink.objects == {}
    assert sink.calls == ["replace 1", "MODIFIED a", "replace 0"]


def test_a_broken_stream_resumes_from_the_last_version_or_bookmark() -> None:
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "30"}}}
    server = ScriptedServer(
        lists=[page([pod("a")], "10")],
        watches=[[bookmark, Unavailable("connection reset")], Unavailable("refused")],
    )
    sink = Sink()
    run_informer(server, sink)
    watches = [params for kind, params in server.requests if kind == "WATCH"]
    assert [w["resourceVersion"] for w in watches] == ["10", "30", "30"]
    assert [kind for kind, _ in server.requests].count("LIST") == 1  # no relist needed


def test_an_expired_continue_token_starts_the_list_again() -> None:
    expired = ApiError(410, "Expired", "continue token too old")
    server = ScriptedServer(
        lists=[page([pod("a"), pod("b")], "10", token="t1"), expired, page([pod("b")], "20")],
        watches=[],
    )
    sink = Sink()
    run_informer(server, sink)
    assert sink.calls == ["replace 1"]
    assert sorted(sink.objects) == ["uid-b"]


def test_failed_lists_and_watches_are_reported_and_a_410_is_not() -> None:
    forbidden = ApiError(403, "Forbidden", "pods is forbidden")
    gone = ApiError(410, "Expired", "too old resource version")
    server = ScriptedServer(
        lists=[forbidden, page([pod("a")], "10"), page([pod("a")], "20")],
        watches=[gone, Unavailable("connection reset")],
    )
    errors: list[tuple[str, int]] = []
    sink = Sink()
    run_informer(server, sink, errors)
    # The refused list, then the broken watch (no answer: 0); the 410 only relists.
    assert errors == [("list", 403), ("watch", 0)]
    assert sorted(sink.objects) == ["uid-a"]


def test_backoff_doubles_from_the_first_wait_up_to_the_cap_with_jitter() -> None:
    top = Backoff(first=0.2, cap=2.0, rng=lambda: 1.0)
    assert [round(top.next(), 3) for _ in range(6)] == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    bottom = Backoff(first=0.2, cap=2.0, rng=lambda: 0.0)
    assert [round(bottom.next(), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    top.reset()
    assert top.next() == pytest.approx(0.2)
