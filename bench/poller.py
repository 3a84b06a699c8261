"""Baseline: a poller that reads every workload's status on a fixed interval.

This is how kstatus-based tools wait (``kpt live status``, cli-utils' StatusPoller,
Flux's health checks): every interval, read the objects and compute each one's
kstatus (``InProgress``, ``Current``, ``Failed``). One poller stands for one CI
pipeline per TiltRun: per tick it LISTs that run's Deployments and Jobs by label
selector (two requests, the cheapest poller there is; cli-utils' caching reader also
lists ReplicaSets and Pods, twice as many). A run is decided when every workload is
``Current`` or one is ``Failed``; its polling then stops, as a CI step would exit.

Run as a process (``python -m bench.poller``); writes one JSON line per observation:
``{"t": <monotonic>, "run": ..., "target": "deployment/x", "status": "Current"}`` and
``{"t": ..., "run": ..., "decided": "Current" | "Failed"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from typing import IO, Any

from bench.kube import connect, list_objects
from tiltrun.api.selector import default_selector, format_selector
from tiltrun.judge.kinds import DEPLOYMENT, JOB

Obj = dict[str, Any]


def _condition(obj: Obj, kind: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _is_true(obj: Obj, kind: str) -> bool:
    cond = _condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def deployment_status(obj: Obj) -> str:
    """kstatus of a Deployment, by the rules kstatus documents."""
    status = obj.get("status") or {}
    if (obj.get("metadata") or {}).get("generation") != status.get("observedGeneration"):
        return "InProgress"
    progressing = _condition(obj, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return "Failed"
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    if (
        status.get("updatedReplicas", 0) < wanted
        or status.get("replicas", 0) > status.get("updatedReplicas", 0)
        or status.get("availableReplicas", 0) < wanted
        or status.get("readyReplicas", 0) < wanted
        or not _is_true(obj, "Available")
    ):
        return "InProgress"
    return "Current"


def job_status(obj: Obj) -> str:
    """kstatus of a Job: Complete is Current, Failed is Failed."""
    if _is_true(obj, "Failed"):
        return "Failed"
    if _is_true(obj, "Complete"):
        return "Current"
    return "InProgress"


async def poll(kubeconfig: str, runs: list[tuple[str, str]], interval: float, out: IO[str]) -> int:
    """Poll ``(namespace, run)`` until each is decided (or SIGTERM); the requests made."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    seen: dict[tuple[str, str], str] = {}
    undecided = set(runs)

    async with await connect(kubeconfig) as kube:

        async def poll_run(namespace: str, run: str) -> None:
            selector = format_selector(default_selector(run))
            listed = await asyncio.gather(
                list_objects(kube, DEPLOYMENT, namespace, label_selector=selector),
                list_objects(kube, JOB, namespace, label_selector=selector),
            )
            now = time.monotonic()
            verdicts = []
            for kind, answer in zip(("deployment", "job"), listed, strict=True):
                for obj in answer.get("items") or []:
                    verdict = deployment_status(obj) if kind == "deployment" else job_status(obj)
                    target = f"{kind}/{obj['metadata']['name']}"
                    if seen.get((run, target)) != verdict:
                        seen[(run, target)] = verdict
                        out.write(
                            json.dumps({"t": now, "run": run, "target": target, "status": verdict})
                            + "\n"
                        )
                    verdicts.append(verdict)
            if "Failed" in verdicts or (verdicts and all(v == "Current" for v in verdicts)):
                decided = "Failed" if "Failed" in verdicts else "Current"
                out.write(json.dumps({"t": now, "run": run, "decided": decided}) + "\n")
                undecided.discard((namespace, run))

        next_tick = time.monotonic()
        first = True
        while undecided and not stop.is_set():
            await asyncio.gather(*(poll_run(ns, run) for ns, run in sorted(undecided)))
            out.flush()
            if first:
                print("ready", flush=True)  # polling: the harness may set things in motion
                first = False
            next_tick += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_tick - time.monotonic()))
        return kube.sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--runs", required=True, help="comma-separated NAMESPACE/RUN")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.out, "w") as out:
        runs = [(ns, run) for ns, _, run in (item.partition("/") for item in args.runs.split(","))]
        sent = asyncio.run(poll(args.kubeconfig, runs, args.interval, out))
        out.write(json.dumps({"requests": sent}) + "\n")


if __name__ == "__main__":
    main()
