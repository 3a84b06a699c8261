"""The operator's restart in a large cluster: time to every run's first correct status.

::

    python -m bench.restart --pods 5000 [--runs 100] [--name bench-restart] [--keep]

It fills a namespace of a dev cluster with ``--runs`` ci TiltRuns, each selecting
Deployments whose pods add up to ``--pods`` (kwok plays them, all healthy), waits
until every pod is ready, then starts ``tiltrun operator`` for that namespace and
measures, from the process's start, when the last run has its first correct status
(``done: true``, no error, every target ready): the restart figure of issue 12. It
also reports the operator's CPU seconds and peak resident memory then, and
``--profile DIR`` records it with py-spy (as root) for ``python -m bench.profile``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procstat import sample
from tiltrun_dev.devcluster.build import ensure_binaries
from tiltrun_dev.devcluster.cluster import DevCluster

REPLICAS = 10  # pods per Deployment


def _kubectl(kubectl: str, kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _manifests(namespace: str, runs: int, deployments: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for d in range(deployments):
        run = f"r{d % runs:03d}"
        name = f"w{d:04d}"
        labels = {"app": name, "tilt.dev/run": run}
        items.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {
                    "replicas": REPLICAS,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [{"name": "app", "image": "example.com/app:1"}],
                        },
                    },
                },
            }
        )
    return items


def _runs(namespace: str, runs: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "TiltRun",
            "metadata": {"name": f"r{r:03d}", "namespace": namespace},
            "spec": {"tiltfilePath": "Tiltfile", "exitCondition": "ci"},
        }
        for r in range(runs)
    ]


def _ready_pods(kubectl: str, kubeconfig: str, namespace: str) -> int:
    out = _kubectl(
        kubectl,
        kubeconfig,
        "get",
        "pods",
        "-n",
        namespace,
        "-o",
        "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}",
    )
    return out.split().count("True")


def _decided(kubectl: str, kubeconfig: str, namespace: str, runs: int) -> int:
    items = json.loads(
        _kubectl(kubectl, kubeconfig, "get", "tiltruns", "-n", namespace, "-o", "json")
    )
    good = 0
    for run in items["items"]:
        status = run.get("status") or {}
        targets = status.get("targets") or []
        if status.get("done") and not status.get("error") and targets:
            good += all((t["state"].get("active") or {}).get("ready") for t in targets)
    return good


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restart", description=__doc__)
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--name", default="bench-restart", help="the dev cluster's name")
    parser.add_argument("--profile", type=Path, help="record the operator with py-spy here")
    parser.add_argument("--keep", action="store_true", help="leave the namespace in place")
    parser.add_argument(
        "--reuse", metavar="NAMESPACE", help="a namespace a --keep run left: its runs are made anew"
    )
    args = parser.parse_args(argv)

    state = DevCluster(args.name, log=lambda line: print(line, file=sys.stderr)).up()
    kubeconfig, kubectl = state.kubeconfig, str(ensure_binaries(lambda line: None)["kubectl"])
    repo = Path(__file__).resolve().parents[1]
    _kubectl(
        kubectl, kubeconfig, "apply", "--server-side", "-f", str(repo / "crds" / "tiltrun.yaml")
    )
    deployments = max(1, args.pods // REPLICAS)
    if args.reuse:
        namespace = args.reuse
        _kubectl(kubectl, kubeconfig, "delete", "tiltruns", "--all", "-n", namespace)
    else:
        namespace = f"restart-{int(time.time())}"
        _kubectl(kubectl, kubeconfig, "create", "namespace", namespace)
        print(
            f"creating {deployments} Deployments of {REPLICAS} pods in {namespace}", file=sys.stderr
        )
        _kubectl(
            kubectl,
            kubeconfig,
            "apply",
            "--server-side",
            "-f",
            "-",
            stdin=json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "List",
                    "items": _manifests(namespace, args.runs, deployments),
                }
            ),
        )
    began = time.monotonic()
    while (ready := _ready_pods(kubectl, kubeconfig, namespace)) < deployments * REPLICAS:
        print(f"  {ready} pods ready ({time.monotonic() - began:.0f}s)", file=sys.stderr)
        time.sleep(5)
    _kubectl(
        kubectl,
        kubeconfig,
        "apply",
        "-f",
        "-",
        stdin=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": _runs(namespace, args.runs)}
        ),
    )

    log = Path(tempfile.mkstemp(prefix="restart-operator-", suffix=".log")[1])
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tiltrun", "operator", "--namespace", namespace],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    spy = None
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(proc.pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--threads",
                "--nonblocking",
                "--output",
                str(args.profile / "restart.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        while (done := _decided(kubectl, kubeconfig, namespace, args.runs)) < args.runs:
            if proc.poll() is not None:
                print(f"the operator exited; its log: {log}", file=sys.stderr)
                return 1
            if time.monotonic() - started > 900:
                print(f"only {done}/{args.runs} runs decided after 900 s", file=sys.stderr)
                return 1
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        counters = sample(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if spy is not None:
            spy.wait(timeout=30)
        if not args.keep and not args.reuse:
            _kubectl(kubectl, kubeconfig, "delete", "namespace", namespace, "--wait=false")
    print(
        f"{deployments * REPLICAS} pods, {deployments} Deployments, {args.runs} runs: "
        f"every run's first correct status {elapsed:.1f} s after the operator started; "
        + (
            f"CPU {counters.cpu_seconds:.1f} s, peak RSS {counters.peak_rss_bytes / 2**20:.0f} MB"
            if counters
            else ""
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
