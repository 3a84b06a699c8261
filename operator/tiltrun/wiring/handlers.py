"""kopf handlers: the thin layer between watch streams and the engine.

Only ``@kopf.on.event`` and ``@kopf.index`` handlers are registered. Neither adds
finalizers or writes kopf's bookkeeping anywhere, so the operator never writes to a
workload, and a TiltRun stays deletable while the operator is down. The indexes
exist for one of kopf's guarantees: no event handler runs before every watched kind
has been listed, so no run is judged on half a picture after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import kopf

from tiltrun.api.model import GROUP, PLURAL, VERSION
from tiltrun.engine.engine import Engine
from tiltrun.judge.kinds import BUILTIN, Kind
from tiltrun.wiring.discovery import ServedKind
from tiltrun.wiring.observability import Observability
from tiltrun.wiring.writer import ClusterWriter

log = logging.getLogger(__name__)

#: Everything the engine watches besides TiltRuns: the target kinds and their children.
WATCHED = BUILTIN.watched


@kopf.on.startup()
async def start_engine(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Configure kopf explicitly and start the engine's loop."""
    from tiltrun.wiring.client import api_client

    settings.posting.enabled = False  # our own Events are about TiltRuns, not kopf's logs
    settings.peering.standalone = True  # see docs/operations.md on running one replica
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.scanning.disabled = True  # the CRD must exist at start; see check_crd()
    # run_operator() puts one in the memo (with the sockets it bound); `kopf run` does not.
    observability = memo.get("observability") or Observability()
    metrics = observability.metrics
    # run_operator() puts the configuration and what discovery found in the memo.
    config = memo.get("config")
    engine = Engine(
        ClusterWriter(api_client(), on_error=metrics.on_api_error),
        on_patch=metrics.on_patch,
        on_reconcile=metrics.on_reconcile,
        custom_kinds=frozenset(kind.kind for kind in memo.get("served") or ()),
        operator_checks=config.health_checks if config is not None else (),
        unwatchable=memo.get("unwatchable") or (),
    )
    metrics.watch_runs(lambda: engine.store.runs.values())
    memo["observability"] = observability
    memo["engine"] = engine
    memo["engine_task"] = asyncio.get_running_loop().create_task(engine.run(), name="engine")
    await observability.start(memo["engine_task"])


@kopf.on.cleanup()
async def stop_engine(memo: kopf.Memo, **_: Any) -> None:
    # kopf has stopped the watches by now. A status PATCH in flight runs in a worker
    # thread that cancelling cannot interrupt, and asyncio.run() joins those threads
    # before the process exits, so it still reaches the API server.
    task = memo.get("engine_task")
    if task is not None:
        task.cancel()
    observability = memo.get("observability")
    if observability is not None:
        await observability.stop()


@kopf.on.event(GROUP, VERSION, PLURAL)
def tiltrun_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo["engine"].observe_run(event.get("type"), dict(event["object"]))


@kopf.index(GROUP, VERSION, PLURAL)
def tiltruns_listed(**_: Any) -> dict[str, Any]:
    return {}


def register_extra(served: Iterable[ServedKind]) -> None:
    """Watch the extra kinds discovery found (``--watch``, the configuration file)."""
    for served_kind in served:
        watched = served_kind.watched
        kind = Kind(
            watched.group,
            watched.version,
            watched.resource,
            served_kind.kind,
            namespaced=served_kind.namespaced,
        )
        if any(
            (k.group, k.version, k.plural) == (kind.group, kind.version, kind.plural)
            for k in WATCHED
        ):
            continue  # a built-in kind, watched already
        _register(kind)


def _register(kind: Kind) -> None:
    def on_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
        memo["engine"].observe(kind.kind, event.get("type"), dict(event["object"]))

    def listed(**_: Any) -> dict[str, Any]:
        return {}

    kopf.on.event(kind.group, kind.version, kind.plural, id=f"{kind.plural}-event")(on_event)
    kopf.index(kind.group, kind.version, kind.plural, id=f"{kind.plural}-listed")(listed)


for _kind in WATCHED:
    _register(_kind)
