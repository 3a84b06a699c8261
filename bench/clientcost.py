"""What the client costs the benchmark's actors: CPU per watch event and per poll request.

``python -m bench.clientcost --kubeconfig K`` makes its own namespace, then measures, each
in a process of its own so the CPU time (``/proc/self``) is the client's alone:

- **watch**: a watcher of pods through ``kubernetes.aio.watch.Watch`` (every event
  decoded, re-encoded and decoded again into a dict, then encoded for the record, as the
  recording watcher must write the line) against reading the raw lines of the same
  watch request through the generated method's ``*_without_preload_content`` variant;
  both follow the same pods while the driver creates, releases and deletes them.
- **poll**: ``list_namespaced_custom_object`` through the client's ordinary method
  (the answer decoded to a dict), against its ``_without_preload_content`` variant
  decoded here, against a plain aiohttp session (TLS and credentials from the same
  kubeconfig): one LIST of ten Deployments by label selector, ``--requests`` times,
  ``--concurrency`` at a time.

The watch is compared the same three ways.

The figures are what docs/architecture.md quotes for the benchmark's choice of client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import time
import uuid
from typing import Any

from kubernetes.aio import watch as aio_watch

from bench.kube import connect, create, delete, list_objects, patch, raw_session, watch_lines
from tiltrun.judge.kinds import DEPLOYMENT, NAMESPACE, POD, Kind


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _watch_events(
    kubeconfig: str, namespace: str, how: str, seconds: float, ready: Any
) -> dict[str, Any]:
    """Follow pods for ``seconds``; events seen and CPU spent, by ``how``."""
    async with await connect(kubeconfig) as kube:
        listed = await list_objects(kube, POD, namespace)
        version = str(listed["metadata"]["resourceVersion"])
        ready.put("listed")
        events = 0
        began = _cpu()
        deadline = time.monotonic() + seconds
        sink = bytearray()

        async def raw() -> None:
            nonlocal events
            async for line in watch_lines(kube, POD, namespace, version, timeout_seconds=600):
                stamp = f"{time.monotonic():.6f}\t".encode()
                sink.extend(stamp + b"Pod\t" + line)
                json.loads(line)  # as the recording watcher does, for the resourceVersion
                events += 1

        async def official() -> None:
            nonlocal events
            stream = aio_watch.Watch(return_type="object").stream(  # type: ignore[no-untyped-call]
                kube.core.list_namespaced_pod,
                namespace,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=600,
            )
            async with stream:
                async for event in stream:
                    stamp = f"{time.monotonic():.6f}\t".encode()
                    line = json.dumps({"type": event["type"], "object": event["raw_object"]})
                    sink.extend(stamp + b"Pod\t" + line.encode() + b"\n")
                    events += 1

        async def plain() -> None:
            nonlocal events
            params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true"}
            path = f"/api/v1/namespaces/{namespace}/pods"
            async with (
                await raw_session(kubeconfig) as session,
                session.get(path, params=params) as resp,
            ):
                while line := await resp.content.readline():
                    stamp = f"{time.monotonic():.6f}\t".encode()
                    sink.extend(stamp + b"Pod\t" + line)
                    json.loads(line)
                    events += 1

        ways = {"raw": raw, "official": official, "aiohttp": plain}
        task = asyncio.create_task(ways[how]())
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        task.cancel()
        return {"how": how, "events": events, "cpu_seconds": _cpu() - began, "bytes": len(sink)}


def _watch_process(kubeconfig: str, namespace: str, how: str, seconds: float, out: Any) -> None:
    out.put(asyncio.run(_watch_events(kubeconfig, namespace, how, seconds, out)))


async def _drive(kubeconfig: str, namespace: str, pods: int) -> None:
    """Pods that come, go through a few states, and go: a few events each."""
    async with await connect(kubeconfig) as kube:
        nodes = await list_objects(kube, Kind("", "v1", "nodes", "Node", namespaced=False), None)
        names = [n["metadata"]["name"] for n in nodes.get("items") or []]
        limit = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"p{i:04d}", "labels": {"app": "cost"}},
                "spec": {
                    "nodeName": names[i % len(names)],
                    "containers": [{"name": "main", "image": "example.invalid/cost:1"}],
                },
            }
            async with limit:
                await create(kube, POD, namespace, body)
                await patch(
                    kube,
                    POD,
                    namespace,
                    f"p{i:04d}",
                    {"metadata": {"annotations": {"cost": "1"}}},
                    "application/merge-patch+json",
                )
                await delete(kube, POD, namespace, f"p{i:04d}")

        await asyncio.gather(*(one(i) for i in range(pods)))


async def _poll(
    kubeconfig: str, namespace: str, how: str, requests: int, width: int
) -> dict[str, Any]:
    async with await connect(kubeconfig) as kube, await raw_session(kubeconfig) as session:
        selector = "app=cost"
        began = _cpu()
        t0 = time.monotonic()
        limit = asyncio.Semaphore(width)

        async def one() -> None:
            async with limit:
                if how == "raw":
                    await list_objects(kube, DEPLOYMENT, namespace, label_selector=selector)
                elif how == "aiohttp":
                    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
                    params = {"labelSelector": selector}
                    async with session.get(path, params=params) as resp:
                        found = json.loads(await resp.read())
                        assert resp.status == 200 and isinstance(found, dict), found
                else:
                    found = await kube.custom.list_namespaced_custom_object(
                        "apps", "v1", namespace, "deployments", label_selector=selector
                    )
                    assert isinstance(found, dict)

        await asyncio.gather(*(one() for _ in range(requests)))
        return {
            "how": how,
            "requests": requests,
            "cpu_seconds": _cpu() - began,
            "seconds": time.monotonic() - t0,
        }


def _poll_process(kubeconfig: str, namespace: str, how: str, n: int, width: int, out: Any) -> None:
    out.put(asyncio.run(_poll(kubeconfig, namespace, how, n, width)))


async def _setup(kubeconfig: str, namespace: str) -> None:
    async with await connect(kubeconfig) as kube:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        await create(kube, NAMESPACE, None, body)
        for i in range(10):
            name = f"d{i}"
            await create(
                kube,
                DEPLOYMENT,
                namespace,
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": name, "labels": {"app": "cost"}},
                    "spec": {
                        "replicas": 0,
                        "selector": {"matchLabels": {"d": name}},
                        "template": {
                            "metadata": {"labels": {"d": name}},
                            "spec": {"containers": [{"name": "m", "image": "x.invalid/m:1"}]},
                        },
                    },
                },
            )


async def _teardown(kubeconfig: str, namespace: str) -> None:
    async with await connect(kubeconfig) as kube:
        await delete(kube, NAMESPACE, None, namespace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--pods", type=int, default=300)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    namespace = f"clientcost-{uuid.uuid4().hex[:5]}"
    asyncio.run(_setup(args.kubeconfig, namespace))
    try:
        out: Any = multiprocessing.Queue()
        # The watchers follow the pods for as long as the driver takes, plus a margin.
        seconds = 10 + args.pods * 0.1
        watchers = [
            multiprocessing.Process(
                target=_watch_process, args=(args.kubeconfig, namespace, how, seconds, out)
            )
            for how in ("raw", "official", "aiohttp")
        ]
        for proc in watchers:
            proc.start()
        # Both watch from the resourceVersion of their list: once both listed, nothing the
        # driver does can be missed by either.
        for _ in watchers:
            assert out.get() == "listed"
        asyncio.run(_drive(args.kubeconfig, namespace, args.pods))
        results = [out.get() for _ in watchers]
        for proc in watchers:
            proc.join()
        for result in sorted(results, key=lambda r: str(r["how"])):
            per = 1e6 * result["cpu_seconds"] / max(1, result["events"])
            print(
                f"watch {result['how']:>8}: {result['events']} events, "
                f"{result['cpu_seconds']:.2f} s CPU, {per:.0f} µs per event"
            )
        for how in ("raw", "official", "aiohttp"):
            proc = multiprocessing.Process(
                target=_poll_process,
                args=(args.kubeconfig, namespace, how, args.requests, args.concurrency, out),
            )
            proc.start()
            result = out.get()
            proc.join()
            per = 1e6 * result["cpu_seconds"] / result["requests"]
            print(
                f"poll  {how:>8}: {result['requests']} LISTs in {result['seconds']:.1f} s, "
                f"{result['cpu_seconds']:.2f} s CPU, {per:.0f} µs per request"
            )
    finally:
        asyncio.run(_teardown(args.kubeconfig, namespace))


if __name__ == "__main__":
    main()
