"""Service: a LoadBalancer is up once it has an address; every other Service at once.

==================  ==============================================================
current             ``spec.type`` other than ``LoadBalancer``; or a LoadBalancer
                    with an ``ip`` or a ``hostname`` in ``status.loadBalancer.ingress``
in progress         a LoadBalancer without an address yet
==================  ==============================================================

Nothing about a Service fails by itself: a cloud that cannot provision the load
balancer says so only in Events, so the run's timeout ends the wait, naming it.
"""

from __future__ import annotations

from tiltrun.api.model import Evidence
from tiltrun.judge.health import HealthVerdict
from tiltrun.judge.objects import Obj, get_maps, get_str


def judge(obj: Obj) -> HealthVerdict:
    """The verdict on a Service."""
    if get_str(obj, "spec", "type") != "LoadBalancer":
        return HealthVerdict.current()
    for entry in get_maps(obj, "status", "loadBalancer", "ingress"):
        if get_str(entry, "ip") or get_str(entry, "hostname"):
            return HealthVerdict.current()
    return HealthVerdict.in_progress(
        "no load-balancer address yet", facts=Evidence(reason="NoLoadBalancerAddress")
    )
