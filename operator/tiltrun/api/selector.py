"""Kubernetes label selectors, matched the way the API server matches them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SelectorError(ValueError):
    """A selector the API server would not accept."""


def matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
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
