#!/usr/bin/env python3
"""The spread of `make bench` figures over several runs (issue 15: "the medians
and the spread").

One benchmark run measures each size once or a few times; on a shared two-core
machine one run is one sample. This reads the results files of several runs
(bench-results/*.json, written by hack/bench/run.py), lists each run's figures
per shape and size, and gives per size the median and the range over the runs,
the targets judged on the medians (and in how many runs each was met), and the
growth each run measured within itself (growth is only meaningful inside one
run: the machine's speed differs between runs).

    hack/bench/spread.py bench-results/A.json bench-results/B.json ... \
        [--docs docs/benchmarks.md]

With --docs the text replaces what stands between the spread markers there.
Runs of different commits are listed with their commit: choose the files of
runs whose operator is the one to be judged.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import run  # noqa: E402

BEGIN, END = "<!-- spread:begin -->", "<!-- spread:end -->"

#: A figure of one run at one size: its name, how to read it (None: not measured)
#: and its format.
Figure = tuple[str, Callable[[dict[str, Any]], float | None], str]


def _get(*path: str) -> Callable[[dict[str, Any]], float | None]:
    def read(s: dict[str, Any]) -> float | None:
        v: Any = s
        for key in path:
            if not isinstance(v, dict) or v.get(key) is None:
                return None
            v = v[key]
        return float(v)

    return read


def _converged_seconds(s: dict[str, Any]) -> float | None:
    """Convergence, only of a run that converged (a bound is no measurement)."""
    return float(s["median_operator_seconds"]) if s.get("converged", True) else None


def _cpu_ms_per_component(s: dict[str, Any]) -> float | None:
    runs = [o["operator_cpu_seconds"] for o in s.get("operator", []) if "operator_cpu_seconds" in o]
    return 1000 * float(statistics.median(runs)) / s["n"] if runs else None


FIGURES: list[Figure] = [
    ("converge (s)", _converged_seconds, ".1f"),
    ("floor (s)", _get("median_floor_seconds"), ".1f"),
    ("ratio", _get("median_ratio"), ".2f"),
    ("writes/component", _get("writes_per_component"), ".2f"),
    ("idle (s)", _get("idle", "seconds"), ".0f"),
    ("idle writes", _get("idle", "writes"), ".0f"),
    ("restart (s)", _get("restart", "seconds"), ".1f"),
    ("restart writes", _get("restart", "writes"), ".0f"),
    ("create→Deployment p50 (s)", _get("latency", "to_all_deployments", "p50"), ".3f"),
    ("create→Deployment p95 (s)", _get("latency", "to_all_deployments", "p95"), ".3f"),
    ("peak RSS (MiB)", lambda s: run._rss(s), ".1f"),
    ("operator CPU per component (ms)", _cpu_ms_per_component, ".1f"),
]


def rows(report: dict[str, Any], name: str) -> list[tuple[str, int, str, dict[str, Any]]]:
    """(shape, N, run label, size) of every size a run measured, the Kopf peer's too."""
    label = f"{report['date'][:16]} ({report['versions'].get('git', '?')}, {name})"
    out = [(s.get("shape", "single"), s["n"], label, s) for s in report["sizes"]]
    out += [(f"Kopf peer ({s['shape']})", s["n"], label, s) for s in report.get("peer", [])]
    return out


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def spread(values: list[float | None]) -> tuple[float | None, float | None, float | None, int]:
    """Median, minimum, maximum of the measured values, and how many there are."""
    got = [v for v in values if v is not None]
    if not got:
        return None, None, None, 0
    return float(statistics.median(got)), min(got), max(got), len(got)


def _cell(values: list[float | None], spec: str) -> str:
    med, lo, hi, k = spread(values)
    if med is None:
        return "-"
    if k == 1:
        return f"{_fmt(med, spec)} (1 run)"
    if _fmt(lo, spec) == _fmt(hi, spec):
        return f"{_fmt(med, spec)} (all {k})"
    return f"**{_fmt(med, spec)}** ({_fmt(lo, spec)} to {_fmt(hi, spec)}, {k} runs)"


