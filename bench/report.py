"""The results as Markdown, JSON and a PNG plot."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BASELINES = (("kubectl_wait", "kubectl wait"), ("poll_2s", "poll 2 s"), ("poll_5s", "poll 5 s"))

#: The size the issue's targets are stated for.
TARGET_SIZE = "100x10"
#: The harness's phases whose transitions have a reaction latency (bench.results).
PHASES = ("park", "live", "rollout")

Figures = dict[str, Any]


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


def _ok(passes: Iterable[Figures]) -> list[Figures]:
    return [p for p in passes if "error" not in p]


def _name(p: Figures) -> str:
    """``100x10 together``, ``100x10 operator, 1 core busy``."""
    busy = p.get("busy_cores") or 0
    return f"{p['size']} {p['pass']}" + (
        f", {busy} core{'s' if busy > 1 else ''} busy" if busy else ""
    )


def requests_of(entry: Figures, key: str) -> float | None:
    """Comparable request count: kubectl wait's is extrapolated to every workload."""
    requests = entry.get("requests") or {}
    if key == "kubectl_wait":
        value = requests.get("extrapolated_to_all_workloads")
    else:
        value = requests.get("total")
    return None if value is None else float(value)


def _apiserver(p: Figures, window: str = "live") -> float | None:
    return (p.get("apiserver") or {}).get(window)


def markdown(results: Figures) -> str:
    """The whole report."""
    meta = results["meta"]
    passes: list[Figures] = results["passes"]
    ok = _ok(passes)
    lines = [
        f"# tiltrun-operator benchmark ({meta['mode']})",
        "",
        f"{meta['started']} · {meta['host']} · cluster: {meta['cluster']} · "
        f"release spread {meta['spread']:g} s · idle window {meta['idle']:g} s · "
        f"kubectl waiters at most {meta['max_waiters']} · "
        f"wall time {_minutes(meta.get('wall_seconds'))}",
        "",
        "Latencies: arrival at the benchmark's watcher of the TiltRun status showing a change "
        "(or the moment a baseline noticed it) minus arrival of the workload event that made "
        "it. A *pass* is one run of a size with the contenders it names, on a fresh cluster; "
        "every pass of a size releases the same workloads at the same instants. See "
        "docs/benchmark.md.",
        "",
        *_passes_table(passes),
        "",
        *_operator_table(ok),
        "",
        *_by_phase(ok),
        "",
        *_baselines_table(ok),
        "",
        *_alone_table(ok),
        "",
        *_apiserver_table(ok),
        "",
        *_curve(ok),
    ]
    for extra in (_namespaces(ok), _restart(ok)):
        if extra:
            lines += ["", *extra]
    for p in ok:
        if p.get("operator"):
            lines += ["", *_requests_table(p)]
    lines += ["", *targets_table(passes)]
    return "\n".join(lines) + "\n"


