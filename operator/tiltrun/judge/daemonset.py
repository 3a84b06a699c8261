"""DaemonSet: judged on the pods of its current template generation.

==========  ===================================================================
disabled    never: a DaemonSet cannot be asked not to run
waiting     the controller has not observed the latest generation; the status has
            no ``desiredNumberScheduled`` (incomplete: the API always writes it, so
            an absent count is not a zero); no judged pod is running (``pod
            agent-x7p2k: ContainerCreating``)
active      a judged pod runs; ready when updated = available = desired scheduled
            pods. 0 of 0 is ready: no node needs a pod. With ``updateStrategy:
            OnDelete``, ready when available = desired, whatever the pods' template
            generation: the controller replaces a pod only when someone deletes it.
            A ready target's ``reason`` then names the pods left on an older one.
terminated  error: a fatal signal on a judged pod
==========  ===================================================================

The judged pods are those of the current template generation; with ``OnDelete``,
every pod of the DaemonSet, since nothing will replace the older ones.

The DaemonSet controller labels each pod with the ``pod-template-generation`` it was
made from: the template generation the API server keeps in the annotation
``deprecated.daemonset.template.generation``. That moves only when the pod template
changes, while ``metadata.generation`` moves with any spec change (``updateStrategy``,
``minReadySeconds``), which leaves the pods current; so the annotation is what pods are
compared with, ``metadata.generation`` only when it is absent. A pod without the label
(made by an old controller) counts as current, since nothing says otherwise.
"""

from __future__ import annotations

from tiltrun.api.model import Active, Evidence, TargetState, Waiting
from tiltrun.judge.objects import (
    Obj,
    annotations_of,
    by_name,
    controlled_by,
    created,
    dig,
    earliest,
    get_int,
    get_map,
    get_str,
    labels_of,
    time_or,
    uid_of,
)
from tiltrun.judge.related import Related
from tiltrun.judge.rollout import (
    Rollout,
    judge_rollout,
    name_some,
    unobserved_generation,
    waiting_for_controller,
)

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
    if not _is_count(dig(status, "desiredNumberScheduled")):
        # DaemonSetStatus.desiredNumberScheduled has no omitempty: every status the
        # controller writes carries it, 0 included. Without it the status is partial
        # (written by another tool, or cut short), and "0 of 0" would be a guess.
        reason = "status incomplete: no desiredNumberScheduled yet"
        facts = Evidence(reason="StatusIncomplete", message="no desiredNumberScheduled")
        return TargetState(waiting=Waiting(time_or(created(obj)), reason, facts))
    desired = get_int(status, "desiredNumberScheduled")
    if desired == 0:
        # No node wants a pod (node selector matches nothing, or an empty cluster):
        # the DaemonSet is as rolled out as it can be.
        return TargetState(active=Active(start_time=time_or(created(obj)), ready=True))

    generation = annotations_of(obj).get(TEMPLATE_GENERATION_ANNOTATION, "").strip() or str(
        get_int(obj, "metadata", "generation")
    )
    owned = [pod for pod in by_name(related.pods) if controlled_by(pod, uid_of(obj))]
    current = [
        pod for pod in owned if labels_of(pod).get(GENERATION_LABEL, generation) == generation
    ]
    updated = get_int(status, "updatedNumberScheduled")
    available = get_int(status, "numberAvailable")

    if get_str(obj, "spec", "updateStrategy", "type") == "OnDelete":
        older = [pod for pod in owned if pod not in current]
        note = (
            f"updateStrategy OnDelete: {name_some(older)} still on an older template "
            "(delete a pod to update it)"
            if older
            else ""
        )
        rollout = Rollout(
            pods=owned,
            desired=desired,
            complete=available == desired,
            behind=f"{available}/{desired} scheduled pods available",
            trigger=time_or(earliest(created(pod) for pod in owned), created(obj)),
            no_pods="no pods yet",
            note=note,
        )
    else:
        rollout = Rollout(
            pods=current,
            desired=desired,
            complete=updated == available == desired,
            behind=_behind(updated, available, desired),
            trigger=time_or(earliest(created(pod) for pod in current), created(obj)),
            no_pods=f"no pods of generation {generation} yet",
        )
    return judge_rollout(obj, rollout)


def _is_count(value: object) -> bool:
    """A whole number as the API writes one (a numeric string, as ``get_int`` allows)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def _behind(updated: int, available: int, desired: int) -> str:
    if updated < desired:
        return f"{updated}/{desired} scheduled pods updated"
    return f"{available}/{desired} scheduled pods available"
