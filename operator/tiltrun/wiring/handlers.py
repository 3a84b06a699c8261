"""kopf handlers: start-up and cleanup.

kopf runs the operator: login, signals, start-up and cleanup. It watches nothing: every
kind the engine reads, TiltRuns included, comes through the operator's own informers
(``watches.py``). kopf would spend milliseconds of per-object machinery on each event
(most TiltRun events are the echoes of the operator's own status writes) and never say
where a relist begins or ends (docs/architecture.md has the profile behind this choice).
No finalizer and none of kopf's bookkeeping is written anywhere, so the operator never
writes to a workload, and a TiltRun stays deletable while the operator is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

import kopf

from tiltrun.engine.engine import Engine
from tiltrun.judge.kinds import BUILTIN, Kind, Registry
from tiltrun.judge.projection import project
from tiltrun.wiring.discovery import ServedKind
from tiltrun.wiring.informer import Resource
from tiltrun.wiring.leader import LeaderElector, SessionLeaseApi
from tiltrun.wiring.observability import Observability
from tiltrun.wiring.session import ApiSession
from tiltrun.wiring.watches import Watches
from tiltrun.wiring.writer import ClusterWriter

log = logging.getLogger(__name__)

#: How long the cleanup waits for status writes in flight before the process exits.
DRAIN_SECONDS = 10.0


def registry(served: Iterable[ServedKind] = ()) -> Registry:
    """The built-in kinds, also watching the extra kinds discovery found (``--watch``,
    the configuration file) as the cluster serves them."""
    return BUILTIN.watching(
        *(
            Kind(
                each.watched.group,
                each.watched.version,
                each.watched.resource,
                each.kind,
                namespaced=each.namespaced,
            )
            for each in served
        )
    )


def resource(kind: Kind) -> Resource:
    """What an informer needs of a registry entry: where it lives, how to slim its objects."""
    return Resource(
        kind.api_version,
        kind.plural,
        kind.kind,
        namespaced=kind.namespaced,
        project=partial(project, kind.kind),
    )


def resources(kinds: Registry = BUILTIN) -> list[Resource]:
    """The informers' resources: one per kind the registry watches."""
    return [resource(kind) for kind in kinds.watched]


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf's settings, all explicit: it only runs the start-up and cleanup handlers."""
    settings.posting.enabled = False  # our own Events are about TiltRuns, not kopf's logs
    # kopf's peering stays off: replicas agree through the operator's own Lease
    # (--leader-elect, wiring/leader.py; docs/operations.md).
    settings.peering.standalone = True
    settings.scanning.disabled = True  # the CRD must exist at start; see preflight() in run.py


@kopf.on.startup()
async def start_engine(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Configure kopf, then start the engine and the informers."""
    configure(settings)
    # run_operator() puts one in the memo (with the sockets it bound); `kopf run` does not.
    observability = memo.get("observability") or Observability()
    metrics = observability.metrics
    # run_operator() puts the configuration and what discovery found in the memo.
    config = memo.get("config")
    session = ApiSession()
    # run_operator() puts the leader election settings in the memo (--leader-elect).
    election = memo.get("leader_election")
    kinds = registry(memo.get("served") or ())
    engine = Engine(
        ClusterWriter(session, on_error=metrics.on_api_error),
        on_patch=metrics.on_patch,
        on_reconcile=metrics.on_reconcile,
        kinds=kinds,
        operator_checks=config.health_checks if config is not None else (),
        unwatchable=memo.get("unwatchable") or (),
        # With leader election every instance starts as a standby: watching, not writing.
        leading=election is None,
    )
    metrics.watch_runs(lambda: engine.store.runs.values())
    watches = Watches(
        session,
        engine,
        memo.get("namespaces") or [],
        resources(kinds),
        on_error=metrics.on_api_error,
    )
    memo["observability"] = observability
    memo["engine"] = engine
    memo["session"] = session
    memo["watches"] = watches
    memo["engine_task"] = asyncio.get_running_loop().create_task(engine.run(), name="engine")
    if election is not None:
        metrics.leader.set(0)

        def lead() -> None:
            metrics.leader.set(1)
            engine.lead()

        def follow() -> None:
            metrics.leader.set(0)
            engine.follow()

        elector = LeaderElector(
            SessionLeaseApi(session, election.namespace, election.name),
            election.identity,
            on_lead=lead,
            on_follow=follow,
            timing=election.timing,
        )
        memo["elector"] = elector
        memo["elector_task"] = asyncio.get_running_loop().create_task(
            elector.run(), name="leader-election"
        )
    watches.start()
    await observability.start(memo["engine_task"], readiness=engine.readiness)


@kopf.on.cleanup()
async def stop_engine(memo: kopf.Memo, **_: Any) -> None:
    """Stop watching, let the status writes in flight land, then close the connection.

    A leader gives its Lease up last, after its writes landed, so that the standby takes
    over at once and starts from what this instance stored.
    """
    elector_task = memo.get("elector_task")
    if elector_task is not None:
        elector_task.cancel()
    watches = memo.get("watches")
    if watches is not None:
        await watches.stop()
    task = memo.get("engine_task")
    if task is not None:
        task.cancel()
    engine = memo.get("engine")
    if engine is not None:
        await engine.drain(DRAIN_SECONDS)
    elector = memo.get("elector")
    if elector is not None:
        await elector.release()
    session = memo.get("session")
    if session is not None:
        await session.close()
    observability = memo.get("observability")
    if observability is not None:
        await observability.stop()
