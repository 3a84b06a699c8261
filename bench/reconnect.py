"""How soon the operator sees again after the kube-apiserver comes back (issue 11, item 5).

::

    python -m bench.reconnect [--name bench-reconnect] [--down 10] [--times 3]

On a dev cluster it starts ``tiltrun operator`` for a fresh namespace holding a manual
TiltRun and one Deployment, waits until the operator is ready, then, ``--times`` times:
kills the kube-apiserver (``DevCluster.kill``: SIGKILL, by the PID the dev cluster
recorded), leaves it down for ``--down`` seconds, starts it again (``DevCluster.revive``:
the same flags and data), and as soon as it serves (``/readyz``, polled every 0.1 s)
creates one more Deployment for the run. The figure is the time
from the API server serving again to the run's status showing that Deployment: what a
user waits for after an API server restart. ``revive`` records the restarted API
server in the cluster's state, so ``tiltrun dev-cluster down`` still stops it.
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

from tiltrun_dev.devcluster.build import ensure_binaries
from tiltrun_dev.devcluster.cluster import DevCluster


def _kubectl(kubectl: str, kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name, "tilt.dev/run": "board"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "example.com/app:1"}]},
            },
        },
    }


def _targets(kubectl: str, kubeconfig: str, namespace: str) -> list[str]:
    out = _kubectl(kubectl, kubeconfig, "get", "tiltrun", "board", "-n", namespace, "-o", "json")
    status = json.loads(out).get("status") or {}
    return [str(t.get("name")) for t in status.get("targets") or []]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconnect", description=__doc__)
    parser.add_argument("--name", default="bench-reconnect", help="the dev cluster's name")
    parser.add_argument("--down", type=float, default=10, help="seconds the API server is down")
    parser.add_argument("--times", type=int, default=3)
    args = parser.parse_args(argv)

    dev = DevCluster(args.name, log=lambda line: print(line, file=sys.stderr))
    state = dev.up(pod_logs=False)
    kubeconfig = state.kubeconfig
    kubectl = str(ensure_binaries(lambda line: None)["kubectl"])
    repo = Path(__file__).resolve().parents[1]
    _kubectl(
        kubectl, kubeconfig, "apply", "--server-side", "-f", str(repo / "crds" / "tiltrun.yaml")
    )
    namespace = f"reconnect-{int(time.time())}"
    _kubectl(kubectl, kubeconfig, "create", "namespace", namespace)
    run = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "TiltRun",
        "metadata": {"name": "board"},
        "spec": {"tiltfilePath": "Tiltfile", "exitCondition": "manual"},
    }
    _kubectl(kubectl, kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=json.dumps(run))
    _kubectl(
        kubectl,
        kubeconfig,
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps(_deployment("web-0")),
    )
    log = Path(tempfile.mkstemp(prefix="reconnect-operator-", suffix=".log")[1])
    with log.open("wb") as out:
        operator = subprocess.Popen(
            [sys.executable, "-m", "tiltrun", "operator", "--namespace", namespace],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": kubeconfig},
        )
    figures: list[float] = []
    try:
        while "deployment/web-0" not in _targets(kubectl, kubeconfig, namespace):
            time.sleep(0.2)
        for attempt in range(1, args.times + 1):
            dev.kill("kube-apiserver")
            time.sleep(args.down)  # the outage itself
            dev.revive("kube-apiserver")  # returns within 0.1 s of /readyz answering
            serving = time.monotonic()
            name = f"web-{attempt}"
            _kubectl(
                kubectl,
                kubeconfig,
                "apply",
                "-n",
                namespace,
                "-f",
                "-",
                stdin=json.dumps(_deployment(name)),
            )
            while f"deployment/{name}" not in _targets(kubectl, kubeconfig, namespace):
                if time.monotonic() - serving > 300:
                    print(f"attempt {attempt}: not seen within 300 s; log: {log}", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            figures.append(time.monotonic() - serving)
            print(f"attempt {attempt}: seen {figures[-1]:.1f} s after the API server served again")
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        _kubectl(kubectl, kubeconfig, "delete", "namespace", namespace, "--wait=false")
    print(
        f"API server down {args.down:g} s, {args.times} times: a change shown "
        f"{min(figures):.1f} to {max(figures):.1f} s after it served again"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
