"""Reading Kubernetes objects from YAML or JSON files the way the API server reads them.

PyYAML follows YAML 1.1 and turns an unquoted ``2018-12-02T10:30:57Z`` into a
``datetime``. The API server (sigs.k8s.io/yaml) keeps it as the string it is, and every
time field of a Kubernetes object is a string; files written by other tools often leave
timestamps unquoted. So the loader here keeps timestamp scalars as their text, exactly
as written, and the objects come out as the JSON the API server would have served.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class ApiLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with timestamps kept as text (implicit or ``!!timestamp``)."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


ApiLoader.add_constructor(_TIMESTAMP_TAG, _timestamp_as_text)

#: The same loader on libyaml's parser when PyYAML has it: about ten times faster on a
#: large ``kubectl get -o yaml`` dump. Its error messages differ, so errors are worded
#: by the pure-Python parser (see ``read_documents``).
FastApiLoader: type[yaml.SafeLoader | yaml.CSafeLoader] = ApiLoader
if hasattr(yaml, "CSafeLoader"):

    class _FastApiLoader(yaml.CSafeLoader):
        """``ApiLoader`` on libyaml."""

    _FastApiLoader.add_constructor(_TIMESTAMP_TAG, _timestamp_as_text)
    FastApiLoader = _FastApiLoader


class ManifestError(ValueError):
    """Text that is not YAML; the message says where, in one sentence."""


def read_documents(text: str, source: str) -> list[Any]:
    """Every YAML (or JSON) document in ``text``, timestamps as strings; ``None`` for empty ones.

    JSON is read as JSON first (YAML 1.1 is not quite a superset of it); text that is not
    JSON is read as YAML. Raises ManifestError naming ``source``, the problem and its line
    and column.
    """
    if text.lstrip().startswith(("{", "[")):
        try:
            return [json.loads(text)]
        except ValueError:
            pass  # a YAML flow mapping, or broken JSON: YAML says where
    try:
        return list(yaml.load_all(text, Loader=FastApiLoader))  # a SafeLoader
    except yaml.YAMLError:
        pass
    try:
        return list(yaml.load_all(text, Loader=ApiLoader))  # the same, for the message
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "cannot be parsed"
        raise ManifestError(f"{source} is not valid YAML: {problem}{where}") from None
