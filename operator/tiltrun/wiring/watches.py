"""The operator's watches: one informer per observed kind and namespace, TiltRuns included.

``Watches`` starts an ``Informer`` for every kind the engine observes and for TiltRuns,
in every namespace the operator serves (or once across all of them), tells the engine
to judge nothing until each has listed, and can add or remove observed kinds while
running (kinds chosen at run time, such as watched custom resources).

TiltRuns come through an informer like any kind, not through kopf: most of their events
are the echoes of the operator's own status writes, which kopf spent milliseconds of
per-object machinery on (docs/benchmark.md), and a relist after a gap replaces the
engine's runs, so a TiltRun deleted while nobody watched is forgotten
(``Engine.replace_runs``). Each namespace's first list of TiltRuns names the runs
``/readyz`` waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from tiltrun.api.model import GROUP, PLURAL, VERSION
from tiltrun.engine.engine import Engine
from tiltrun.engine.store import Obj
from tiltrun.wiring.informer import Informer, Resource
from tiltrun.wiring.session import ApiSession

#: The TiltRun collection, as an informer watches it (the store drops what it need not keep).
RUNS = Resource(f"{GROUP}/{VERSION}", PLURAL, "TiltRun")


class _Runs:
    """The informer sink for TiltRuns: the engine's run entry points."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def replace(self, source: str, kind: str, namespace: str | None, objs: list[Obj]) -> None:
        self._engine.replace_runs(source, namespace, objs)

    def observe(self, kind: str, event_type: str, obj: Obj) -> None:
        self._engine.observe_run(event_type, obj)


class Watches:
    """Informers for ``resources`` in ``namespaces`` (empty: the whole cluster)."""

    def __init__(
        self,
        session: ApiSession,
        engine: Engine,
        namespaces: Iterable[str],
        resources: Iterable[Resource] = (),
        *,
        on_error: Callable[[str, int], None] | None = None,
    ) -> None:
        self._session = session
        self._on_error = on_error
        self._engine = engine
        self._namespaces: list[str | None] = list(namespaces) or [None]
        self._resources: list[Resource] = list(resources)
        self._informers: dict[Resource, list[tuple[Informer, asyncio.Task[None]]]] = {}

    @property
    def informers(self) -> list[Informer]:
        """Every informer running."""
        return [informer for pairs in self._informers.values() for informer, _ in pairs]

    def start(self) -> None:
        """Start every informer: the TiltRuns' and one per observed kind."""
        self._start(RUNS, _Runs(self._engine))
        for resource in self._resources:
            self.add(resource)

    def add(self, resource: Resource) -> None:
        """Watch ``resource`` too (also while running); judging waits for its first list."""
        if resource not in self._informers:
            self._start(resource, self._engine)

    def _start(self, resource: Resource, sink: Engine | _Runs) -> None:
        pairs = []
        # A cluster-scoped kind has one collection, whatever namespaces are served.
        namespaces = self._namespaces if resource.namespaced else [None]
        for namespace in namespaces:
            informer = Informer(self._session, resource, namespace, sink, on_error=self._on_error)
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
        """Cancel every informer, and wait for them to end."""
        tasks = [task for pairs in self._informers.values() for _, task in pairs]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._informers.clear()
