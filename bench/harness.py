"""One pass of one size, end to end: set up, drive, observe, measure.

A *pass* runs a scenario with a chosen set of contenders (``PASSES``): the operator and
the baselines side by side (``together``), the operator alone (``operator``), the
baselines alone (``baselines``), each baseline alone, two operators splitting the
namespaces (``shard``), or nothing but the harness (``none``: the floor the others are
measured against). Every pass of a size releases the same workloads at the same
instants, optionally with ``busy`` cores kept busy by spinning processes throughout.

The phases of a pass, in order (each figure in the report names the phase it comes
from):

1. **park**: the watcher, then the operator(s), start; the TiltRuns and workloads are
   created with their pods held by a scheduling gate, until every pod exists (and, with
   an operator, every run shows every target waiting).
2. **live**: the baselines start; then each workload's gate is removed at its release
   time, spread over ``spread`` seconds, until every run is decided (with an operator:
   ``ci`` done, ``manual`` Ready; without: every workload up or failed).
3. **rollout** (operator passes): the manual runs' Deployments get a new revision.
4. **idle** (operator passes): nothing changes for ``idle`` seconds.
5. **start-up** (operator passes): the operator stops; a second TiltRun per run, over the
   same (settled) workloads, is created; a new operator process starts, and the time
   until every one of those runs has a correct final status is the start-up time.
6. **restart** (when the pass asks for ``restart_pods``): the operator stops again; other
   pods, which no run selects, bring the namespace to ``restart_pods`` running pods; a
   third TiltRun per run is created and a new operator starts: the time to every one of
   those runs' first correct status is the recovery of an operator restarted in a big
   cluster.
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

from kubernetes.aio.client.exceptions import ApiException

from bench import audit, identities
from bench.actors import REPO, Operator, Spinners, Started, metric, start_operator
from bench.kube import connect, create, delete, list_objects, patch, read
from bench.poller import deployment_status, job_status
from bench.procstat import sample
from bench.scenario import PASS_LABEL, ROLLOUT_ANNOTATION, WORKLOAD_LABEL, Run, Scenario, Workload
from tiltrun.api.model import RUN_LABEL
from tiltrun.judge.kinds import BUILTIN, DEPLOYMENT, JOB, NAMESPACE, POD, TILTRUN, Kind
from tiltrun_dev.devcluster.cluster import ClusterState
from tiltrun_dev.devcluster.cluster import Process as ClusterProcess

Obj = dict[str, Any]
#: Kinds only the harness touches (the product never reads them).
SERVICE_ACCOUNT = Kind("", "v1", "serviceaccounts", "ServiceAccount")
NODE = Kind("", "v1", "nodes", "Node", namespaced=False)
#: The control plane's processes whose CPU time the harness reads, by name prefix.
CONTROL_PLANE = ("kube-apiserver", "etcd")


def _kind(kind: str) -> Kind:
    """The registry's entry for a kind the scenario creates."""
    entry = BUILTIN.lookup(kind)
    if entry is None:
        raise ValueError(f"the benchmark cannot create kind {kind}")
    return entry


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class PassKind:
    """Who takes part in a pass."""

    name: str
    #: Operator processes: 0, 1, or 2 (``shard``: each watches half the namespaces).
    operators: int = 0
    waiters: bool = False
    #: The poller intervals that run.
    pollers: tuple[float, ...] = ()

    @property
    def baselines(self) -> bool:
        return self.waiters or bool(self.pollers)


def pass_kind(name: str, intervals: tuple[float, ...]) -> PassKind:
    """The pass called ``name`` (see ``PASSES``); ValueError for an unknown one."""
    if name.startswith("poll-") and name.endswith("s"):
        return PassKind(name, pollers=(float(name[5:-1]),))
    kinds = {
        "together": PassKind("together", 1, True, intervals),
        "operator": PassKind("operator", 1),
        "baselines": PassKind("baselines", 0, True, intervals),
        "kubectl-wait": PassKind("kubectl-wait", 0, True),
        "shard": PassKind("shard", 2),
        "none": PassKind("none"),
    }
    if name not in kinds:
        raise ValueError(f"unknown pass {name!r}; the passes are {', '.join(PASSES)}")
    return kinds[name]


