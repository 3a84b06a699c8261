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
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Serve /healthz and /readyz on this port (0: do not serve).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Serve Prometheus /metrics on this port; may equal --health-port (0: do not serve).",
)
@click.option(
    "--bind-address",
    default="0.0.0.0",
    show_default=True,
    help="Address the health and metrics ports listen on.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line, for log collectors.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log debug messages too.")
def operator(
    namespaces: tuple[str, ...],
    health_port: int,
    metrics_port: int,
    bind_address: str,
    log_format: str,
    verbose: bool,
) -> None:
    """Keep every TiltRun's status true. Stops cleanly on SIGTERM or Ctrl-C."""
    from tiltrun.wiring.observability import Endpoints
    from tiltrun.wiring.run import run_operator

    run_operator(
        list(namespaces),
        verbose=verbose,
        log_format=log_format,
        endpoints=Endpoints(bind_address, health_port, metrics_port),
    )
