"""The operator's watches: one informer per observed kind and namespace, and TiltRun checks.

``Watches`` starts an ``Informer`` for every kind the engine observes, in every
namespace the operator serves (or once across all of them), tells the engine to judge
nothing until each has listed, and can add or remove kinds while running (kinds chosen
at run time, such as watched custom resources).

TiltRuns themselves come through kopf (``handlers.py``). kopf never says when its
watch had a gap, so a TiltRun deleted during one could linger in the engine. Two things
prevent that: a status write answering 404 drops the run (the engine does it), and
after any informer relists (a gap just happened) one LIST of TiltRuns is compared with
the runs the engine holds (``Engine.verify_runs``). The same LIST at start-up tells the
engine which runs exist, so ``/readyz`` can wait for each one's first status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from tiltrun.api.model import GROUP, PLURAL, VERSION
from tiltrun.engine.engine import Engine
from tiltrun.engine.store import Obj, RunKey, run_key, uid_of_run
from tiltrun.wiring.informer import PAGE_SIZE, Backoff, Informer, Resource
from tiltrun.wiring.session import ApiError, ApiSession, Unavailable

log = logging.getLogger(__name__)


class Watches:
    """Informers for ``resources`` in ``namespaces`` (empty: the whole cluster)."""

    def __init__(
        self,
        session: ApiSession,
        engine: Engine,
        namespaces: Iterable[str],
        resources: Iterable[Resource] = (),
    ) -> None:
        self._session = session
        self._engine = engine
        self._namespaces: list[str | None] = list(namespaces) or [None]
        self._resources: list[Resource] = list(resources)
        self._informers: dict[Resource, list[tuple[Informer, asyncio.Task[None]]]] = {}
        self._checks: set[asyncio.Task[None]] = set()
        self._recheck = False

    @property
    def informers(self) -> list[Informer]:
        """Every informer running."""
        return [informer for pairs in self._informers.values() for informer, _ in pairs]

    def start(self) -> None:
        """Start every informer, and list the TiltRuns once for readiness."""
        for resource in self._resources:
            self.add(resource)
        self._spawn(self._list_runs(at_start=True))

    def add(self, resource: Resource) -> None:
        """Watch ``resource`` too (also while running); judging waits for its first list."""
        if resource in self._informers:
            return
        pairs = []
        # A cluster-scoped kind has one collection, whatever namespaces are served.
        namespaces = self._namespaces if resource.namespaced else [None]
        for namespace in namespaces:
            informer = Informer(
                self._session, resource, namespace, self._engine, on_relist=self._relisted
            )
            self._engine.expect(informer.source)
            task = asyncio.create_task(informer.run(), name=f"informer {informer.source}")
            pairs.append((informer, task))
        self._informers[resource] = pairs

    def remove(self, resource: Resource) -> None:
        """Stop watching ``resource``; the engine forgets its objects."""
        for informer, task in self._informers.pop(resource, []):
            task.cancel()
            self._engine.replace(informer.source, resource.kind, informer.namespace, [])

    async def stop(self) -> None:
        """Cancel every informer and check, and wait for them to end."""
        tasks = [task for pairs in self._informers.values() for _, task in pairs]
        tasks += list(self._checks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._informers.clear()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    def _relisted(self, informer: Informer) -> None:
        """An informer listed again after a gap: check the TiltRuns too (one LIST at once)."""
        if self._checks:
            self._recheck = True  # one is running; go again when it ends
            return
        self._spawn(self._list_runs(at_start=False))

    async def _list_runs(self, *, at_start: bool) -> None:
        backoff = Backoff()
        while True:
            self._recheck = False
            sent_at = asyncio.get_running_loop().time()
            try:
                runs = await self._all_runs()
            except (ApiError, Unavailable) as err:
                log.info("listing TiltRuns: %s; trying again", err)
                await asyncio.sleep(backoff.next())
                continue
            listed: dict[RunKey, str] = {run_key(run): uid_of_run(run) for run in runs}
            if at_start:
                self._engine.expect_runs(listed)
            else:
                self._engine.verify_runs(listed, sent_at)
            held = self._engine.store.runs
            for run in runs:
                key = run_key(run)
                if key not in held or uid_of_run(held[key]) != listed[key]:
                    self._engine.observe_run(None, run)
            if not self._recheck:
                return
            at_start = False

    async def _all_runs(self) -> list[Obj]:
        runs: list[Obj] = []
        for namespace in self._namespaces:
            path = f"/apis/{GROUP}/{VERSION}" + (
                f"/namespaces/{namespace}" if namespace is not None else ""
            )
            params = {"limit": str(PAGE_SIZE)}
            while True:
                page = await self._session.request("GET", f"{path}/{PLURAL}", params=params)
                for item in page.get("items") or []:
                    if isinstance(item, dict):
                        item.setdefault("apiVersion", f"{GROUP}/{VERSION}")
                        item.setdefault("kind", "TiltRun")
                        runs.append(item)
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    break
                params = {"limit": str(PAGE_SIZE), "continue": str(token)}
        return runs
