"""TiltRuns and dumps captured from the dev cluster, for the CLI's pure parts."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

CLI_FIXTURES = Path(__file__).parents[2] / "fixtures" / "cli"


@functools.cache
def _read(name: str) -> Any:
    return yaml.safe_load((CLI_FIXTURES / f"{name}.yaml").read_text())


def captured(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/fixtures/cli/<name>.yaml`` that a test may change."""
    data: dict[str, Any] = copy.deepcopy(_read(name))
    return data
