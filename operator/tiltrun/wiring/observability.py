"""Operating the operator: ``/healthz``, ``/readyz``, Prometheus ``/metrics``, and logs.

Everything here observes; nothing decides. The engine reports through two callbacks
(``on_patch``, ``on_reconcile``), the status writer and the informers through
``on_api_error`` (the operator's every request goes through one of them).
The TiltRuns-by-state gauge is computed when scraped, from the runs the engine's store
holds, so it can never drift from what the operator knows.

The HTTP endpoints are served by aiohttp (a kopf dependency) on kopf's event loop. Their
sockets are bound before kopf starts, so a port in use fails the start-up at once with
one sentence instead of inside a startup handler kopf would retry.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tiltrun.engine.store import Obj, RunKey
from tiltrun.judge.exit import Outcome

log = logging.getLogger(__name__)

# The `_created` timestamp series prometheus_client adds to every counter and histogram
# only double the output; Prometheus does not need them.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: ``--log-format text``: one line per record, the logger's name saying who speaks.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Where a TiltRun stands, as the ``state`` label of ``tiltrun_runs``.
RUN_STATES = ("pending", "waiting", "up", "failing", "succeeded", "failed")
EXIT_CONDITIONS = ("ci", "manual")


def configure_logging(log_format: str, *, verbose: bool) -> None:
    """Text or JSON logs on stderr, through kopf's formatter.

    JSON records carry ``message``, ``levelname``, ``name`` and ``timestamp``.
    """
    # kopf takes a format string as well as a LogFormat, though its annotation says only the latter.
    text = cast(kopf.LogFormat, TEXT_FORMAT)
    kopf.configure(
        verbose=verbose, log_format=kopf.LogFormat.JSON if log_format == "json" else text
    )


def run_state(run: Obj) -> tuple[str, str]:
    """``(exit condition, state)`` of a TiltRun from its stored status, for the gauge."""
    spec = run.get("spec") or {}
    exit_condition = "ci" if spec.get("exitCondition") == "ci" else "manual"
    status = run.get("status") or {}
    if not status:
        return exit_condition, "pending"
    if status.get("done"):
        return exit_condition, "failed" if status.get("error") else "succeeded"
    conditions = {
        c.get("type"): c.get("status")
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    }
    if conditions.get("Stalled") == "True":
        return exit_condition, "failing"
    if conditions.get("Ready") == "True":
        return exit_condition, "up"
    return exit_condition, "waiting"


class RunsCollector(Collector):
    """``tiltrun_runs{exit_condition, state}``: the runs the operator holds, counted at scrape."""

    def __init__(self, runs: Callable[[], Iterable[Obj]]) -> None:
        self._runs = runs

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = {(e, s): 0 for e in EXIT_CONDITIONS for s in RUN_STATES}
        for run in list(self._runs()):
            counts[run_state(run)] += 1
        gauge = GaugeMetricFamily(
            "tiltrun_runs",
            "TiltRuns the operator watches, by exit condition and where they stand.",
            labels=["exit_condition", "state"],
        )
        for (exit_condition, state), count in counts.items():
            gauge.add_metric([exit_condition, state], count)
        yield gauge


class Metrics:
    """The operator's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.reconcile_seconds = Histogram(
            "tiltrun_reconcile_duration_seconds",
            "Time to recompute one TiltRun's status from the watched objects (no I/O).",
            ["outcome"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.status_patches = Counter(
            "tiltrun_status_patches",
            "TiltRun status patches the API server accepted.",
            registry=self.registry,
        )
        self.patch_seconds = Histogram(
            "tiltrun_status_patch_duration_seconds",
            "Round trip of an accepted TiltRun status patch.",
            registry=self.registry,
        )
        self.api_errors = Counter(
            "tiltrun_api_errors",
            "Failed requests to the API server (code 0: no answer), by operation: "
            "patch_status, create_event, patch_event, list, watch.",
            ["operation", "code"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "tiltrun_leader",
            "1 while this instance writes statuses: it holds the Lease, or runs without "
            "leader election; 0 on a standby.",
            registry=self.registry,
        )
        self.leader.set(1)
        self._runs: Callable[[], Iterable[Obj]] = list
        self.registry.register(RunsCollector(lambda: self._runs()))

    def watch_runs(self, runs: Callable[[], Iterable[Obj]]) -> None:
        """Count the runs ``runs()`` returns in ``tiltrun_runs`` (the engine's store)."""
        self._runs = runs

    # -- the callbacks the engine and the writer are given -----------------------------

    def on_patch(self, key: RunKey, seconds: float) -> None:
        self.status_patches.inc()
        self.patch_seconds.observe(seconds)

    def on_reconcile(self, key: RunKey, seconds: float, outcome: Outcome) -> None:
        self.reconcile_seconds.labels(outcome=str(outcome)).observe(seconds)

    def on_api_error(self, operation: str, status: int) -> None:
        self.api_errors.labels(operation=operation, code=str(status)).inc()

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


@dataclass
class Endpoints:
    """Where ``/healthz``, ``/readyz`` and ``/metrics`` are served (port 0: not served)."""

    bind_address: str = "0.0.0.0"
    health_port: int = 0
    metrics_port: int = 0
    sockets: list[tuple[socket.socket, tuple[str, ...]]] = field(default_factory=list)

    def bind(self) -> None:
        """Bind the listening sockets now; raises ``OSError`` when a port is taken."""
        paths: dict[int, tuple[str, ...]] = {}
        if self.health_port:
            paths[self.health_port] = ("/healthz", "/readyz")
        if self.metrics_port:
            paths[self.metrics_port] = (*paths.get(self.metrics_port, ()), "/metrics")
        for port, served in paths.items():
            sock = socket.create_server((self.bind_address, port), reuse_port=False)
            self.sockets.append((sock, served))


class Observability:
    """Metrics plus the HTTP server that exposes them and the probes."""

    def __init__(self, endpoints: Endpoints | None = None) -> None:
        self.metrics = Metrics()
        self.endpoints = endpoints or Endpoints()
        self._engine_task: asyncio.Task[Any] | None = None
        self._readiness: Callable[[], str | None] = lambda: None
        self._runners: list[web.AppRunner] = []

    async def start(
        self,
        engine_task: asyncio.Task[Any],
        readiness: Callable[[], str | None] | None = None,
    ) -> None:
        """Serve the endpoints on the sockets bound earlier; the engine is now running.

        ``readiness()`` says why the operator is not ready yet (``None``: it is).
        """
        self._engine_task = engine_task
        if readiness is not None:
            self._readiness = readiness
        for sock, served in self.endpoints.sockets:
            app = web.Application()
            routes = {"/healthz": self._healthz, "/readyz": self._readyz, "/metrics": self._metrics}
            for path in served:
                app.router.add_get(path, routes[path])
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            self._runners.append(runner)
            log.info("serving %s on %s:%d", ", ".join(served), *sock.getsockname()[:2])

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    def _engine_problem(self) -> str | None:
        task = self._engine_task
        if task is None:
            return "the engine has not started"
        if task.done():
            error = None if task.cancelled() else task.exception()
            return f"the engine stopped: {error!r}" if error else "the engine stopped"
        return None

    async def _healthz(self, request: web.Request) -> web.Response:
        # Answering at all proves the event loop is not blocked; the engine must be alive.
        problem = self._engine_problem()
        if problem:
            return web.Response(status=500, text=problem + "\n")
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        # Ready once every watched kind is listed and every TiltRun that existed at
        # start-up has its current status: before that, a status may still be stale.
        problem = self._engine_problem() or self._readiness()
        if problem:
            return web.Response(status=503, text=problem + "\n")
        return web.Response(text="ok\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
