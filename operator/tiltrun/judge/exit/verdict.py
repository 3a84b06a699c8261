"""The exit logic's vocabulary: where a run stands, and where each counted target stands.

``decision`` produces these values and ``wording`` puts them into words; both import
this module, and neither imports the other's internals.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Outcome(enum.StrEnum):
    """Where a run stands: the one outcome type of the whole project.

    The operator's verdicts use the first four, and only ``ci`` runs ever leave
    ``RUNNING``. ``CLIENT_TIMEOUT`` is ``tiltrun ci``'s own: its ``--timeout`` passed
    before the run finished (the run goes on in the cluster). The value is the CamelCase
    word that metrics and ``tiltrun inspect -o json`` show; ``tiltrun ci -o json`` writes
    ``json_name`` (``succeeded``, ``timedOut``, ``clientTimeout``).
    """

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    CLIENT_TIMEOUT = "ClientTimeout"

    @property
    def json_name(self) -> str:
        """The lowerCamelCase spelling of ``tiltrun ci``'s JSON report."""
        return self.value[0].lower() + self.value[1:]


class Reason(enum.StrEnum):
    """One CamelCase word for why the run is where it is; the conditions' ``reason``."""

    #: Counted targets are not all satisfied yet, none failing or retrying.
    WAITING = "Waiting"
    #: Some target failed but is inside its grace period.
    RETRYING = "Retrying"
    #: No counted target: the selector matches nothing, or only disabled workloads.
    NO_MATCHING_WORKLOADS = "NoMatchingWorkloads"
    #: ci: done, every counted target satisfied.
    SUCCEEDED = "Succeeded"
    #: manual: every counted target satisfied (a health board has nothing to succeed at).
    ALL_TARGETS_UP = "AllTargetsUp"
    #: ci: done, some target failed (at least one of them not only by readiness timeout).
    FAILED = "Failed"
    #: ci: done, every failing target is a server that stayed not ready too long.
    READINESS_TIMEOUT = "ReadinessTimeout"
    #: ci: done, ``ci.timeout`` passed first.
    TIMED_OUT = "TimedOut"
    #: manual: some target is failing beyond its grace period.
    FAILING = "Failing"


@dataclass(frozen=True)
class Verdict:
    """What the exit logic concludes about a run at one instant."""

    #: The run finished (ci mode only; a manual run is never done).
    done: bool
    #: Non-empty only when done with a failure.
    error: str
    #: One line for humans: what the run waits on, why it failed, or that all is up.
    summary: str
    #: Counted targets that are satisfied (server active and ready, job terminated ok).
    satisfied: int
    #: Counted targets (not disabled).
    total: int
    #: Targets failing now (beyond their grace period), in ``error`` order.
    failing: tuple[str, ...]
    #: Targets failing but inside their grace period, in the same order.
    retrying: tuple[str, ...]
    #: Earliest instant after ``now`` at which the verdict could change with time alone.
    wake_at: datetime | None
    #: Where the run stands; defaults keep the constructor usable with the fields above.
    outcome: Outcome = Outcome.RUNNING
    #: Why, as one CamelCase word (see ``Reason``).
    reason: Reason = Reason.WAITING
    #: Per failing target with a tolerance budget: ``{status, restarts, budget}``.
    grace: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Optional targets failing now; reported, never gating.
    optional_failing: tuple[str, ...] = ()
    #: Per target in ``failing``: why the run counts it failed, ``{reason, message,
    #: since}``; ``reason`` is ``TargetFailed`` or ``ReadinessTimeout``, ``message`` the
    #: target's line of ``error``. Stored as the target's ``state.failure``, so that tools
    #: find the failing targets without splitting ``error``.
    failures: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def progress(self) -> str:
        """Satisfied out of counted targets, e.g. ``3/5``."""
        return f"{self.satisfied}/{self.total}"


class Situation(enum.Enum):
    """Where one counted target stands at ``now``, as the decision sees it."""

    #: A job that terminated without error. Satisfied.
    DONE = enum.auto()
    #: A server active and ready (and stable for ``ci.stableFor``). Satisfied.
    READY = enum.auto()
    #: A server ready, but not yet for ``ci.stableFor``. Pending.
    SETTLING = enum.auto()
    #: A job running. Pending.
    RUNNING = enum.auto()
    #: A server running, not ready, its readiness timeout not passed. Pending.
    NOT_READY = enum.auto()
    #: Not started yet. Pending.
    WAITING = enum.auto()
    #: No state at all (a judge that has not looked yet). Pending, never satisfied.
    NO_STATUS = enum.auto()
    #: Named by ``ci.expect`` but not among the targets. Pending.
    EXPECTED = enum.auto()
    #: Failed, but inside its grace period or restart budget. Retrying.
    RETRYING = enum.auto()
    #: Terminated with an error (or a server that stopped at all). Failing.
    FAILED = enum.auto()
    #: A server not ready within its readiness timeout. Failing.
    NOT_READY_IN_TIME = enum.auto()


SATISFIED = frozenset({Situation.DONE, Situation.READY})
FAILING = frozenset({Situation.FAILED, Situation.NOT_READY_IN_TIME})


@dataclass(frozen=True)
class Assessment:
    """One counted (or optional) target, judged at ``now``: the facts its wording needs."""

    name: str
    situation: Situation
    #: The state's own words: the waiting or active reason, or the terminated error.
    reason: str = ""
    #: The instant "since when" refers to (waiting, running, ready, failing since).
    since: datetime | None = None
    #: A server (a server that stops fails even without an error).
    server: bool = True
    #: The duration the wording names: ``ci.readinessTimeout`` or ``ci.stableFor``.
    limit: float = 0.0
    #: Crash-loop restarts so far, and how many ``ci.failuresAllowed`` tolerates.
    restarts: int = 0
    allowed: int = 0
    #: The tolerance a failure is measured against, e.g. ``30s or 3 restarts``.
    budget: str = ""
    #: When the failure happened; orders failing and retrying targets.
    failed_at: datetime | None = None
    #: When time alone would change this target's situation, if it would.
    wake_at: datetime | None = None
    #: Tolerance of a failing target with a budget: ``{status, restarts, budget}``.
    grace: Mapping[str, Any] | None = None

    @property
    def satisfied(self) -> bool:
        return self.situation in SATISFIED

    @property
    def failing(self) -> bool:
        return self.situation in FAILING

    @property
    def retrying(self) -> bool:
        return self.situation is Situation.RETRYING

    @property
    def pending(self) -> bool:
        return not (self.satisfied or self.failing or self.retrying)
