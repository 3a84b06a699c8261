"""What quick mode fails on: behaviour, never absolute times (CI machines are noisy)."""

from __future__ import annotations

from typing import Any


def problems(size: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Problems found in one size's figures, and checks that could not be made.

    Both are plain sentences; no problems and nothing unchecked means all is well.
    """
    op = size["operator"]
    requests = op["requests"]
    label = size["size"]
    out: list[str] = []
    unchecked: list[str] = []
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
    if op["startup_never_correct"]:
        names = ", ".join(op["startup_never_correct"][:10])
        out.append(f"{label}: after a restart these runs never got a correct status: {names}")
    out.extend(f"{label}: {failure}" for failure in size["failures"])
    return out, unchecked
