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


def _op(seconds: float, converged: bool = True) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "converged": converged,
        "operator_writes": 1000,
        "peak_rss_mib": 100,
    }


def test_a_run_stopped_at_the_operator_bound_is_a_lower_bound() -> None:
    """--operator-bound: the size is marked not converged and its row says the
    time and ratio are lower bounds, not figures."""
    floor = [{"seconds": 2000.0}]
    size = run.Bench.summary("shared", 100, [_op(4200.0, converged=False)], floor, {})
    assert size["converged"] is False
    row = run._row("shared", size)
    assert "| > 4200 (bound) |" in row
    assert "| > 2.10 |" in row
    done = run.Bench.summary("shared", 100, [_op(2400.0)], floor, {})
    assert done["converged"] is True
    assert "| 2400.0 |" in run._row("shared", done)
    assert "| 1.20 |" in run._row("shared", done)


def test_floor_first_and_operator_bound_options() -> None:
    args = run.parse_args(["--shared-sizes", "100", "--floor-first", "--operator-bound", "60"])
    assert args.floor_first is True
    assert args.operator_bound == 60.0
    plain = run.parse_args(["--shared-sizes", "100"])
    assert plain.floor_first is False
    assert plain.operator_bound is None


METRICS = """\
# HELP kube_apiserver_clusterip_allocator_allocation_duration_seconds [ALPHA] Duration
# TYPE kube_apiserver_clusterip_allocator_allocation_duration_seconds histogram
kube_apiserver_clusterip_allocator_allocation_duration_seconds_bucket{le="0.1"} 7
kube_apiserver_clusterip_allocator_allocation_duration_seconds_sum{cidr="10.96.0.0/16"} 183.5
kube_apiserver_clusterip_allocator_allocation_duration_seconds_count{cidr="10.96.0.0/16"} 2766
kube_apiserver_clusterip_allocator_allocation_duration_seconds_sum{cidr="10.97.0.0/16"} 1.5
kube_apiserver_clusterip_allocator_allocation_duration_seconds_count{cidr="10.97.0.0/16"} 4
kube_apiserver_clusterip_allocator_allocation_total{cidr="10.96.0.0/16",scope="dynamic"} 2766
"""


def test_allocator_totals_add_up_every_service_cidr() -> None:
    assert run.allocator_totals(METRICS) == (185.0, 2770)
    assert run.allocator_totals("") == (0.0, 0)


def test_allocator_delta_and_note() -> None:
    delta = run.Bench.allocator_delta((10.0, 100), (910.0, 10100))
    assert delta == {"clusterip_allocator_seconds": 900.0, "clusterip_allocations": 10000}
    assert run.Bench.allocator_delta(None, (1.0, 1)) == {}
    size = {
        "operator": [{"seconds": 1000.0, **delta}],
        "floor": [{"seconds": 950.0, "clusterip_allocator_seconds": 931.0}],
    }
    assert run._allocator_note(size) == (
        "; the API server's ClusterIP allocator held its lock for operator 90 %, "
        "floor 98 % of the convergence"
    )
    assert run._allocator_note({"operator": [{"seconds": 5.0}], "floor": []}) == ""


def test_gc_pause_seconds_per_generation_and_none_without_the_metric() -> None:
    from kit.metrics import Metrics

    text = (
        "# TYPE cdp_gc_pause_seconds_total counter\n"
        'cdp_gc_pause_seconds_total{generation="0"} 0.5\n'
        'cdp_gc_pause_seconds_total{generation="1"} 0.25\n'
        'cdp_gc_pause_seconds_total{generation="2"} 1.0\n'
    )
    assert run.gc_pause_seconds(Metrics(text)) == {"0": 0.5, "1": 0.25, "2": 1.0}
    assert run.gc_pause_seconds(Metrics("# TYPE other counter\nother_total 1\n")) is None


def _size(
    n: int,
    seconds: float,
    floor: float | None,
    writes: float,
    rss: float,
    cpu: float,
    client_cpu: float | None = None,
) -> Any:
    return {
        "n": n,
        "median_operator_seconds": seconds,
        "median_floor_seconds": floor,
        "median_ratio": seconds / floor if floor else None,
        "median_operator_writes": writes,
        "peak_rss_mib": rss,
        "operator": [{"operator_cpu_seconds": cpu}],
        "floor": [] if client_cpu is None else [{"client_cpu_seconds": client_cpu}],
    }


def test_growth_is_linear_in_the_operators_own_figures_and_its_ratio_to_the_floor() -> None:
    small = _size(1000, 100.0, 90.0, 12_000, 100.0, 20.0)
    linear = _size(10_000, 1050.0, 950.0, 125_000, 480.0, 210.0)
    assert run.shared_growth(small, linear)[0]
    # The API server grows as N squared, the floor with it: the ratio is what is judged.
    squared = _size(10_000, 2200.0, 2600.0, 125_000, 480.0, 210.0)
    ok, how = run.shared_growth(small, squared)
    assert ok and "the floor's x28.9; ratio 1.11 → 0.85" in how, how
    slower = _size(10_000, 3200.0, 2600.0, 125_000, 480.0, 210.0)  # ratio 1.11 -> 1.23
    assert not run.shared_growth(small, slower)[0]
    no_floor = _size(10_000, 2200.0, None, 125_000, 480.0, 210.0)
    assert not run.shared_growth(small, no_floor)[0], "superlinear, nothing to blame"
    for field, value in (("median_operator_writes", 200_000), ("peak_rss_mib", 1200.0)):
        assert not run.shared_growth(small, {**linear, field: value})[0], field
    assert not run.shared_growth(small, {**linear, "operator": [{"operator_cpu_seconds": 300}]})[0]


