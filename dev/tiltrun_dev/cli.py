"""``tiltrun dev-cluster``: a real control plane on 127.0.0.1 for the demo and the tests."""

from __future__ import annotations

import click

from tiltrun_dev.devcluster.build import ensure_binaries
from tiltrun_dev.devcluster.cluster import COMPONENTS, DevCluster
from tiltrun_dev.devcluster.errors import DevClusterError

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
def up(name: str, second_apiserver: bool) -> None:
    """Start the cluster (or reuse it when it is already up) and write a kubeconfig."""
    try:
        state = DevCluster(name, log=_log).up(second_apiserver=second_apiserver)
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
    """Build the control-plane binaries now (first run: about 8-10 minutes on 2 cores)."""
    try:
        paths = ensure_binaries(_log)
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
