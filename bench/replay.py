"""Replay a benchmark pass's watch record into the engine, without a cluster.

The benchmark's watcher records every event of a pass (``watch.record``: workloads,
ReplicaSets, pods and TiltRuns, with the instant each arrived). This feeds that record
to a real ``Engine`` at the pace it was recorded, each event decoded and slimmed as the
informers do it, with a writer that answers every status PATCH after a fixed latency and
hands its echo back as the TiltRun informer would. It reports the operator's own CPU
over the live phase, per event, with nothing else on the machine competing: the
figure to compare two versions of the engine by, in a minute and without a cluster's
noise. The API server's side (and so the reaction) is not in it: ``python -m bench``
measures that.

    python -m bench.replay bench/results/<run>/01-100x10-operator/watch.record
    python -m bench.replay <record> --profile engine.prof   # cProfile of the replay

The TiltRun events of the record are the statuses the recorded operator wrote; only
their creations, deletions and spec changes are fed (the replayed engine writes its own
statuses, and their echoes are what it receives).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tiltrun.engine.engine import Engine
from tiltrun.judge.kinds import BUILTIN
from tiltrun.judge.status import is_done
from tiltrun.wiring.handlers import resource
from tiltrun.wiring.session import _dumps, _loads

Obj = dict[str, Any]
RUN_KIND = "TiltRun"


@dataclass(frozen=True)
class Line:
    """One recorded event: when it arrived, its kind, and its raw JSON."""

    at: float
    kind: str
    raw: bytes


def read_record(path: Path) -> list[Line]:
    """Every event of a watch record, in the order it arrived."""
    out = []
    with path.open("rb") as f:
        for line in f:
            at, kind, raw = line.rstrip(b"\n").split(b"\t", 2)
            out.append(Line(float(at), kind.decode(), raw))
    return out


class EchoWriter:
    """A writer that stores a status after ``latency`` seconds and delivers its echo."""

    def __init__(self, engine: Engine | None, latency: float) -> None:
        self.engine = engine
        self.latency = latency
        self.patches: Counter[str] = Counter()
        self.events = 0
        self.echoes = 0
        self._version = 10**9

    async def patch_status(self, namespace: str, name: str, status: Obj) -> None:
        body = _dumps({"status": status})  # the request's encoding, as the session does it
        await asyncio.sleep(self.latency)
        assert self.engine is not None
        held = self.engine.store.runs.get((namespace, name))
        if held is None:
            return
        self.patches[f"{namespace}/{name}"] += 1
        self._version += 1
        echo = dict(held)
        echo["metadata"] = {**held["metadata"], "resourceVersion": str(self._version)}
        echo["status"] = {**(held.get("status") or {}), **_loads(body)["status"]}
        raw = _dumps({"type": "MODIFIED", "object": echo})
        self.echoes += 1
        self.engine.observe_run("MODIFIED", _loads(raw)["object"])

    async def post_event(
        self, run: Obj, type_: str, reason: str, message: str, subject: str = ""
    ) -> None:
        self.events += 1


def _is_listed(line: Line) -> bool:
    """An item of the watcher's initial list (written as an event of type ``LISTED``)."""
    return line.raw[:40].replace(b" ", b"").startswith(b'{"type":"LISTED"')


def _runs_to_feed(lines: list[Line]) -> Iterator[tuple[Line, str, Obj]]:
    """The TiltRun events a replay feeds: creations, deletions and new generations."""
    generation: dict[str, int] = {}
    for line in lines:
        if line.kind != RUN_KIND:
            continue
        event = _loads(line.raw)
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid"))
        kind = event.get("type")
        gen = int(meta.get("generation") or 0)
        if kind == "DELETED" or generation.get(uid) != gen:
            generation[uid] = gen
            obj.pop("status", None)
            yield line, str(kind), obj