def test_reconciles_by_kind() -> None:
    from kit.metrics import Metrics

    text = (
        "# TYPE cdp_reconcile_total counter\n"
        'cdp_reconcile_total{kind="component"} 12\n'
        'cdp_reconcile_total{kind="org"} 3\n'
        'cdp_reconcile_created{kind="org"} 1.7e9\n'
    )
    assert run.reconciles_by_kind(Metrics(text)) == {"component": 12, "org": 3}


def test_convergence_counters_are_the_difference_of_two_scrapes() -> None:
    from kit.metrics import Metrics

    before = Metrics(
        'cdp_watch_events_total{kind="Pod",type="ADDED"} 5\n'
        'cdp_informer_lists_total{kind="Pod"} 1\n'
        'cdp_informer_lists_total{kind="Deployment"} 1\n'
    )
    after = Metrics(
        'cdp_watch_events_total{kind="Pod",type="ADDED"} 30\n'
        'cdp_watch_events_total{kind="Pod",type="MODIFIED"} 7\n'
        'cdp_informer_lists_total{kind="Pod"} 3\n'
        'cdp_informer_lists_total{kind="Deployment"} 1\n'
    )
    assert run.convergence_counters(before, after) == {
        "watch_events": {"Pod/ADDED": 25, "Pod/MODIFIED": 7},
        "informer_lists": {"Pod": 2},
    }


def test_process_counters_of_this_process() -> None:
    import os

    from observe import counters_delta, process_counters

    before = process_counters(os.getpid())
    sum(i * i for i in range(200_000))
    after = process_counters(os.getpid())
    assert set(before) == {"user", "system", "voluntary", "nonvoluntary"}
    delta = counters_delta(before, after)
    assert delta["user"] + delta["system"] >= 0 and delta["voluntary"] >= 0
    assert process_counters(None) == {}


def test_the_operators_cpu_beyond_linear_is_judged_against_the_floor_clients() -> None:
    """On a saturated machine CPU seconds per unit of work grow for every process:
    the bare client making the same creates is the control (finding 20)."""
    small = _size(1000, 100.0, 94.0, 13_000, 120.0, 17.2, client_cpu=9.2)
    # The client grew x13.2, the operator x12.4: per client CPU 1.87 -> 1.76.
    both = _size(10_000, 2200.0, 2600.0, 126_000, 495.0, 214.0, client_cpu=121.2)
    ok, how = run.shared_growth(small, both)
    assert ok, how
    assert "operator CPU x12.44 (the floor client's x13.17; per client CPU 1.87 → 1.77)" in how
    # The operator grew faster than the client did: not linear.
    worse = _size(10_000, 2200.0, 2600.0, 126_000, 495.0, 260.0, client_cpu=121.2)
    assert not run.shared_growth(small, worse)[0]
    # The client grew no faster than N: the operator's growth is its own.
    linear_client = _size(10_000, 2200.0, 2600.0, 126_000, 495.0, 214.0, client_cpu=90.0)
    assert not run.shared_growth(small, linear_client)[0]
    # No floor at the big size: nothing to compare with.
    no_floor = _size(10_000, 2200.0, 2600.0, 126_000, 495.0, 214.0)
    assert not run.shared_growth(small, no_floor)[0]


def test_no_floor_at_takes_a_list_and_repeats() -> None:
    """Session 12 gave --no-floor-at twice and only the last one counted."""
    args = run.parse_args(
        ["--shared-sizes", "1000,3000,10000", "--no-floor-at", "1000", "--no-floor-at", "3000"]
    )
    assert args.no_floor_plan == [("shared", 1000), ("shared", 3000)]
    listed = run.parse_args(["--shared-sizes", "1000,3000,10000", "--no-floor-at", "3000,10000"])
    assert listed.no_floor_plan == [("shared", 3000), ("shared", 10000)]


def test_events_note_says_events_per_component_and_cpu_per_event() -> None:
    size = {
        "n": 100,
        "operator": [
            {
                "operator_cpu_seconds": 2.5,
                "watch_events": {"Pod/ADDED": 300, "Pod/MODIFIED": 700,
                                 "Deployment/ADDED": 250, "Deployment/MODIFIED": 500,
                                 "Service/ADDED": 250, "Namespace/ADDED": 30},
            }
        ],
        "floor": [{"client_cpu_seconds": 1.3}],
    }  # fmt: skip
    assert run._events_note(size) == (
        "; watch events 20.3 per component (Pod 10.0, Deployment 7.5, Service 2.5), "
        "operator CPU 1.23 ms per event and 25.0 ms per component (the floor client's 13.0)"
    )
    assert run._events_note({"n": 100, "operator": [{"operator_cpu_seconds": 1}]}) == ""
