"""kopf calls synchronous handlers from a pool of worker threads; the engine stays whole.

Before the engine handed events over to its loop, concurrent handlers mutated the
Store while another thread iterated it ("dictionary changed size during iteration"
under load, found by the benchmark), and kopf dropped those events.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.unit.engine.test_engine import RecordingWriter, load, namespaced, run
from tiltrun.engine.engine import Engine


def _copies(objs: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` copies of a Deployment with its ReplicaSets and pods, under fresh uids."""
    out = []
    for i in range(count):
        uids: dict[str, str] = {}
        for obj in objs:
            uids[obj["metadata"]["uid"]] = f"{obj['metadata']['uid']}-{i}"
        for obj in copy.deepcopy(objs):
            obj["metadata"]["name"] = f"{obj['metadata']['name']}-{i}"
            obj["metadata"]["uid"] = uids[obj["metadata"]["uid"]]
            for ref in obj["metadata"].get("ownerReferences") or []:
                ref["uid"] = uids.get(ref["uid"], ref["uid"])
            out.append(obj)
    return out


def test_events_from_worker_threads_are_applied_on_the_loop_thread() -> None:
    objs = _copies(namespaced(load("deployment-available.yaml")), 50)
    applied_on: set[int] = set()
    writer = RecordingWriter()

    async def main() -> int:
        engine = Engine(writer, pid=1, coalesce=0.005)
        put = engine.store.put

        def recording_put(kind: str, obj: dict[str, Any]) -> Any:
            applied_on.add(threading.get_ident())
            return put(kind, obj)

        engine.store.put = recording_put  # type: ignore[method-assign]
        task = asyncio.create_task(engine.run())
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=8) as pool:  # as kopf's executor does
            await loop.run_in_executor(
                pool, engine.observe_run, "ADDED", run(exit_condition="manual")
            )
            await asyncio.gather(
                *(loop.run_in_executor(pool, engine.observe, o["kind"], "ADDED", o) for o in objs)
            )
        await asyncio.sleep(0.2)
        task.cancel()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert applied_on == {loop_thread}
    assert writer.patches, "the run was never written"
    targets = writer.patches[-1][2]["targets"]
    assert len(targets) == 50
    assert all(t["state"]["active"]["ready"] for t in targets)
