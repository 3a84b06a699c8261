"""The replay feeds a recorded pass to a real engine and hands it its own echoes."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import yaml

from bench.replay import Line, _is_listed, read_record, replay

OBJECTS = Path(__file__).parents[2] / "fixtures" / "objects"
EVERYTHING = {"matchExpressions": [{"key": "no-such-label", "operator": "DoesNotExist"}]}


def _event(kind: str, type_: str, obj: dict[str, Any]) -> str:
    return f"{kind}\t{json.dumps({'type': type_, 'object': obj})}"


def _record(tmp_path: Path) -> Path:
    run = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "TiltRun",
        "metadata": {"name": "demo", "namespace": "team", "uid": "uid-demo", "generation": 1},
        "spec": {"tiltfilePath": "Tiltfile", "exitCondition": "ci", "selector": EVERYTHING},
    }
    objs = [d for d in yaml.safe_load_all((OBJECTS / "job-complete.yaml").read_text()) if d]
    lines = [f"0.0\t{_event('TiltRun', 'LISTED', run)}"]
    # The recorded operator's own write: the replay must not feed it (it writes its own).
    written = {**copy.deepcopy(run), "status": {"done": True, "summary": "recorded"}}
    lines.append(f"0.01\t{_event('TiltRun', 'MODIFIED', written)}")
    for obj in objs:
        obj["metadata"]["namespace"] = "team"
        lines.append(f"0.02\t{_event(obj['kind'], 'ADDED', obj)}")
    path = tmp_path / "watch.record"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_recorded_job_finishing_gets_the_run_done_through_the_engines_own_echoes(
    tmp_path: Path,
) -> None:
    lines = read_record(_record(tmp_path))
    assert [line.kind for line in lines][:2] == ["TiltRun", "TiltRun"]
    assert all(isinstance(line, Line) for line in lines)
    # Written as the watcher writes its list (json.dumps): fed as the engine's first list.
    assert [_is_listed(line) for line in lines][:2] == [True, False]

    result = asyncio.run(replay(lines, speed=100.0, latency=0.0, window=None, epoch=None))

    assert result["runs_written"] == 1
    assert result["events_posted"] == 1  # Succeeded, once
    assert result["runs_done"] == 1  # the echo of the engine's own write reached its store
    assert result["patches"] >= 1
