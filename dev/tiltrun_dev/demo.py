"""``make demo``: the whole product in one command.

1. Bring up the dev cluster (or, with ``--use-current-context``, use the kubeconfig's
   current context), and install the TiltRun CRD from ``crds/``.
2. Start the operator as a child process, watching two fresh demo namespaces.
3. Apply ``examples/stack`` (web, worker, a PostgreSQL StatefulSet, a migration Job) and
   run ``tiltrun ci -f examples/stack/tiltrun.yaml``: it succeeds, exit code 0.
4. Apply ``examples/broken`` (a web container that crashes at start-up) and run ``tiltrun ci``
   again: it fails fast with its diagnosis, exit code 1.
5. Clean up: delete the demo namespaces and stop the operator it started (by PID). The
   dev cluster stays up for the next run; the last line says how to stop it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import yaml
from kubernetes.client.exceptions import ApiException

from tiltrun.cli import kube as cluster
from tiltrun.cli.kube import (
    CONNECTION_ERRORS,
    CommandError,
    Kube,
    api_message,
    connect,
    unreachable,
)
from tiltrun.judge.kinds import BUILTIN, CUSTOM_RESOURCE_DEFINITION, NAMESPACE
from tiltrun_dev.devcluster.cluster import DevCluster
from tiltrun_dev.devcluster.errors import DevClusterError

Obj = dict[str, Any]

#: Where crds/ and examples/ are, when running from a checkout (``pip install -e``).
REPO = Path(__file__).resolve().parents[2]
FIELD_MANAGER = "tiltrun-demo"


def say(text: str) -> None:
    """A step of the demo, set apart from the commands' own output."""
    click.secho(f"\n==> {text}", bold=True)


def show(command: str) -> None:
    click.secho(f"$ {command}", fg="cyan")


def documents(path: Path) -> list[Obj]:
    """The objects in a YAML file (or every ``*.yaml`` in a folder, by name)."""
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return [d for f in files for d in yaml.safe_load_all(f.read_text()) if isinstance(d, dict)]


