"""A workload's own tolerance, read from its annotations.

Precedence is workload annotation, then the run's ``spec.ci``, then the built-in
default. A malformed annotation is never guessed at: the judge keeps the target
waiting with a reason naming the annotation and what it expected. Durations follow the
rules of ``spec.ci`` (``api/duration.py``): the same grammar and the same bounds.
"""

from __future__ import annotations

from collections.abc import Mapping

from tiltrun.api.duration import (
    BOUNDS_TEXT,
    DurationError,
    DurationRangeError,
    parse_bounded_duration,
)
from tiltrun.api.model import (
    FAILURES_ALLOWED_ANNOTATION,
    GRACE_PERIOD_ANNOTATION,
    OPTIONAL_ANNOTATION,
    READINESS_TIMEOUT_ANNOTATION,
    TargetPolicy,
)


def read_policy(annotations: Mapping[str, str]) -> tuple[TargetPolicy, list[str]]:
    """The policy the annotations ask for, and a sentence per malformed annotation."""
    problems: list[str] = []

    def duration(key: str) -> float | None:
        raw = annotations.get(key)
        if raw is None:
            return None
        try:
            return parse_bounded_duration(raw.strip())
        except DurationRangeError:
            problems.append(f'annotation {key}: expected 0, or {BOUNDS_TEXT}, got "{raw}"')
            return None
        except DurationError:
            problems.append(f'annotation {key}: expected a duration such as 30s or 2m, got "{raw}"')
            return None

    failures: int | None = None
    raw_failures = annotations.get(FAILURES_ALLOWED_ANNOTATION)
    if raw_failures is not None:
        if raw_failures.strip().isdigit():
            failures = int(raw_failures.strip())
        else:
            problems.append(
                f"annotation {FAILURES_ALLOWED_ANNOTATION}: expected a whole number of 0 or "
                f'more, got "{raw_failures}"'
            )

    optional = False
    raw_optional = annotations.get(OPTIONAL_ANNOTATION)
    if raw_optional is not None:
        value = raw_optional.strip().lower()
        if value in ("true", "false"):
            optional = value == "true"
        else:
            problems.append(
                f'annotation {OPTIONAL_ANNOTATION}: expected "true" or "false", '
                f'got "{raw_optional}"'
            )

    policy = TargetPolicy(
        grace_period=duration(GRACE_PERIOD_ANNOTATION),
        failures_allowed=failures,
        readiness_timeout=duration(READINESS_TIMEOUT_ANNOTATION),
        optional=optional,
    )
    return policy, problems
