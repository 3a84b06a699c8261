"""What quick mode fails on: behaviour, never absolute times (CI machines are noisy)."""

from __future__ import annotations

from typing import Any


def problems(figures: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Problems found in one pass's figures, and checks that could not be made.

    Both are plain sentences; no problems and nothing unchecked means all is well.
    """
    label = f"{figures['size']} {figures['pass']}"
    if figures.get("busy_cores"):
        label += f" busy {figures['busy_cores']}"
    out: list[str] = []
    unchecked: list[str] = []
    op = figures.get("operator")
    if op is not None:
        out += _operator(label, op, unchecked)
    out.extend(f"{label}: {failure}" for failure in figures["failures"])
    return out, unchecked


def _operator(label: str, op: dict[str, Any], unchecked: list[str]) -> list[str]:
    out: list[str] = []
    requests = op["requests"]
    noop = op.get("noop_patches")
    if noop is None:
        unchecked.append(f"{label}: cannot count status PATCHes (no audit log, no metrics)")
    elif noop > 0:
        patches = requests["status_patches_by_run"]
        changes = op["status_changes_by_run"]
        runs = [
            f"{run}: {count} PATCHes, {changes.get(run, 0)} changes"
            for run, count in patches.items()
            if count > changes.get(run, 0)
        ]
        out.append(
            f"{label}: the operator made {noop} status PATCHes that changed nothing"
            + (f" ({'; '.join(runs)})" if runs else "")
        )
    idle = requests["idle_window"]
    if idle["total"] is None:
        unchecked.append(f"{label}: cannot check for polling while idle (no audit log)")
    else:
        polls = {kind: n for kind, n in idle["by_kind"].items() if not kind.startswith("watch ")}
        if polls:
            listed = ", ".join(f"{n} x {kind}" for kind, n in polls.items())
            out.append(
                f"{label}: the operator made API requests while nothing changed "
                f"({op['idle_seconds']:.0f}s idle): {listed}"
            )
    if op["missed"]:
        shown = "; ".join(op["missed"][:10])
        out.append(
            f"{label}: the status never showed {len(op['missed'])} workload transitions: {shown}"
        )
    if op["wrong_final_status"]:
        out.append(f"{label}: final status wrong: {'; '.join(op['wrong_final_status'][:10])}")
    never = op["startup_never_correct"] + (
        (op.get("restart") or {}).get("startup_never_correct") or []
    )
    if never:
        names = ", ".join(never[:10])
        out.append(f"{label}: after a restart these runs never got a correct status: {names}")
    return out
