"""``python -m tiltrun`` is the ``tiltrun`` command."""

from tiltrun.cli.main import cli

cli()
