"""One benchmark size, end to end: set up, drive, observe, measure.

The phases, in order (each figure in the report names the phase it comes from):

1. **park**: the watcher, then the operator, start; N TiltRuns and N x M workloads are
   created with their pods held by a scheduling gate, until every run shows every
   target waiting.
2. **live**: kubectl waiters (one per workload, for a sample of runs) and the pollers
   start; then each workload's gate is removed at its release time, spread over
   ``spread`` seconds, until every run is decided (``ci``: done; ``manual``: Ready).
3. **rollout**: the manual runs' Deployments get a new revision (operator only).
4. **idle**: nothing changes for ``idle`` seconds; the operator's CPU and requests.
5. **start-up**: the operator stops; a second TiltRun per run, over the same (settled)
   workloads, is created; a new operator process starts, and the time until every one
   of those runs has a correct final status is the start-up time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import audit, identities
from bench.actors import REPO, Operator, Started, metric, start_operator
from bench.kubeapi import Api, ApiError, Obj, endpoint
from bench.scenario import ROLLOUT_ANNOTATION, WORKLOAD_LABEL, Run, Scenario, Workload
from tiltrun.judge.kinds import BUILTIN, DEPLOYMENT, POD, TILTRUN, Kind


def _kind(kind: str) -> Kind:
    """The registry's entry for a kind the scenario creates."""
    entry = BUILTIN.lookup(kind)
    if entry is None:
        raise ValueError(f"the benchmark cannot create kind {kind}")
    return entry


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Mark:
    """An instant on both clocks: monotonic (the watcher's) and wall (the audit log's)."""

    mono: float
    wall: datetime

    @classmethod
    def now(cls) -> Mark:
        return cls(time.monotonic(), datetime.now(UTC))


@dataclass(frozen=True)
class Cluster:
    """Where the benchmark runs."""

    kubeconfig: str
    kubectl: str
    audit_log: Path | None


@dataclass
class Settings:
    spread: float
    idle: float
    intervals: tuple[float, ...]
    max_waiters: int
    #: How long any one wait may last before the size is given up as failed.
    patience: float = 600.0
    #: How long to wait for runs to be decided before analysing what is missing.
    decide_timeout: float = 600.0
    #: Run kubectl wait and the pollers (off: the operator alone, nothing else loading
    #: the API server).
    baselines: bool = True


