"""PersistentVolumeClaim: up once bound to a volume.

==================  ==============================================================
failed              phase ``Lost``: the volume it was bound to is gone
current             phase ``Bound``
in progress         phase ``Pending`` (or none yet), with the storage class
==================  ==============================================================

A claim records no time for binding, so the verdict carries none: the target's times
are the claim's creation. A class with ``volumeBindingMode: WaitForFirstConsumer``
keeps its claims ``Pending`` until a pod that uses one is scheduled; the reason cannot
say so (that is in the StorageClass and in Events), docs/api.md does.
"""

from __future__ import annotations

from tiltrun.api.model import Evidence
from tiltrun.judge.health import HealthVerdict
from tiltrun.judge.objects import Obj, get_str


def judge(obj: Obj) -> HealthVerdict:
    """The verdict on a PersistentVolumeClaim."""
    phase = get_str(obj, "status", "phase")
    if phase == "Bound":
        return HealthVerdict.current()
    if phase == "Lost":
        volume = get_str(obj, "spec", "volumeName") or "(unnamed)"
        gone = f"the claim's volume {volume} no longer exists"
        return HealthVerdict.failed(f"Lost: {gone}", facts=Evidence(reason="Lost", message=gone))
    storage_class = get_str(obj, "spec", "storageClassName")
    word = phase or "Pending"
    where = f"storage class {storage_class}" if storage_class else ""
    return HealthVerdict.in_progress(
        f"{word} ({where})" if where else word, facts=Evidence(reason=word, message=where)
    )
