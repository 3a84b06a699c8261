"""``tiltrun operator``: run the operator against the current kubeconfig or in-cluster."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Watch only this namespace (repeatable). Default: all namespaces.",
)
def operator(namespaces: tuple[str, ...]) -> None:
    """Keep every TiltRun's status true."""
    from tiltrun.wiring.run import run_operator

    run_operator(list(namespaces))
