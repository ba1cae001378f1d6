"""hack/bench/run.py's report: the machine's CPU per convergence, which the
time follows where the control plane saturates the machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "hack" / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import run  # noqa: E402


def _run(client: float | None, operator: float | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"control_plane_cpu_seconds": {"kube-apiserver": 100.0, "etcd": 20.0}}
    if operator is not None:
        r["operator_cpu_seconds"] = operator
    if client is not None:
        r["client_cpu_seconds"] = client
    return r


def test_machine_cpu_adds_control_plane_operator_and_client() -> None:
    assert run._machine_cpu(_run(5.0, 30.0)) == 155.0
    assert run._machine_cpu(_run(12.0)) == 132.0
    assert run._machine_cpu(_run(None, 30.0)) is None


def test_note_gives_medians_of_both_sides() -> None:
    size = {
        "operator": [_run(5.0, 30.0), _run(5.0, 40.0), _run(5.0, 20.0)],
        "floor": [_run(12.0), _run(14.0)],
    }
    assert run._machine_cpu_note(size) == (
        "; CPU of the whole machine during convergence 155 s (floor runs: 133 s)"
    )


def test_no_note_for_results_without_the_clients_cpu() -> None:
    assert run._machine_cpu_note({"operator": [_run(None, 30.0)], "floor": [_run(None)]}) == ""
    only_operator = {"operator": [_run(1.0, 30.0)], "floor": []}
    assert run._machine_cpu_note(only_operator) == (
        "; CPU of the whole machine during convergence 151 s"
    )
