"""``python -m bench``: the benchmark, end to end. See docs/benchmark.md.

By default it starts a dedicated dev cluster (``tiltrun dev-cluster up --name bench``)
for each size and stops it afterwards (unless it was already up: then it is reused and
left up). ``--kubeconfig`` runs on an existing cluster instead, in a fresh namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import signal
import sys
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import checks, report
from bench.audit import audit_log_for
from bench.harness import Cluster, Harness, Observed, Settings, log
from bench.results import summarize
from bench.scenario import plan
from tiltrun_dev.devcluster.build import ensure_binaries
from tiltrun_dev.devcluster.cluster import DevCluster

RESULTS = Path(__file__).resolve().parent / "results"
FULL_SIZES = "10x10,50x10,100x10"
QUICK_SIZES = "5x4"


def _sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        runs, _, per_run = part.strip().lower().partition("x")
        try:
            out.append((int(runs), int(per_run)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not RUNSxWORKLOADS, e.g. 10x10"
            ) from None
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the tiltrun operator against kubectl wait and kstatus-style "
        "pollers on the same workloads.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"CI mode: size {QUICK_SIZES}, short windows; exits 1 when the operator makes "
        "status PATCHes that change nothing, polls while idle, or misses a transition",
    )
    parser.add_argument("--sizes", type=_sizes, help=f"RUNSxWORKLOADS,... (default {FULL_SIZES})")
    parser.add_argument(
        "--spread",
        type=float,
        help="seconds over which the workloads are released (default 60; quick mode 3)",
    )
    parser.add_argument("--idle", type=float, help="seconds of the idle window (default 30)")
    parser.add_argument(
        "--intervals", default="2,5", help="poller intervals in seconds (default 2,5)"
    )
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="the operator alone: no kubectl wait, no pollers (their requests load the API "
        "server too)",
    )
    parser.add_argument(
        "--max-waiters",
        type=int,
        default=50,
        help="kubectl wait processes at most (whole runs are sampled; default 50)",
    )
    parser.add_argument(
        "--kubeconfig", help="run on this cluster (in a fresh namespace) instead of a dev cluster"
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
    args.sizes = args.sizes or _sizes(QUICK_SIZES if args.quick else FULL_SIZES)
    args.spread = args.spread if args.spread is not None else (3.0 if args.quick else 60.0)
    args.idle = args.idle if args.idle is not None else (10.0 if args.quick else 30.0)
    args.intervals = tuple(float(x) for x in args.intervals.split(","))
    return args


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
        baselines=not args.no_baselines,
        # Quick mode's runs settle in seconds: a minute without a decision is a finding.
        decide_timeout=60.0 if args.quick else 600.0,
    )
    results: dict[str, Any] = {
        "meta": {
            "mode": mode,
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "host": f"{platform.node()}, {_cores()} cores, Python {platform.python_version()}",
            "cluster": "--kubeconfig " + args.kubeconfig if args.kubeconfig else f"dev {args.name}",
            "spread": args.spread,
            "idle": args.idle,
            "intervals": list(args.intervals),
            "max_waiters": args.max_waiters,
            "baselines": not args.no_baselines,
        },
        "sizes": [],
    }
    for runs, per_run in args.sizes:
        label = f"{runs}x{per_run}"
        work = out / label
        try:
            size = asyncio.run(_one_size(args, runs, per_run, settings, kubectl, work))
        except Exception as err:  # one size failing must not lose the others
            work.mkdir(parents=True, exist_ok=True)
            (work / "error.txt").write_text(traceback.format_exc())
            log(f"{label}: FAILED: {err!r} (traceback in {work / 'error.txt'})")
            size = {"size": label, "error": str(err) or repr(err)}
        results["sizes"].append(size)
        report.write(results, out)
    written = report.write(results, out)
    print(report.markdown(results))
    log("wrote " + ", ".join(str(p) for p in written))
    return _verdict(results)


def _verdict(results: dict[str, Any]) -> int:
    """Say what the checks found; 1 in quick mode when they found anything."""
    problems: list[str] = []
    unchecked: list[str] = []
    for size in results["sizes"]:
        if "error" in size:
            problems.append(f"{size['size']}: {size['error']}")
            continue
        found, skipped = checks.problems(size)
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
    for index, size in enumerate(results["sizes"]):
        saved = folder / size["size"] / "observed.json"
        if "error" in size or not saved.is_file():
            continue
        runs, _, per_run = size["size"].partition("x")
        namespace = "unknown"  # the plan does not depend on it
        scenario = plan(int(runs), int(per_run), spread=size["spread_seconds"], namespace=namespace)
        results["sizes"][index] = summarize(scenario, Observed.load(saved))
    written = report.write(results, folder)
    print(report.markdown(results))
    log("wrote " + ", ".join(str(p) for p in written))
    return _verdict(results)


async def _one_size(
    args: argparse.Namespace,
    runs: int,
    per_run: int,
    settings: Settings,
    kubectl: str,
    work: Path,
) -> dict[str, Any]:
    namespace = f"bench-{runs}x{per_run}-{uuid.uuid4().hex[:5]}"
    scenario = plan(runs, per_run, spread=args.spread, namespace=namespace)
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
            state = dev.up()
        kubeconfig = state.kubeconfig
    cluster = Cluster(kubeconfig, kubectl, audit_log_for(kubeconfig))
    harness = Harness(scenario, cluster, settings, work)
    try:
        observed = await harness.measure()
        log(f"{scenario.size}: analysing {observed.record}")
        return summarize(scenario, observed)
    finally:
        if dev is not None and not args.keep_cluster:
            dev.down(quiet=True)
        elif args.kubeconfig or dev is None:
            await harness.delete_namespace()


def _cores() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
