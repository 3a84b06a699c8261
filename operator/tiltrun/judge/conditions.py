"""A verdict as Kubernetes conditions: ``Ready``, ``Reconciling``, ``Stalled``.

The three follow the Kubernetes API conventions and kstatus, so generic tools (``kubectl
wait --for=condition=Ready``, kstatus, Flux, Argo CD) can gate on a TiltRun:

============  ========================  ============================  ==================
run           Ready                     Reconciling                   Stalled
============  ========================  ============================  ==================
ci running    False (Waiting, ...)      True                          False
ci succeeded  True (Succeeded)          False                         False
ci failed     False (Failed, TimedOut,  False                         True
              ReadinessTimeout)
manual        True when every counted   True when neither Ready nor   True when a target
              target is up              Stalled                       is failing
============  ========================  ============================  ==================

Reconciling and Stalled are never both True. kstatus checks Reconciling before Stalled,
so a manual run with a failing target that also claimed Reconciling would read as "in
progress" and hide the failure; a failing target needs a person, which is what Stalled says.

Every condition carries the verdict's reason and its one-line summary as the message.
``lastTransitionTime`` is carried over from the previous conditions while a condition's
status stays the same, so an unchanged world gives identical output and the engine writes
nothing. Only these three types are returned: the operator owns its status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tiltrun.api.model import ExitCondition, micro_time
from tiltrun.judge.exit import Outcome, Verdict

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"


def conditions(
    verdict: Verdict,
    exit_condition: ExitCondition,
    *,
    generation: int,
    previous: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """The run's conditions for ``verdict``, in the order Ready, Reconciling, Stalled.

    ``generation`` is the TiltRun's ``metadata.generation`` the verdict was made for;
    ``previous`` is the ``status.conditions`` currently stored (may be empty).
    """
    if exit_condition == ExitCondition.CI:
        ready = verdict.outcome is Outcome.SUCCEEDED
        stalled = verdict.outcome in (Outcome.FAILED, Outcome.TIMED_OUT)
    else:
        ready = verdict.total > 0 and verdict.satisfied == verdict.total
        stalled = bool(verdict.failing)
    reconciling = not ready and not stalled

    stored = {str(c.get("type")): c for c in previous if isinstance(c, Mapping) and c.get("type")}
    return [
        _condition(kind, status, verdict, generation, stored.get(kind), now)
        for kind, status in ((READY, ready), (RECONCILING, reconciling), (STALLED, stalled))
    ]


def _condition(
    kind: str,
    value: bool,
    verdict: Verdict,
    generation: int,
    before: Mapping[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    status = "True" if value else "False"
    # The transition time marks a change of status only; reason and message may change freely.
    kept = before.get("lastTransitionTime") if before and before.get("status") == status else None
    return {
        "type": kind,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": kept if isinstance(kept, str) and kept else micro_time(now),
        "reason": str(verdict.reason),
        "message": verdict.summary,
    }