async def replay(
    lines: list[Line],
    *,
    speed: float,
    latency: float,
    window: tuple[float, float] | None,
    epoch: tuple[float, datetime] | None,
) -> dict[str, Any]:
    """Feed ``lines`` to an engine; its CPU over ``window`` (record times), per event.

    ``epoch`` (a record time and the wall time it was) sets the engine's clock to the
    recording's, so that deadlines and ages come out as they did then.
    """
    loop = asyncio.get_running_loop()
    start_wall, start_at = loop.time(), lines[0].at if lines else 0.0

    def clock() -> datetime:
        at = start_at + (loop.time() - start_wall) * speed
        if epoch is None:
            return datetime.now(UTC)
        return epoch[1] + timedelta(seconds=at - epoch[0])

    writer = EchoWriter(None, latency)
    engine = Engine(writer, clock=clock)
    writer.engine = engine
    resources = {kind.kind: resource(kind) for kind in BUILTIN.watched}
    runs = {id(line): (kind, obj) for line, kind, obj in _runs_to_feed(lines)}
    listed: dict[str, list[Obj]] = {kind: [] for kind in [*resources, RUN_KIND]}
    live = [line for line in lines if not _is_listed(line)]
    for line in lines:
        if _is_listed(line) and line.kind in listed:
            obj = _loads(line.raw)["object"]
            held = resources.get(line.kind)
            listed[line.kind].append(held.project(obj) if held else obj)
    for kind in listed:
        engine.expect(kind)
    task = asyncio.create_task(engine.run())
    engine.replace_runs(RUN_KIND, None, listed.pop(RUN_KIND))
    for kind, objs in listed.items():
        engine.replace(kind, kind, None, objs)

    cpu: dict[str, float] = {}
    fed = Counter[str]()
    echoes_before = 0
    for line in live:
        if window and "begin" not in cpu and line.at >= window[0]:
            cpu["begin"] = time.process_time()
            echoes_before = writer.echoes
        if window and "end" not in cpu and line.at > window[1]:
            cpu["end"] = time.process_time()
            break
        delay = start_wall + (line.at - start_at) / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if line.kind == RUN_KIND:
            if id(line) in runs:
                kind, obj = runs[id(line)]
                engine.observe_run(kind, obj)
            continue
        held = resources.get(line.kind)
        if held is None:
            continue
        event = _loads(line.raw)
        obj = held.project(event["object"])
        obj["kind"], obj["apiVersion"] = held.kind, held.api_version
        engine.observe(line.kind, str(event["type"]), obj)
        if "begin" in cpu:
            fed[line.kind] += 1
    await engine.idle()
    cpu.setdefault("end", time.process_time())
    task.cancel()
    events = sum(fed.values()) + writer.echoes - echoes_before
    used = cpu["end"] - cpu.get("begin", cpu["end"])
    return {
        "cpu_seconds": used,
        "events": events,
        "events_by_kind": {**fed, RUN_KIND: writer.echoes - echoes_before},
        "cpu_ms_per_event": 1000 * used / events if events else None,
        "patches": sum(writer.patches.values()),
        "runs_written": len(writer.patches),
        "runs_done": sum(is_done(run.get("status")) for run in engine.store.runs.values()),
        "events_posted": writer.events,
    }


def _marks(record: Path) -> dict[str, list[Any]]:
    """The pass's marks (``observed.json`` beside the record): name -> [mono, wall]."""
    observed = record.parent / "observed.json"
    if not observed.exists():
        return {}
    return dict(json.loads(observed.read_text()).get("marks") or {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", type=Path, help="a pass's watch.record")
    parser.add_argument("--speed", type=float, default=1.0, help="replay this many times faster")
    parser.add_argument(
        "--patch-latency", type=float, default=0.06, help="seconds each status PATCH takes"
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the replay here")
    args = parser.parse_args(argv)
    if not args.record.exists():
        print(f"no such record: {args.record}", file=sys.stderr)
        return 2
    lines = read_record(args.record)
    marks = _marks(args.record)
    window = None
    if "release" in marks and "decided" in marks:
        window = float(marks["release"][0]), float(marks["decided"][0])
    epoch = None
    if "begin" in marks:
        epoch = float(marks["begin"][0]), datetime.fromisoformat(marks["begin"][1])
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    result = asyncio.run(
        replay(lines, speed=args.speed, latency=args.patch_latency, window=window, epoch=epoch)
    )
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
