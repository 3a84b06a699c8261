"""The ``tiltrun`` command: one group, a module per subcommand.

Commands from other installed distributions join through the ``tiltrun.commands``
entry-point group: the development tools (``dev/``, distribution ``tiltrun-dev``) add
``tiltrun dev-cluster`` that way, so the product carries none of them.

The same group is the kubectl plugin ``kubectl tiltrun`` (the ``kubectl-tiltrun``
console script). kubectl refuses flags placed before a plugin's name and hands every
argument after it to the plugin unchanged, so kubectl's cluster flags (``--kubeconfig``,
``--context``, ``-n``/``--namespace``) are accepted here both before and after the
subcommand: ``kubectl tiltrun -n shop ci web`` and ``kubectl tiltrun ci web -n shop``
mean the same; a flag after the subcommand wins.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Any

import click

from tiltrun.cli.ci import ci
from tiltrun.cli.inspect import inspect
from tiltrun.cli.kube import EXIT_UNUSABLE
from tiltrun.cli.operator import operator

#: The group's cluster flags, by parameter name, as kubectl spells them.
CLUSTER_FLAGS = {"kubeconfig": "--kubeconfig", "context": "--context", "namespace": "--namespace"}
#: Where a subcommand keeps a group flag under another parameter name.
_RENAMED = {("operator", "namespace"): "namespaces"}


class _UsageError(click.UsageError):
    exit_code = EXIT_UNUSABLE


class _Group(click.Group):
    """Bad arguments before the subcommand exit 3, as they do for ``ci`` (2 means timed out)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as err:
            raise _UsageError(err.format_message(), err.ctx) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            raise _UsageError(err.format_message(), err.ctx) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tiltrun-operator")
@click.option(
    "--kubeconfig", metavar="PATH", help="Path to the kubeconfig file (default: $KUBECONFIG)."
)
@click.option("--context", metavar="NAME", help="The kubeconfig context to use.")
@click.option("-n", "--namespace", metavar="NAME", help="The namespace (default: the context's).")
@click.pass_context
def cli(
    ctx: click.Context, kubeconfig: str | None, context: str | None, namespace: str | None
) -> None:
    """Gate CI on a Kubernetes cluster: is the stack up, and if not, what failed and why."""
    given = {
        name: value
        for name, value in (
            ("kubeconfig", kubeconfig),
            ("context", context),
            ("namespace", namespace),
        )
        if value is not None
    }
    if given and ctx.invoked_subcommand:
        ctx.default_map = {
            ctx.invoked_subcommand: _defaults_for(ctx, ctx.invoked_subcommand, given)
        }


def _defaults_for(ctx: click.Context, name: str, given: dict[str, str]) -> dict[str, object]:
    """The group's cluster flags as defaults of subcommand ``name``, or a usage error."""
    command = cli.get_command(ctx, name)
    assert command is not None  # click resolved it before calling the group
    params = {p.name: p for p in command.params}
    defaults: dict[str, object] = {}
    for flag, value in given.items():
        param = params.get(_RENAMED.get((name, flag), flag))
        if param is None:
            raise _UsageError(
                f"{CLUSTER_FLAGS[flag]} does not apply to `{ctx.info_name} {name}`", ctx
            )
        defaults[param.name or flag] = [value] if param.multiple else value
    return defaults


cli.add_command(operator)
cli.add_command(ci)
cli.add_command(inspect)
for _plugin in entry_points(group="tiltrun.commands"):
    cli.add_command(_plugin.load(), _plugin.name)


def kubectl_plugin() -> None:
    """``kubectl tiltrun ...``: the ``kubectl-tiltrun`` executable kubectl finds on PATH."""
    cli.main(args=kubectl_args(sys.argv[1:]), prog_name="kubectl tiltrun")


def kubectl_args(args: list[str]) -> list[str]:
    """kubectl's spellings that click reads otherwise: ``-n=NAME`` is ``-n NAME``."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            return out + args[index:]
        if arg.startswith("-n="):
            out += ["-n", arg[3:]]
        else:
            out.append(arg)
    return out
