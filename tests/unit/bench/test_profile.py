"""bench.profile: py-spy's raw stacks summed by what the CPU did and on whose behalf."""

from __future__ import annotations

from bench.profile import summarise

LOOP = "run (asyncio/runners.py:118);_run_once (asyncio/base_events.py:1922)"
WATCH = f"{LOOP};Informer._watch (/x/tiltrun/wiring/informer.py:226)"
RECONCILE = f"{LOOP};Engine._reconcile (/x/tiltrun/engine/engine.py:430)"


def test_samples_are_counted_by_leaf_and_owner_and_idle_ones_are_not() -> None:
    raw = "\n".join(
        [
            # orjson is C: its time shows in the session's _loads frame, and is JSON.
            f"{WATCH};ApiSession.watch (/x/tiltrun/wiring/session.py:212);"
            "_loads (/x/tiltrun/wiring/session.py:231) 30",
            f"{RECONCILE};judge (/x/tiltrun/judge/target.py:134) 50",
            f"{RECONCILE};ClusterWriter.patch_status (/x/tiltrun/wiring/writer.py:60) 20",
            f"{LOOP};EpollSelector.select (selectors.py:468) 400",  # waiting: not counted
        ]
    )
    leaf, owner, total, startup = summarise(raw)
    assert total == 100 and startup == 0
    assert leaf == {"json": 30, "judgement": 50, "writer": 20}
    assert owner == {"informers": 30, "engine loop": 70}
