"""Run Python code in fresh interpreters, for determinism checks.

Two calls in one process share one string-hash seed, so they iterate a set of
strings in the same order and cannot disagree about it; fresh interpreters with
different ``PYTHONHASHSEED`` values can.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: What a test module imports: the operator package, the toolkit, the unit tests' modules.
PATH = [REPO / "operator", REPO / "tests", REPO / "tests" / "unit"]


def outputs_per_hash_seed(code: str, seeds: Iterable[int] = (0, 1, 2)) -> dict[int, str]:
    """stdout of ``python -c code`` under each ``PYTHONHASHSEED``; a failure raises with stderr."""
    found: dict[int, str] = {}
    for seed in seeds:
        env = {
            **os.environ,
            "PYTHONHASHSEED": str(seed),
            "PYTHONPATH": os.pathsep.join(str(p) for p in PATH),
        }
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"PYTHONHASHSEED={seed}: {result.stderr[-3000:]}"
        found[seed] = result.stdout
    return found
