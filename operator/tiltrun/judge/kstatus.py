"""Any object that follows the kstatus conventions: ``Ready``, ``Reconciling``, ``Stalled``.

The rules (docs/api.md, "kstatus conventions"), in order:

1. no status yet (``status`` missing, ``null`` or empty): in progress, said so;
2. ``status.observedGeneration`` behind ``metadata.generation``: in progress;
   a condition whose own ``observedGeneration`` is behind is ignored as stale;
3. ``Stalled=True``: failed;
4. with a ``Ready`` condition: ``True`` is current; ``False`` with a reason the kind
   documents as terminal (``TERMINAL_READY_REASONS``) is failed; anything else is in
   progress, with the condition's words;
5. without one: ``Reconciling=True`` is in progress, otherwise current.

kstatus itself calls an object without status current and looks at ``Reconciling``
before ``Ready``; a CI gate must not pass an object its controller has not looked at,
and a ``Ready=True`` object is up even while a controller reports it is working on it.
Failure is checked first, as everywhere in the judgement.
"""

from __future__ import annotations

from tiltrun.api.model import Evidence
from tiltrun.judge.health import (
    HealthVerdict,
    condition_facts,
    condition_status,
    condition_text,
    find_condition,
    has_status,
    latest_transition,
    stale_condition,
    stale_facts,
    stale_generation,
    transition,
)
from tiltrun.judge.objects import Obj, get_str

#: Any reason: Knative reports ``Unknown`` while it works and ``False`` only on failure.
ANY_REASON = "*"
#: (group, kind) -> the ``Ready=False`` reasons that kind documents as final; kind
#: ``"*"`` stands for every kind of the group.
TERMINAL_READY_REASONS: dict[tuple[str, str], frozenset[str]] = {
    # cert-manager: "Failed: the request has failed permanently"; "Denied": an approver
    # refused it. Neither is ever retried.
    ("cert-manager.io", "CertificateRequest"): frozenset({"Failed", "Denied"}),
    ("serving.knative.dev", "*"): frozenset({ANY_REASON}),
}

NO_STATUS = "no status yet: its controller has not reported on it"


def judge(obj: Obj) -> HealthVerdict:
    """The kstatus verdict on ``obj`` (the rules in the module docstring)."""
    if not has_status(obj):
        return HealthVerdict.in_progress(NO_STATUS, facts=Evidence(reason="NoStatus"))
    stale = stale_generation(obj)
    if stale:
        return HealthVerdict.in_progress(stale, facts=stale_facts(stale))

    stalled = find_condition(obj, "Stalled")
    if (
        stalled is not None
        and condition_status(stalled) == "True"
        and not stale_condition(obj, stalled)
    ):
        return HealthVerdict.failed(
            condition_text(stalled), transition(stalled), facts=condition_facts(stalled)
        )

    ready = find_condition(obj, "Ready")
    if ready is not None:
        old = stale_condition(obj, ready)
        if old:
            return HealthVerdict.in_progress(old, transition(ready), facts=stale_facts(old))
        value = condition_status(ready)
        if value == "True":
            return HealthVerdict.current(transition(ready))
        facts = condition_facts(ready)
        if value == "False" and is_terminal(obj, get_str(ready, "reason")):
            return HealthVerdict.failed(condition_text(ready), transition(ready), facts=facts)
        return HealthVerdict.in_progress(condition_text(ready), transition(ready), facts=facts)

    reconciling = find_condition(obj, "Reconciling")
    if reconciling is not None and condition_status(reconciling) == "True":
        old = stale_condition(obj, reconciling)
        return HealthVerdict.in_progress(
            old or condition_text(reconciling),
            transition(reconciling),
            facts=stale_facts(old) if old else condition_facts(reconciling),
        )
    return HealthVerdict.current(latest_transition(obj))


def is_terminal(obj: Obj, reason: str) -> bool:
    """True when ``Ready=False`` with ``reason`` is final for the object's kind."""
    group = get_str(obj, "apiVersion").rpartition("/")[0]
    kind = get_str(obj, "kind")
    for key in ((group, kind), (group, "*")):
        reasons = TERMINAL_READY_REASONS.get(key)
        if reasons is not None and (ANY_REASON in reasons or reason in reasons):
            return True
    return False
