"""The TiltRun API as plain Python data: what the CRD stores, nothing else.

The judgement (``tiltrun.judge``) produces these values from workload objects, the
engine turns them into the ``status`` the API server stores. Field names follow the
CRD (``crds/tiltrun.yaml``); ``to_dict`` gives exactly the JSON the status holds.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tiltrun.api.healthcheck import HealthCheck

GROUP = "tilt.dev"
VERSION = "v1alpha1"
PLURAL = "tiltruns"
KIND = "TiltRun"

#: Label a TiltRun selects by when ``spec.selector`` is omitted.
RUN_LABEL = "tilt.dev/run"
#: Annotation on a workload: the Tiltfile resources it belongs to, comma-separated.
RESOURCE_ANNOTATION = "tilt.dev/resource"
#: Annotation on a workload that overrides its target type (``job`` or ``server``).
TARGET_TYPE_ANNOTATION = "tilt.dev/target-type"
#: Per-workload overrides of ``spec.ci`` (see ``judge/policy.py``).
GRACE_PERIOD_ANNOTATION = "tilt.dev/grace-period"
FAILURES_ALLOWED_ANNOTATION = "tilt.dev/failures-allowed"
READINESS_TIMEOUT_ANNOTATION = "tilt.dev/readiness-timeout"
OPTIONAL_ANNOTATION = "tilt.dev/optional"


class ExitCondition(enum.StrEnum):
    """When a run is finished: never (``manual``, like ``tilt up``) or like ``tilt ci``."""

    MANUAL = "manual"
    CI = "ci"


class TargetType(enum.StrEnum):
    """A job runs to completion; a server runs indefinitely."""

    JOB = "job"
    SERVER = "server"


@functools.lru_cache(maxsize=8192)
def micro_time(t: datetime) -> str:
    """Format ``t`` as a Kubernetes MicroTime: RFC 3339 with microseconds, in UTC.

    Remembered: a status is composed again on every change of any of its targets, from
    times that mostly did not change, and ``strftime`` is slow (docs/benchmark.md).
    """
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime | None:
    """Parse a Kubernetes Time or MicroTime; ``None`` for a missing or malformed value."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@dataclass(frozen=True)
class Evidence:
    """The facts behind a target's state, as fields: what the human reason says in prose.

    ``reason`` is the word of the rule that decided the state (``CrashLoopBackOff``,
    ``BackoffLimitExceeded``, ``Unschedulable``, ``ContainersNotReady``), ``message`` the
    sentence that came with it; ``pod`` and ``container`` say where to look (the logs),
    ``exit_code`` and ``restarts`` what the container did, ``termination_message`` what
    it left when it last terminated (its ``terminationMessagePath``), ``since`` when the
    fact was seen. Empty fields are left out of the status (``judge/budget.py`` cuts the strings
    to their schema limits). docs/api.md, "Evidence", lists the reasons.
    """

    reason: str = ""
    message: str = ""
    pod: str = ""
    container: str = ""
    exit_code: int | None = None
    restarts: int | None = None
    termination_message: str = ""
    since: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (
            ("reason", self.reason),
            ("message", self.message),
            ("pod", self.pod),
            ("container", self.container),
            ("terminationMessage", self.termination_message),
        ):
            if value:
                out[key] = value
        if self.exit_code is not None:
            out["exitCode"] = self.exit_code
        if self.restarts is not None:
            out["restarts"] = self.restarts
        if self.since is not None:
            out["since"] = micro_time(self.since)
        return out


def _with_evidence(out: dict[str, Any], evidence: Evidence | None) -> dict[str, Any]:
    if evidence is not None and (facts := evidence.to_dict()):
        out["evidence"] = facts
    return out


@dataclass(frozen=True)
class Waiting:
    """Queued but not started: ``reason`` says why it is not running yet."""

    trigger_time: datetime
    reason: str
    evidence: Evidence | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"triggerTime": micro_time(self.trigger_time), "reason": self.reason}
        return _with_evidence(out, self.evidence)


