"""What the benchmark creates: N TiltRuns of M workloads each, and when each is released.

Every workload is created *parked*: its pod template carries a scheduling gate, so its
pods exist but stay Pending until the driver removes the gate at the workload's release
time. That lets the harness start its watcher, the operator and the baselines (kubectl
wait, pollers) first and only then set the workloads in motion, spread over a window,
so that each transition happens in front of every observer.

The mix, per run: about 70 % Deployments (one replica) and 30 % Jobs (one pod). Every
fifth run is ``manual`` (a live health board; its Deployments are rolled out again
later), every tenth run holds a Job that fails (exit code 1, no retries), the rest are
healthy ``ci`` runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from tiltrun.api.model import RUN_LABEL
from tiltrun.api.selector import default_selector

Manifest = dict[str, Any]

WORKLOAD_LABEL = "bench.tilt.dev/workload"
GATE = "bench.tilt.dev/release"
BEHAVIOR = "fake.tilt.dev/behavior"
ROLLOUT_ANNOTATION = "bench.tilt.dev/rollout"


@dataclass(frozen=True)
class Workload:
    """One Deployment or Job of a run, and when the driver releases its pod."""

    kind: str  # "Deployment" or "Job"
    name: str
    run: str
    release_at: float  # seconds after the release phase begins
    fails: bool = False

    @property
    def target(self) -> str:
        """The name its TiltRun target carries: ``deployment/r003-d1``."""
        return f"{self.kind.lower()}/{self.name}"

    def manifest(self) -> Manifest:
        pod_labels = {"app": self.name, WORKLOAD_LABEL: self.name}
        if self.fails:
            pod_labels[BEHAVIOR] = "fail"
        pod_spec: Manifest = {
            "schedulingGates": [{"name": GATE}],
            "containers": [{"name": "main", "image": f"example.invalid/{self.name}:1"}],
        }
        meta = {"name": self.name, "labels": {RUN_LABEL: self.run, WORKLOAD_LABEL: self.name}}
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
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": {
                "backoffLimit": 0 if self.fails else 2,
                "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
            },
        }


@dataclass(frozen=True)
class Run:
    """One TiltRun and its workloads."""

    name: str
    exit_condition: str  # "ci" or "manual"
    workloads: tuple[Workload, ...]

    @property
    def fails(self) -> bool:
        return any(w.fails for w in self.workloads)

    def manifest(self, *, name: str | None = None, exit_condition: str | None = None) -> Manifest:
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
            "metadata": {"name": name or self.name, "labels": {"bench.tilt.dev/run": "1"}},
            "spec": spec,
        }


@dataclass(frozen=True)
class Scenario:
    """All runs of one size."""

    runs: tuple[Run, ...]
    spread: float
    namespace: str
    seed: int = 7

    @property
    def workloads(self) -> list[Workload]:
        return [w for run in self.runs for w in run.workloads]

    @property
    def size(self) -> str:
        return f"{len(self.runs)}x{len(self.runs[0].workloads) if self.runs else 0}"

    def run_of(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)


def plan(runs: int, per_run: int, *, spread: float, namespace: str, seed: int = 7) -> Scenario:
    """The deterministic scenario for ``runs`` x ``per_run`` workloads."""
    rng = random.Random(f"{seed}-{runs}-{per_run}")
    jobs = max(1, round(per_run * 0.3)) if per_run > 1 else 0
    out = []
    for i in range(runs):
        name = f"r{i:03d}"
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
            workloads.append(
                Workload(kind, wname, name, rng.uniform(low, 1.0) * spread, fails=fails)
            )
        out.append(Run(name, "manual" if manual else "ci", tuple(workloads)))
    return Scenario(tuple(out), spread, namespace, seed)
