"""The operator's metrics and probes, without a cluster."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from typing import Any

import pytest

from tiltrun.judge.exit import Outcome
from tiltrun.wiring.observability import (
    Endpoints,
    Metrics,
    Observability,
    run_state,
)


def _run(exit_condition: str, status: dict[str, Any] | None) -> dict[str, Any]:
    run: dict[str, Any] = {"spec": {"exitCondition": exit_condition}}
    if status is not None:
        run["status"] = status
    return run


def _conditions(**values: str) -> list[dict[str, str]]:
    return [{"type": kind, "status": value} for kind, value in values.items()]


@pytest.mark.parametrize(
    ("run", "state"),
    [
        (_run("ci", None), ("ci", "pending")),
        (_run("ci", {"done": True, "error": ""}), ("ci", "succeeded")),
        (_run("ci", {"done": True, "error": "job/migrate: exit code 1"}), ("ci", "failed")),
        (
            _run("ci", {"done": False, "conditions": _conditions(Reconciling="True")}),
            ("ci", "waiting"),
        ),
        (_run("manual", {"conditions": _conditions(Ready="True")}), ("manual", "up")),
        (_run("manual", {"conditions": _conditions(Stalled="True")}), ("manual", "failing")),
        ({"spec": {}, "status": {"summary": "x"}}, ("manual", "waiting")),
    ],
)
def test_a_run_is_counted_by_its_stored_status(run: dict[str, Any], state: tuple[str, str]) -> None:
    assert run_state(run) == state


def _sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_the_runs_gauge_counts_what_the_store_holds_at_scrape_time() -> None:
    metrics = Metrics()
    runs = [_run("ci", None), _run("ci", {"done": True, "error": ""})]
    metrics.watch_runs(lambda: runs)
    assert _sample(metrics, "tiltrun_runs", exit_condition="ci", state="pending") == 1
    runs.pop(0)
    assert _sample(metrics, "tiltrun_runs", exit_condition="ci", state="pending") == 0
    assert _sample(metrics, "tiltrun_runs", exit_condition="ci", state="succeeded") == 1


def test_callbacks_feed_the_counters_and_histograms() -> None:
    metrics = Metrics()
    metrics.on_reconcile(("ns", "a"), 0.002, Outcome.RUNNING)
    metrics.on_patch(("ns", "a"), 0.01)
    metrics.on_api_error("patch_status", 422)
    assert _sample(metrics, "tiltrun_reconcile_duration_seconds_count", outcome="Running") == 1
    assert _sample(metrics, "tiltrun_status_patches_total") == 1
    assert _sample(metrics, "tiltrun_status_patch_duration_seconds_count") == 1
    assert _sample(metrics, "tiltrun_api_errors_total", operation="patch_status", code="422") == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_port_in_use_fails_at_bind_time() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            Endpoints("127.0.0.1", health_port=port).bind()


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_probes_follow_the_engine_and_metrics_share_a_port_when_asked() -> None:
    port = _free_port()
    endpoints = Endpoints("127.0.0.1", health_port=port, metrics_port=port)
    endpoints.bind()
    observability = Observability(endpoints)

    async def scenario() -> list[tuple[int, str]]:
        engine = asyncio.get_running_loop().create_task(asyncio.Event().wait())
        await observability.start(engine)
        answers = []
        for path in ("/healthz", "/readyz", "/metrics"):
            answers.append(await asyncio.to_thread(_get, port, path))
        engine.cancel()
        await asyncio.sleep(0)
        answers.append(await asyncio.to_thread(_get, port, "/healthz"))
        await observability.stop()
        return answers

    healthz, readyz, metrics, after = asyncio.run(scenario())
    assert healthz == (200, "ok\n") and readyz == (200, "ok\n")
    assert metrics[0] == 200 and "tiltrun_runs" in metrics[1]
    assert after == (500, "the engine stopped\n")
