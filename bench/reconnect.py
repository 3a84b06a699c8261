"""How soon the operator sees again after the kube-apiserver comes back (issue 11, item 5).

::

    python -m bench.reconnect [--name bench-reconnect] [--down 10] [--times 3]

On a dev cluster it starts ``tiltrun operator`` for a fresh namespace holding a manual
TiltRun and one Deployment, waits until the operator is ready, then, ``--times`` times:
kills the kube-apiserver (SIGKILL, by the PID the dev cluster recorded), leaves it down
for ``--down`` seconds, starts it again with the same command line, and as soon as it
serves (``/readyz``) creates one more Deployment for the run. The figure is the time
from the API server serving again to the run's status showing that Deployment: what a
user waits for after an API server restart. The restarted API server is recorded in
the cluster's state, so ``tiltrun dev-cluster down`` still stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
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


def _ready(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _targets(kubectl: str, kubeconfig: str, namespace: str) -> list[str]:
    out = _kubectl(kubectl, kubeconfig, "get", "tiltrun", "board", "-n", namespace, "-o", "json")
    status = json.loads(out).get("status") or {}
    return [str(t.get("name")) for t in status.get("targets") or []]


def _restart_apiserver(folder: Path) -> None:
    """SIGKILL the recorded kube-apiserver; return once it is gone."""
    state = json.loads((folder / "state.json").read_text())
    entry = next(p for p in state["processes"] if p["name"] == "kube-apiserver")
    os.kill(entry["pid"], signal.SIGKILL)
    while Path(f"/proc/{entry['pid']}").exists():
        stat = Path(f"/proc/{entry['pid']}/stat").read_text(errors="replace")
        if ") Z " in stat:
            break  # a zombie: its parent (gone) will not reap it; it serves nothing
        time.sleep(0.05)


def _start_apiserver(folder: Path, argv: list[str], env: dict[str, str]) -> None:
    """Start the kube-apiserver again with ``argv``, and record it in the cluster's state."""
    state = json.loads((folder / "state.json").read_text())
    entry = next(p for p in state["processes"] if p["name"] == "kube-apiserver")
    with open(entry["log"], "ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    entry["pid"] = proc.pid
    stat = Path(f"/proc/{proc.pid}/stat").read_text()
    entry["start_ticks"] = int(stat[stat.rindex(")") + 2 :].split()[19])
    (folder / "state.json").write_text(json.dumps(state, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconnect", description=__doc__)
    parser.add_argument("--name", default="bench-reconnect", help="the dev cluster's name")
    parser.add_argument("--down", type=float, default=10, help="seconds the API server is down")
    parser.add_argument("--times", type=int, default=3)
    args = parser.parse_args(argv)

    state = DevCluster(args.name, log=lambda line: print(line, file=sys.stderr)).up(pod_logs=False)
    folder = Path(state.folder)
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
    context = ssl.create_default_context(cafile=str(folder / "pki" / "ca.crt"))
    context.load_cert_chain(str(folder / "pki" / "admin.crt"), str(folder / "pki" / "admin.key"))
    readyz = f"{state.server.rstrip('/')}/readyz"
    entry = next(
        p
        for p in json.loads((folder / "state.json").read_text())["processes"]
        if p["name"] == "kube-apiserver"
    )
    apiserver_argv = Path(f"/proc/{entry['pid']}/cmdline").read_bytes().split(b"\0")[:-1]
    apiserver_env = dict(
        line.split("=", 1)
        for line in Path(f"/proc/{entry['pid']}/environ").read_bytes().decode().split("\0")
        if "=" in line
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
            _restart_apiserver(folder)
            time.sleep(args.down)  # the outage itself
            _start_apiserver(folder, [a.decode() for a in apiserver_argv], apiserver_env)
            while not _ready(readyz, context):
                time.sleep(0.05)
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