@dataclass
class Observed:
    """What one size's phases left behind for the analysis."""

    marks: dict[str, Mark] = field(default_factory=dict)
    operator_samples: dict[str, dict[str, float]] = field(default_factory=dict)
    operator_patches_metric: float | None = None
    waiters: dict[str, dict[str, Any]] = field(default_factory=dict)  # target -> result
    waiter_runs: list[str] = field(default_factory=list)
    poller_files: dict[float, Path] = field(default_factory=dict)
    record: Path | None = None
    requests: list[audit.Request] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: The machine's 1-minute load average, and the running operator's CPU seconds, at
    #: each mark: how much CPU the operator got, and how busy the machine was.
    loadavg: dict[str, float] = field(default_factory=dict)
    operator_cpu: dict[str, float] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Write everything to ``path`` (JSON), so the analysis can be run again later."""
        data = {
            "marks": {k: [m.mono, m.wall.isoformat()] for k, m in self.marks.items()},
            "operator_samples": self.operator_samples,
            "operator_patches_metric": self.operator_patches_metric,
            "waiters": self.waiters,
            "waiter_runs": self.waiter_runs,
            "poller_files": {str(k): v.name for k, v in self.poller_files.items()},
            "record": self.record.name if self.record else None,
            "requests": [
                [r.user, r.verb, r.resource, r.namespace, r.name, r.code, r.received.isoformat()]
                for r in self.requests
            ],
            "failures": self.failures,
            "loadavg": self.loadavg,
            "operator_cpu": self.operator_cpu,
        }
        path.write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path) -> Observed:
        """What :meth:`save` wrote; files are looked up beside ``path``."""
        data = json.loads(path.read_text())
        folder = path.parent
        return cls(
            marks={
                k: Mark(mono, datetime.fromisoformat(wall))
                for k, (mono, wall) in data["marks"].items()
            },
            operator_samples=data["operator_samples"],
            operator_patches_metric=data["operator_patches_metric"],
            waiters=data["waiters"],
            waiter_runs=data["waiter_runs"],
            poller_files={float(k): folder / v for k, v in data["poller_files"].items()},
            record=folder / data["record"] if data["record"] else None,
            requests=[
                audit.Request(u, v, res, ns, n, c, datetime.fromisoformat(t))
                for u, v, res, ns, n, c, t in data["requests"]
            ],
            failures=data["failures"],
            loadavg=data.get("loadavg", {}),
            operator_cpu=data.get("operator_cpu", {}),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Harness:
    """Runs one scenario on one cluster; ``measure()`` returns what was observed."""

    def __init__(
        self, scenario: Scenario, cluster: Cluster, settings: Settings, work: Path
    ) -> None:
        self.scn = scenario
        self.cluster = cluster
        self.settings = settings
        self.work = work
        self.ns = scenario.namespace
        self.started = Started()
        self.obs = Observed()
        self.users = [
            identities.OPERATOR,
            identities.WATCHER,
            identities.DRIVER,
            identities.KUBECTL_WAIT,
            *(identities.poller_user(i) for i in settings.intervals),
        ]
        self.ids = identities.identities(cluster.kubeconfig, self.users, work / "identities")
        self._waiter_procs: list[asyncio.subprocess.Process] = []
        self._operator: Operator | None = None  # the one running now

    # -- entry point ---------------------------------------------------------------------

    async def measure(self) -> Observed:
        audit_offset = audit.log_size(self.cluster.audit_log)
        self.mark("begin")
        try:
            async with Api(endpoint(self.ids[identities.DRIVER])) as api:
                self.api = api
                await self._prepare()
                watcher = await self._start_watcher()
                operator = await self._start_operator("operator-1")
                sampler = asyncio.create_task(self._sample(operator))
                await self._park()
                await self._live()
                await self._rollout()
                await self._idle(operator)
                sampler.cancel()
                await self._stop_operator(operator, "operator-1")
                await self._startup()
                self.started.stop(watcher)
        finally:
            for proc in self._waiter_procs:
                if proc.returncode is None:
                    proc.terminate()
            self.started.stop_all()
        self.mark("end")
        if self.cluster.audit_log is not None and self.ids.distinct:
            await asyncio.sleep(1.5)  # the API server writes audit events in batches
            self.obs.requests = audit.read_requests(self.cluster.audit_log, offset=audit_offset)
        self.obs.save(self.work / "observed.json")
        return self.obs

    async def delete_namespace(self) -> None:
        """Delete this size's namespace (without waiting for it to go)."""
        async with Api(endpoint(self.ids[identities.DRIVER])) as api:
            await api.request("DELETE", f"/api/v1/namespaces/{self.ns}", ok_statuses=(404,))

    def mark(self, name: str) -> Mark:
        self.obs.marks[name] = Mark.now()
        self.obs.loadavg[name] = _loadavg()
        if self._operator is not None:
            now = self._operator.sample()
            if now is not None:
                self.obs.operator_cpu[name] = now.cpu_seconds
        return self.obs.marks[name]

    # -- setup ---------------------------------------------------------------------------

    async def _prepare(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self._kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds" / "tiltrun.yaml")
        )
        self._kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "crd/tiltruns.tilt.dev"
        )
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns}}
        await self.api.request("POST", "/api/v1/namespaces", body=body)

        async def has_default_sa() -> bool:
            try:
                await self.api.get(f"/api/v1/namespaces/{self.ns}/serviceaccounts/default")
            except ApiError:
                return False
            return True

        await self._until(has_default_sa, "the namespace's default service account", 60)

    def _kubectl(self, *args: str, user: str = identities.DRIVER) -> str:
        result = subprocess.run(
            [self.cluster.kubectl, f"--kubeconfig={self.ids[user]}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    async def _start_watcher(self) -> subprocess.Popen[bytes]:
        self.obs.record = self.work / "watch.record"
        proc = self.started.popen(
            "watcher",
            [
                sys.executable,
                "-m",
                "bench.watcher",
                "--kubeconfig",
                self.ids[identities.WATCHER],
                "--namespace",
                self.ns,
                "--out",
                str(self.obs.record),
            ],
            log=self.work / "watcher.log",
            pipe_stdout=True,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"the watcher did not start; see {self.work / 'watcher.log'}")
        return proc

    async def _start_operator(self, name: str) -> Operator:
        self.mark(f"{name}-start")
        operator = start_operator(
            self.started,
            self.ids[identities.OPERATOR],
            self.ns,
            free_port(),
            self.work / f"{name}.log",
        )
        await operator.wait_healthy()
        self._operator = operator
        self.mark(f"{name}-healthy")
        return operator

    async def _sample(self, operator: Operator) -> None:
        """Keep the operator's peak RSS (VmHWM is exact; this also keeps the last CPU)."""
        while True:
            operator.sample()
            await asyncio.sleep(0.25)

    async def _stop_operator(self, operator: Operator, name: str) -> None:
        text = await operator.metrics()
        (self.work / f"{name}.metrics").write_text(text)
        patches = metric(text, "tiltrun_status_patches_total")
        self.obs.operator_patches_metric = (self.obs.operator_patches_metric or 0) + (patches or 0)
        last = operator.sample()
        self.mark(f"{name}-stop")
        self._operator = None
        if last is not None:
            self.obs.operator_samples[name] = {
                "cpu_seconds": last.cpu_seconds,
                "peak_rss_bytes": float(operator.peak_rss),
                "rss_bytes": float(last.rss_bytes),
            }
        code = self.started.stop(operator.proc)
        if code not in (0, -15):
            self.obs.failures.append(f"{name} exited with code {code}; see its log")

    # -- phase 1: park -----------------------------------------------------------------

    async def _park(self) -> None:
        self.mark("park")
        log(
            f"{self.scn.size}: creating {len(self.scn.runs)} TiltRuns and "
            f"{len(self.scn.workloads)} parked workloads"
        )
        limit = asyncio.Semaphore(16)

        async def create(kind: str, manifest: Obj) -> None:
            async with limit:
                await self.api.request("POST", _kind(kind).path(self.ns), body=manifest)

        await asyncio.gather(*(create("TiltRun", run.manifest()) for run in self.scn.runs))
        await asyncio.gather(*(create(w.kind, w.manifest()) for w in self.scn.workloads))
        self.mark("created")
        expected = len(self.scn.workloads)

        async def all_pods() -> bool:
            return len(await self._pods()) >= expected

        await self._until(all_pods, f"{expected} parked pods")

        async def all_shown() -> bool:
            runs = await self._tiltruns()
            per_run = {r.name: len(r.workloads) for r in self.scn.runs}
            return all(
                len(((runs.get(name) or {}).get("status") or {}).get("targets") or []) == count
                for name, count in per_run.items()
            )

        await self._until(all_shown, "every run to show all its targets")
        self.mark("parked")

    async def _pods(self) -> dict[str, Obj]:
        """Pods by the workload they belong to (label ``bench.tilt.dev/workload``)."""
        answer = await self.api.get(POD.path(self.ns))
        pods: dict[str, Obj] = {}
        for pod in answer.get("items") or []:
            workload = (pod["metadata"].get("labels") or {}).get(WORKLOAD_LABEL)
            if workload and not pod["metadata"].get("deletionTimestamp"):
                pods[workload] = pod
        return pods

    async def _tiltruns(self) -> dict[str, Obj]:
        answer = await self.api.get(TILTRUN.path(self.ns))
        return {r["metadata"]["name"]: r for r in answer.get("items") or []}

    async def _until(
        self, check: Any, what: str, timeout: float | None = None, *, required: bool = True
    ) -> bool:
        """Wait for ``check()``; on timeout raise, or (``required=False``) record and go on.

        The waits for runs to be decided are not required: a run the operator never
        finishes is what the analysis must then explain (a missed transition).
        """
        timeout = timeout or self.settings.patience
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await check():
                return True
            await asyncio.sleep(0.5)
        message = f"timed out after {timeout:.0f}s waiting for {what}"
        if required:
            raise RuntimeError(f"{self.scn.size}: {message}")
        log(f"{self.scn.size}: {message}")
        self.obs.failures.append(message)
        return False

    # -- phase 2: live -----------------------------------------------------------------

    async def _live(self) -> None:
        self.mark("baselines")
        if self.settings.baselines:
            await self._prewarm_kubectl()
            waiters = asyncio.create_task(self._run_waiters())
            pollers = self._start_pollers()
            await self._waiters_established()
            await self._pollers_polling(pollers)
        else:
            waiters, pollers = asyncio.create_task(asyncio.sleep(0)), []
        log(f"{self.scn.size}: releasing workloads over {self.scn.spread:.0f}s")
        release = self.mark("release")
        pods = await self._pods()
        limit = asyncio.Semaphore(32)
        tasks = []
        for workload in sorted(self.scn.workloads, key=lambda w: w.release_at):
            delay = release.mono + workload.release_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._release(pods[workload.name], limit)))
        await asyncio.gather(*tasks)
        self.mark("released")
        await self._until(
            self._all_decided,
            "every run to be decided",
            self.settings.decide_timeout,
            required=False,
        )
        self.mark("decided")
        log(f"{self.scn.size}: every run decided; waiting for the baselines")
        for interval, poller in pollers:
            try:
                await asyncio.wait_for(asyncio.to_thread(poller.wait), interval * 2 + 30)
            except TimeoutError:
                self.obs.failures.append(f"the {interval:g}s poller did not finish")
                self.started.stop(poller)
        await asyncio.sleep(3)  # a waiter that has its condition returns within this
        for waiter in self._waiter_procs:
            if waiter.returncode is None:
                waiter.terminate()
        await waiters
        self.mark("live-end")

    async def _release(self, pod: Obj, limit: asyncio.Semaphore) -> None:
        patch = [{"op": "remove", "path": "/spec/schedulingGates"}]
        async with limit:
            await self.api.request(
                "PATCH",
                POD.path(self.ns, pod["metadata"]["name"]),
                body=patch,
                content_type="application/json-patch+json",
            )

    async def _all_decided(self) -> bool:
        runs = await self._tiltruns()
        for run in self.scn.runs:
            status = (runs.get(run.name) or {}).get("status") or {}
            if run.exit_condition == "ci" and not status.get("done"):
                return False
            if run.exit_condition == "manual" and not _ready(status):
                return False
        return True

    # kubectl wait: one waiter per workload, as a shell user writes it.

    def _waiter_sample(self) -> list[Run]:
        runs = list(self.scn.runs)
        per_run = max(1, len(runs[0].workloads))
        count = max(1, min(len(runs), self.settings.max_waiters // per_run))
        step = len(runs) / count
        chosen = [runs[int(i * step)] for i in range(count)]
        failing = [r for r in runs if r.fails]
        if failing and not any(r.fails for r in chosen):
            chosen[-1] = failing[0]
        return chosen

    async def _prewarm_kubectl(self) -> None:
        # A shell user's kubectl has its discovery cache warm; so does ours, before the
        # requests that count.
        self._kubectl(
            f"--cache-dir={self.work / 'kubectl-cache'}",
            "get",
            "deployments,jobs",
            "-n",
            self.ns,
            user=identities.KUBECTL_WAIT,
        )

    async def _run_waiters(self) -> None:
        chosen = self._waiter_sample()
        self.obs.waiter_runs = [r.name for r in chosen]
        waiters = [w for run in chosen for w in run.workloads]
        await asyncio.gather(*(self._wait_one(w) for w in waiters))

    async def _wait_one(self, workload: Workload) -> None:
        condition = "Available" if workload.kind == "Deployment" else "Complete"
        args = [
            f"--kubeconfig={self.ids[identities.KUBECTL_WAIT]}",
            f"--cache-dir={self.work / 'kubectl-cache'}",
            "wait",
            f"--for=condition={condition}",
            f"--timeout={int(self.settings.patience)}s",
            "-n",
            self.ns,
            workload.target,
        ]
        with (self.work / "kubectl-wait.log").open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                self.cluster.kubectl, *args, stdout=out, stderr=out, stdin=subprocess.DEVNULL
            )
        self._waiter_procs.append(proc)
        started = time.monotonic()
        code = await proc.wait()
        self.obs.waiters[workload.target] = {
            "run": workload.run,
            "started": started,
            "t": time.monotonic(),
            "code": code,
        }

    async def _waiters_established(self) -> None:
        """Wait until every waiter has its watch open (from the audit log when there is one)."""
        count = sum(len(r.workloads) for r in self._waiter_sample())
        since = self.obs.marks["baselines"].wall
        log_path = self.cluster.audit_log
        if log_path is None or not self.ids.distinct:
            await asyncio.sleep(3 + count / 10)
            return
        offset = 0

        async def watching() -> bool:
            nonlocal offset
            requests = audit.read_requests(log_path, offset=offset)
            opened = [
                r
                for r in requests
                if r.user == identities.KUBECTL_WAIT and r.verb == "watch" and r.received >= since
            ]
            return len(opened) >= count

        offset = audit.log_size(log_path)
        await self._until(watching, f"{count} kubectl waiters to open their watches", 120)

    def _start_pollers(self) -> list[tuple[float, subprocess.Popen[bytes]]]:
        out = []
        names = ",".join(r.name for r in self.scn.runs)
        for interval in self.settings.intervals:
            path = self.work / f"poller-{interval:g}s.jsonl"
            self.obs.poller_files[interval] = path
            proc = self.started.popen(
                f"poller-{interval:g}s",
                [
                    sys.executable,
                    "-m",
                    "bench.poller",
                    "--kubeconfig",
                    self.ids[identities.poller_user(interval)],
                    "--namespace",
                    self.ns,
                    "--interval",
                    str(interval),
                    "--runs",
                    names,
                    "--out",
                    str(path),
                ],
                log=self.work / f"poller-{interval:g}s.log",
                pipe_stdout=True,
            )
            out.append((interval, proc))
        return out

    async def _pollers_polling(self, pollers: list[tuple[float, subprocess.Popen[bytes]]]) -> None:
        for interval, proc in pollers:
            assert proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
            if line.strip() != b"ready":
                raise RuntimeError(f"the {interval:g}s poller did not start; see its log")

    # -- phase 3: rollout ----------------------------------------------------------------

    async def _rollout(self) -> None:
        deployments = [
            w
            for r in self.scn.runs
            if r.exit_condition == "manual"
            for w in r.workloads
            if w.kind == "Deployment"
        ]
        if not deployments:
            return
        log(f"{self.scn.size}: rolling out {len(deployments)} Deployments of the manual runs")
        self.mark("rollout")
        patch = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {ROLLOUT_ANNOTATION: "2"}},
                    "spec": {"schedulingGates": None},
                }
            }
        }
        path = DEPLOYMENT.path(self.ns)
        await asyncio.gather(
            *(
                self.api.request(
                    "PATCH",
                    f"{path}/{w.name}",
                    body=patch,
                    content_type="application/merge-patch+json",
                )
                for w in deployments
            )
        )
        names = {w.name for w in deployments}

        async def rolled_out() -> bool:
            answer = await self.api.get(path)
            done = {
                d["metadata"]["name"]
                for d in answer.get("items") or []
                if d["metadata"]["name"] in names and _rolled_out(d)
            }
            return done == names

        await self._until(rolled_out, "the manual runs' Deployments to roll out")
        await self._until(
            self._all_decided,
            "the manual runs to be Ready again",
            self.settings.decide_timeout,
            required=False,
        )
        self.mark("rollout-end")

    # -- phase 4: idle -------------------------------------------------------------------

    async def _idle(self, operator: Operator) -> None:
        await asyncio.sleep(3)  # let the last writes and their events settle
        log(f"{self.scn.size}: idle for {self.settings.idle:.0f}s")
        before = operator.sample()
        self.mark("idle")
        await asyncio.sleep(self.settings.idle)
        after = operator.sample()
        self.mark("idle-end")
        if before is not None and after is not None:
            self.obs.operator_samples["idle"] = {
                "cpu_seconds": after.cpu_seconds - before.cpu_seconds,
                "seconds": self.obs.marks["idle-end"].mono - self.obs.marks["idle"].mono,
            }

    # -- phase 5: start-up ---------------------------------------------------------------

    async def _startup(self) -> None:
        log(f"{self.scn.size}: start-up with {len(self.scn.workloads)} workloads present")
        await asyncio.gather(
            *(
                self.api.request(
                    "POST",
                    TILTRUN.path(self.ns),
                    body=run.manifest(name=again(run.name), exit_condition="ci"),
                )
                for run in self.scn.runs
            )
        )
        await asyncio.sleep(1)  # the watcher sees them before the operator starts
        operator = await self._start_operator("operator-2")
        sampler = asyncio.create_task(self._sample(operator))

        async def all_done() -> bool:
            runs = await self._tiltruns()
            return all(
                ((runs.get(again(r.name)) or {}).get("status") or {}).get("done")
                for r in self.scn.runs
            )

        await self._until(
            all_done, "every start-up run to be done", self.settings.decide_timeout, required=False
        )
        self.mark("startup-done")
        await asyncio.sleep(2)  # any write after done would show as a no-op patch
        sampler.cancel()
        await self._stop_operator(operator, "operator-2")


def again(name: str) -> str:
    """The start-up phase's TiltRun over the workloads of run ``name``."""
    return f"{name}-again"


def _ready(status: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _rolled_out(deployment: Obj) -> bool:
    status = deployment.get("status") or {}
    return (
        status.get("observedGeneration") == deployment["metadata"].get("generation")
        and status.get("updatedReplicas") == 1
        and status.get("availableReplicas") == 1
        and status.get("replicas") == 1
    )


def _loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