#: The passes ``--passes`` takes, with what each runs.
PASSES = {
    "together": "the operator, kubectl wait and the pollers, side by side",
    "operator": "the operator alone",
    "baselines": "kubectl wait and the pollers, without the operator",
    "kubectl-wait": "kubectl wait alone",
    "poll-Ns": "one poller alone, at N seconds (poll-2s, poll-5s)",
    "shard": "two operators, each watching half the namespaces (NxRxW sizes)",
    "none": "no contender: the harness's own load, the floor for API server CPU",
}


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
    #: PIDs of the control plane's processes by name (a dev cluster only).
    control_plane: dict[str, list[int]] = field(default_factory=dict)


def control_plane(kubeconfig: str) -> dict[str, list[int]]:
    """The dev cluster's kube-apiserver and etcd PIDs (empty for any other cluster)."""
    state = ClusterState.load(Path(kubeconfig).resolve().parent)
    procs: list[ClusterProcess] = state.processes if state else []
    return {
        name: [p.pid for p in procs if p.name.startswith(name)]
        for name in CONTROL_PLANE
        if any(p.name.startswith(name) for p in procs)
    }


@dataclass
class Settings:
    spread: float
    idle: float
    intervals: tuple[float, ...]
    max_waiters: int
    #: How long any one wait may last before the pass is given up as failed.
    patience: float = 600.0
    #: How long to wait for runs to be decided before analysing what is missing.
    decide_timeout: float = 600.0