#: The shared shape's targets at its largest size (issue 15): figure, bound, how.
SHARED_TARGETS: list[tuple[str, float, str]] = [
    ("ratio", 1.2, "convergence <= 1.2x the floor"),
    ("idle writes", 0, "0 idle writes"),
    ("restart (s)", 20, "restart <= 20 s"),
    ("restart writes", 0, "0 restart writes"),
    ("create→Deployment p50 (s)", 0.1, "p50 create→Deployment <= 0.1 s"),
    ("peak RSS (MiB)", 512, "peak RSS <= 512 MiB"),
]


def markdown(named: list[tuple[str, dict[str, Any]]]) -> str:
    by_size: dict[tuple[str, int], list[tuple[str, dict[str, Any]]]] = {}
    for name, report in named:
        for shape, n, label, s in rows(report, name):
            by_size.setdefault((shape, n), []).append((label, s))
    lines = [
        BEGIN,
        "",
        "Generated by `hack/bench/spread.py "
        + " ".join(name for name, _ in named)
        + f"`: {len(named)} runs.",
        "",
        "| shape | N | run | " + " | ".join(f for f, _, _ in FIGURES) + " |",
        "|---|---|---|" + "---|" * len(FIGURES),
    ]
    order = sorted(by_size, key=lambda k: (k[0].startswith("Kopf"), k[0], k[1]))
    for shape, n in order:
        for label, s in by_size[(shape, n)]:
            lines.append(
                f"| {shape} | {n} | {label} | "
                + " | ".join(_fmt(read(s), spec) for _, read, spec in FIGURES)
                + " |"
            )
    lines += [
        "",
        "Median (range, runs measured) per size:",
        "",
        "| shape | N | " + " | ".join(f for f, _, _ in FIGURES) + " |",
        "|---|---|" + "---|" * len(FIGURES),
    ]
    for shape, n in order:
        sizes = [s for _, s in by_size[(shape, n)]]
        lines.append(
            f"| {shape} | {n} | "
            + " | ".join(_cell([read(s) for s in sizes], spec) for _, read, spec in FIGURES)
            + " |"
        )
    shared = [k for k in by_size if k[0] == "shared"]
    if shared:
        big = max(shared, key=lambda k: k[1])
        sizes = [s for _, s in by_size[big]]
        read_of = {f: (read, spec) for f, read, spec in FIGURES}
        lines += ["", f"Targets of the shared shape at N={big[1]}, judged on the medians:", ""]
        for figure, bound, text in SHARED_TARGETS:
            read, spec = read_of[figure]
            values = [read(s) for s in sizes]
            med, lo, hi, k = spread(values)
            if med is None:
                lines.append(f"- {text}: **not measured**")
                continue
            met_in = sum(1 for v in values if v is not None and v <= bound)
            lines.append(
                f"- {text}: median {_fmt(med, spec)}"
                + ("" if k == 1 else f" (range {_fmt(lo, spec)} to {_fmt(hi, spec)})")
                + f", met in {met_in} of {k} runs measuring it: "
                + run._met(med <= bound)
            )
    growth = []
    for name, report in named:
        runs = sorted(
            (s for s in report["sizes"] if s.get("shape") == "shared"), key=lambda s: s["n"]
        )
        if len(runs) > 1 and all(s.get("converged", True) for s in runs):
            ok, how = run.shared_growth(runs[0], runs[-1])
            if runs[-1].get("median_floor_seconds") is None:
                how += f" (no floor run at N={runs[-1]['n']} to hold convergence against)"
            growth.append(f"- {name}: {how}: {run._met(ok)}")
    if growth:
        lines += ["", "Growth of the shared shape within each run (linear within 10 %):", ""]
        lines += growth
    lines += ["", END]
    return "\n".join(lines)


def write_docs(path: Path, generated: str) -> None:
    replaced = run.replace_between(path.read_text(), BEGIN, END, generated)
    if replaced is None:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} to replace")
    path.write_text(replaced)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "results", nargs="+", type=Path, help="bench-results/*.json of hack/bench/run.py"
    )
    p.add_argument("--docs", type=Path, help="write between the spread markers of this file")
    args = p.parse_args(argv)
    named = [(path.name, json.loads(path.read_text())) for path in args.results]
    text = markdown(named)
    if args.docs:
        write_docs(args.docs, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
