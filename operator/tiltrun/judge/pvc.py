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

from tiltrun.judge.health import HealthVerdict
from tiltrun.judge.objects import Obj, get_str


def judge(obj: Obj) -> HealthVerdict:
    """The verdict on a PersistentVolumeClaim."""
    phase = get_str(obj, "status", "phase")
    if phase == "Bound":
        return HealthVerdict.current()
    if phase == "Lost":
        volume = get_str(obj, "spec", "volumeName") or "(unnamed)"
        return HealthVerdict.failed(f"Lost: the claim's volume {volume} no longer exists")
    storage_class = get_str(obj, "spec", "storageClassName")
    word = phase or "Pending"
    return HealthVerdict.in_progress(
        f"{word} (storage class {storage_class})" if storage_class else word
    )
