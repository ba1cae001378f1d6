"""`make bench` works: the benchmark at N=20 on its own local control plane.

Proves the bench code runs end to end (cluster, operator runs, floor runs,
idle, restart, latency, report). It asserts what was measured, never how fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .operator_harness import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.timeout(1200)
def test_bench_runs_at_n20(tmp_path: Path) -> None:
    results, docs = tmp_path / "results", tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "hack" / "bench" / "run.py"),
            "--n=20",
            "--repeats=1",
            "--idle-seconds=5",
            "--latency-samples=3",
            "--base-port=22643",
            f"--cluster-dir={tmp_path / 'cluster'}",
            f"--results-dir={results}",
            f"--docs={docs}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=1100,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    (report_path,) = results.glob("*.json")
    report = json.loads(report_path.read_text())
    (size,) = report["sizes"]
    assert size["n"] == 20
    assert len(size["operator"]) == len(size["floor"]) == 1
    assert size["operator"][0]["seconds"] > 0 and size["floor"][0]["seconds"] > 0
    # Every write the floor made is one rendered object or one user resource.
    floor = size["floor"][0]
    assert floor["bench_writes"] == floor["objects"] + floor["user_resources"]
    assert size["operator"][0]["operator_writes"] >= size["rendered_objects"]
    assert size["idle"]["seconds"] == 5
    assert size["restart"]["reconciles"] > 0
    assert size["latency"]["samples"] == 3
    assert size["peak_rss_mib"] > 0
    text = docs.read_text()
    assert "<!-- bench:begin -->" in text and "| 20 |" in text
