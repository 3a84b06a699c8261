"""One size's figures, computed from what the harness observed.

Every latency is "arrival at the watcher of the status (or the moment a baseline
noticed) minus arrival at the watcher of the event that made the change", in seconds.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import identities
from bench.analysis import Answer, Replay, Transition, align, correct_at, percentiles, replay
from bench.audit import Request, between, by_kind
from bench.harness import Mark, Observed, again
from bench.scenario import Scenario

#: The phase each kind reaches when kubectl wait returns and kstatus says Current.
UP = {"deployment": "ready", "job": "succeeded"}


def summarize(scenario: Scenario, obs: Observed) -> dict[str, Any]:
    """The figures of one size, as plain data (written to results.json as is)."""
    assert obs.record is not None
    rep = replay(obs.record)
    marks = obs.marks
    answers = {run.name: align(rep, run.name) for run in scenario.runs}
    index = {
        (a.transition.run, a.transition.target, a.transition.t): a
        for run_answers in answers.values()
        for a in run_answers
    }
    release = marks["release"].mono
    # The first time each workload came up (or failed) after its release: what
    # kubectl wait and the pollers wait for.
    up: dict[tuple[str, str], Transition] = {}
    for run in scenario.runs:
        for tr in rep.transitions.get(run.name, []):
            kind = tr.target.split("/")[0]
            wanted = {"failed"} | {UP.get(kind, "")}
            if tr.t >= release and tr.phase in wanted and (run.name, tr.target) not in up:
                up[(run.name, tr.target)] = tr

    operator = _operator(scenario, obs, rep, answers, index, up)
    pollers = {
        f"poll_{interval:g}s": _poller(scenario, path, up, rep)
        for interval, path in obs.poller_files.items()
    }
    waiters = _kubectl_wait(scenario, obs, up, rep)
    requests = _requests(scenario, obs)
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
    waiters["requests"] = requests.pop(identities.KUBECTL_WAIT)
    for interval in obs.poller_files:
        pollers[f"poll_{interval:g}s"]["requests"] = requests.pop(identities.poller_user(interval))
    return {
        "size": scenario.size,
        "runs": len(scenario.runs),
        "workloads_per_run": len(scenario.runs[0].workloads),
        "workloads": len(scenario.workloads),
        "spread_seconds": scenario.spread,
        "watch_events": rep.events,
        "operator": operator,
        "kubectl_wait": waiters,
        **pollers,
        "phases_seconds": {
            name: round(marks[name].mono - marks["begin"].mono, 2) for name in marks
        },
        "loadavg": dict(obs.loadavg),
        "live_cpu": _live_cpu(obs),
        "failures": list(obs.failures),
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

    startup = []
    never_correct = []
    t0 = marks["operator-2-start"].mono
    for run in scenario.runs:
        t = correct_at(rep, again(run.name), t0, ci=True)
        if t is None:
            never_correct.append(again(run.name))
        else:
            startup.append(t - t0)

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


def _live_cpu(obs: Observed) -> dict[str, float] | None:
    """The operator's CPU seconds from release to decided, and that as a share of a core."""
    cpu, marks = obs.operator_cpu, obs.marks
    if "release" not in cpu or "decided" not in cpu:
        return None
    seconds = marks["decided"].mono - marks["release"].mono
    used = cpu["decided"] - cpu["release"]
    return {"cpu_seconds": used, "seconds": seconds, "core_share": used / seconds}


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

    out: dict[str, dict[str, Any]] = {}
    op1 = of(identities.OPERATOR, marks["operator-1-start"].wall, marks["operator-1-stop"].wall)
    op2 = of(identities.OPERATOR, marks["operator-2-start"].wall, marks["end"].wall)
    live = of(identities.OPERATOR, marks["baselines"].wall, marks["live-end"].wall)
    idle = of(identities.OPERATOR, marks["idle"].wall, marks["idle-end"].wall)
    patches: Counter[str] = Counter(
        r.name
        for r in of(identities.OPERATOR)
        if r.verb == "patch" and r.resource == "tiltruns/status" and r.code < 400
    )
    out[identities.OPERATOR] = {
        **block(op1),
        "live_window": block(live),
        "idle_window": block(idle),
        "startup_process": block(op2),
        "status_patches": sum(patches.values()) if counted else None,
        "status_patches_by_run": dict(sorted(patches.items())),
    }
    waiters = of(identities.KUBECTL_WAIT, marks["baselines"].wall)
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
