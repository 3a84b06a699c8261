"""What one TiltRun status PATCH costs the API server, in CPU seconds.

``python -m bench.patchcost`` starts a dev cluster of its own (``--name``, stopped at the
end unless ``--keep-cluster``; one already up under that name is used and left up), sends
``--requests`` status PATCHes to one TiltRun, one at a time, the status alternating
between two shapes of a run of ten targets as the operator writes them (waiting targets
with their evidence, three conditions). It reads the kube-apiserver's CPU time from
``/proc`` before and after: the figure is the server's CPU per PATCH, with nothing else
asking anything of it.

Four variants of the same writes:

- **as shipped**: the repository's CRD (``status.targets`` an atomic list);
- **keyed targets**: the same CRD with ``status.targets`` a list keyed by ``name``, as it
  was before: the API server then tracks every field of every target in managedFields;
- **one target**: a status of one target, the floor (TLS, authentication, audit, etcd);
- **PUT, not PATCH**: the shipped CRD, each status sent whole with a PUT carrying the
  resourceVersion the previous answer gave (no merge to apply on the server's side).

docs/benchmark.md quotes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import control_plane
from bench.kube import raw_session
from bench.procstat import sample
from tiltrun.api.model import GROUP, PLURAL, VERSION
from tiltrun_dev.devcluster.build import ensure_binaries
from tiltrun_dev.devcluster.cluster import DevCluster

REPO = Path(__file__).resolve().parent.parent
CRD = REPO / "crds" / "tiltrun.yaml"
ATOMIC = "x-kubernetes-list-type: atomic\n"
WARM_UP = 200

Obj = dict[str, Any]


def _waiting(name: str, i: int) -> Obj:
    pod = f"{name}-5d8c9b7f4-{i:05d}"
    message = "Scheduling is blocked due to non-empty scheduling gates"
    return {
        "name": f"deployment/{name}",
        "resources": [name],
        "type": "server",
        "state": {
            "waiting": {
                "reason": f"pod {pod}: SchedulingGated: {message}",
                "triggerTime": "2026-11-30T17:37:31.000000Z",
                "evidence": {
                    "reason": "SchedulingGated",
                    "message": message,
                    "pod": pod,
                    "since": "2026-11-30T17:37:31.000000Z",
                },
            }
        },
    }


def run_status(targets: int, *, first_active: bool) -> Obj:
    """A run of ``targets`` waiting targets (the first one active when ``first_active``)."""
    items = [_waiting(f"r000-d{i}", i) for i in range(targets)]
    if first_active:
        items[0]["state"] = {"active": {"ready": False, "startTime": "2026-11-30T17:39:01Z"}}
    waiting = sum(1 for t in items if "waiting" in t["state"])
    summary = f"waiting on {waiting} of {targets}: " + ", ".join(
        f"{t['name']} ({t['state']['waiting']['reason'][:60]}…)"
        for t in items[:5]
        if "waiting" in t["state"]
    )
    conditions = [
        {
            "type": kind,
            "status": status,
            "reason": "Waiting",
            "message": summary,
            "observedGeneration": 1,
            "lastTransitionTime": "2026-11-30T17:37:27.587899Z",
        }
        for kind, status in (("Ready", "False"), ("Reconciling", "True"), ("Stalled", "False"))
    ]
    return {
        "done": False,
        "error": "",
        "observedGeneration": 1,
        "pid": 1,
        "progress": f"{targets - waiting}/{targets}",
        "satisfied": targets - waiting,
        "total": targets,
        "startTime": "2026-11-30T17:37:27.435928Z",
        "summary": summary,
        "targets": items,
        "conditions": conditions,
    }


@dataclass(frozen=True)
class Figure:
    variant: str
    requests: int
    server_cpu_ms: float
    wall_ms: float
    object_bytes: int


class Bench:
    def __init__(self, kubeconfig: str, kubectl: str) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl = kubectl
        pids = control_plane(kubeconfig).get("kube-apiserver") or []
        if not pids:
            raise SystemExit("patchcost needs a dev cluster: its kube-apiserver's PID is unknown.")
        self.apiserver = pids[0]
        self.namespace = f"patchcost-{uuid.uuid4().hex[:5]}"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [self.kubectl, "--kubeconfig", self.kubeconfig, *args],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def install(self, crd_text: str) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(crd_text)
            f.flush()
            self._run("apply", "--server-side", "--force-conflicts", "-f", f.name)
        self._run("wait", "--for=condition=Established", "--timeout=60s", f"crd/{PLURAL}.{GROUP}")

    def _cpu(self) -> float:
        found = sample(self.apiserver)
        if found is None:
            raise SystemExit("the kube-apiserver exited during the measurement.")
        return found.cpu_seconds

    async def measure(
        self,
        session: aiohttp.ClientSession,
        variant: str,
        requests: int,
        targets: int,
        *,
        put: bool = False,
    ) -> Figure:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}"
        name = f"run-{uuid.uuid4().hex[:6]}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "TiltRun",
            "metadata": {"name": name},
            "spec": {"tiltfilePath": "./Tiltfile", "exitCondition": "ci"},
        }
        async with session.post(base, json=body) as answer:
            answer.raise_for_status()
            version = (await answer.json())["metadata"]["resourceVersion"]
        shapes = [run_status(targets, first_active=i == 1) for i in (0, 1)]
        headers = {"Content-Type": "application/merge-patch+json"}
        path = f"{base}/{name}/status"

        async def send(status: Obj) -> None:
            nonlocal version
            if put:
                whole = {**body, "metadata": {"name": name, "resourceVersion": version}}
                request = session.put(path, json={**whole, "status": status})
            else:
                request = session.patch(path, json={"status": status}, headers=headers)
            async with request as answer:
                if answer.status >= 300:
                    raise SystemExit(f"{path}: {answer.status} {await answer.text()}")
                version = (await answer.json())["metadata"]["resourceVersion"]

        for i in range(WARM_UP):  # the first requests of a schema pay for its caches
            await send(shapes[i % 2])
        cpu, clock = self._cpu(), time.monotonic()
        for i in range(requests):
            await send(shapes[(i + 1) % 2])
        cpu, clock = self._cpu() - cpu, time.monotonic() - clock
        async with session.get(f"{base}/{name}") as answer:
            stored = await answer.read()
        return Figure(
            variant, requests, 1000 * cpu / requests, 1000 * clock / requests, len(stored)
        )

    async def all_variants(self, requests: int) -> list[Figure]:
        shipped = CRD.read_text()
        if ATOMIC not in shipped:
            raise SystemExit(f"{CRD} no longer declares status.targets atomic; update patchcost.")
        keyed = shipped.replace(
            ATOMIC,
            "x-kubernetes-list-type: map\n                  x-kubernetes-list-map-keys: [name]\n",
        )
        self._run("create", "namespace", self.namespace)
        figures = []
        async with await raw_session(self.kubeconfig) as session:
            for variant, crd, targets, put in (
                ("keyed targets", keyed, 10, False),
                ("as shipped", shipped, 10, False),
                ("one target", shipped, 1, False),
                ("PUT, not PATCH", shipped, 10, True),
            ):
                self.install(crd)
                figures.append(await self.measure(session, variant, requests, targets, put=put))
        self.install(shipped)
        self._run("delete", "namespace", self.namespace, "--wait=false")
        return figures


def report(figures: list[Figure]) -> str:
    lines = [
        "| status | PATCHes | API server CPU per PATCH | wall time per PATCH | stored object |",
        "|---|---|---|---|---|",
    ]
    for f in figures:
        lines.append(
            f"| {f.variant} | {f.requests} | {f.server_cpu_ms:.1f} ms | {f.wall_ms:.1f} ms | "
            f"{f.object_bytes:,} bytes |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.patchcost", description=__doc__)
    parser.add_argument("--name", default="patchcost", help="the dev cluster to start or use")
    parser.add_argument("--requests", type=int, default=2000, help="PATCHes per variant")
    parser.add_argument("--keep-cluster", action="store_true", help="leave the cluster up")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    kubectl = str(ensure_binaries(log)["kubectl"])
    dev = DevCluster(args.name, log=log)
    started = not dev.is_up()
    state = dev.up(pod_logs=False)
    try:
        figures = asyncio.run(Bench(str(state.kubeconfig), kubectl).all_variants(args.requests))
        print(report(figures))
    finally:
        if started and not args.keep_cluster:
            dev.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
