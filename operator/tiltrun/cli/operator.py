"""``tiltrun operator``: run the operator against the current kubeconfig or in-cluster."""

from __future__ import annotations

from typing import IO

import click

from tiltrun.api.config import ConfigError, OperatorConfig, parse_watch, read_config


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
@click.option(
    "--watch",
    "watch",
    multiple=True,
    metavar="GROUP/VERSION/RESOURCE",
    help="Also watch this kind and judge its objects (repeatable), e.g. "
    "cert-manager.io/v1/certificates; v1/persistentvolumeclaims for the core group.",
)
@click.option(
    "--config",
    "config_file",
    type=click.File("r"),
    help="YAML with `watch:` (as --watch) and operator-wide `healthChecks:` (docs/api.md).",
)
@click.option(
    "--leader-elect",
    is_flag=True,
    help="Run as one of several replicas: only the holder of a coordination.k8s.io Lease "
    "writes; the others watch, ready to take over (docs/operations.md).",
)
@click.option(
    "--leader-elect-namespace",
    envvar="POD_NAMESPACE",
    metavar="NAMESPACE",
    help="Where the Lease is. Default: $POD_NAMESPACE (the operator's own namespace).",
)
@click.option(
    "--leader-elect-name",
    default="tiltrun-operator",
    show_default=True,
    metavar="NAME",
    help="The Lease's name; replicas with the same one elect one leader.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log debug messages too.")
def operator(
    namespaces: tuple[str, ...],
    watch: tuple[str, ...],
    config_file: IO[str] | None,
    health_port: int,
    metrics_port: int,
    bind_address: str,
    log_format: str,
    leader_elect: bool,
    leader_elect_namespace: str | None,
    leader_elect_name: str,
    verbose: bool,
) -> None:
    """Keep every TiltRun's status true. Stops cleanly on SIGTERM or Ctrl-C."""
    from tiltrun.wiring.observability import Endpoints
    from tiltrun.wiring.run import LeaderElection, run_operator

    config = operator_config(watch, config_file)
    election = None
    if leader_elect:
        if not leader_elect_namespace:
            raise click.UsageError(
                "--leader-elect needs the namespace of its Lease: give "
                "--leader-elect-namespace, or set POD_NAMESPACE (deploy/ does)."
            )
        election = LeaderElection(leader_elect_namespace, leader_elect_name)
    run_operator(
        list(namespaces),
        leader_election=election,
        config=config,
        verbose=verbose,
        log_format=log_format,
        endpoints=Endpoints(bind_address, health_port, metrics_port),
    )


def operator_config(watch: tuple[str, ...], config_file: IO[str] | None) -> OperatorConfig:
    """The configuration from ``--config`` and ``--watch``; exits with one sentence if unusable.

    Operator-wide health checks are compiled here, so an expression that does not
    compile stops the operator before it judges anything with it.
    """
    from tiltrun.judge.healthchecks import compile_problems

    try:
        config = (
            read_config(config_file.read(), config_file.name) if config_file else OperatorConfig()
        )
        config = config.merged(parse_watch(item) for item in watch)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    problems = compile_problems(config.health_checks)
    if problems:
        raise click.ClickException(problems[0])
    return config