def _minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def _passes_table(passes: list[Figures]) -> list[str]:
    lines = [
        "## Passes",
        "",
        "Conditions of each pass: the 1-minute load average (2 cores) when the workloads were "
        "released and when the last run was decided, the kube-apiserver's CPU seconds over the "
        "live phase (release to decided) and over the whole pass, and the wall time.",
        "",
        "| pass | layout | workloads | load at release / decided | live phase | API server CPU, "
        "live | API server CPU, pass | etcd CPU, pass | spinners' CPU | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in passes:
        if "error" in p:
            lines.append(f"| {_name(p)} | failed: {p['error']} |")
            continue
        load = p.get("loadavg") or {}
        api = p.get("apiserver") or {}
        etcd = p.get("etcd") or {}
        lines.append(
            f"| {_name(p)} | {p['layout']} | {p['workloads']} | "
            f"{_num(load.get('release'), 1)} / {_num(load.get('decided'), 1)} | "
            f"{_s(api.get('live_seconds'))} | {_s(api.get('live'))} | {_s(api.get('pass'))} | "
            f"{_s(etcd.get('pass'))} | {_s(p.get('spinner_cpu_seconds'))} | "
            f"{_minutes(p.get('wall_seconds'))} |"
        )
    return lines


def _operator_table(passes: list[Figures]) -> list[str]:
    lines = [
        "## The operator, by pass",
        "",
        "Reaction: all answered transitions (p50 / p99). Live: the transitions of the live "
        "phase only. CPU: the operator's CPU from release to decided, its share of a core, and "
        "per watch event (the events the watcher recorded in that window: the operator watches "
        "the same). Memory per workload: resident memory grown from start to every workload "
        "parked, over the workloads (each with its ReplicaSet and pod). Start-up: from the "
        "restarted process's start to the last run's correct status.",
        "",
        "| pass | reaction p50 / p99 | live p50 / p99 | answered / coalesced / missed | "
        "last up → done p50 | PATCHes per run | live CPU (core share) | CPU per event | "
        "peak RSS | per workload | idle CPU | start-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in passes:
        op = p.get("operator")
        if not op:
            continue
        r, t = op["reaction"], op["transitions"]
        live = op["reaction_by_phase"].get("live") or {}
        patches = op.get("status_patches_per_run") or {}
        per_run = (
            f"{patches['mean']:.1f} / {patches['max']}" if patches.get("mean") is not None else "–"
        )
        cpu = op.get("live_cpu") or {}
        share = f"{_s(cpu.get('cpu_seconds'))} ({_num(100 * cpu['core_share'])} %)" if cpu else "–"
        per_event = cpu.get("cpu_ms_per_event")
        rss = _num(op["peak_rss_mb"]) + " MB"
        if p.get("operators", 1) > 1:
            rss += f" (sum {_num(op.get('peak_rss_mb_sum'))} MB)"
        memory = op.get("memory") or {}
        lines.append(
            f"| {_name(p)} | {_ms(r['p50'])} / {_ms(r['p99'])} | "
            f"{_ms(live.get('p50'))} / {_ms(live.get('p99'))} | {t.get('answered', 0)} / "
            f"{t.get('superseded', 0)} / {_missed(t)} | {_ms(op['last_up_to_done']['p50'])} | "
            f"{per_run} | {share} | {_num(per_event, 2)} ms | {rss} | "
            f"{_num(memory.get('per_workload_kb'))} KB | {_num(op['idle_cpu_percent'], 2)} % | "
            f"{_s(op['startup_seconds']['max'])} |"
        )
    return lines


def _by_phase(passes: list[Figures]) -> list[str]:
    lines = [
        "## The operator's reaction by phase",
        "",
        "*park*: every workload created at once (a burst); *live*: workloads released one by "
        "one over the spread; *rollout*: the manual runs' Deployments all rolled out at once "
        "(a burst). p50 / p99 (transitions).",
        "",
        "| pass | " + " | ".join(PHASES) + " |",
        "|---" * (1 + len(PHASES)) + "|",
    ]
    for p in passes:
        op = p.get("operator")
        if not op:
            continue
        cells = []
        for phase in PHASES:
            r = op["reaction_by_phase"].get(phase)
            cells.append(f"{_ms(r['p50'])} / {_ms(r['p99'])} ({r['n']})" if r else "–")
        lines.append(f"| {_name(p)} | " + " | ".join(cells) + " |")
    return lines


def _contenders(p: Figures) -> list[tuple[str, str, Figures]]:
    """(key, label, figures) of every contender in a pass, the operator first."""
    out = []
    if p.get("operator"):
        out.append(("operator", "operator", p["operator"]))
    out += [(key, label, p[key]) for key, label in BASELINES if key in p]
    return out


def _baselines_table(passes: list[Figures]) -> list[str]:
    lines = [
        "## Every contender, by pass",
        "",
        "Reaction to a workload's first up (Deployment ready, Job succeeded) or failed after "
        "its release, as each contender saw it. Requests: over the contender's whole life "
        "(kubectl wait's scaled from its sample of runs to every workload).",
        "",
        "| pass | contender | reaction to up/failed p50 | p95 | p99 | max | last up → decided "
        "p50 | failing job → run failed p50 | API requests |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in passes:
        for key, label, c in _contenders(p):
            r = c["reaction_to_up"]
            lines.append(
                f"| {_name(p)} | {label} | {_ms(r['p50'])} | {_ms(r['p95'])} | {_ms(r['p99'])} | "
                f"{_ms(r['max'])} | {_ms(c['last_up_to_done']['p50'])} | "
                f"{_ms(c['failure_to_done']['p50'])} | {_num(requests_of(c, key))} |"
            )
    lines += [
        "",
        "kubectl wait: one process per workload of a sample of runs (a failed Job never "
        "becomes Complete, so those waiters never return). Pollers: one per run, two LISTs per "
        "tick; they stop when the run is decided.",
    ]
    return lines


def _pairs(passes: list[Figures]) -> list[tuple[Figures, Figures]]:
    """(operator alone, baselines alone) passes of the same size and condition."""
    out = []
    for op in passes:
        if op["pass"] != "operator":
            continue
        for base in passes:
            if (
                base["pass"] == "baselines"
                and base["size"] == op["size"]
                and base.get("busy_cores") == op.get("busy_cores")
            ):
                out.append((op, base))
    return out


def _alone_table(passes: list[Figures]) -> list[str]:
    lines = [
        "## Each alone on the same schedule: the operator's pass against the baselines' pass",
        "",
        "| size, condition | figure | operator alone | "
        + " | ".join(f"{label} alone" for _, label in BASELINES)
        + " | "
        + " | ".join(f"operator ÷ {label}" for _, label in BASELINES)
        + " |",
        "|---" * (3 + 2 * len(BASELINES)) + "|",
    ]
    for op_pass, base_pass in _pairs(passes):
        op = op_pass["operator"]
        bases = [base_pass.get(key) for key, _ in BASELINES]
        where = _name(op_pass).replace(" operator", "")

        def row(
            name: str, ours: float | None, theirs: list[float | None], fmt: Any, where: str = where
        ) -> None:
            cells = [fmt(ours), *(fmt(x) for x in theirs), *(_ratio(ours, x) for x in theirs)]
            lines.append(f"| {where} | {name} | " + " | ".join(cells) + " |")

        for q in ("p50", "p99"):
            row(
                f"reaction to up/failed, {q}",
                op["reaction_to_up"][q],
                [b["reaction_to_up"][q] if b else None for b in bases],
                _ms,
            )
        row(
            "last workload up → run decided, p50",
            op["last_up_to_done"]["p50"],
            [b["last_up_to_done"]["p50"] if b else None for b in bases],
            _ms,
        )
    if len(lines) == 4:
        lines.append("| (no operator and baselines passes of the same size and condition) |")
    return lines


def _apiserver_table(passes: list[Figures]) -> list[str]:
    lines = [
        "## What each contender costs the API server",
        "",
        "The kube-apiserver's CPU seconds (from `/proc`) over the live phase of each pass, the "
        "same release schedule every time, and over the contenders' whole presence (from the "
        "first contender's start to the end of the live phase). With a `none` pass of the same "
        "size and condition (the harness and the controllers alone), its figure is subtracted: "
        "what remains is the contenders' own cost.",
        "",
        "| size, condition | pass | API server CPU, live | contenders' presence | "
        "minus the floor (live) |",
        "|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, int], list[Figures]] = {}
    for p in passes:
        if p.get("apiserver"):
            groups.setdefault((p["size"], p.get("busy_cores") or 0), []).append(p)
    for (size, busy), group in groups.items():
        floor = next((_apiserver(p) for p in group if p["pass"] == "none"), None)
        where = size + (f", {busy} busy" if busy else "")
        for p in group:
            own = _apiserver(p)
            net = None if own is None or floor is None else own - floor
            lines.append(
                f"| {where} | {p['pass']} | {_s(own)} | {_s(_apiserver(p, 'contenders'))} | "
                f"{_s(net)} |"
            )
    return lines


def _curve(passes: list[Figures]) -> list[str]:
    lines = [
        "## Growth with the number of runs (one namespace, quiet)",
        "",
        "Side by side where a size has that pass, else the operator alone (size marked *alone*).",
        "",
        "| size | workloads | operator reaction p50 / p99 | live p50 / p99 | poll 2 s p50 | "
        "operator ÷ poll 2 s (p50) | CPU per event | peak RSS | API server CPU, live |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in _curve_passes(passes):
        op = p["operator"]
        r = op["reaction_to_up"]
        live = op["reaction_by_phase"].get("live") or {}
        poll = (p.get("poll_2s") or {}).get("reaction_to_up") or {}
        cpu = op.get("live_cpu") or {}
        lines.append(
            f"| {p['size']}{' alone' if p['pass'] == 'operator' else ''} | {p['workloads']} | "
            f"{_ms(r['p50'])} / {_ms(r['p99'])} | "
            f"{_ms(live.get('p50'))} / {_ms(live.get('p99'))} | {_ms(poll.get('p50'))} | "
            f"{_ratio(r['p50'], poll.get('p50'))} | {_num(cpu.get('cpu_ms_per_event'), 2)} ms | "
            f"{_num(op['peak_rss_mb'])} MB | {_s(_apiserver(p))} |"
        )
    return lines


def _curve_passes(passes: list[Figures]) -> list[Figures]:
    """The quiet one-namespace passes by size: side by side, else the operator alone."""
    quiet = [p for p in passes if p["layout"] == "shared" and not p.get("busy_cores")]
    chosen = {p["size"]: p for p in quiet if p["pass"] == "operator"}
    chosen.update({p["size"]: p for p in quiet if p["pass"] == "together"})
    return sorted(chosen.values(), key=lambda p: p["workloads"])


def _namespaces(passes: list[Figures]) -> list[str]:
    chosen = [p for p in passes if p["layout"] == "namespaces" and p.get("operator")]
    if not chosen:
        return []
    lines = [
        "## One run per namespace, one operator or two",
        "",
        "`shard`: two operator processes, each given half the namespaces with `-n` (RSS: the "
        "larger of the two, and their sum). One operator watches every namespace.",
        "",
        "| pass | operators | reaction p50 / p99 | live p50 / p99 | live CPU (both) | "
        "peak RSS | start-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in chosen:
        op = p["operator"]
        r = op["reaction"]
        live = op["reaction_by_phase"].get("live") or {}
        cpu = op.get("live_cpu") or {}
        lines.append(
            f"| {_name(p)} | {p.get('operators', 1)} | {_ms(r['p50'])} / {_ms(r['p99'])} | "
            f"{_ms(live.get('p50'))} / {_ms(live.get('p99'))} | {_s(cpu.get('cpu_seconds'))} | "
            f"{_num(op['peak_rss_mb'])} MB (sum {_num(op.get('peak_rss_mb_sum'))}) | "
            f"{_s(op['startup_seconds']['max'])} |"
        )
    return lines


def _restart(passes: list[Figures]) -> list[str]:
    chosen = [p for p in passes if (p.get("operator") or {}).get("restart")]
    if not chosen:
        return []
    lines = [
        "## Restart in a big namespace",
        "",
        "At the end of the pass: other pods (no run selects them) bring the namespace to the "
        "count below, a new TiltRun per run is created, and a new operator starts: the time "
        "from its process's start to every one of those runs' first correct status.",
        "",
        "| pass | pods in the namespace | runs | first correct status, p50 / max | "
        "runs never correct | CPU | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in chosen:
        restart = p["operator"]["restart"]
        s = restart["startup_seconds"]
        lines.append(
            f"| {_name(p)} | {_num(restart.get('pods'))} | {p['runs']} | {_s(s['p50'])} / "
            f"{_s(s['max'])} | {len(restart['startup_never_correct'])} | "
            f"{_s(restart['cpu_seconds'])} | {_num(restart['peak_rss_mb'])} MB |"
        )
    return lines


def _requests_table(p: Figures) -> list[str]:
    op = p["operator"]["requests"]
    lines = [
        f"## {_name(p)}: the operator's API requests by verb and resource",
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


# -- targets -------------------------------------------------------------------------------

Target = tuple[str, str, bool | None]


def _find(passes: list[Figures], size: str, name: str, busy: int = 0) -> Figures | None:
    return next(
        (
            p
            for p in passes
            if p["size"] == size and p["pass"] == name and (p.get("busy_cores") or 0) == busy
        ),
        None,
    )


def _below(name: str, value: float | None, limit: float, fmt: Callable[[Any], str]) -> Target:
    return (name, fmt(value), None if value is None else value < limit)


def targets(passes: list[Figures]) -> list[Target]:
    """Issue 12's targets: (target, measured, met?); ``None`` when not measured."""
    ok = _ok(passes)
    if not ok:
        return []
    out: list[Target] = []
    for busy, label in ((1, "one core busy"), (0, "quiet")):
        p = _find(ok, TARGET_SIZE, "together", busy)
        if p is None or not p.get("operator"):
            continue
        r, live = p["operator"]["reaction_to_up"], p["operator"]["reaction_by_phase"].get("live")
        out += [
            _below(
                f"{TARGET_SIZE} side by side, {label}: reaction p50 < 100 ms", r["p50"], 0.1, _ms
            ),
            _below(f"{TARGET_SIZE} side by side, {label}: reaction p99 < 1 s", r["p99"], 1.0, _ms),
        ]
        if live:
            out += [
                _below(f"… live phase p50 < 100 ms ({label})", live["p50"], 0.1, _ms),
                _below(f"… live phase p99 < 1 s ({label})", live["p99"], 1.0, _ms),
            ]
    main = _find(ok, TARGET_SIZE, "operator") or _find(ok, TARGET_SIZE, "together")
    if main is not None and main.get("operator"):
        op = main["operator"]
        per_event = (op.get("live_cpu") or {}).get("cpu_ms_per_event")
        out.append(
            (
                f"operator CPU per watch event ≤ 0.5 ms ({_name(main)})",
                f"{_num(per_event, 2)} ms",
                None if per_event is None else per_event <= 0.5,
            )
        )
        patches = (op.get("status_patches_per_run") or {}).get("mean")
        out.append(_below(f"≤ 25 status PATCHes per run ({_name(main)})", patches, 25.0001, _num))
        rss = op["peak_rss_mb"]
        memory = (op.get("memory") or {}).get("per_workload_kb")
        out.append(
            (
                f"peak RSS < 150 MB at {TARGET_SIZE}; memory per workload stated",
                f"{_num(rss)} MB; {_num(memory)} KB per workload",
                None if rss is None else rss < 150,
            )
        )
    out.append(_faster(ok))
    out.append(_apiserver_target(ok))
    operators = [p for p in ok if p.get("operator")]
    if operators:
        noop = [p["operator"].get("noop_patches") for p in operators]
        missed = sum(len(p["operator"]["missed"]) for p in operators)
        idle = [p["operator"]["idle_cpu_percent"] for p in operators]
        idle_requests = sum(
            sum(
                n
                for kind, n in p["operator"]["requests"]["idle_window"]["by_kind"].items()
                if not kind.startswith("watch ")
            )
            for p in operators
        )
        counted = [n for n in noop if n is not None]
        out.append(
            (
                "no status PATCH that changes nothing, no transition missed (every pass)",
                f"{sum(counted) if counted else '–'} no-op, {missed} missed",
                None if not counted else sum(counted) == 0 and missed == 0,
            )
        )
        worst = max((x for x in idle if x is not None), default=None)
        out.append(
            (
                "idle: no requests, CPU < 1 % of a core (every pass with an idle window)",
                f"{idle_requests} requests, {_num(worst, 2)} % at most",
                None if worst is None else idle_requests == 0 and worst < 1.0,
            )
        )
    restarts = [p for p in ok if (p.get("operator") or {}).get("restart")]
    for p in restarts:
        restart = p["operator"]["restart"]
        slowest = restart["startup_seconds"]["max"]
        rss = restart["peak_rss_mb"]
        never = restart["startup_never_correct"]
        out.append(
            (
                f"restart with {_num(restart.get('pods'))} pods: every run correct within "
                f"15 s, RSS < 200 MB ({_name(p)})",
                f"{_s(slowest)}, {_num(rss)} MB" + (f", {len(never)} never" if never else ""),
                None
                if slowest is None or rss is None
                else slowest < 15 and rss < 200 and not never,
            )
        )
    return out


def _faster(passes: list[Figures]) -> Target:
    """≥ 10× faster than the 2 s poller at p50: every side-by-side pass, and alone vs alone."""
    ratios: list[tuple[str, float]] = []
    for p in passes:
        if p.get("operator") and p.get("poll_2s"):
            ours, theirs = (
                p["operator"]["reaction_to_up"]["p50"],
                p["poll_2s"]["reaction_to_up"]["p50"],
            )
            if ours and theirs is not None:
                ratios.append((_name(p), theirs / ours))
    for op, base in _pairs(passes):
        ours = op["operator"]["reaction_to_up"]["p50"]
        theirs = (base.get("poll_2s") or {}).get("reaction_to_up", {}).get("p50")
        if ours and theirs is not None:
            ratios.append((_name(op) + " vs " + base["pass"], theirs / ours))
    if not ratios:
        return ("≥ 10× faster than the 2 s poller (p50), every size and pass", "–", None)
    worst = min(ratios, key=lambda item: item[1])
    return (
        "≥ 10× faster than the 2 s poller (p50), every size and pass",
        f"{worst[1]:.1f}× at worst ({worst[0]})",
        worst[1] >= 10,
    )


def _apiserver_target(passes: list[Figures]) -> Target:
    """The API server's CPU for the operator's pass ≤ for the 2 s poller's (alone, quiet)."""
    name = "API server CPU on the operator ≤ on the 2 s poller (alone, live phase)"
    op = _find(passes, TARGET_SIZE, "operator")
    poll = _find(passes, TARGET_SIZE, "poll-2s")
    base = poll or _find(passes, TARGET_SIZE, "baselines")
    if op is None or base is None or _apiserver(op) is None or _apiserver(base) is None:
        return (name, "–", None)
    floor = _find(passes, TARGET_SIZE, "none")
    ours, theirs = _apiserver(op), _apiserver(base)
    assert ours is not None and theirs is not None
    note = "" if poll else " (against all baselines together: poll-2s was not run alone)"
    if floor is not None and _apiserver(floor) is not None:
        low = _apiserver(floor) or 0.0
        ours, theirs = ours - low, theirs - low
        note += " (floor subtracted)"
    return (name, f"{ours:.1f} s vs {theirs:.1f} s{note}", ours <= theirs if poll else None)


def targets_table(passes: list[Figures]) -> list[str]:
    lines = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, measured, met in targets(passes):
        verdict = "?" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {name} | {measured} | {verdict} |")
    return lines


def write(results: Figures, folder: Path) -> list[Path]:
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


def plot(results: Figures, path: Path) -> Path | None:
    """Latency and memory against the number of runs; ``None`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    passes = _curve_passes(_ok(results["passes"]))
    if not passes:
        return None
    x = [p["workloads"] for p in passes]
    labels = [p["size"] for p in passes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))

    def series(get: Any) -> list[float]:
        values = []
        for p in passes:
            try:
                value = get(p)
            except (KeyError, TypeError):
                value = None
            values.append(float("nan") if value is None else value * 1000)
        return values

    left.plot(x, series(lambda p: p["operator"]["reaction"]["p50"]), "o-", label="operator p50")
    left.plot(x, series(lambda p: p["operator"]["reaction"]["p99"]), "o--", label="operator p99")
    left.plot(
        x,
        series(lambda p: p["operator"]["reaction_by_phase"]["live"]["p99"]),
        "^--",
        label="operator p99, live phase",
    )
    for key, label in BASELINES:
        left.plot(
            x, series(lambda p, k=key: p[k]["reaction_to_up"]["p50"]), "s:", label=f"{label} p50"
        )
    left.set_yscale("log")
    left.set_xlabel("workloads (runs × workloads per run)")
    left.set_ylabel("reaction latency (ms)")
    left.set_xticks(x, labels)
    left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3)
    rss = [p["operator"]["peak_rss_mb"] or float("nan") for p in passes]
    right.plot(x, rss, "o-", color="tab:red", label="operator peak RSS")
    right.axhline(150, color="grey", linestyle="--", linewidth=1, label="target 150 MB")
    right.set_xlabel("workloads (runs × workloads per run)")
    right.set_ylabel("MB")
    right.set_xticks(x, labels)
    right.set_ylim(bottom=0)
    right.legend(fontsize=8)
    right.grid(True, alpha=0.3)
    fig.suptitle("tiltrun-operator: reaction latency and memory against size (side by side)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
