"""Reading a TiltRun's ``spec`` into a RunSpec, defaults applied.

The API server validates a TiltRun with the CRD's rules before the operator ever sees
it; ``read_spec`` applies the same rules again (an object stored before the CRD had a
rule, or a file given to ``tiltrun inspect``, was never checked), from the same
definitions: ``api/duration.py`` for durations, ``api/visible.py`` for
``tiltfilePath`` and ``ci.expect``. Unit tests compare these with the CRD's rules and a
property test on the dev cluster checks that both accept exactly the same strings.
"""

from __future__ import annotations

from typing import Any

from tiltrun.api.duration import BOUNDS_TEXT, DurationRangeError, parse_bounded_duration
from tiltrun.api.healthcheck import HealthCheckError, read_health_checks
from tiltrun.api.model import CISettings, ExitCondition, RunSpec
from tiltrun.api.selector import selector_of
from tiltrun.api.visible import has_visible_character

DEFAULT_TIMEOUT = "30m"
DEFAULT_READINESS_TIMEOUT = "5m"
DEFAULT_GRACE_PERIOD = "0"


class SpecError(ValueError):
    """A spec the CRD should have rejected (for example, written before validation)."""


def read_spec(run: dict[str, Any]) -> RunSpec:
    """The spec of a TiltRun object; raises SpecError with a plain message when invalid."""
    spec = run.get("spec") or {}
    try:
        exit_condition = ExitCondition(spec.get("exitCondition", ExitCondition.MANUAL))
    except ValueError:
        raise SpecError(
            f"spec.exitCondition {spec.get('exitCondition')!r} is neither 'manual' nor 'ci'"
        ) from None
    tiltfile_path = spec.get("tiltfilePath", "")
    if not isinstance(tiltfile_path, str) or not has_visible_character(tiltfile_path):
        raise SpecError(
            "spec.tiltfilePath must not be empty or only spaces and invisible characters"
        )
    selector = dict(selector_of(run))
    ci = spec.get("ci") or {}
    expect = tuple(str(entry) for entry in ci.get("expect") or ())
    if not all(has_visible_character(entry) for entry in expect):
        raise SpecError("spec.ci.expect entries must not be empty or only invisible characters")
    settings = CISettings(
        timeout=_duration(ci, "timeout", DEFAULT_TIMEOUT),
        readiness_timeout=_duration(ci, "readinessTimeout", DEFAULT_READINESS_TIMEOUT),
        grace_period=_duration(ci, "gracePeriod", DEFAULT_GRACE_PERIOD),
        failures_allowed=_non_negative(ci.get("failuresAllowed", 0)),
        stable_for=_duration(ci, "stableFor", "0"),
        expect=expect,
    )
    try:
        checks = read_health_checks(spec.get("healthChecks"), "spec.healthChecks")
    except HealthCheckError as err:
        raise SpecError(str(err)) from None
    return RunSpec(
        tiltfile_path=tiltfile_path,
        exit_condition=exit_condition,
        selector=selector,
        ci=settings,
        health_checks=checks,
    )


def _duration(ci: dict[str, Any], field: str, default: str) -> float:
    value = ci.get(field, default)
    try:
        return parse_bounded_duration(value)
    except DurationRangeError:
        raise SpecError(f"spec.ci.{field} {value!r} is out of range: 0, or {BOUNDS_TEXT}") from None
    except ValueError:
        raise SpecError(
            f"spec.ci.{field} {value!r} is not a duration like 90s, 5m or 1h30m"
        ) from None


def _non_negative(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError(f"spec.ci.failuresAllowed {value!r} is not a whole number of 0 or more")
    return value
