"""Reading a TiltRun's ``spec`` into a RunSpec, defaults applied."""

from __future__ import annotations

from typing import Any

from tiltrun.api.duration import parse_duration
from tiltrun.api.healthcheck import HealthCheckError, read_health_checks
from tiltrun.api.model import RUN_LABEL, CISettings, ExitCondition, RunSpec

DEFAULT_TIMEOUT = "30m"
DEFAULT_READINESS_TIMEOUT = "5m"
DEFAULT_GRACE_PERIOD = "0"


class SpecError(ValueError):
    """A spec the CRD should have rejected (for example, written before validation)."""


def read_spec(run: dict[str, Any]) -> RunSpec:
    """The spec of a TiltRun object; raises SpecError with a plain message when invalid."""
    name = run.get("metadata", {}).get("name", "")
    spec = run.get("spec") or {}
    try:
        exit_condition = ExitCondition(spec.get("exitCondition", ExitCondition.MANUAL))
    except ValueError:
        raise SpecError(
            f"spec.exitCondition {spec.get('exitCondition')!r} is neither 'manual' nor 'ci'"
        ) from None
    selector = spec.get("selector")
    if not selector:
        selector = {"matchLabels": {RUN_LABEL: name}}
    ci = spec.get("ci") or {}
    try:
        settings = CISettings(
            timeout=parse_duration(ci.get("timeout", DEFAULT_TIMEOUT)),
            readiness_timeout=parse_duration(ci.get("readinessTimeout", DEFAULT_READINESS_TIMEOUT)),
            grace_period=parse_duration(ci.get("gracePeriod", DEFAULT_GRACE_PERIOD)),
            failures_allowed=_non_negative(ci.get("failuresAllowed", 0)),
            stable_for=parse_duration(ci.get("stableFor", "0")),
            expect=tuple(str(name) for name in ci.get("expect") or ()),
        )
    except ValueError as err:
        raise SpecError(f"spec.ci: {err}") from None
    try:
        checks = read_health_checks(spec.get("healthChecks"), "spec.healthChecks")
    except HealthCheckError as err:
        raise SpecError(str(err)) from None
    return RunSpec(
        tiltfile_path=str(spec.get("tiltfilePath", "")),
        exit_condition=exit_condition,
        selector=selector,
        ci=settings,
        health_checks=checks,
    )


def _non_negative(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"failuresAllowed {value!r} is not a whole number of 0 or more")
    return value
