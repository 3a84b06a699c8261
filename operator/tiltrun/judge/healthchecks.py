"""Health checks in CEL: which check judges an object, and what it says.

A ``HealthChecks`` value holds the sources of checks in order of precedence: the
run's own (``spec.healthChecks``), the operator's (its configuration file) and the
built-in library. ``find`` picks the check for an object's group, version and kind;
``evaluate`` runs its expressions in the order ``failed``, ``inProgress``,
``current`` (docs/api.md, "Health checks in CEL"). Expressions are compiled once
(``tiltrun.judge.cel``). Neither function raises: an expression that cannot be
compiled or evaluated makes the object wait, the reason quoting it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tiltrun.api.healthcheck import HealthCheck
from tiltrun.api.model import Evidence
from tiltrun.judge.cel import CelError, bind, compile_error, compile_expression
from tiltrun.judge.health import HealthVerdict, find_condition, latest_transition, telling_words
from tiltrun.judge.health import transition as condition_time
from tiltrun.judge.library import LIBRARY
from tiltrun.judge.objects import Obj, get_str


@dataclass(frozen=True)
class HealthChecks:
    """The checks a run's objects are judged with, in order of precedence."""

    run: tuple[HealthCheck, ...] = ()
    operator: tuple[HealthCheck, ...] = ()
    library: tuple[HealthCheck, ...] = field(default=LIBRARY)

    def sources(self) -> tuple[tuple[HealthCheck, ...], ...]:
        return (self.run, self.operator, self.library)

    def find(self, obj: Obj) -> HealthCheck | None:
        """The check that judges ``obj``, ``None`` when no source has one for its kind."""
        group, _, version = get_str(obj, "apiVersion").rpartition("/")
        return find_check(self.sources(), group, version, get_str(obj, "kind"))


#: No run-level or operator-wide check: the library only.
DEFAULT = HealthChecks()


def find_check(
    sources: Sequence[Sequence[HealthCheck]], group: str, version: str, kind: str
) -> HealthCheck | None:
    """The check for objects of ``group/version, kind``: first source with one wins.

    Inside a source, an entry naming the version wins over one naming only the group.
    """
    for source in sources:
        groupwide: HealthCheck | None = None
        for check in source:
            if check.kind != kind or check.group != group:
                continue
            if check.version == version:
                return check
            if not check.version and groupwide is None:
                groupwide = check
        if groupwide is not None:
            return groupwide
    return None


def compile_problems(checks: Iterable[HealthCheck]) -> list[str]:
    """One sentence per expression that does not compile, naming field and expression.

    ``spec.healthChecks[0].current: cannot compile "self.x ==": ERROR: <input>:1:...``.
    """
    problems = []
    for check in checks:
        for name, text in check.expressions():
            message = compile_error(text)
            if message is not None:
                where = f"{check.source}.{name}" if check.source else name
                problems.append(f"{where}: cannot compile {_quote(text)}: {message}")
    return problems


def evaluate(check: HealthCheck, obj: Obj) -> HealthVerdict:
    """What ``check`` says about ``obj``: the first of failed, inProgress, current that holds.

    When none holds the object is in progress. An expression that does not compile or
    errors while it is evaluated leaves the object in progress with the error as its
    reason: a rule that cannot be applied must not pass an object, nor fail it.
    """
    bound = bind(obj)
    for name, text in check.expressions():
        try:
            holds = compile_expression(text).evaluate(bound)
        except CelError as err:
            where = f"{check.source}.{name}" if check.source else name
            error = f"{where} {_quote(text)}: {err}"
            return HealthVerdict.in_progress(
                f"health check error: {error}",
                facts=Evidence(reason="HealthCheckError", message=error),
            )
        if not holds:
            continue
        words = telling_words(obj)
        facts = Evidence(reason=_WORDS[name], message=words, since=_since(obj))
        if name == "failed":
            error = f"health check failed: {text}"
            return HealthVerdict.failed(_with(error, words), _since(obj), facts=facts)
        if name == "inProgress":
            return HealthVerdict.in_progress(_with("in progress", words), _since(obj), facts=facts)
        return HealthVerdict.current(_since(obj))
    words = telling_words(obj)
    facts = Evidence(reason="HealthCheckNotCurrent", message=words, since=_since(obj))
    return HealthVerdict.in_progress(_with("not current yet", words), _since(obj), facts=facts)


#: The evidence's reason word when an expression holds (docs/api.md, "Evidence").
_WORDS = {"failed": "HealthCheckFailed", "inProgress": "HealthCheckInProgress", "current": ""}


def _with(head: str, words: str) -> str:
    return f"{head}: {words}" if words else head


def _since(obj: Obj) -> datetime | None:
    """The ``Ready`` condition's transition time, else the latest among the conditions."""
    return condition_time(find_condition(obj, "Ready")) or latest_transition(obj)


def _quote(text: str) -> str:
    """An expression in double quotes, on one line, cut to 300 characters."""
    flat = " ".join(text.split())
    if len(flat) > 300:
        flat = flat[:299] + "…"
    return f'"{flat}"'
