"""One pass's figures, computed from what the harness observed.

Every latency is "arrival at the watcher of the status (or the moment a baseline
noticed) minus arrival at the watcher of the event that made the change", in seconds.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import identities
from bench.analysis import Answer, Replay, Transition, align, correct_at, percentiles, replay
from bench.audit import Request, between, by_kind
from bench.harness import Mark, Observed, again, restarted
from bench.scenario import Scenario

#: The phase each kind reaches when kubectl wait returns and kstatus says Current.
UP = {"deployment": "ready", "job": "succeeded"}


def summarize(scenario: Scenario, obs: Observed) -> dict[str, Any]:
    """The figures of one pass, as plain data (written to results.json as is)."""
    assert obs.record is not None
    rep = replay(obs.record)
    marks = obs.marks
    # The first time each workload came up (or failed) after its release: what
    # kubectl wait and the pollers wait for.
    up: dict[tuple[str, str], Transition] = {}
    release = marks["release"].mono if "release" in marks else marks["begin"].mono
    for run in scenario.runs:
        for tr in rep.transitions.get(run.name, []):
            kind = tr.target.split("/")[0]
            wanted = {"failed"} | {UP.get(kind, "")}
            if tr.t >= release and tr.phase in wanted and (run.name, tr.target) not in up:
                up[(run.name, tr.target)] = tr
    requests = _requests(scenario, obs)
    out: dict[str, Any] = {
        "size": scenario.label,
        "layout": scenario.size.layout,
        "pass": obs.pass_name,
        "busy_cores": obs.busy,
        "operators": obs.operators,
        "namespaces": len(scenario.namespaces),
        "runs": len(scenario.runs),
        "workloads_per_run": len(scenario.runs[0].workloads),
        "workloads": len(scenario.workloads),
        "pods": scenario.pods,
        "spread_seconds": scenario.spread,
        "watch_events": rep.events,
        "phases_seconds": {
            name: round(marks[name].mono - marks["begin"].mono, 2) for name in marks
        },
        "wall_seconds": obs.wall_seconds,
        "loadavg": dict(obs.loadavg),
        "spinner_cpu_seconds": obs.spinner_cpu,
        "apiserver": _control_plane(obs, "kube-apiserver"),
        "etcd": _control_plane(obs, "etcd"),
        "failures": list(obs.failures),
    }
    if obs.operators:
        answers = {run.name: align(rep, run.name) for run in scenario.runs}
        index = {
            (a.transition.run, a.transition.target, a.transition.t): a
            for run_answers in answers.values()
            for a in run_answers
        }
        operator = _operator(scenario, obs, rep, answers, index, up)
        operator["requests"] = requests.pop(identities.OPERATOR)
        operator["noop_patches"] = _noop_patches(operator)
        # The runs of the live phase only (the start-up phase's second runs get one write each).
        live_patches = [
            operator["requests"]["status_patches_by_run"].get(run.name, 0) for run in scenario.runs
        ]
        operator["status_patches_per_run"] = {
            "mean": sum(live_patches) / len(live_patches) if live_patches else None,
            "max": max(live_patches, default=None),
            "per_workload": sum(live_patches) / max(1, len(scenario.workloads)),
        }
        operator["live_cpu"] = _live_cpu(obs, rep)
        operator["memory"] = _memory(scenario, obs)
        operator["restart"] = _restart(scenario, obs, rep)
        out["operator"] = operator
    if obs.waiters or obs.waiter_runs:
        waiters = _kubectl_wait(scenario, obs, up, rep)
        waiters["requests"] = requests.pop(identities.KUBECTL_WAIT)
        out["kubectl_wait"] = waiters
    for interval, path in obs.poller_files.items():
        poller = _poller(scenario, path, up, rep)
        poller["requests"] = requests.pop(identities.poller_user(interval))
        out[f"poll_{interval:g}s"] = poller
    return out


def _control_plane(obs: Observed, component: str) -> dict[str, float | None] | None:
    """A control-plane process's CPU seconds over the whole pass and over its live window.

    ``live``: from the first release to the last run decided, the same schedule in every
    pass of a size. ``contenders``: from the first contender's start (the operator, or
    the baselines) to the end of the live phase: what having them there cost.
    """
    cpu = obs.control_plane_cpu.get(component)
    if not cpu:
        return None

    def between(start: str, end: str) -> float | None:
        if start in cpu and end in cpu:
            return round(cpu[end] - cpu[start], 3)
        return None

    first = "operator-1-start" if "operator-1-start" in cpu else "baselines"
    return {
        "pass": between("begin", "end"),
        "live": between("release", "decided"),
        "contenders": between(first, "live-end"),
        "live_seconds": (
            obs.marks["decided"].mono - obs.marks["release"].mono
            if "release" in obs.marks and "decided" in obs.marks
            else None
        ),
    }


def _restart(scenario: Scenario, obs: Observed, rep: Replay) -> dict[str, Any] | None:
    """The restart phase: from the third operator's start to every run's correct status."""
    if "operator-3-start" not in obs.marks:
        return None
    times, never = _first_correct(scenario, rep, obs.marks["operator-3-start"], restarted)
    three = obs.operator_samples.get("operator-3", {})
    return {
        "pods": obs.restart_pods,
        "startup_seconds": percentiles(times),
        "startup_never_correct": never,
        "cpu_seconds": three.get("cpu_seconds"),
        "peak_rss_mb": _mb(three.get("peak_rss_bytes")),
    }


# -- the operator ---------------------------------------------------------------------------


def _operator(
    scenario: Scenario,
    obs: Observed,
    rep: Replay,
    answers: dict[str, list[Answer]],
    index: dict[tuple[str, str, float], Answer],
    up: dict[tuple[str, str], Transition],
) -> dict[str, Any]:
    marks = obs.marks
    outcomes: Counter[str] = Counter()
    by_phase: dict[str, list[float]] = defaultdict(list)
    missed = []
    for run_answers in answers.values():
        for a in run_answers:
            outcomes[a.outcome] += 1
            if a.outcome == "missed":
                missed.append(f"{a.transition.run} {a.transition.target} -> {a.transition.phase}")
            if a.latency is not None:
                by_phase[_phase_of(a.transition.t, marks)].append(a.latency)
    everything = [x for values in by_phase.values() for x in values]
    on_up = []
    for tr in up.values():
        answer = index.get((tr.run, tr.target, tr.t))
        if answer is not None and answer.latency is not None:
            on_up.append(answer.latency)
    done_at = {
        run: next((c.t for c in rep.changes.get(run, []) if c.done), None) for run in answers
    }
    last_up_to_done = []
    failure_to_done = []
    for run in scenario.runs:
        if run.exit_condition != "ci" or done_at[run.name] is None:
            continue
        done = done_at[run.name]
        assert done is not None
        if run.fails:
            failed = [tr.t for (r, _), tr in up.items() if r == run.name and tr.phase == "failed"]
            if failed:
                failure_to_done.append(done - min(failed))
        else:
            last = _last_up(run.name, up)
            if last is not None:
                last_up_to_done.append(done - last)

    # Final statuses that do not show what the workloads are (runs that never finished).
    wrong_final = []
    for run in scenario.runs:
        changes = rep.changes.get(run.name, [])
        if not changes:
            wrong_final.append(f"{run.name}: no status at all")
            continue
        final = changes[-1]
        if run.exit_condition == "manual" or not final.done:
            judged = {k: v for k, v in rep.final.get(run.name, {}).items() if v != "absent"}
            if final.phases != judged:
                wrong_final.append(f"{run.name}: status {final.phases} but workloads {judged}")

    startup: list[float] = []
    never_correct: list[str] = []
    if "operator-2-start" in marks:  # not in a pass of the park and live phases only
        startup, never_correct = _first_correct(scenario, rep, marks["operator-2-start"], again)

    samples = obs.operator_samples
    idle = samples.get("idle", {})
    one = samples.get("operator-1", {})
    two = samples.get("operator-2", {})
    return {
        "reaction": percentiles(everything),
        "reaction_by_phase": {phase: percentiles(v) for phase, v in sorted(by_phase.items())},
        "reaction_to_up": percentiles(on_up),
        "transitions": dict(outcomes),
        "missed": missed,
        "wrong_final_status": wrong_final,
        "last_up_to_done": percentiles(last_up_to_done),
        "failure_to_done": percentiles(failure_to_done),
        "cpu_seconds": one.get("cpu_seconds"),
        "peak_rss_mb": _mb(one.get("peak_rss_bytes")),
        "peak_rss_mb_sum": _mb(one.get("peak_rss_bytes_sum")),
        "idle_cpu_percent": (
            100 * idle["cpu_seconds"] / idle["seconds"] if idle.get("seconds") else None
        ),
        "idle_seconds": idle.get("seconds"),
        "startup_seconds": percentiles(startup),
        "startup_never_correct": never_correct,
        "startup_cpu_seconds": two.get("cpu_seconds"),
        "startup_peak_rss_mb": _mb(two.get("peak_rss_bytes")),
        "status_changes": sum(len(v) for v in rep.changes.values()),
        "status_changes_by_run": {run: len(v) for run, v in sorted(rep.changes.items())},
        "status_patches_metric": obs.operator_patches_metric,
    }


def _first_correct(
    scenario: Scenario, rep: Replay, start: Mark, name_of: Callable[[str], str]
) -> tuple[list[float], list[str]]:
    """Seconds from ``start`` to each run's first correct status (under ``name_of`` its
    name), and the runs that never got one."""
    times, never = [], []
    for run in scenario.runs:
        t = correct_at(rep, name_of(run.name), start.mono, ci=True)
        if t is None:
            never.append(name_of(run.name))
        else:
            times.append(t - start.mono)
    return times, never


def _live_cpu(obs: Observed, rep: Replay) -> dict[str, float | None] | None:
    """The operators' CPU from release to decided, as a share of a core and per watch event.

    The watch events are the ones the watcher recorded in the same window: the operator
    watches the same kinds in the same namespaces, so it received the same events.
    """
    cpu, marks = obs.operator_cpu, obs.marks
    if "release" not in cpu or "decided" not in cpu:
        return None
    start, end = marks["release"].mono, marks["decided"].mono
    seconds = end - start
    used = cpu["decided"] - cpu["release"]
    events = rep.events_between(start, end)
    return {
        "cpu_seconds": used,
        "seconds": seconds,
        "core_share": used / seconds if seconds > 0 else 0.0,
        "watch_events": events,
        "cpu_ms_per_event": 1000 * used / events if events else None,
    }


def _memory(scenario: Scenario, obs: Observed) -> dict[str, float | None]:
    """Resident memory with nothing listed, with everything parked, and per workload.

    Per workload: the growth from the operator's start (healthy, its namespaces empty) to
    every workload parked (each with its ReplicaSet and pods), over the workloads.
    """
    rss = obs.operator_rss
    before, parked = rss.get("operator-1-healthy"), rss.get("parked")
    per_workload = None
    if before is not None and parked is not None and scenario.workloads:
        per_workload = (parked - before) / len(scenario.workloads) / 1024
    return {
        "empty_mb": _mb(before),
        "parked_mb": _mb(parked),
        "per_workload_kb": None if per_workload is None else round(per_workload, 1),
    }


def _noop_patches(operator: dict[str, Any]) -> int | None:
    """Status PATCHes that changed nothing: PATCHes beyond the status changes seen, per run.

    A PATCH that changes nothing (``pid`` aside) makes no watch event, or one whose
    status equals the one before; either way it is not among the changes the watcher saw.
    """
    requests = operator["requests"]
    changes = operator["status_changes_by_run"]
    if requests["status_patches"] is not None:
        by_run: dict[str, int] = requests["status_patches_by_run"]
        return sum(max(0, count - int(changes.get(run, 0))) for run, count in by_run.items())
    metric = operator["status_patches_metric"]
    if metric is None:
        return None
    return max(0, int(metric) - int(operator["status_changes"]))


def _phase_of(t: float, marks: dict[str, Mark]) -> str:
    """Which phase of the harness an instant falls in."""
    order = [
        ("park", "park"),
        ("baselines", "live"),
        ("rollout", "rollout"),
        ("operator-1-stop", "start-up"),
    ]
    current = "setup"
    for mark, phase in order:
        if mark in marks and t >= marks[mark].mono:
            current = phase
    return current


def _last_up(run: str, up: dict[tuple[str, str], Transition]) -> float | None:
    times = [tr.t for (r, _), tr in up.items() if r == run]
    return max(times) if times else None


def _mb(value: float | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


# -- the baselines --------------------------------------------------------------------------


def _poller(
    scenario: Scenario, path: Path, up: dict[tuple[str, str], Transition], rep: Replay
) -> dict[str, Any]:
    seen: dict[tuple[str, str, str], float] = {}  # (run, target, kstatus) -> first seen
    decided: dict[str, tuple[str, float]] = {}
    sent = None
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if "requests" in entry:
            sent = entry["requests"]
        elif "decided" in entry:
            decided[entry["run"]] = (entry["decided"], entry["t"])
        else:
            seen.setdefault((entry["run"], entry["target"], entry["status"]), entry["t"])
    latencies = []
    for (run_name, target), tr in up.items():
        noticed = seen.get((run_name, target, "Failed" if tr.phase == "failed" else "Current"))
        if noticed is not None:
            latencies.append(noticed - tr.t)
    last_up_to_done, failure_to_done, undecided = [], [], []
    for run in scenario.runs:
        if run.name not in decided:
            undecided.append(run.name)
            continue
        verdict, t = decided[run.name]
        if run.fails:
            failed = [tr.t for (r, _), tr in up.items() if r == run.name and tr.phase == "failed"]
            if failed and verdict == "Failed":
                failure_to_done.append(t - min(failed))
        elif run.exit_condition == "ci":
            last = _last_up(run.name, up)
            if last is not None:
                last_up_to_done.append(t - last)
    return {
        "reaction_to_up": percentiles(latencies),
        "last_up_to_done": percentiles(last_up_to_done),
        "failure_to_done": percentiles(failure_to_done),
        "undecided": undecided,
        "requests_counted_by_client": sent,
    }


def _kubectl_wait(
    scenario: Scenario, obs: Observed, up: dict[tuple[str, str], Transition], rep: Replay
) -> dict[str, Any]:
    latencies = []
    never = []
    for target, result in obs.waiters.items():
        tr = up.get((result["run"], target))
        if result["code"] != 0 or tr is None or tr.phase == "failed":
            never.append(target)
            continue
        latencies.append(result["t"] - tr.t)
    last_up_to_done = []
    failing_runs = 0
    for name in obs.waiter_runs:
        run = scenario.run_of(name)
        results = [obs.waiters.get(w.target) for w in run.workloads]
        if run.fails:
            failing_runs += 1
            continue
        if run.exit_condition != "ci" or not all(r and r["code"] == 0 for r in results):
            continue
        last = _last_up(name, up)
        if last is not None:
            last_up_to_done.append(max(r["t"] for r in results if r) - last)
    return {
        "waiters": len(obs.waiters),
        "sampled_runs": list(obs.waiter_runs),
        "reaction_to_up": percentiles(latencies),
        "last_up_to_done": percentiles(last_up_to_done),
        # kubectl wait --for=condition=Complete does not return when a Job fails.
        "failure_to_done": percentiles([]),
        "never_returned": never,
        "failing_runs_sampled": failing_runs,
    }


# -- API requests ---------------------------------------------------------------------------


def _requests(scenario: Scenario, obs: Observed) -> dict[str, dict[str, Any]]:
    marks = obs.marks
    reqs = obs.requests
    counted = bool(reqs)

    def of(
        user: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[Request]:
        mine = [r for r in reqs if r.user == user]
        return between(mine, since, until) if since is not None else mine

    def block(mine: list[Request]) -> dict[str, Any]:
        return {
            "total": len(mine) if counted else None,
            "by_kind": by_kind(mine),
            "watches": sum(r.verb == "watch" for r in mine),
        }

    def window(user: str, start: str, end: str) -> list[Request]:
        if start not in marks:
            return []
        return of(user, marks[start].wall, marks[end].wall if end in marks else None)

    out: dict[str, dict[str, Any]] = {}
    patches: Counter[str] = Counter(
        r.name
        for r in of(identities.OPERATOR)
        if r.verb == "patch" and r.resource == "tiltruns/status" and r.code < 400
    )
    out[identities.OPERATOR] = {
        **block(window(identities.OPERATOR, "operator-1-start", "operator-1-stop")),
        "live_window": block(window(identities.OPERATOR, "baselines", "live-end")),
        "idle_window": block(window(identities.OPERATOR, "idle", "idle-end")),
        "startup_process": block(
            window(identities.OPERATOR, "operator-2-start", "operator-2-stop")
        ),
        "restart_process": block(window(identities.OPERATOR, "operator-3-start", "end")),
        "status_patches": sum(patches.values()) if counted else None,
        "status_patches_by_run": dict(sorted(patches.items())),
    }
    waiters = window(identities.KUBECTL_WAIT, "baselines", "end")
    count = len(obs.waiters) or 1
    out[identities.KUBECTL_WAIT] = {
        **block(waiters),
        "per_workload": len(waiters) / count if counted else None,
        "extrapolated_to_all_workloads": (
            round(len(waiters) / count * len(scenario.workloads)) if counted else None
        ),
    }
    for interval in obs.poller_files:
        out[identities.poller_user(interval)] = block(of(identities.poller_user(interval)))
    return out