@dataclass
class Observed:
    """What one pass left behind for the analysis."""

    pass_name: str = ""
    busy: int = 0
    operators: int = 0
    marks: dict[str, Mark] = field(default_factory=dict)
    operator_samples: dict[str, dict[str, float]] = field(default_factory=dict)
    operator_patches_metric: float | None = None
    waiters: dict[str, dict[str, Any]] = field(default_factory=dict)  # target -> result
    waiter_runs: list[str] = field(default_factory=list)
    poller_files: dict[float, Path] = field(default_factory=dict)
    record: Path | None = None
    requests: list[audit.Request] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: At each mark: the machine's 1-minute load average, the running operators' CPU
    #: seconds and resident memory (summed), and each control-plane process's CPU.
    loadavg: dict[str, float] = field(default_factory=dict)
    operator_cpu: dict[str, float] = field(default_factory=dict)
    operator_rss: dict[str, float] = field(default_factory=dict)
    control_plane_cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    #: CPU seconds the spinners got over the pass.
    spinner_cpu: float | None = None
    #: Pods in the namespace when the restart phase's operator started.
    restart_pods: int | None = None
    wall_seconds: float | None = None

    def save(self, path: Path) -> None:
        """Write everything to ``path`` (JSON), so the analysis can be run again later."""
        data = {
            **{
                key: getattr(self, key)
                for key in (
                    "pass_name",
                    "busy",
                    "operators",
                    "operator_samples",
                    "operator_patches_metric",
                    "waiters",
                    "waiter_runs",
                    "failures",
                    "loadavg",
                    "operator_cpu",
                    "operator_rss",
                    "control_plane_cpu",
                    "spinner_cpu",
                    "restart_pods",
                    "wall_seconds",
                )
            },
            "marks": {k: [m.mono, m.wall.isoformat()] for k, m in self.marks.items()},
            "poller_files": {str(k): v.name for k, v in self.poller_files.items()},
            "record": self.record.name if self.record else None,
            "requests": [
                [r.user, r.verb, r.resource, r.namespace, r.name, r.code, r.received.isoformat()]
                for r in self.requests
            ],
        }
        path.write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path) -> Observed:
        """What :meth:`save` wrote; files are looked up beside ``path``."""
        data = json.loads(path.read_text())
        folder = path.parent
        return cls(
            pass_name=data.get("pass_name", "together"),
            busy=data.get("busy", 0),
            operators=data.get("operators", 1),
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
            operator_rss=data.get("operator_rss", {}),
            control_plane_cpu=data.get("control_plane_cpu", {}),
            spinner_cpu=data.get("spinner_cpu"),
            restart_pods=data.get("restart_pods"),
            wall_seconds=data.get("wall_seconds"),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Harness:
    """Runs one pass of one scenario on one cluster; ``measure()`` returns what was observed."""

    def __init__(
        self,
        scenario: Scenario,
        cluster: Cluster,
        settings: Settings,
        kind: PassKind,
        work: Path,
        *,
        busy: int = 0,
        pass_id: str = "bench",
        restart_pods: int = 0,
        live_only: bool = False,
    ) -> None:
        self.scn = scenario
        self.cluster = cluster
        self.settings = settings
        self.kind = kind
        self.work = work
        self.busy = busy
        self.pass_id = pass_id
        self.restart_pods = restart_pods
        self.live_only = live_only
        self.selector = f"{PASS_LABEL}={pass_id}"
        self.started = Started()
        self.obs = Observed(pass_name=kind.name, busy=busy, operators=kind.operators)
        self.users = [
            identities.OPERATOR,
            identities.WATCHER,
            identities.DRIVER,
            identities.KUBECTL_WAIT,
            *(identities.poller_user(i) for i in settings.intervals),
        ]
        self.ids = identities.identities(cluster.kubeconfig, self.users, work / "identities")
        self._waiter_procs: list[asyncio.subprocess.Process] = []
        self._operators: list[Operator] = []  # the ones running now
        self._audit_offset = 0

    # -- entry point ---------------------------------------------------------------------

    async def measure(self) -> Observed:
        self.work.mkdir(parents=True, exist_ok=True)
        audit_offset = audit.log_size(self.cluster.audit_log)
        began = time.monotonic()
        spinners = Spinners(self.started, self.busy, self.work / "spinners.log")
        try:
            with spinners:
                self.mark("begin")
                async with await connect(self.ids[identities.DRIVER]) as kube:
                    self.kube = kube
                    await self._prepare()
                    await self._passes()
                self.mark("end")
                self.obs.spinner_cpu = spinners.cpu_seconds() if self.busy else None
        finally:
            for proc in self._waiter_procs:
                if proc.returncode is None:
                    proc.terminate()
            self.started.stop_all()
        self.obs.wall_seconds = time.monotonic() - began
        if self.cluster.audit_log is not None and self.ids.distinct:
            await asyncio.sleep(1.5)  # the API server writes audit events in batches
            self.obs.requests = audit.read_requests(self.cluster.audit_log, offset=audit_offset)
        self.obs.save(self.work / "observed.json")
        return self.obs

    async def _passes(self) -> None:
        watcher = await self._start_watcher()
        sampler = None
        if self.kind.operators:
            await self._start_operators("operator-1")
            sampler = asyncio.create_task(self._sample())
        await self._park()
        await self._live()
        if self.kind.operators:
            if not self.live_only:
                await self._rollout()
                await self._idle()
            assert sampler is not None
            sampler.cancel()
            await self._stop_operators("operator-1")
            if not self.live_only:
                await self._startup()
                if self.restart_pods:
                    await self._restart()
        self.started.stop(watcher)

    async def delete_namespaces(self) -> None:
        """Delete this pass's namespaces (without waiting for them to go)."""
        async with await connect(self.ids[identities.DRIVER]) as kube:
            for namespace in self.scn.namespaces:
                await delete(kube, NAMESPACE, None, namespace)

    def mark(self, name: str) -> Mark:
        self.obs.marks[name] = Mark.now()
        self.obs.loadavg[name] = _loadavg()
        if self._operators:
            samples = [s for s in (op.sample() for op in self._operators) if s is not None]
            if samples:
                self.obs.operator_cpu[name] = sum(s.cpu_seconds for s in samples)
                self.obs.operator_rss[name] = float(sum(s.rss_bytes for s in samples))
        for component, pids in self.cluster.control_plane.items():
            found = [s for s in (sample(pid) for pid in pids) if s is not None]
            if found:
                cpu = self.obs.control_plane_cpu.setdefault(component, {})
                cpu[name] = sum(s.cpu_seconds for s in found)
        return self.obs.marks[name]

    # -- setup ---------------------------------------------------------------------------

    async def _prepare(self) -> None:
        self._kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds" / "tiltrun.yaml")
        )
        self._kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "crd/tiltruns.tilt.dev"
        )
        for namespace in self.scn.namespaces:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            await create(self.kube, NAMESPACE, None, body)

        async def have_default_sa() -> bool:
            for namespace in self.scn.namespaces:
                try:
                    await read(self.kube, SERVICE_ACCOUNT, namespace, "default")
                except ApiException:
                    return False
            return True

        await self._until(have_default_sa, "the namespaces' default service accounts", 120)

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
                "--selector",
                self.selector,
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

    def _operator_namespaces(self) -> list[list[str]]:
        """The ``-n`` list of each operator process (empty: every namespace)."""
        namespaces = list(self.scn.namespaces)
        if self.kind.operators == 2:
            half = (len(namespaces) + 1) // 2
            return [namespaces[:half], namespaces[half:]]
        if len(namespaces) > 1 and not self.cluster.control_plane:
            return [namespaces]  # not a dev cluster of our own: watch only what we made
        # A dev cluster holds only this pass: a cluster-wide operator, as CI clusters run it.
        return [[] if len(namespaces) > 1 else namespaces]

    async def _start_operators(self, name: str) -> None:
        self.mark(f"{name}-start")
        operators = [
            start_operator(
                self.started,
                self.ids[identities.OPERATOR],
                namespaces,
                free_port(),
                self.work / (f"{name}.log" if i == 0 else f"{name}-shard-{i}.log"),
            )
            for i, namespaces in enumerate(self._operator_namespaces())
        ]
        await asyncio.gather(*(op.wait_healthy() for op in operators))
        self._operators = operators
        self.mark(f"{name}-healthy")

    async def _sample(self) -> None:
        """Keep the operators' peak RSS (VmHWM is exact; this also keeps the last CPU)."""
        while True:
            for operator in self._operators:
                operator.sample()
            await asyncio.sleep(0.25)

    async def _stop_operators(self, name: str) -> None:
        operators, self._operators = self._operators, []
        patches = 0.0
        for i, operator in enumerate(operators):
            text = await operator.metrics()
            suffix = "" if i == 0 else f"-shard-{i}"
            (self.work / f"{name}{suffix}.metrics").write_text(text)
            patches += metric(text, "tiltrun_status_patches_total") or 0
        self.obs.operator_patches_metric = (self.obs.operator_patches_metric or 0) + patches
        self._operators = operators
        self.mark(f"{name}-stop")
        self._operators = []
        lasts = [op.sample() or op.last for op in operators]
        if all(last is not None for last in lasts):
            self.obs.operator_samples[name] = {
                "cpu_seconds": sum(last.cpu_seconds for last in lasts if last),
                "peak_rss_bytes": float(max(op.peak_rss for op in operators)),
                "peak_rss_bytes_sum": float(sum(op.peak_rss for op in operators)),
                "rss_bytes": float(sum(last.rss_bytes for last in lasts if last)),
            }
        for operator in operators:
            code = self.started.stop(operator.proc)
            if code not in (0, -15):
                self.obs.failures.append(f"{name} exited with code {code}; see its log")

    # -- phase 1: park -----------------------------------------------------------------

    async def _create_all(self, runs: list[tuple[str, Obj]], workloads: list[Workload]) -> None:
        limit = asyncio.Semaphore(16)

        async def one(kind: Kind, namespace: str, manifest: Obj) -> None:
            async with limit:
                await create(self.kube, kind, namespace, manifest)

        await asyncio.gather(*(one(TILTRUN, ns, manifest) for ns, manifest in runs))
        await asyncio.gather(
            *(one(_kind(w.kind), w.namespace, w.manifest(self.pass_id)) for w in workloads)
        )

    async def _park(self) -> None:
        self.mark("park")
        log(
            f"{self.scn.label} {self.kind.name}: creating {len(self.scn.runs)} TiltRuns and "
            f"{len(self.scn.workloads)} parked workloads"
        )
        runs = [(run.namespace, run.manifest(self.pass_id)) for run in self.scn.runs]
        await self._create_all(runs, self.scn.workloads)
        self.mark("created")
        expected = self.scn.pods

        async def all_pods() -> bool:
            return len(await self._pods()) >= expected

        await self._until(all_pods, f"{expected} parked pods")
        if self.kind.operators:

            async def all_shown() -> bool:
                found = await self._tiltruns()
                return all(
                    len(((found.get(r.name) or {}).get("status") or {}).get("targets") or [])
                    == len(r.workloads)
                    for r in self.scn.runs
                )

            await self._until(all_shown, "every run to show all its targets")
        self.mark("parked")

    async def _pods(self) -> dict[str, list[Obj]]:
        """The pass's pods by the workload they belong to (label ``bench.tilt.dev/workload``)."""
        answer = await list_objects(self.kube, POD, None, label_selector=self.selector)
        pods: dict[str, list[Obj]] = {}
        for pod in answer.get("items") or []:
            workload = (pod["metadata"].get("labels") or {}).get(WORKLOAD_LABEL)
            if workload and not pod["metadata"].get("deletionTimestamp"):
                pods.setdefault(workload, []).append(pod)
        return pods

    async def _tiltruns(self) -> dict[str, Obj]:
        answer = await list_objects(self.kube, TILTRUN, None, label_selector=self.selector)
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
            raise RuntimeError(f"{self.scn.label} {self.kind.name}: {message}")
        log(f"{self.scn.label} {self.kind.name}: {message}")
        self.obs.failures.append(message)
        return False

    # -- phase 2: live -----------------------------------------------------------------

    async def _live(self) -> None:
        self.mark("baselines")
        self._audit_offset = audit.log_size(self.cluster.audit_log)
        waiters: asyncio.Task[None] | None = None
        pollers: list[tuple[float, subprocess.Popen[bytes]]] = []
        if self.kind.waiters:
            await self._prewarm_kubectl()
            waiters = asyncio.create_task(self._run_waiters())
            await self._waiters_established()
        if self.kind.pollers:
            pollers = self._start_pollers()
            await self._pollers_polling(pollers)
        log(f"{self.scn.label} {self.kind.name}: releasing workloads over {self.scn.spread:.0f}s")
        release = self.mark("release")
        pods = await self._pods()
        limit = asyncio.Semaphore(32)
        tasks = []
        for workload in sorted(self.scn.workloads, key=lambda w: w.release_at):
            delay = release.mono + workload.release_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            for pod in pods[workload.name]:
                tasks.append(asyncio.create_task(self._release(pod, limit)))
        await asyncio.gather(*tasks)
        self.mark("released")
        decided = self._all_decided if self.kind.operators else self._workloads_decided
        await self._until(
            decided, "every run to be decided", self.settings.decide_timeout, required=False
        )
        self.mark("decided")
        log(f"{self.scn.label} {self.kind.name}: every run decided")
        for interval, poller in pollers:
            try:
                await asyncio.wait_for(asyncio.to_thread(poller.wait), interval * 2 + 30)
            except TimeoutError:
                self.obs.failures.append(f"the {interval:g}s poller did not finish")
                self.started.stop(poller)
        if waiters is not None:
            await asyncio.sleep(3)  # a waiter that has its condition returns within this
            for waiter in self._waiter_procs:
                if waiter.returncode is None:
                    waiter.terminate()
            await waiters
        self.mark("live-end")

    async def _release(self, pod: Obj, limit: asyncio.Semaphore) -> None:
        body = [{"op": "remove", "path": "/spec/schedulingGates"}]
        meta = pod["metadata"]
        async with limit:
            await patch(
                self.kube, POD, meta["namespace"], meta["name"], body, "application/json-patch+json"
            )

    async def _all_decided(self) -> bool:
        """Every run decided as its status says (``ci``: done; ``manual``: Ready)."""
        runs = await self._tiltruns()
        for run in self.scn.runs:
            status = (runs.get(run.name) or {}).get("status") or {}
            if run.exit_condition == "ci" and not status.get("done"):
                return False
            if run.exit_condition == "manual" and not _ready(status):
                return False
        return True

    async def _workloads_decided(self) -> bool:
        """Without an operator: every run's workloads all up (kstatus Current), or one failed."""
        deployments, jobs = await asyncio.gather(
            list_objects(self.kube, DEPLOYMENT, None, label_selector=self.selector),
            list_objects(self.kube, JOB, None, label_selector=self.selector),
        )
        verdicts: dict[str, list[str]] = {}
        for obj in deployments.get("items") or []:
            run = obj["metadata"]["labels"].get(RUN_LABEL, "")
            verdicts.setdefault(run, []).append(deployment_status(obj))
        for obj in jobs.get("items") or []:
            run = obj["metadata"]["labels"].get(RUN_LABEL, "")
            verdicts.setdefault(run, []).append(job_status(obj))
        for run in self.scn.runs:
            found = verdicts.get(run.name, [])
            if "Failed" not in found and (
                len(found) < len(run.workloads) or any(v != "Current" for v in found)
            ):
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
            self.scn.namespaces[0],
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
            workload.namespace,
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
        offset = self._audit_offset
        opened = 0

        async def watching() -> bool:
            # Read again from where the live phase began each time: a log rotated between
            # a read and the next would otherwise lose what was written in between (a
            # shared test cluster's log rotates at 200 MB), and each watch counts once.
            nonlocal opened
            requests = audit.read_requests(log_path, offset=offset)
            opened = sum(
                r.user == identities.KUBECTL_WAIT and r.verb == "watch" and r.received >= since
                for r in requests
            )
            return opened >= count

        if not await self._until(
            watching, f"{count} kubectl waiters to open their watches", 120, required=False
        ):
            raise RuntimeError(
                f"{self.scn.label} {self.kind.name}: {opened} of {count} kubectl waiters "
                f"opened their watch in 120 s (audit log {log_path})"
            )

    def _start_pollers(self) -> list[tuple[float, subprocess.Popen[bytes]]]:
        out = []
        runs = ",".join(f"{r.namespace}/{r.name}" for r in self.scn.runs)
        for interval in self.kind.pollers:
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
                    "--interval",
                    str(interval),
                    "--runs",
                    runs,
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
        log(f"{self.scn.label}: rolling out {len(deployments)} Deployments of the manual runs")
        self.mark("rollout")
        body = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {ROLLOUT_ANNOTATION: "2"}},
                    "spec": {"schedulingGates": None},
                }
            }
        }
        await asyncio.gather(
            *(
                patch(
                    self.kube, DEPLOYMENT, w.namespace, w.name, body, "application/merge-patch+json"
                )
                for w in deployments
            )
        )
        names = {w.name for w in deployments}

        async def rolled_out() -> bool:
            answer = await list_objects(self.kube, DEPLOYMENT, None, label_selector=self.selector)
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

    async def _idle(self) -> None:
        await asyncio.sleep(3)  # let the last writes and their events settle
        log(f"{self.scn.label}: idle for {self.settings.idle:.0f}s")
        self.mark("idle")
        await asyncio.sleep(self.settings.idle)
        self.mark("idle-end")
        cpu, marks = self.obs.operator_cpu, self.obs.marks
        if "idle" in cpu and "idle-end" in cpu:
            self.obs.operator_samples["idle"] = {
                "cpu_seconds": cpu["idle-end"] - cpu["idle"],
                "seconds": marks["idle-end"].mono - marks["idle"].mono,
            }

    # -- phase 5: start-up ---------------------------------------------------------------

    async def _startup(self) -> None:
        log(f"{self.scn.label}: start-up with {len(self.scn.workloads)} workloads present")
        await asyncio.gather(
            *(
                create(
                    self.kube,
                    TILTRUN,
                    run.namespace,
                    run.manifest(self.pass_id, name=again(run.name), exit_condition="ci"),
                )
                for run in self.scn.runs
            )
        )
        await asyncio.sleep(1)  # the watcher sees them before the operator starts
        await self._start_operators("operator-2")
        sampler = asyncio.create_task(self._sample())

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
        await self._stop_operators("operator-2")

    # -- phase 6: restart ---------------------------------------------------------------

    async def _restart(self) -> None:
        """Other pods up to ``restart_pods``, a third run per run, and a new operator."""
        filler = max(0, self.restart_pods - self.scn.pods)
        log(f"{self.scn.label}: restart with {filler} more pods in the namespace")
        await self._filler_pods(filler)
        pods = await list_objects(self.kube, POD, self.scn.namespaces[0])
        self.obs.restart_pods = len(pods.get("items") or [])
        await asyncio.gather(
            *(
                create(
                    self.kube,
                    TILTRUN,
                    run.namespace,
                    run.manifest(self.pass_id, name=restarted(run.name), exit_condition="ci"),
                )
                for run in self.scn.runs
            )
        )
        await asyncio.sleep(1)  # the watcher sees them before the operator starts
        log(f"{self.scn.label}: starting an operator with {self.obs.restart_pods} pods")
        await self._start_operators("operator-3")
        sampler = asyncio.create_task(self._sample())

        async def all_done() -> bool:
            runs = await self._tiltruns()
            return all(
                ((runs.get(restarted(r.name)) or {}).get("status") or {}).get("done")
                for r in self.scn.runs
            )

        await self._until(
            all_done, "every restart run to be done", self.settings.decide_timeout, required=False
        )
        self.mark("restart-done")
        sampler.cancel()
        await self._stop_operators("operator-3")

    async def _filler_pods(self, count: int) -> None:
        """``count`` running pods that no run selects, bound to the fake nodes directly."""
        if count == 0:
            return
        namespace = self.scn.namespaces[0]
        nodes = await list_objects(self.kube, NODE, None)
        names = [n["metadata"]["name"] for n in nodes.get("items") or []]
        limit = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"other-{i:05d}", "labels": {"app": "other"}},
                "spec": {
                    "nodeName": names[i % len(names)],
                    "containers": [{"name": "main", "image": "example.invalid/other:1"}],
                },
            }
            async with limit:
                await create(self.kube, POD, namespace, pod)

        await asyncio.gather(*(one(i) for i in range(count)))

        async def running() -> bool:
            found = await list_objects(self.kube, POD, namespace, label_selector="app=other")
            items = found.get("items") or []
            running = sum((p.get("status") or {}).get("phase") == "Running" for p in items)
            return bool(running >= count)

        await self._until(running, f"{count} other pods to run")


def again(name: str) -> str:
    """The start-up phase's TiltRun over the workloads of run ``name``."""
    return f"{name}-again"


def restarted(name: str) -> str:
    """The restart phase's TiltRun over the workloads of run ``name``."""
    return f"{name}-restart"


def _ready(status: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _rolled_out(deployment: Obj) -> bool:
    status = deployment.get("status") or {}
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    return bool(
        status.get("observedGeneration") == deployment["metadata"].get("generation")
        and status.get("updatedReplicas") == wanted
        and status.get("availableReplicas") == wanted
        and status.get("replicas") == wanted
    )


def _loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
