"""The results as Markdown, JSON and a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASELINES = (("kubectl_wait", "kubectl wait"), ("poll_2s", "poll 2 s"), ("poll_5s", "poll 5 s"))

#: The size the issue's targets are stated for.
TARGET_SIZE = "100x10"
#: The harness's phases whose transitions have a reaction latency (bench.results).
PHASES = ("park", "live", "rollout")


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.0f} ms"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    """``ours / theirs`` with the reading spelled out."""
    if ours is None or theirs is None or theirs == 0:
        return "–"
    ratio = ours / theirs
    if ratio == 0:
        return "×0"
    return f"×{ratio:.2g}" + (f" ({1 / ratio:.3g}× less)" if ratio < 1 else "")


def _missed(transitions: dict[str, int]) -> str:
    missed = str(transitions.get("missed", 0))
    frozen = transitions.get("frozen", 0)
    return f"{missed} (+{frozen} frozen)" if frozen else missed


def _baselines(size: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(key, label, size[key]) for key, label in BASELINES if key in size]


def requests_of(entry: dict[str, Any], key: str) -> float | None:
    """Comparable request count: kubectl wait's is extrapolated to every workload."""
    requests = entry.get("requests") or {}
    if key == "kubectl_wait":
        value = requests.get("extrapolated_to_all_workloads")
    else:
        value = requests.get("total")
    return None if value is None else float(value)


