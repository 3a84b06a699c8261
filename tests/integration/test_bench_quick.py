"""The benchmark's quick mode, as CI runs it (``python -m bench --quick``, docs/benchmark.md).

It asserts nothing about absolute times: CI machines are noisy. It fails when the
operator writes a status PATCH that changes nothing, makes API requests while nothing
changes, or leaves a workload transition out of a TiltRun's status (bench/checks.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Cluster

pytestmark = pytest.mark.cluster


def test_quick_benchmark_finds_no_wasted_write_no_idle_polling_no_missed_transition(
    cluster: Cluster, crd: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--kubeconfig",
            cluster.kubeconfig,
            "--kubectl",
            cluster.kubectl_path,
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{result.stderr[-4000:]}\n{result.stdout[-3000:]}"
    (side_by_side,) = json.loads((tmp_path / "results.json").read_text())["passes"]
    assert side_by_side["pass"] == "together"
    operator = side_by_side["operator"]
    # It measured something: transitions were seen and answered, the baselines ran, the
    # API server's CPU was read.
    assert operator["transitions"].get("answered", 0) > 0
    assert operator["transitions"].get("missed", 0) == 0
    assert side_by_side["poll_2s"]["reaction_to_up"]["n"] > 0
    assert side_by_side["kubectl_wait"]["waiters"] > 0
    assert side_by_side["apiserver"]["live"] > 0
