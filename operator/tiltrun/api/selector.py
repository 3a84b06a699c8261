"""Kubernetes label selectors: matched, written and read the way Kubernetes does.

The one place the project handles selectors:

- ``selector_of``: a TiltRun's selector, ``spec.selector`` or, when that is omitted or
  empty, ``default_selector`` (``tilt.dev/run: <name>``, the label ``RUN_LABEL``);
- ``matches``: does a set of labels satisfy a selector, as the API server decides it;
- ``format_selector``: a selector in kubectl's text form (``app=web,tier in (a,b),!old``),
  which is also what the API's ``labelSelector`` query parameter takes;
- ``parse_selector``: that text form back into a selector (``tiltrun inspect -l``).

``parse_selector(format_selector(s))`` gives ``s`` back for a selector in canonical
order (requirements sorted by key, values sorted), and an equivalent selector otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tiltrun.api.model import RUN_LABEL

#: A ``LabelSelector`` object as the API stores it: ``matchLabels``, ``matchExpressions``.
Selector = Mapping[str, Any]

#: A label key as kubectl's parser takes it (a prefix with ``/`` included).
_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"


class SelectorError(ValueError):
    """A selector the API server would not accept, or text that is not one."""


def default_selector(run_name: str) -> dict[str, Any]:
    """What a TiltRun selects when its ``spec.selector`` is omitted: ``tilt.dev/run: <name>``."""
    return {"matchLabels": {RUN_LABEL: run_name}}


def selector_of(run: Mapping[str, Any]) -> Selector:
    """The selector of the TiltRun object ``run``: ``spec.selector``, else the default.

    An empty or malformed (not an object) ``spec.selector`` counts as omitted, so what the
    run selects never depends on input the CRD would have rejected.
    """
    spec = run.get("spec")
    selector = spec.get("selector") if isinstance(spec, Mapping) else None
    if isinstance(selector, Mapping) and selector:
        return selector
    metadata = run.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return default_selector(name if isinstance(name, str) else "")


def matches(selector: Selector, labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy ``selector`` (matchLabels AND every matchExpression).

    An empty selector matches everything, as in Kubernetes. Raises SelectorError for an
    unknown operator or a malformed expression.
    """
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, Mapping):
            raise SelectorError(f"matchExpressions entry {expr!r} is not an object")
        key, op = str(expr.get("key")), expr.get("operator")
        values = expr.get("values") or []
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            raise SelectorError(f"unknown selector operator {op!r}")
        if not ok:
            return False
    return True


def format_selector(selector: Selector) -> str:
    """A label selector in kubectl's form: ``app=web,tier in (a,b),!legacy``.

    Requirements are sorted by key and set values sorted, so the text is stable. An
    empty selector gives ``""``. Malformed parts (the selector comes from user input) are
    skipped, never raised on.
    """
    parts: list[tuple[str, str]] = []
    labels = selector.get("matchLabels")
    if isinstance(labels, Mapping):
        parts.extend((str(key), f"{key}={value}") for key, value in labels.items())
    expressions = selector.get("matchExpressions")
    if isinstance(expressions, Sequence) and not isinstance(expressions, str):
        for expression in expressions:
            if isinstance(expression, Mapping):
                parts.append(_format_expression(expression))
    return ",".join(text for _, text in sorted(parts, key=lambda part: part[0]))


def _format_expression(expression: Mapping[str, Any]) -> tuple[str, str]:
    key = str(expression.get("key", ""))
    operator = str(expression.get("operator", ""))
    values = expression.get("values")
    listed = (
        ",".join(sorted(str(value) for value in values))
        if isinstance(values, Sequence) and not isinstance(values, str)
        else ""
    )
    if operator == "In":
        return key, f"{key} in ({listed})"
    if operator == "NotIn":
        return key, f"{key} notin ({listed})"
    if operator == "Exists":
        return key, key
    if operator == "DoesNotExist":
        return key, f"!{key}"
    return key, f"{key} {operator} ({listed})"


def parse_selector(text: str) -> dict[str, Any]:
    """A selector in kubectl's form (``app=web,tier in (a,b),!legacy``) as a LabelSelector.

    Also takes ``key==value`` and ``key!=value`` (a ``NotIn`` of one value). Blank text
    gives the empty selector, which matches everything. Raises SelectorError naming the
    part it cannot read.
    """
    labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for part in _split(text):
        if m := re.fullmatch(rf"({_KEY})\s+(in|notin)\s+\(([^)]*)\)", part):
            values = [v.strip() for v in m.group(3).split(",") if v.strip()]
            operator = "In" if m.group(2) == "in" else "NotIn"
            expressions.append({"key": m.group(1), "operator": operator, "values": values})
        elif m := re.fullmatch(rf"!\s*({_KEY})", part):
            expressions.append({"key": m.group(1), "operator": "DoesNotExist"})
        elif m := re.fullmatch(rf"({_KEY})\s*!=\s*(\S*)", part):
            expressions.append({"key": m.group(1), "operator": "NotIn", "values": [m.group(2)]})
        elif m := re.fullmatch(rf"({_KEY})\s*==?\s*(\S*)", part):
            labels[m.group(1)] = m.group(2)
        elif re.fullmatch(_KEY, part):
            expressions.append({"key": part, "operator": "Exists"})
        else:
            raise SelectorError(f"cannot read {part!r} in the selector {text!r}")
    selector: dict[str, Any] = {}
    if labels:
        selector["matchLabels"] = labels
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


def _split(text: str) -> list[str]:
    """Split on the commas that are not inside ``(...)``."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]
