"""What a kind's judge is given: the workload's related objects, and the judge's shape.

Its own module so that the per-kind modules, the kind registry (``kinds``) and
``target`` can all import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tiltrun.api.model import TargetState
from tiltrun.judge.objects import Obj


@dataclass(frozen=True)
class Related:
    """The objects a workload is judged with, beside itself.

    The engine passes every ReplicaSet and pod the workload controls (for a
    Deployment: its ReplicaSets and the pods they control); the judge picks the
    current revision itself and checks controller owner uids, so extra objects do
    no harm.
    """

    replicasets: Sequence[Obj] = ()
    pods: Sequence[Obj] = ()


#: A kind's judge: the state of one workload of that kind, from it and its related objects.
Classifier = Callable[[Obj, Related], TargetState]
