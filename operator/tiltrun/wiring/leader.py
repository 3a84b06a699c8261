"""Leader election on a ``coordination.k8s.io`` Lease, as Kubernetes' own components do it.

With ``replicas: 2`` every operator watches everything (the standby stays warm), and
one of them, the holder of the Lease, writes statuses and Events. The protocol is
client-go's ``leaderelection``:

- the leader renews the Lease (``spec.renewTime``) every ``retry`` seconds; if it has not
  managed to for ``renew_deadline`` seconds it stops writing (it may be cut off from the
  API server while the others are not);
- a candidate takes the Lease over when its record has not changed for the holder's
  ``leaseDurationSeconds``, measured on the candidate's own clock from when it saw the
  record change (so clocks of different machines never need to agree), with an update
  guarded by ``resourceVersion`` so that two candidates cannot both win;
- ``renew_deadline`` < ``lease_duration``: a leader that could not renew has stopped
  writing before anybody else may start;
- a leader that stops on purpose (SIGTERM) releases the Lease, and the standby takes over
  at its next try instead of waiting out the duration.

The defaults (8 s, 5 s, 1 s) put the takeover within about 10 s of a SIGKILL of the
leader (docs/operations.md has the measured figures).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tiltrun.api.model import micro_time
from tiltrun.wiring.session import ApiError, ApiSession, Unavailable

log = logging.getLogger(__name__)

Obj = dict[str, Any]

LEASE_SECONDS = 8.0
RENEW_DEADLINE_SECONDS = 5.0
RETRY_SECONDS = 1.0
#: The Lease's name unless ``--leader-elect-name`` says otherwise.
DEFAULT_NAME = "tiltrun-operator"


class Conflict(Exception):
    """Somebody else changed the Lease first (HTTP 409)."""


class LeaseApi(Protocol):
    """Reading and writing the one Lease; ``get`` returns ``None`` when there is none."""

    async def get(self) -> Obj | None: ...

    async def create(self, lease: Obj) -> Obj: ...

    async def replace(self, lease: Obj) -> Obj: ...


@dataclass(frozen=True)
class Timing:
    """How long a Lease lasts, how long a leader tries to renew it, how often anyone tries."""

    lease_duration: float = LEASE_SECONDS
    renew_deadline: float = RENEW_DEADLINE_SECONDS
    retry: float = RETRY_SECONDS

    def __post_init__(self) -> None:
        if not 0 < self.retry < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry < renew deadline < lease duration, not "
                f"{self.retry} < {self.renew_deadline} < {self.lease_duration}"
            )


class LeaderElector:
    """Keeps trying to hold the Lease; tells ``on_lead`` and ``on_follow`` when that changes.

    ``clock`` is monotonic seconds (the expiry arithmetic), ``wall`` the time written into
    the Lease for people and tools to read.
    """

    def __init__(
        self,
        api: LeaseApi,
        identity: str,
        *,
        on_lead: Callable[[], None],
        on_follow: Callable[[], None],
        timing: Timing | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self.identity = identity
        self._on_lead = on_lead
        self._on_follow = on_follow
        self._timing = timing or Timing()
        self._clock = clock
        self._wall = wall
        self.leading = False
        # The Lease's spec as last seen, and when (our clock) it last changed.
        self._observed: Obj | None = None
        self._observed_at = -math.inf
        self._renewed_at = -math.inf

    async def run(self) -> None:
        """Try to acquire or renew every ``retry`` seconds, for ever (cancel to stop)."""
        while True:
            await self.step()
            await asyncio.sleep(self._timing.retry)

    async def step(self) -> bool:
        """One attempt to acquire or renew; returns whether this instance leads now."""
        try:
            held = await self._try_acquire_or_renew()
        except (ApiError, Unavailable, Conflict) as err:
            log.debug("leader election: %s", err)
            held = False
        now = self._clock()
        if held:
            self._renewed_at = now
            if not self.leading:
                self.leading = True
                log.info("became the leader (Lease held by %s)", self.identity)
                self._on_lead()
        elif self.leading and now - self._renewed_at > self._timing.renew_deadline:
            self.leading = False
            log.warning(
                "lost the Lease: not renewed for %.0fs; writing nothing until it is ours again",
                now - self._renewed_at,
            )
            self._on_follow()
        return self.leading

    async def release(self) -> None:
        """Give the Lease up now (on a clean stop), so a standby need not wait it out."""
        if not self.leading:
            return
        self.leading = False
        self._on_follow()
        try:
            lease = await self._api.get()
            if lease is None or _spec(lease).get("holderIdentity") != self.identity:
                return
            spec = {**_spec(lease), "holderIdentity": None, "leaseDurationSeconds": 1}
            await self._api.replace({**lease, "spec": spec})
            log.info("released the Lease")
        except (ApiError, Unavailable, Conflict) as err:
            log.warning("could not release the Lease (%s); it expires by itself", err)

    async def _try_acquire_or_renew(self) -> bool:
        now = self._clock()
        stamp = micro_time(self._wall())
        lease = await self._api.get()
        if lease is None:
            await self._api.create(
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "spec": self._record(stamp, acquired=stamp, transitions=0),
                }
            )
            self._observe(self._record(stamp, acquired=stamp, transitions=0), now)
            return True
        spec = _spec(lease)
        if spec != self._observed:
            self._observe(spec, now)
        holder = spec.get("holderIdentity") or ""
        duration = _seconds(spec.get("leaseDurationSeconds"), self._timing.lease_duration)
        if holder and holder != self.identity and now < self._observed_at + duration:
            return False  # held, and renewed recently enough
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == self.identity:
            record = self._record(
                stamp, acquired=spec.get("acquireTime") or stamp, transitions=transitions
            )
        else:
            record = self._record(stamp, acquired=stamp, transitions=transitions + 1)
        # resourceVersion stays in the metadata: the update fails if anybody wrote since.
        await self._api.replace({**lease, "spec": record})
        self._observe(record, now)
        return True

    def _record(self, stamp: str, *, acquired: str, transitions: int) -> Obj:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self._timing.lease_duration)),
            "acquireTime": acquired,
            "renewTime": stamp,
            "leaseTransitions": transitions,
        }

    def _observe(self, spec: Obj, now: float) -> None:
        self._observed = dict(spec)
        self._observed_at = now


def _spec(lease: Obj) -> Obj:
    spec = lease.get("spec")
    return dict(spec) if isinstance(spec, dict) else {}


def _seconds(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else default


class SessionLeaseApi:
    """``LeaseApi`` for the Lease ``namespace/name``, through the operator's ``ApiSession``."""

    def __init__(self, session: ApiSession, namespace: str, name: str) -> None:
        self._session = session
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._namespace = namespace
        self._name = name

    async def get(self) -> Obj | None:
        try:
            return await self._session.request("GET", f"{self._collection}/{self._name}")
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    async def create(self, lease: Obj) -> Obj:
        body = {**lease, "metadata": {"name": self._name, "namespace": self._namespace}}
        return await self._call("POST", self._collection, body)

    async def replace(self, lease: Obj) -> Obj:
        return await self._call("PUT", f"{self._collection}/{self._name}", lease)

    async def _call(self, method: str, path: str, body: Obj) -> Obj:
        try:
            return await self._session.request(method, path, body=body)
        except ApiError as err:
            if err.status == 409:
                raise Conflict(str(err)) from None
            raise