def apply(kube: Kube, obj: Obj, namespace: str | None = None) -> None:
    """Server-side apply one object (the examples' kinds and the CRD only)."""
    kind = BUILTIN.lookup(str(obj.get("kind")), str(obj.get("apiVersion")))
    if kind is None:
        raise CommandError(f"the demo cannot apply kind {obj.get('kind')}")
    body = (
        obj
        if namespace is None
        else {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
    )
    with cluster.one_sentence(kube, f"cannot apply {obj['kind']} {obj['metadata']['name']}"):
        cluster.apply(kube, kind, body, field_manager=FIELD_MANAGER)


def install_crd(kube: Kube) -> None:
    """Apply crds/ and wait, on a watch, until the API server serves TiltRuns."""
    for crd in documents(REPO / "crds"):
        apply(kube, crd)
    name = "tiltruns.tilt.dev"
    for _, obj in cluster.watch(
        kube, CUSTOM_RESOURCE_DEFINITION, None, field_selector=f"metadata.name={name}", seconds=30
    ):
        conditions = (obj.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
    raise CommandError(f"the CRD {name} was not Established within 30s")


def create_namespace(kube: Kube, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    cluster.apply(kube, NAMESPACE, body, field_manager=FIELD_MANAGER)


def delete_namespace(kube: Kube, name: str) -> None:
    try:
        cluster.delete(kube, NAMESPACE, None, name)
    except (ApiException, *CONNECTION_ERRORS) as err:
        click.echo(f"could not delete namespace {name}: {err}", err=True)


@contextmanager
def operator_process(kubeconfig: str | None, namespaces: list[str]) -> Iterator[Path]:
    """``tiltrun operator`` as a child process; stopped by its PID on the way out."""
    log = Path(tempfile.gettempdir()) / f"tiltrun-demo-operator-{os.getpid()}.log"
    args = [sys.executable, "-m", "tiltrun", "operator"]
    for namespace in namespaces:
        args += ["--namespace", namespace]
    env = {**os.environ, **({"KUBECONFIG": kubeconfig} if kubeconfig else {})}
    with log.open("wb") as out:
        # Its own session: a Ctrl-C in the terminal reaches the demo, which stops it.
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    flags = " ".join(f"-n {n}" for n in namespaces)
    show(f"tiltrun operator {flags} &   # pid {proc.pid}, log {log}")
    try:
        yield log
    finally:
        say(f"Stopping the operator (pid {proc.pid})")
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_ci(kubeconfig: str | None, *args: str) -> int:
    """``tiltrun ci ...`` as the user would type it, on this terminal.

    ``--operator-wait 60s``: the operator was started a moment ago and may still be
    listing the cluster; a long-running operator answers within milliseconds.
    """
    show("tiltrun ci " + " ".join(args))
    command = [sys.executable, "-m", "tiltrun", "ci", *args, "--operator-wait", "60s"]
    env = {**os.environ, **({"KUBECONFIG": kubeconfig} if kubeconfig else {})}
    return subprocess.run(command, env=env, cwd=REPO, check=False).returncode


def stack(kube: Kube, folder: str, namespace: str) -> None:
    """Apply a folder of examples/ except its TiltRun (``tiltrun ci -f`` applies that)."""
    objects = [o for o in documents(REPO / folder) if o.get("kind") != "TiltRun"]
    show(f"kubectl apply -n {namespace} -f {folder}/   # {', '.join(_names(objects))}")
    for obj in objects:
        apply(kube, obj, namespace)


def _names(objects: list[Obj]) -> list[str]:
    return [f"{o['kind'].lower()}/{o['metadata']['name']}" for o in objects]


@click.command()
@click.option(
    "--use-current-context",
    is_flag=True,
    help="Run on the kubeconfig's current context instead of the dev cluster.",
)
@click.option("--cluster", default="dev", show_default=True, help="Which dev cluster to use.")
def main(use_current_context: bool, cluster: str) -> None:
    """Show the whole product: a stack that comes up, one that fails, and the verdicts."""
    if not (REPO / "examples" / "stack").is_dir():
        raise CommandError("run the demo from a checkout of tiltrun-operator (examples/ missing)")
    kubeconfig: str | None = None
    if use_current_context:
        say("Using the kubeconfig's current context")
    else:
        say(f"Bringing up the dev cluster {cluster!r} (etcd, kube-apiserver, kwok nodes)")
        try:
            kubeconfig = DevCluster(cluster, log=click.echo).up().kubeconfig
        except DevClusterError as err:
            raise CommandError(str(err)) from None
    kube = connect(kubeconfig, None)
    try:
        outcomes = _show(kube, kubeconfig)
    except ApiException as err:
        raise CommandError(api_message(err)) from None
    except CONNECTION_ERRORS as err:
        raise CommandError(unreachable(kube.server, err)) from None
    _verdict(outcomes, use_current_context, cluster)


def _show(kube: Kube, kubeconfig: str | None) -> dict[str, int]:
    """Steps 1-5 on a connected cluster; the exit codes of the two ``tiltrun ci`` runs."""
    say("Installing the TiltRun CRD")
    show("kubectl apply --server-side -f crds/")
    install_crd(kube)
    suffix = uuid.uuid4().hex[:5]
    good, bad = f"shop-demo-{suffix}", f"shop-broken-{suffix}"
    for namespace in (good, bad):
        create_namespace(kube, namespace)
    outcomes: dict[str, int] = {}
    try:
        with operator_process(kubeconfig, [good, bad]) as log:
            say("A healthy stack: web, worker, a PostgreSQL StatefulSet and a migration Job")
            stack(kube, "examples/stack", good)
            outcomes["stack"] = run_ci(kubeconfig, "-f", "examples/stack/tiltrun.yaml", "-n", good)
            say("The same gate on a broken stack: the web container crashes at start-up")
            stack(kube, "examples/broken", bad)
            started = time.monotonic()
            outcomes["broken"] = run_ci(kubeconfig, "-f", "examples/broken/tiltrun.yaml", "-n", bad)
            click.echo(f"(tiltrun ci took {time.monotonic() - started:.1f}s, start-up included)")
            if 3 in outcomes.values():
                click.echo(f"The operator's log: {log}")
    finally:
        say(f"Cleaning up: deleting namespaces {good} and {bad}")
        for namespace in (good, bad):
            delete_namespace(kube, namespace)
    return outcomes


def _verdict(outcomes: dict[str, int], current_context: bool, cluster: str) -> None:
    expected = {"stack": 0, "broken": 1}
    say(
        f"tiltrun ci exited {outcomes.get('stack')} for examples/stack (expected 0) and "
        f"{outcomes.get('broken')} for examples/broken (expected 1)"
    )
    if not current_context:
        click.echo(
            f"The dev cluster {cluster!r} is still up. Use it with "
            f'`eval "$(tiltrun dev-cluster env --name {cluster})"`; stop it with '
            f"`tiltrun dev-cluster down --name {cluster}`."
        )
    if outcomes != expected:
        sys.exit(1)


if __name__ == "__main__":
    main()
