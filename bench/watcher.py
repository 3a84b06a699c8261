"""The benchmark's own watcher: records every event with the instant it arrived.

Run as a process of its own (``python -m bench.watcher``), started before anything
changes, so that the arrival time of a workload's event and of the TiltRun status that
reflects it are read by the same process from the same API server. It watches every
namespace, selecting the pass's objects by label, so one watch per kind covers any
layout. It does no work per event beyond taking the time and writing the raw line; all
judging happens afterwards (``bench.analysis``), so a busy analysis cannot delay a
timestamp.

Output: one line per event, ``<monotonic seconds>\\t<Kind>\\t<the watch event JSON>``.
Items of the initial list are written as events of type ``LISTED``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import IO

from kubernetes.aio.client.exceptions import ApiException

from bench.kube import Kube, connect, list_objects, watch_lines
from tiltrun.judge.kinds import DEPLOYMENT, JOB, POD, REPLICASET, TILTRUN, Kind

#: Everything the analysis replays: the kinds the scenario makes, with their children.
WATCHED = (DEPLOYMENT, REPLICASET, JOB, POD, TILTRUN)


async def _follow(
    kube: Kube, kind: Kind, selector: str, out: IO[bytes], listed: asyncio.Event
) -> None:
    prefix = kind.kind.encode() + b"\t"
    while True:
        items = await list_objects(kube, kind, None, label_selector=selector)
        now = time.monotonic()
        for item in items.get("items") or []:
            item.setdefault("kind", kind.kind)
            line = json.dumps({"type": "LISTED", "object": item}).encode()
            out.write(f"{now:.6f}\t".encode() + prefix + line + b"\n")
        version = str(items["metadata"]["resourceVersion"])
        listed.set()
        while True:
            try:
                async for line in watch_lines(kube, kind, None, version, label_selector=selector):
                    now = time.monotonic()
                    out.write(f"{now:.6f}\t".encode() + prefix + line.rstrip(b"\n") + b"\n")
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        raise ApiException(status=int(event["object"].get("code", 0)))
                    version = event["object"]["metadata"]["resourceVersion"]
            except ApiException as err:
                if err.status == 410:
                    break  # too old: list again
                raise


async def _all(events: list[asyncio.Event]) -> None:
    for event in events:
        await event.wait()


def _raise_failed(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise RuntimeError(f"a watch failed: {task.exception()!r}")


async def watch(kubeconfig: str, selector: str, out_path: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with open(out_path, "wb", buffering=1 << 16) as out:
        async with await connect(kubeconfig) as kube:
            listed = [asyncio.Event() for _ in WATCHED]
            tasks = [
                asyncio.create_task(_follow(kube, kind, selector, out, done))
                for kind, done in zip(WATCHED, listed, strict=True)
            ]

            async def flush() -> None:
                while True:
                    await asyncio.sleep(0.5)
                    out.flush()

            tasks.append(asyncio.create_task(flush()))
            all_listed = asyncio.create_task(_all(listed))
            await asyncio.wait([all_listed, *tasks], return_when=asyncio.FIRST_COMPLETED)
            _raise_failed(tasks)
            print("ready", flush=True)
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            _raise_failed(tasks)
        out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--selector", required=True, help="label selector of the pass's objects")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        asyncio.run(watch(args.kubeconfig, args.selector, args.out))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
