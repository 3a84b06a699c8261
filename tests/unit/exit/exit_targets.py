"""Builders for exit-logic tests: targets and specs as literal model values.

Times are seconds after ``T0`` so a test reads like a timeline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tiltrun.api.model import (
    Active,
    CISettings,
    ExitCondition,
    RunSpec,
    Target,
    TargetState,
    TargetType,
    Terminated,
    Waiting,
)

#: The run's start time in every test (22:00:00Z).
T0 = datetime(2024, 5, 1, 22, 0, 0, tzinfo=UTC)
DEMO_SELECTOR: dict[str, Any] = {"matchLabels": {"tilt.dev/run": "demo"}}


def at(seconds: float) -> datetime:
    """The instant ``seconds`` after the run started."""
    return T0 + timedelta(seconds=seconds)


def spec(
    exit_condition: ExitCondition = ExitCondition.CI,
    *,
    timeout: float = 30 * 60,
    readiness_timeout: float = 5 * 60,
    grace_period: float = 0,
    selector: dict[str, Any] | None = None,
) -> RunSpec:
    """A run spec; the defaults are the CRD's defaults."""
    return RunSpec(
        tiltfile_path="Tiltfile",
        exit_condition=exit_condition,
        selector=DEMO_SELECTOR if selector is None else selector,
        ci=CISettings(
            timeout=timeout, readiness_timeout=readiness_timeout, grace_period=grace_period
        ),
    )


def server(name: str, state: TargetState) -> Target:
    return Target(name=name, type=TargetType.SERVER, resources=(name,), state=state)


def job(name: str, state: TargetState) -> Target:
    return Target(name=name, type=TargetType.JOB, resources=(name,), state=state)


def waiting(reason: str, since: float = 0) -> TargetState:
    return TargetState(waiting=Waiting(trigger_time=at(since), reason=reason))


def active(since: float = 0, *, ready: bool, reason: str = "") -> TargetState:
    return TargetState(active=Active(start_time=at(since), ready=ready, reason=reason))


def ok(start: float = 0, finish: float = 10) -> TargetState:
    return TargetState(terminated=Terminated(start_time=at(start), finish_time=at(finish)))


def failed(error: str, start: float = 0, finish: float = 10) -> TargetState:
    return TargetState(
        terminated=Terminated(start_time=at(start), finish_time=at(finish), error=error)
    )


def disabled() -> TargetState:
    return TargetState(disabled=True)