def markdown(results: dict[str, Any]) -> str:
    """The whole report."""
    meta = results["meta"]
    sizes = results["sizes"]
    lines = [
        f"# tiltrun-operator benchmark ({meta['mode']})",
        "",
        f"{meta['started']} · {meta['host']} · cluster: {meta['cluster']} · "
        f"release spread {meta['spread']:g} s · idle window {meta['idle']:g} s · "
        f"kubectl waiters at most {meta['max_waiters']}",
        "",
        "Latencies: arrival at the benchmark's watcher of the TiltRun status showing a change "
        "(or the moment a baseline noticed it) minus arrival of the workload event that made "
        "it. See docs/benchmark.md.",
        "",
        "## The operator, by size",
        "",
        "| size | workloads | reaction p50 | p95 | p99 | max | transitions answered / "
        "coalesced / missed | last up → done p50 | CPU | peak RSS | idle CPU | API requests "
        "| status PATCHes per run | start-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        if "error" in size:
            lines.append(f"| {size['size']} | failed: {size['error']} |")
            continue
        op = size["operator"]
        r = op["reaction"]
        t = op["transitions"]
        patches = op.get("status_patches_per_run") or {}
        per_run = (
            f"{patches['mean']:.1f} / {patches['max']}" if patches.get("mean") is not None else "–"
        )
        lines.append(
            f"| {size['size']} | {size['workloads']} | {_ms(r['p50'])} | {_ms(r['p95'])} | "
            f"{_ms(r['p99'])} | {_ms(r['max'])} | {t.get('answered', 0)} / "
            f"{t.get('superseded', 0)} / {_missed(t)} | "
            f"{_ms(op['last_up_to_done']['p50'])} | {_s(op['cpu_seconds'])} | "
            f"{_num(op['peak_rss_mb'])} MB | {_num(op['idle_cpu_percent'], 2)} % | "
            f"{_num(op['requests']['total'])} | {per_run} | "
            f"{_s(op['startup_seconds']['max'])} |"
        )
    lines += [
        "",
        "Status PATCHes per run: mean / max. Start-up: from the operator process's start to "
        "the last run's correct status (all runs' workloads already present).",
        "",
        "## The operator's reaction by phase",
        "",
        "*park*: every workload created at once (a burst); *live*: workloads released one by "
        "one over the spread; *rollout*: the manual runs' Deployments all rolled out at once "
        "(a burst). p50 / p99 (transitions).",
        "",
        "| size | " + " | ".join(PHASES) + " |",
        "|---" * (1 + len(PHASES)) + "|",
    ]
    for size in sizes:
        if "error" in size:
            continue
        by_phase = size["operator"]["reaction_by_phase"]
        cells = []
        for phase in PHASES:
            r = by_phase.get(phase)
            cells.append(f"{_ms(r['p50'])} / {_ms(r['p99'])} ({r['n']})" if r else "–")
        lines.append(f"| {size['size']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Conditions during the live phase",
        "",
        "How busy the machine was (1-minute load average, for 2 cores) and how much CPU the "
        "operator used while workloads were being released. A load far above the core count "
        "means every process, the operator and the API server included, waited for CPU.",
        "",
        "| size | load at release | load when decided | live phase | operator CPU | "
        "share of a core |",
        "|---|---|---|---|---|---|",
    ]
    for size in sizes:
        if "error" in size:
            continue
        load = size.get("loadavg") or {}
        live = size.get("live_cpu") or {}
        lines.append(
            f"| {size['size']} | {_num(load.get('release'), 1)} | {_num(load.get('decided'), 1)} "
            f"| {_s(live.get('seconds'))} | {_s(live.get('cpu_seconds'))} | "
            f"{_num(100 * live['core_share'] if live else None)} % |"
        )
    for size in sizes:
        if "error" not in size:
            lines += ["", *_against_baselines(size)]
    for size in sizes:
        if "error" not in size:
            lines += ["", *_requests_table(size)]
    lines += ["", *targets_table(sizes)]
    return "\n".join(lines) + "\n"


def _against_baselines(size: dict[str, Any]) -> list[str]:
    op = size["operator"]
    bases = _baselines(size)
    head = "| figure | operator | " + " | ".join(label for _, label, _ in bases)
    head += " | " + " | ".join(f"operator ÷ {label}" for _, label, _ in bases) + " |"
    lines = [
        f"## {size['size']}: against the baselines",
        "",
        head,
        "|---" * (2 + 2 * len(bases)) + "|",
    ]

    def row(name: str, ours: float | None, theirs: list[float | None], fmt: Any) -> None:
        cells = [fmt(ours), *(fmt(x) for x in theirs), *(_ratio(ours, x) for x in theirs)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    for q in ("p50", "p95", "p99", "max"):
        row(
            f"reaction to up/failed, {q}",
            op["reaction_to_up"][q],
            [b["reaction_to_up"][q] for _, _, b in bases],
            _ms,
        )
    row(
        "last workload up → run decided, p50",
        op["last_up_to_done"]["p50"],
        [b["last_up_to_done"]["p50"] for _, _, b in bases],
        _ms,
    )
    row(
        "failing job → run failed, p50",
        op["failure_to_done"]["p50"],
        [b["failure_to_done"]["p50"] for _, _, b in bases],
        _ms,
    )
    row(
        "API requests (whole life)",
        requests_of(op, "operator"),
        [requests_of(b, key) for key, _, b in bases],
        _num,
    )
    row(
        "watches held",
        float(op["requests"]["watches"]),
        [_watches(b, key, size) for key, _, b in bases],
        _num,
    )
    waiters = size.get("kubectl_wait", {})
    lines += [
        "",
        f"kubectl wait ran {waiters.get('waiters', 0)} waiters for runs "
        f"{', '.join(waiters.get('sampled_runs', []))}; its request and watch counts are "
        "scaled to all workloads. Waiters that never returned (a failed Job never becomes "
        f"Complete): {len(waiters.get('never_returned', []))}. Pollers: one per run, two LISTs "
        "per tick; they stop when the run is decided.",
    ]
    return lines


def _watches(entry: dict[str, Any], key: str, size: dict[str, Any]) -> float | None:
    requests = entry.get("requests") or {}
    watches = requests.get("watches")
    if watches is None or requests.get("total") is None:
        return None
    if key == "kubectl_wait":
        waiters = max(1, int(entry.get("waiters") or 1))
        return float(round(watches / waiters * size["workloads"]))
    return float(watches)


def _requests_table(size: dict[str, Any]) -> list[str]:
    op = size["operator"]["requests"]
    lines = [
        f"## {size['size']}: the operator's API requests by verb and resource",
        "",
        "| request | whole life | live window | idle window | restarted operator |",
        "|---|---|---|---|---|",
    ]
    kinds = list(op["by_kind"]) + [
        k for k in op["startup_process"]["by_kind"] if k not in op["by_kind"]
    ]
    for kind in kinds:
        lines.append(
            f"| {kind} | {op['by_kind'].get(kind, 0)} | "
            f"{op['live_window']['by_kind'].get(kind, 0)} | "
            f"{op['idle_window']['by_kind'].get(kind, 0)} | "
            f"{op['startup_process']['by_kind'].get(kind, 0)} |"
        )
    return lines


def targets(sizes: list[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """The issue's targets: (target, measured, met?)."""
    ok = [s for s in sizes if "error" not in s]
    if not ok:
        return []
    big = next((s for s in ok if s["size"] == TARGET_SIZE), ok[-1])
    op = big["operator"]
    p50, p99 = op["reaction"]["p50"], op["reaction"]["p99"]
    out: list[tuple[str, str, bool | None]] = [
        (
            f"p50 reaction < 100 ms at {big['size']}",
            _ms(p50),
            None if p50 is None else p50 < 0.100,
        ),
        (
            f"p99 reaction < 250 ms at {big['size']}",
            _ms(p99),
            None if p99 is None else p99 < 0.250,
        ),
    ]
    live = op["reaction_by_phase"].get("live")
    if live:
        out += [
            (
                f"(live phase only) p50 < 100 ms at {big['size']}",
                _ms(live["p50"]),
                None if live["p50"] is None else live["p50"] < 0.100,
            ),
            (
                f"(live phase only) p99 < 250 ms at {big['size']}",
                _ms(live["p99"]),
                None if live["p99"] is None else live["p99"] < 0.250,
            ),
        ]
    poll = big.get("poll_2s")
    if poll:
        theirs = poll["reaction_to_up"]["p50"]
        ours = op["reaction_to_up"]["p50"]
        faster = None if not ours or theirs is None else theirs / ours
        out.append(
            (
                f"≥ 10× faster reaction than the 2 s poller (p50, {big['size']})",
                "–" if faster is None else f"{faster:.1f}×",
                None if faster is None else faster >= 10,
            )
        )
        mine, its = requests_of(op, "operator"), requests_of(poll, "poll_2s")
        share = None if mine is None or not its else mine / its
        out.append(
            (
                f"≤ 1/10 of the 2 s poller's API requests ({big['size']})",
                "–" if share is None else f"{share:.2f} ({_num(mine)} vs {_num(its)})",
                None if share is None else share <= 0.1,
            )
        )
    rss = op["peak_rss_mb"]
    out.append(
        (
            f"operator peak RSS < 150 MB at {big['size']}",
            f"{_num(rss)} MB",
            None if rss is None else rss < 150,
        )
    )
    idle = op["idle_cpu_percent"]
    out.append(
        (
            "idle CPU near zero (< 1 % of a core)",
            f"{_num(idle, 2)} %",
            None if idle is None else idle < 1.0,
        )
    )
    return out


def targets_table(sizes: list[dict[str, Any]]) -> list[str]:
    lines = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, measured, met in targets(sizes):
        verdict = "?" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {name} | {measured} | {verdict} |")
    return lines


def write(results: dict[str, Any], folder: Path) -> list[Path]:
    """results.json, results.md and (when matplotlib is installed) plot.png."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    path = folder / "results.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    written.append(path)
    path = folder / "results.md"
    path.write_text(markdown(results))
    written.append(path)
    png = plot(results, folder / "plot.png")
    if png is not None:
        written.append(png)
    return written


def plot(results: dict[str, Any], path: Path) -> Path | None:
    """Latency and memory against size; ``None`` when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = [s for s in results["sizes"] if "error" not in s]
    if not sizes:
        return None
    x = [s["workloads"] for s in sizes]
    labels = [s["size"] for s in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))

    def series(get: Any) -> list[float]:
        values = []
        for s in sizes:
            try:
                value = get(s)
            except KeyError:
                value = None
            values.append(float("nan") if value is None else value * 1000)
        return values

    left.plot(x, series(lambda s: s["operator"]["reaction"]["p50"]), "o-", label="operator p50")
    left.plot(x, series(lambda s: s["operator"]["reaction"]["p99"]), "o--", label="operator p99")
    left.plot(
        x,
        series(lambda s: s["operator"]["reaction_by_phase"]["live"]["p99"]),
        "^--",
        label="operator p99, live phase",
    )
    for key, label in BASELINES:
        left.plot(
            x, series(lambda s, k=key: s[k]["reaction_to_up"]["p50"]), "s:", label=f"{label} p50"
        )
    left.set_yscale("log")
    left.set_xlabel("workloads (runs × workloads per run)")
    left.set_ylabel("reaction latency (ms)")
    left.set_xticks(x, labels)
    left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3)
    rss = [s["operator"]["peak_rss_mb"] or float("nan") for s in sizes]
    right.plot(x, rss, "o-", color="tab:red", label="operator peak RSS")
    right.axhline(150, color="grey", linestyle="--", linewidth=1, label="target 150 MB")
    right.set_xlabel("workloads (runs × workloads per run)")
    right.set_ylabel("MB")
    right.set_xticks(x, labels)
    right.set_ylim(bottom=0)
    right.legend(fontsize=8)
    right.grid(True, alpha=0.3)
    fig.suptitle("tiltrun-operator: reaction latency and memory against size")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
