"""hack/bench/spread.py: the medians and the range of benchmark figures over
several runs, and the shared shape's targets judged on the medians."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "hack" / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import spread  # noqa: E402


def _size(
    n: int,
    seconds: float,
    floor: float | None,
    restart: float,
    rss: float,
    *,
    converged: bool = True,
    cpu: float = 20.0,
) -> dict[str, Any]:
    return {
        "shape": "shared",
        "n": n,
        "converged": converged,
        "median_operator_seconds": seconds,
        "median_floor_seconds": floor,
        "median_ratio": None if floor is None else seconds / floor,
        "floor": [] if floor is None else [{"seconds": floor}],
        "operator": [{"seconds": seconds, "operator_cpu_seconds": cpu * n / 1000}],
        "median_operator_writes": 13 * n,
        "writes_per_component": 13.0,
        "peak_rss_mib": rss,
        "restart": {"seconds": restart, "writes": 0, "peak_rss_mib": rss - 40},
        "idle": {"seconds": 60.0, "writes": 0},
        "latency": {"to_all_deployments": {"p50": 0.03, "p95": 0.09}},
    }


def _report(git: str, sizes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"date": "2026-12-06 10:05 UTC", "versions": {"git": git}, "sizes": sizes}


def test_spread_gives_median_range_and_count_of_measured_values() -> None:
    assert spread.spread([3.0, None, 1.0, 2.0]) == (2.0, 1.0, 3.0, 3)
    assert spread.spread([None, None]) == (None, None, None, 0)


def test_table_lists_each_run_and_the_median_with_its_range() -> None:
    a = _report("aaa", [_size(1000, 100, 90, 2.0, 120), _size(10000, 2200, 2600, 14.3, 495)])
    b = _report("bbb", [_size(10000, 4000, None, 19.6, 507.4)])
    text = spread.markdown([("a.json", a), ("b.json", b)])
    assert "| shared | 10000 | 2026-12-06 10:05 (aaa, a.json) | 2200.0 | 2600.0 | 0.85 |" in text
    assert "| shared | 10000 | 2026-12-06 10:05 (bbb, b.json) | 4000.0 | - | - |" in text
    # Median and range over the runs that measured a figure; the floor only once.
    row = next(x for x in text.splitlines() if x.startswith("| shared | 10000 | **"))
    assert "**3100.0** (2200.0 to 4000.0, 2 runs)" in row
    assert "2600.0 (1 run)" in row
    assert "**17.0** (14.3 to 19.6, 2 runs)" in row
    assert "0 (all 2)" in row
    assert "- restart <= 20 s: median 17.0 (range 14.3 to 19.6), met in 2 of 2 runs" in text
    assert "- convergence <= 1.2x the floor: median 0.85, met in 1 of 1 runs" in text


def test_a_target_missed_in_the_median_is_not_met_even_if_one_run_met_it() -> None:
    runs = [
        ("a.json", _report("a", [_size(10000, 2000, 2600, 14.0, 495)])),
        ("b.json", _report("b", [_size(10000, 2000, 2600, 21.0, 515)])),
        ("c.json", _report("c", [_size(10000, 2000, 2600, 22.0, 520)])),
    ]
    text = spread.markdown(runs)
    assert "- restart <= 20 s: median 21.0 (range 14.0 to 22.0), met in 1 of 3 runs" in text
    assert "measuring it: **not met**" in text.split("restart <= 20 s")[1].splitlines()[0]
    assert "peak RSS <= 512 MiB: median 515.0" in text


def test_a_run_that_did_not_converge_has_no_convergence_figure() -> None:
    bounded = _size(10000, 3600, None, 20.0, 500, converged=False)
    text = spread.markdown([("x.json", _report("x", [bounded]))])
    row = next(x for x in text.splitlines() if "(x, x.json)" in x)
    assert row.split(" | ")[3] == "-"


def test_growth_is_judged_within_each_run_and_says_when_the_floor_is_missing() -> None:
    linear = _report("l", [_size(1000, 100, 90, 2, 120), _size(10000, 1000, 900, 15, 480)])
    no_floor = _report("n", [_size(1000, 100, 90, 2, 120), _size(10000, 2700, None, 15, 480)])
    text = spread.markdown([("l.json", linear), ("n.json", no_floor)])
    assert "- l.json: N 1000 → 10000 (x10): convergence x10.0" in text
    assert text.split("- l.json: ")[1].splitlines()[0].endswith(": met")
    line = text.split("- n.json: ")[1].splitlines()[0]
    assert "no floor run at N=10000" in line
    assert line.endswith("**not met**")


def test_docs_are_written_between_the_markers_only(tmp_path: Path) -> None:
    doc = tmp_path / "b.md"
    doc.write_text(f"before\n{spread.BEGIN}\nold\n{spread.END}\nafter\n")
    spread.write_docs(doc, f"{spread.BEGIN}\nnew\n{spread.END}")
    assert doc.read_text() == f"before\n{spread.BEGIN}\nnew\n{spread.END}\nafter\n"
    (tmp_path / "none.md").write_text("no markers\n")
    with pytest.raises(SystemExit):
        spread.write_docs(tmp_path / "none.md", "x")
