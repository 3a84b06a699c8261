"""DaemonSet: judged on the pods of its current template generation.

==========  ===================================================================
disabled    never: a DaemonSet cannot be asked not to run
waiting     the controller has not observed the latest generation; no pod of the
            current generation is running (``pod agent-x7p2k: ContainerCreating``)
active      a pod of the current generation runs; ready when updated = available =
            desired scheduled pods. 0 of 0 is ready: no node needs a pod.
terminated  error: a fatal signal on a pod of the current generation
==========  ===================================================================

The DaemonSet controller labels each pod with the ``pod-template-generation`` it was
made from: the template generation the API server keeps in the annotation
``deprecated.daemonset.template.generation``. That moves only when the pod template
changes, while ``metadata.generation`` moves with any spec change (``updateStrategy``,
``minReadySeconds``), which leaves the pods current; so the annotation is what pods are
compared with, ``metadata.generation`` only when it is absent. A pod without the label
(made by an old controller) counts as current, since nothing says otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiltrun.api.model import Active, TargetState
from tiltrun.judge.objects import (
    Obj,
    annotations_of,
    by_name,
    controlled_by,
    created,
    earliest,
    get_int,
    get_map,
    labels_of,
    time_or,
    uid_of,
)
from tiltrun.judge.rollout import (
    Rollout,
    judge_rollout,
    unobserved_generation,
    waiting_for_controller,
)

if TYPE_CHECKING:
    from tiltrun.judge.target import Related

#: Label carrying the DaemonSet template generation a pod was made from.
GENERATION_LABEL = "pod-template-generation"
#: Annotation holding the DaemonSet's current template generation.
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"


def classify(obj: Obj, related: Related) -> TargetState:
    """The state of a DaemonSet, from itself and its pods."""
    stale = unobserved_generation(obj)
    if stale:
        return waiting_for_controller(obj, stale)

    status = get_map(obj, "status")
    desired = get_int(status, "desiredNumberScheduled")
    if desired == 0:
        # No node wants a pod (node selector matches nothing, or an empty cluster):
        # the DaemonSet is as rolled out as it can be.
        return TargetState(active=Active(start_time=time_or(created(obj)), ready=True))

    generation = annotations_of(obj).get(TEMPLATE_GENERATION_ANNOTATION, "").strip() or str(
        get_int(obj, "metadata", "generation")
    )
    owned = [pod for pod in by_name(related.pods) if controlled_by(pod, uid_of(obj))]
    pods = [pod for pod in owned if labels_of(pod).get(GENERATION_LABEL, generation) == generation]
    updated = get_int(status, "updatedNumberScheduled")
    available = get_int(status, "numberAvailable")

    return judge_rollout(
        obj,
        Rollout(
            pods=pods,
            desired=desired,
            complete=updated == available == desired,
            behind=_behind(updated, available, desired),
            trigger=time_or(earliest(created(pod) for pod in pods), created(obj)),
            no_pods=f"no pods of generation {generation} yet",
        ),
    )


def _behind(updated: int, available: int, desired: int) -> str:
    if updated < desired:
        return f"{updated}/{desired} scheduled pods updated"
    return f"{available}/{desired} scheduled pods available"