@dataclass(frozen=True)
class Active:
    """Executing; ``ready`` when the target's readiness holds.

    ``reason`` is why a server is not ready yet (empty when ready).
    """

    start_time: datetime
    ready: bool
    reason: str = ""
    #: When the target last became ready (``ci.stableFor`` counts from it).
    ready_since: datetime | None = None
    #: Why it is not ready, as fields (``None`` when ready).
    evidence: Evidence | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"startTime": micro_time(self.start_time), "ready": self.ready}
        if self.reason:
            out["reason"] = self.reason
        if self.ready and self.ready_since is not None:
            out["readySince"] = micro_time(self.ready_since)
        return _with_evidence(out, self.evidence)


@dataclass(frozen=True)
class Terminated:
    """Finished: ``error`` is empty for a job that succeeded."""

    start_time: datetime
    finish_time: datetime
    error: str = ""
    #: Why it failed, as fields (``None`` for a job that succeeded).
    evidence: Evidence | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "startTime": micro_time(self.start_time),
            "finishTime": micro_time(self.finish_time),
        }
        if self.error:
            out["error"] = self.error
        return _with_evidence(out, self.evidence)


@dataclass(frozen=True)
class TargetState:
    """At most one of waiting, active, terminated; none of them when disabled."""

    disabled: bool = False
    waiting: Waiting | None = None
    active: Active | None = None
    terminated: Terminated | None = None

    def __post_init__(self) -> None:
        set_count = sum(s is not None for s in (self.waiting, self.active, self.terminated))
        if set_count > 1 or (self.disabled and set_count):
            raise ValueError("a target state holds at most one of waiting/active/terminated")

    @property
    def failed(self) -> bool:
        return self.terminated is not None and bool(self.terminated.error)

    def to_dict(self) -> dict[str, Any]:
        if self.disabled:
            return {"disabled": True}
        out: dict[str, Any] = {}
        if self.waiting:
            out["waiting"] = self.waiting.to_dict()
        if self.active:
            out["active"] = self.active.to_dict()
        if self.terminated:
            out["terminated"] = self.terminated.to_dict()
        return out


@dataclass(frozen=True)
class TargetPolicy:
    """A workload's own tolerance, from its annotations; ``None`` defers to ``spec.ci``."""

    grace_period: float | None = None
    failures_allowed: int | None = None
    readiness_timeout: float | None = None
    #: Tracked and shown, but never gates the run.
    optional: bool = False


@dataclass(frozen=True)
class Target:
    """One workload the run tracks, as the judgement sees it."""

    name: str
    type: TargetType
    resources: tuple[str, ...]
    state: TargetState
    policy: TargetPolicy = field(default_factory=TargetPolicy)
    #: Highest container restart count among the target's crash-looping pods: the
    #: failure is a crash loop that ``failures-allowed`` may tolerate. 0 otherwise.
    crash_restarts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """``to_dict``, built once per Target and shared: never change what it returns.

        A status is composed again whenever any of its targets changes; the others are
        the same Target objects (the engine remembers each workload's judgement), so
        their dicts are too.
        """
        held: dict[str, Any] | None = self.__dict__.get("_as_dict")
        if held is None:
            held = self.to_dict()
            object.__setattr__(self, "_as_dict", held)
        return held

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": str(self.type),
            "resources": list(self.resources),
            "state": self.state.to_dict(),
        }
        if self.policy.optional:
            out["optional"] = True
        return out


@dataclass(frozen=True)
class CISettings:
    """``spec.ci`` with defaults applied; durations in seconds, ``0`` disables."""

    timeout: float = 30 * 60
    readiness_timeout: float = 5 * 60
    grace_period: float = 0
    #: Container restarts tolerated per pod before a crash loop counts as a failure.
    failures_allowed: int = 0
    #: A server must stay ready this long before it counts as satisfied.
    stable_for: float = 0
    #: Target names (``deployment/api``) or resource names that must exist to succeed.
    expect: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSpec:
    """A TiltRun's ``spec`` with defaults applied."""

    tiltfile_path: str
    exit_condition: ExitCondition
    selector: dict[str, Any]
    ci: CISettings = field(default_factory=CISettings)
    #: ``spec.healthChecks``: CEL rules for other kinds (``api/healthcheck.py``).
    health_checks: tuple[HealthCheck, ...] = ()
