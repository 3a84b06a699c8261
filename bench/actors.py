"""The processes the harness starts: operators, the watcher, pollers, kubectl wait, spinners.

Every process is recorded when started and stopped by its own handle (never by name),
so the harness only ever stops what it started. The control plane's processes are only
read (their CPU time, from ``/proc``), never touched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.procstat import Sample, sample

REPO = Path(__file__).resolve().parents[1]
#: What a busy core runs: the plain busy loop of a CPU-bound neighbour.
SPIN = "while True: pass"


@dataclass
class Started:
    """Every process this harness started, to stop exactly those."""

    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def popen(
        self,
        name: str,
        args: list[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        pipe_stdout: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Start ``args`` with stderr (and stdout unless piped) appended to ``log``."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipe_stdout else out,
                stderr=out,
                cwd=REPO,
                env=env,
            )
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return int(proc.returncode)

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            self.stop(proc, timeout=5)


class Spinners:
    """``count`` processes each keeping one core busy, for as long as the context lasts."""

    def __init__(self, started: Started, count: int, log: Path) -> None:
        self._started = started
        self._count = count
        self._log = log
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Spinners:
        for i in range(self._count):
            args = [sys.executable, "-c", SPIN]
            self._procs.append(self._started.popen(f"spinner-{i}", args, log=self._log))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            self._started.stop(proc, timeout=5)

    def cpu_seconds(self) -> float:
        """CPU the spinners got so far: how busy they really kept the machine."""
        return sum(s.cpu_seconds for s in (sample(p.pid) for p in self._procs) if s)


@dataclass
class Operator:
    """One ``tiltrun operator`` process, under its own identity, and its resource use."""

    proc: subprocess.Popen[bytes]
    started: float  # monotonic
    health_port: int
    peak_rss: int = 0
    last: Sample | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def sample(self) -> Sample | None:
        now = sample(self.pid)
        if now is not None:
            self.last = now
            self.peak_rss = max(self.peak_rss, now.peak_rss_bytes)
        return now

    async def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the operator exited with code {self.proc.returncode}")
                try:
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the operator was not healthy within {timeout:.0f}s")

    async def metrics(self) -> str:
        """Its Prometheus ``/metrics`` text (served on the health port); empty if unreachable."""
        url = f"http://127.0.0.1:{self.health_port}/metrics"
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as resp:
                return await resp.text()
        except aiohttp.ClientError:
            return ""


def metric(text: str, name: str) -> float | None:
    """The value of an unlabelled metric in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def start_operator(
    started: Started, kubeconfig: str, namespaces: list[str], port: int, log: Path
) -> Operator:
    """``python -m tiltrun operator`` watching ``namespaces`` (all when empty)."""
    args = [sys.executable, "-m", "tiltrun", "operator"]
    for namespace in namespaces:
        args += ["--namespace", namespace]
    args += ["--health-port", str(port), "--metrics-port", str(port), "--bind-address", "127.0.0.1"]
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    t0 = time.monotonic()
    proc = started.popen("operator", args, log=log, env=env)
    return Operator(proc, t0, port)
