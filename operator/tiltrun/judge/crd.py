"""CustomResourceDefinition: up once the API server serves it (``Established``).

==================  ==============================================================
failed              ``NamesAccepted=False``: another CRD holds one of its names
current             ``Established=True``
in progress         otherwise, with the ``Established`` condition's words, or
                    ``not established yet`` before the API server reports one
==================  ==============================================================
"""

from __future__ import annotations

from tiltrun.api.model import Evidence
from tiltrun.judge.health import (
    HealthVerdict,
    condition_facts,
    condition_status,
    condition_text,
    find_condition,
    transition,
)
from tiltrun.judge.objects import Obj


def judge(obj: Obj) -> HealthVerdict:
    """The verdict on a CustomResourceDefinition."""
    names = find_condition(obj, "NamesAccepted")
    if names is not None and condition_status(names) == "False":
        return HealthVerdict.failed(
            condition_text(names), transition(names), facts=condition_facts(names)
        )
    established = find_condition(obj, "Established")
    if established is None:
        return HealthVerdict.in_progress(
            "not established yet", facts=Evidence(reason="NotEstablished")
        )
    if condition_status(established) == "True":
        return HealthVerdict.current(transition(established))
    return HealthVerdict.in_progress(
        condition_text(established), transition(established), facts=condition_facts(established)
    )
