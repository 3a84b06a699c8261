"""The ``tiltrun`` command: one group, a module per subcommand.

Commands from other installed distributions join through the ``tiltrun.commands``
entry-point group: the development tools (``dev/``, distribution ``tiltrun-dev``) add
``tiltrun dev-cluster`` that way, so the product carries none of them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from tiltrun.cli.ci import ci
from tiltrun.cli.inspect import inspect
from tiltrun.cli.operator import operator


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tiltrun-operator")
def cli() -> None:
    """Gate CI on a Kubernetes cluster: is the stack up, and if not, what failed and why."""


cli.add_command(operator)
cli.add_command(ci)
cli.add_command(inspect)
for _plugin in entry_points(group="tiltrun.commands"):
    cli.add_command(_plugin.load(), _plugin.name)
