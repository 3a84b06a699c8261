"""What the benchmark creates: runs of workloads, where they live, and when each is released.

A size is ``NAMESPACESxRUNSxWORKLOADS``: ``1x100x10`` (written ``100x10``) is 100 runs of
10 workloads in one namespace, the harder case for the operator (every run's selector
meets every workload); ``100x1x10`` is one run of 10 workloads in each of 100
namespaces, the layout CI clusters have (a namespace per pipeline).

Every workload is created *parked*: its pod template carries a scheduling gate, so its
pods exist but stay Pending until the driver removes the gate at the workload's release
time. That lets the harness start its watcher, the operator and the baselines (kubectl
wait, pollers) first and only then set the workloads in motion, spread over a window,
so that each transition happens in front of every observer. The plan is deterministic:
every pass of a size releases the same workloads at the same instants.

The mix, per run: about 70 % Deployments and 30 % Jobs, one pod each. Every fifth run is
``manual`` (a live health board; its Deployments are rolled out again later), every
tenth run holds a Job that fails (exit code 1, no retries), the rest are healthy ``ci``
runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from tiltrun.api.model import RUN_LABEL
from tiltrun.api.selector import default_selector

Manifest = dict[str, Any]

WORKLOAD_LABEL = "bench.tilt.dev/workload"
#: On every object a pass creates (workloads, their pods, TiltRuns): the watcher selects it.
PASS_LABEL = "bench.tilt.dev/pass"
GATE = "bench.tilt.dev/release"
BEHAVIOR = "fake.tilt.dev/behavior"
ROLLOUT_ANNOTATION = "bench.tilt.dev/rollout"


@dataclass(frozen=True)
class Size:
    """``namespaces`` x ``runs`` (per namespace) x ``workloads`` (per run)."""

    namespaces: int
    runs: int
    workloads: int

    @classmethod
    def parse(cls, text: str) -> Size:
        """``100x10`` (one namespace) or ``100x1x10``; ValueError for anything else."""
        parts = [int(p) for p in text.strip().lower().split("x")]
        if len(parts) == 2:
            parts = [1, *parts]
        if len(parts) != 3 or min(parts) < 1:
            raise ValueError(f"{text!r} is not RUNSxWORKLOADS or NAMESPACESxRUNSxWORKLOADS")
        return cls(*parts)

    @property
    def label(self) -> str:
        base = f"{self.runs}x{self.workloads}"
        return base if self.namespaces == 1 else f"{self.namespaces}x{base}"

    @property
    def total_runs(self) -> int:
        return self.namespaces * self.runs

    @property
    def layout(self) -> str:
        """``shared`` (every run in one namespace) or ``namespaces`` (spread over several)."""
        return "shared" if self.namespaces == 1 else "namespaces"


@dataclass(frozen=True)
class Workload:
    """One Deployment or Job of a run, and when the driver releases its pod."""

    kind: str  # "Deployment" or "Job"
    name: str
    run: str
    namespace: str
    release_at: float  # seconds after the release phase begins
    fails: bool = False

    @property
    def target(self) -> str:
        """The name its TiltRun target carries: ``deployment/r003-d1``."""
        return f"{self.kind.lower()}/{self.name}"

    def manifest(self, pass_id: str) -> Manifest:
        pod_labels = {"app": self.name, WORKLOAD_LABEL: self.name, PASS_LABEL: pass_id}
        if self.fails:
            pod_labels[BEHAVIOR] = "fail"
        pod_spec: Manifest = {
            "schedulingGates": [{"name": GATE}],
            "containers": [{"name": "main", "image": f"example.invalid/{self.name}:1"}],
        }
        meta = {
            "name": self.name,
            "labels": {RUN_LABEL: self.run, WORKLOAD_LABEL: self.name, PASS_LABEL: pass_id},
        }
        if self.kind == "Deployment":
            return {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta,
                "spec": {
                    "replicas": 1,
                    "revisionHistoryLimit": 2,
                    "selector": {"matchLabels": {"app": self.name}},
                    "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
                },
            }
        pod_spec["restartPolicy"] = "Never"
        spec: Manifest = {
            "backoffLimit": 0 if self.fails else 2,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        }
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


@dataclass(frozen=True)
class Run:
    """One TiltRun and its workloads, in its namespace."""

    name: str
    namespace: str
    exit_condition: str  # "ci" or "manual"
    workloads: tuple[Workload, ...]

    @property
    def fails(self) -> bool:
        return any(w.fails for w in self.workloads)

    def manifest(
        self, pass_id: str, *, name: str | None = None, exit_condition: str | None = None
    ) -> Manifest:
        """The TiltRun; ``name`` gives a second run over the same workloads (start-up)."""
        spec: Manifest = {
            "tiltfilePath": f"./bench/{self.name}/Tiltfile",
            "exitCondition": exit_condition or self.exit_condition,
            "ci": {"timeout": "30m"},
        }
        if name is not None:
            spec["selector"] = default_selector(self.name)
        return {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "TiltRun",
            "metadata": {"name": name or self.name, "labels": {PASS_LABEL: pass_id}},
            "spec": spec,
        }


@dataclass(frozen=True)
class Scenario:
    """All runs of one size, in their namespaces."""

    size: Size
    runs: tuple[Run, ...]
    spread: float
    namespaces: tuple[str, ...]
    seed: int = 7

    @property
    def workloads(self) -> list[Workload]:
        return [w for run in self.runs for w in run.workloads]

    @property
    def label(self) -> str:
        return self.size.label

    @property
    def pods(self) -> int:
        """Pods once every workload has one (each has exactly one)."""
        return len(self.workloads)

    def run_of(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)


def plan(
    size: Size,
    *,
    spread: float,
    prefix: str,
    seed: int = 7,
) -> Scenario:
    """The deterministic scenario of ``size``; namespaces are named ``<prefix>-<index>``.

    One namespace is called ``prefix`` itself. Release times depend only on the size and
    the seed, never on the namespaces, so every pass of a size has the same schedule.
    """
    rng = random.Random(f"{seed}-{size.total_runs}-{size.workloads}")
    per_run = size.workloads
    jobs = max(1, round(per_run * 0.3)) if per_run > 1 else 0
    namespaces: tuple[str, ...] = (prefix,)
    if size.namespaces > 1:
        namespaces = tuple(f"{prefix}-{i:03d}" for i in range(size.namespaces))
    out = []
    for i in range(size.total_runs):
        name = f"r{i:03d}"
        namespace = namespaces[i // size.runs]
        manual = i % 5 == 4
        failing = i % 10 == 7 and jobs > 0
        workloads = []
        for j in range(per_run):
            kind = "Job" if j >= per_run - jobs else "Deployment"
            index = j if kind == "Deployment" else j - (per_run - jobs)
            wname = f"{name}-{'d' if kind == 'Deployment' else 'j'}{index}"
            fails = failing and kind == "Job" and index == 0
            # A failing job is released late in the window, so its run has seen most of
            # its other transitions before the failure ends (and freezes) it.
            low = 0.7 if fails else 0.0
            release_at = rng.uniform(low, 1.0) * spread
            workloads.append(Workload(kind, wname, name, namespace, release_at, fails))
        out.append(Run(name, namespace, "manual" if manual else "ci", tuple(workloads)))
    return Scenario(size, tuple(out), spread, namespaces, seed)
