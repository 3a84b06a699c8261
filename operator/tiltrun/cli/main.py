"""The ``tiltrun`` command: one group, a module per subcommand."""

from __future__ import annotations

import click

from tiltrun.cli.ci import ci
from tiltrun.cli.dev_cluster import dev_cluster
from tiltrun.cli.inspect import inspect
from tiltrun.cli.operator import operator


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tiltrun-operator")
def cli() -> None:
    """Gate CI on a Kubernetes cluster: is the stack up, and if not, what failed and why."""


cli.add_command(dev_cluster)
cli.add_command(operator)
cli.add_command(ci)
cli.add_command(inspect)
