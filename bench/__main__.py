"""``python -m bench``: the benchmark, end to end. See docs/benchmark.md.

It runs a list of *passes* (a size, who takes part, how busy the machine is). By default
each pass gets a dedicated dev cluster (``tiltrun dev-cluster up --name bench``), stopped
afterwards, so every pass starts from an empty etcd, a fresh audit log and a control
plane that has done nothing else (unless the cluster was already up: then it is reused
and left up). ``--kubeconfig`` runs on an existing cluster instead, in fresh namespaces.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import sys
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import checks, report
from bench.audit import audit_log_for
from bench.harness import (
    PASSES,
    Cluster,
    Harness,
    Observed,
    Settings,
    control_plane,
    log,
    pass_kind,
)
from bench.results import summarize
from bench.scenario import Size, plan
from tiltrun_dev.devcluster.build import ensure_binaries
from tiltrun_dev.devcluster.cluster import DevCluster

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_SIZES = "5x4"


@dataclass(frozen=True)
class Step:
    """One pass to run: a size, who takes part, and how many cores spin meanwhile."""

    size: Size
    pass_name: str
    busy: int = 0
    #: With a restart phase in a namespace of this many pods (operator passes).
    restart_pods: int = 0
    #: Park and live phases only: no rollout, idle window or start-up (they are measured
    #: in the 100x10 passes of the default plan; these passes are there for the curve).
    live_only: bool = False

    @property
    def label(self) -> str:
        busy = f" busy {self.busy}" if self.busy else ""
        return f"{self.size.label} {self.pass_name}{busy}"


#: ``make bench`` (docs/benchmark.md): at 100x10 the operator alone (then restarted in a
#: 5,000-pod namespace), the baselines alone and everyone side by side; the curve from 10
#: to 200 runs (200x10 with the operator alone: side by side, 400 pollers' LISTs saturate
#: the API server and the pass takes ten minutes); the one-run-per-namespace layout with
#: one operator and with two; and the side-by-side 100x10 pass with one core kept busy.
#: Eight passes, chosen to fit in 30 minutes on 2 cores: the rollout, idle and start-up
#: phases run in the 100x10 operator and together passes only, and 50x10 is left to
#: ``--sizes``. The report gives each pass's wall time.
DEFAULT_PLAN = (
    Step(Size(1, 10, 10), "together", live_only=True),
    Step(Size(1, 100, 10), "operator", restart_pods=5000),
    Step(Size(1, 100, 10), "baselines"),
    Step(Size(1, 100, 10), "together"),
    Step(Size(1, 200, 10), "operator", live_only=True),
    Step(Size(100, 1, 10), "together", live_only=True),
    Step(Size(100, 1, 10), "shard", live_only=True),
    Step(Size(1, 100, 10), "together", busy=1, live_only=True),
)


def _sizes(text: str) -> list[Size]:
    try:
        return [Size.parse(part) for part in text.split(",")]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{err}, e.g. 10x10 or 100x1x10") from None


def _passes(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        try:
            pass_kind(name, ())
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return names


def _busy(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of core counts") from None
    if any(c < 0 for c in counts):
        raise argparse.ArgumentTypeError("a core count cannot be negative")
    return counts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the tiltrun operator against kubectl wait and kstatus-style "
        "pollers on the same workloads.",
        epilog="Passes: " + "; ".join(f"{name}: {what}" for name, what in PASSES.items()),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"CI mode: size {QUICK_SIZES}, one side-by-side pass, short windows; exits 1 "
        "when the operator makes status PATCHes that change nothing, polls while idle, or "
        "misses a transition",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        help="RUNSxWORKLOADS (one namespace) or NAMESPACESxRUNSxWORKLOADS, comma-separated; "
        "with --passes and --busy-cores, every combination runs (default: the plan in "
        "docs/benchmark.md)",
    )
    parser.add_argument(
        "--passes", type=_passes, help="who takes part, comma-separated (default: together)"
    )
    parser.add_argument(
        "--busy-cores",
        type=_busy,
        help="run every pass with this many cores kept busy by spinning processes; a list "
        "(0,1) runs each pass under each condition (default: 0)",
    )
    parser.add_argument(
        "--restart-pods",
        type=int,
        default=0,
        help="end every operator pass with a restart in a namespace of this many pods "
        "(the default plan: 5000 in its 100x10 operator pass)",
    )
    parser.add_argument(
        "--live-only",
        action="store_true",
        help="park and live phases only: no rollout, idle window or start-up (shorter passes)",
    )
    parser.add_argument(
        "--spread",
        type=float,
        help="seconds over which the workloads are released (default 60; quick mode 3)",
    )
    parser.add_argument("--idle", type=float, help="seconds of the idle window (default 20)")
    parser.add_argument(
        "--intervals", default="2,5", help="poller intervals in seconds (default 2,5)"
    )
    parser.add_argument(
        "--max-waiters",
        type=int,
        default=50,
        help="kubectl wait processes at most (whole runs are sampled; default 50)",
    )
    parser.add_argument(
        "--kubeconfig", help="run on this cluster (in fresh namespaces) instead of a dev cluster"
    )
    parser.add_argument(
        "--kubectl",
        help="the kubectl the baselines run (default: the dev cluster's; with --kubeconfig, "
        "the one on PATH if there is one)",
    )
    parser.add_argument("--name", default="bench", help="the dev cluster's name (default bench)")
    parser.add_argument(
        "--keep-cluster", action="store_true", help="leave the dev cluster up afterwards"
    )
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<time>)")
    parser.add_argument(
        "--reanalyse",
        type=Path,
        metavar="RESULTS",
        help="compute the figures again from a results folder's saved observations "
        "(after changing the analysis); nothing is run",
    )
    args = parser.parse_args(argv)
    args.spread = args.spread if args.spread is not None else (3.0 if args.quick else 60.0)
    args.idle = args.idle if args.idle is not None else (10.0 if args.quick else 20.0)
    args.intervals = tuple(float(x) for x in args.intervals.split(","))
    args.plan = _plan(args)
    return args


def _plan(args: argparse.Namespace) -> list[Step]:
    """The passes to run: the default plan, or every combination of what was given."""
    if not args.quick and args.sizes is None and args.passes is None and args.busy_cores is None:
        return list(DEFAULT_PLAN)
    sizes = args.sizes or _sizes(QUICK_SIZES if args.quick else "100x10")
    passes = args.passes or ["together"]
    busy = args.busy_cores or [0]
    return [
        Step(
            size,
            name,
            cores,
            args.restart_pods if name == "operator" else 0,
            live_only=args.live_only,
        )
        for size in sizes
        for name in passes
        for cores in busy
    ]


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM as Ctrl-C: the harness then stops every process it started, by handle.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    if args.reanalyse:
        return _reanalyse(args.reanalyse)
    mode = "quick" if args.quick else "full"
    started = datetime.now(UTC)
    out: Path = args.out or RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{mode}"
    out.mkdir(parents=True, exist_ok=True)
    kubectl = args.kubectl or (args.kubeconfig and shutil.which("kubectl"))
    kubectl = kubectl or str(ensure_binaries(log)["kubectl"])
    settings = Settings(
        spread=args.spread,
        idle=args.idle,
        intervals=args.intervals,
        max_waiters=args.max_waiters,
        # Quick mode's runs settle in seconds: a minute without a decision is a finding.
        decide_timeout=60.0 if args.quick else 600.0,
    )
    results: dict[str, Any] = {
        "meta": {
            "mode": mode,
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "host": f"{platform.node()}, {os.cpu_count() or 0} cores, "
            f"Python {platform.python_version()}",
            "cluster": "--kubeconfig " + args.kubeconfig if args.kubeconfig else f"dev {args.name}",
            "spread": args.spread,
            "idle": args.idle,
            "intervals": list(args.intervals),
            "max_waiters": args.max_waiters,
            "plan": [step.label for step in args.plan],
        },
        "passes": [],
    }
    began = time.monotonic()
    for index, step in enumerate(args.plan, start=1):
        busy = f"-busy{step.busy}" if step.busy else ""
        work = out / f"{index:02d}-{step.size.label}-{step.pass_name}{busy}"
        log(f"pass {index}/{len(args.plan)}: {step.label}")
        try:
            figures = asyncio.run(_one_pass(args, step, settings, kubectl, work))
        except Exception as err:  # one pass failing must not lose the others
            work.mkdir(parents=True, exist_ok=True)
            (work / "error.txt").write_text(traceback.format_exc())
            log(f"{step.label}: FAILED: {err!r} (traceback in {work / 'error.txt'})")
            figures = {
                "size": step.size.label,
                "pass": step.pass_name,
                "busy_cores": step.busy,
                "error": str(err) or repr(err),
            }
        figures["folder"] = work.name
        results["passes"].append(figures)
        results["meta"]["wall_seconds"] = round(time.monotonic() - began, 1)
        report.write(results, out)
    written = report.write(results, out)
    print(report.markdown(results))
    log("wrote " + ", ".join(str(p) for p in written))
    return _verdict(results)


def _verdict(results: dict[str, Any]) -> int:
    """Say what the checks found; 1 in quick mode when they found anything."""
    problems: list[str] = []
    unchecked: list[str] = []
    for figures in results["passes"]:
        if "error" in figures:
            problems.append(f"{figures['size']} {figures['pass']}: {figures['error']}")
            continue
        found, skipped = checks.problems(figures)
        problems += found
        unchecked += skipped
    for sentence in unchecked:
        log(f"not checked: {sentence}")
    quick = results["meta"]["mode"] == "quick"
    for problem in problems:
        if quick:
            print(f"FAIL: {problem}", file=sys.stderr)
        else:
            log(f"problem: {problem}")
    return 1 if quick and problems else 0


def _reanalyse(folder: Path) -> int:
    results = json.loads((folder / "results.json").read_text())
    for index, figures in enumerate(results["passes"]):
        saved = folder / figures.get("folder", "") / "observed.json"
        if "error" in figures or not saved.is_file():
            continue
        scenario = plan(
            Size.parse(figures["size"]),
            spread=figures["spread_seconds"],
            prefix=figures.get("namespace_prefix", "unknown"),
        )
        again = summarize(scenario, Observed.load(saved))
        results["passes"][index] = {**again, "folder": figures["folder"]}
    written = report.write(results, folder)
    print(report.markdown(results))
    log("wrote " + ", ".join(str(p) for p in written))
    return _verdict(results)


async def _one_pass(
    args: argparse.Namespace, step: Step, settings: Settings, kubectl: str, work: Path
) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:5]
    prefix = f"bench-{step.size.label}-{suffix}"
    kind = pass_kind(step.pass_name, args.intervals)
    if kind.operators == 2 and step.size.namespaces < 2:
        raise ValueError("the shard pass needs several namespaces (a size like 100x1x10)")
    scenario = plan(step.size, spread=args.spread, prefix=prefix)
    dev: DevCluster | None = None
    if args.kubeconfig:
        kubeconfig = args.kubeconfig
    else:
        dev = DevCluster(args.name, log=log)
        if dev.is_up():
            log(f"dev cluster {args.name!r} is already up: using it and leaving it up")
            dev = None
            state = DevCluster(args.name, log=log).state()
            assert state is not None
        else:
            state = dev.up(pod_logs=False)  # its watch of every pod is load no contender causes
        kubeconfig = state.kubeconfig
    cluster = Cluster(kubeconfig, kubectl, audit_log_for(kubeconfig), control_plane(kubeconfig))
    harness = Harness(
        scenario,
        cluster,
        settings,
        kind,
        work,
        busy=step.busy,
        pass_id=f"{step.pass_name}-{suffix}",
        restart_pods=step.restart_pods,
        live_only=step.live_only,
    )
    try:
        observed = await harness.measure()
        log(f"{step.label}: analysing {observed.record}")
        figures = summarize(scenario, observed)
        figures["namespace_prefix"] = prefix
        return figures
    finally:
        if dev is not None and not args.keep_cluster:
            dev.down(quiet=True)
        elif args.kubeconfig or dev is None:
            await harness.delete_namespaces()


if __name__ == "__main__":
    sys.exit(main())
