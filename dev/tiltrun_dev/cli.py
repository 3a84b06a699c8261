"""``tiltrun dev-cluster`` (a real control plane on 127.0.0.1) and ``tiltrun dev-image``."""

from __future__ import annotations

import click

from tiltrun_dev.devcluster.build import ensure_binaries, ensure_helm
from tiltrun_dev.devcluster.cluster import COMPONENTS, DevCluster
from tiltrun_dev.devcluster.errors import DevClusterError
from tiltrun_dev.image import IMAGE, ImageError, podman_env
from tiltrun_dev.image import build as build_image

_name = click.option(
    "--name", default="dev", show_default=True, help="Which dev cluster (each has its own state)."
)


def _log(message: str) -> None:
    click.echo(message, err=True)


@click.group("dev-cluster")
def dev_cluster() -> None:
    """Run a local Kubernetes control plane (etcd, kube-apiserver, controllers, kwok nodes).

    The binaries are built from pinned Go modules on first use and cached under
    ~/.cache/tiltrun (set TILTRUN_CACHE_DIR to move it).
    """


@dev_cluster.command()
@_name
@click.option(
    "--second-apiserver",
    is_flag=True,
    help="Also run a second kube-apiserver on the same etcd (for fault tests); "
    "the controllers and kwok use it.",
)
@click.option(
    "--no-pod-logs",
    is_flag=True,
    help="Leave out the pod-logs process that serves `kubectl logs` (the benchmark does).",
)
def up(name: str, second_apiserver: bool, no_pod_logs: bool) -> None:
    """Start the cluster (or reuse it when it is already up) and write a kubeconfig."""
    try:
        state = DevCluster(name, log=_log).up(
            second_apiserver=second_apiserver, pod_logs=not no_pod_logs
        )
    except DevClusterError as err:
        raise click.ClickException(str(err)) from None
    click.echo(state.kubeconfig)
    if state.second_kubeconfig:
        click.echo(state.second_kubeconfig)


_component = click.argument("component", type=click.Choice(COMPONENTS))


@dev_cluster.command()
@_name
@_component
def kill(name: str, component: str) -> None:
    """SIGKILL one component (by the PID `up` recorded), to test what survives it."""
    try:
        DevCluster(name, log=_log).kill(component)
    except DevClusterError as err:
        raise click.ClickException(str(err)) from None


@dev_cluster.command()
@_name
@_component
def revive(name: str, component: str) -> None:
    """Start a killed component again with its flags and data; wait until it serves."""
    try:
        DevCluster(name, log=_log).revive(component)
    except DevClusterError as err:
        raise click.ClickException(str(err)) from None


@dev_cluster.command()
@_name
def compact(name: str) -> None:
    """Compact etcd's history to its current revision (older watches get 410 Gone)."""
    try:
        DevCluster(name, log=_log).compact()
    except DevClusterError as err:
        raise click.ClickException(str(err)) from None


@dev_cluster.command()
def build() -> None:
    """Build the control-plane binaries and Helm now (first run: 10-15 minutes on 2 cores)."""
    try:
        paths = {**ensure_binaries(_log), "helm": ensure_helm(_log)}
    except DevClusterError as err:
        raise click.ClickException(str(err)) from None
    for name, path in sorted(paths.items()):
        click.echo(f"{name:<24} {path}")


@dev_cluster.command()
@_name
def down(name: str) -> None:
    """Stop exactly the processes `up` started, by PID, and remove the cluster's state."""
    DevCluster(name, log=_log).down()


@dev_cluster.command()
@_name
def status(name: str) -> None:
    """Say whether the cluster is up, and list its processes and logs."""
    click.echo(DevCluster(name, log=_log).status())


@dev_cluster.command()
@_name
def env(name: str) -> None:
    """Print `export KUBECONFIG=...` for `eval $(tiltrun dev-cluster env)`."""
    try:
        click.echo(DevCluster(name, log=_log).env())
    except DevClusterError as err:
        raise click.ClickException(str(err)) from None


@click.group("dev-image")
def dev_image() -> None:
    """Build the operator's image: Docker if a daemon answers, else buildah and podman.

    The buildah path installs what it needs with apt-get (as root) and keeps its
    configuration, storage and base image under ~/.cache/tiltrun/containers.
    """


@dev_image.command("build")
@click.option("--tag", default=IMAGE, show_default=True, help="The image's name.")
def image_build(tag: str) -> None:
    """Build the Dockerfile (first run: a few minutes; then seconds) and report its size."""
    try:
        built = build_image(tag, log=_log)
    except ImageError as err:
        raise click.ClickException(str(err)) from None
    for size, created_by in built.layers:
        _log(f"  {size / 1e6:7.1f} MB  {' '.join(created_by.split())[:90]}")
    click.echo(
        f"{built.tag}: {built.size / 1e6:.1f} MB uncompressed, built with {built.engine} "
        f"on {built.base} in {built.seconds:.0f}s"
    )
    if built.engine == "buildah":
        _log("run it with podman after: eval $(tiltrun dev-image env)")


@dev_image.command("env")
def image_env() -> None:
    """Print the exports that point podman and buildah at the image's storage."""
    env = podman_env()
    for name in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"):
        click.echo(f"export {name}={env[name]}")
