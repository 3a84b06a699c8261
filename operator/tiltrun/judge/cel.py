"""CEL, as the health checks use it: compile once, evaluate against an object, never raise.

The engine is ``cel-expr-python``, the Python binding of the C++ CEL implementation
(cel-cpp) that the CEL project itself publishes; docs/health-checks.md ("The CEL
engine") compares it with a pure-Python and a Rust-backed package and gives the figures
behind the choice.

The environment declares the variables a health check may use: ``self``, the whole
object, and its top-level fields ``apiVersion``, ``kind``, ``metadata``, ``spec`` and
``status`` (so that Flux's expressions, which say ``status.conditions``, work as they
are). All are dynamically typed: objects are JSON. The standard macros are built in;
the string extension (``lowerAscii``, ``split``...) and optional fields
(``self.status.?phase.orValue('')``) are added, as Kubernetes' CEL has them.

An expression is compiled once and kept (``compile_expression`` is memoised by its
text), so a rule costs one compilation per operator process, whatever the number of
objects and runs it judges.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_optional, ext_strings

#: The variables an expression can name, besides the ones its macros bind.
VARIABLES = ("self", "apiVersion", "kind", "metadata", "spec", "status")
#: How many compiled expressions are kept; far more than any real set of rules.
CACHE_SIZE = 4096

_ENV = cel.NewEnv(
    variables={name: cel.Type.DYN for name in VARIABLES},
    extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()],
)
_ANSWERS = (cel.Type.BOOL, cel.Type.DYN)


class CelError(Exception):
    """An expression that cannot be compiled or evaluated; the message is the reason."""


@dataclass(frozen=True, eq=False)
class Bound:
    """An object converted once for CEL, so several expressions can read it.

    Converting the object is most of an evaluation's cost (about four fifths, see
    docs/health-checks.md, "The CEL engine"); a health check evaluates up to three expressions
    against the same object.
    """

    obj: Mapping[str, Any]
    _activation: Any


def bind(obj: Mapping[str, Any]) -> Bound:
    """``obj`` ready for evaluation. Never raises: conversion problems show at evaluation."""
    try:
        return Bound(obj, _ENV.Activation(bindings(obj)))
    except Exception:  # a value the binding cannot convert; evaluate() says which
        return Bound(obj, None)


@dataclass(frozen=True, eq=False)
class Program:
    """A compiled expression, ready to evaluate against any object."""

    text: str
    _compiled: Any

    def evaluate(self, target: Mapping[str, Any] | Bound) -> bool:
        """The expression's value for an object; CelError when it cannot be had.

        Reading a field the object lacks, comparing a string with a number, or a result
        other than a boolean are all errors, with CEL's own words as the message.
        """
        bound = target if isinstance(target, Bound) else bind(target)
        try:
            value = (
                self._compiled.eval(bound._activation)
                if bound._activation is not None
                else self._compiled.eval(data=bindings(bound.obj))
            )
            if value.type() == cel.Type.ERROR and "Non-CEL value" in str(value.value()):
                # Something else than plain JSON (a tuple, a read-only mapping) reached
                # the object: retry once with a plain copy.
                value = self._compiled.eval(data=bindings(plain(bound.obj)))
        except Exception as exc:  # the binding raises for values it cannot convert
            raise CelError(_tidy(str(exc))) from None
        kind = value.type()
        if kind == cel.Type.ERROR:
            raise CelError(_tidy(str(value.value())))
        if kind != cel.Type.BOOL:
            raise CelError(f"the result is {_a(kind.name().lower())}, not a boolean")
        return bool(value.value())


def bindings(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The variables for ``obj``: ``self`` and each top-level field it has."""
    out: dict[str, Any] = {"self": obj}
    for name in VARIABLES[1:]:
        if name in obj:
            out[name] = obj[name]
    return out


def plain(value: Any) -> Any:
    """``value`` as plain JSON types: dicts, lists, strings, numbers, booleans, None."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def compile_expression(text: str) -> Program:
    """``text`` compiled; CelError with the compiler's message when it does not compile.

    Also an error: an expression whose type is known at compile time and is not a
    boolean (``self.status.replicas + 1``). One whose type depends on the object
    (``self.status.ready``) is checked when it is evaluated.
    """
    compiled = _compiled(text)
    if isinstance(compiled, str):
        raise CelError(compiled)
    return compiled


def compile_error(text: str) -> str | None:
    """The compiler's message for ``text``, ``None`` when it compiles."""
    compiled = _compiled(text)
    return compiled if isinstance(compiled, str) else None


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compiled(text: str) -> Program | str:
    """The program, or the compiler's message: both are remembered, so a bad expression
    costs one compilation too."""
    try:
        compiled = _ENV.compile(text)
    except Exception as exc:
        return _tidy(str(exc))
    answer = compiled.return_type()
    if not any(answer == allowed for allowed in _ANSWERS):
        return f"the expression gives {_a(answer.name().lower())}, not a boolean"
    return Program(text, compiled)


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _tidy(message: str) -> str:
    """CEL's message without the status-code words C++ adds (``INVALID_ARGUMENT: ``)."""
    message = message.strip()
    for prefix in ("INVALID_ARGUMENT: ", "UNKNOWN: ", "NOT_FOUND: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message.replace(" [INVALID_ARGUMENT]", "")
