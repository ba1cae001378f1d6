"""Measure the Kopf peer with the bench's own code (until run.py has the peer row).

    python hack/bench/kopf_peer/measure.py --n 100 --idle-seconds 60
    flock /tmp/cdp-bench.lock python hack/bench/kopf_peer/measure.py --n 1000 --idle-seconds 60

Takes run.py's options (``--n``, ``--repeats``, ``--kubeconfig``/``--audit-log``,
``--cluster-dir``, ``--idle-seconds``, ``--converge-timeout``, ``--results-dir``...)
and ``--no-floor``,
and runs, with the peer where run.py runs the operator, the same steps as
``Bench.size`` for one size: on the bench's cluster (its own local control
plane unless --kubeconfig, with the fake nodes and client QPS of the bench), the
floor run of ``Bench.floor_run`` once (before the peer starts: it would handle
the floor's objects), the convergence run of ``Bench.operator_run``
(``--repeats`` times, a fresh organization each, the previous one deleted first,
while the peer runs: Kopf's finalizers on Components), then the idle period
(``Bench.idle``), the restart (``Bench.restart``: SIGTERM, start, until every
Deployment is known, every Component was handled again and nothing happened for
5 s) and ``--latency-samples`` sequential creates (``Bench.latency``). Writes
are the audit log's with the peer's user agent (``cdp-kopf-peer/``). Results:
``<results-dir>/kopf-peer-<stamp>.json``, and a summary on stdout. When a
convergence run exceeds ``--converge-timeout``, the report says where it stood
(Components Ready, Deployments made, writes, CPU, RSS) and nothing else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import run as bench_run  # noqa: E402  (hack/bench/run.py: puts hack/, tests/, the repo on sys.path)
from kapi import kind_path  # noqa: E402
from observe import component_ready, cpu_seconds, status_kib  # noqa: E402
from workload import Workload, render  # noqa: E402

import localcluster  # noqa: E402  (hack/localcluster.py)
from kit import breakdown  # noqa: E402
from kopf_peer.process import USER_AGENT_PREFIX, KopfPeerProcess  # noqa: E402

# Every audit-log count of run.py's steps filters by this prefix.
bench_run.OPERATOR_UA = USER_AGENT_PREFIX


class PeerBench(bench_run.Bench):
    """run.py's Bench, with the Kopf peer where it starts the operator."""

    async def start_operator(self, tag: str) -> Any:
        peer = KopfPeerProcess(str(self.kubeconfig), self.logs / f"kopf-peer-{tag}.log")
        self.operators.append(peer)  # stopped by close()
        await asyncio.to_thread(peer.start)
        return peer


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


async def measure(args: Any) -> dict[str, Any]:
    n = args.size_list[-1]
    cluster = None
    tmp: Path | None = None
    if args.kubeconfig:
        kubeconfig = Path(args.kubeconfig)
        audit = Path(args.audit_log) if args.audit_log else None
    else:
        if args.cluster_dir:
            cdir = Path(args.cluster_dir)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="cdp-kopf-peer-bench-"))
            cdir = tmp / "c"
        base = localcluster.free_base_port(args.base_port)
        cluster = bench_run.BenchCluster(cdir, base, args.cluster_qps)
        await asyncio.to_thread(cluster.up)
        kubeconfig, audit = cluster.kubeconfig, cluster.audit_log
    bench = PeerBench(args, kubeconfig, audit)
    bench.cluster = cluster
    started = time.monotonic()
    report: dict[str, Any] = {
        "command": "hack/bench/kopf_peer/measure.py " + " ".join(sys.argv[1:]),
        "machine": bench_run.machine(),
        "versions": bench_run.versions(),
        "n": n,
        "runs": [],
    }
    try:
        await bench.setup(n)
        rendered = render(Workload("sizing", n), "00000000-0000-0000-0000-000000000000")
        deployments = rendered.count_by_kind().get("Deployment", 0)
        report["rendered_objects"] = rendered.total
        report["minimum_writes"] = rendered.total + 1 + 20 + 2 + n
        if args.floor:
            # The floor first, with no peer running (it would handle the floor's objects).
            report["floor"] = await bench.floor_run(n, "f0")
            report["floor"]["cleanup_seconds"] = round(
                await bench.cleanup(report["floor"]["org"]), 1
            )
            save(args, report)
        peer = None
        for repeat in range(args.repeats):
            if peer is not None:  # the previous organization goes while the peer runs
                await bench.cleanup(report["runs"][-1]["org"])
                await asyncio.to_thread(peer.stop)
            tag, mark, t0 = f"k{repeat}", bench.audit.mark(), time.monotonic()
            try:
                result, peer = await bench.operator_run(n, tag)
            except TimeoutError as exc:
                # A finding, not a failure: where it stood when the bound ran out.
                report["timed_out"] = await where_it_stood(bench, n, tag, mark, t0, str(exc))
                log(f"timed out: {report['timed_out']}")
                return report
            result["writes_per_component"] = round(result["operator_writes"] / n, 2)
            if "floor" in report:
                result["ratio_to_floor"] = round(result["seconds"] / report["floor"]["seconds"], 3)
            report["runs"].append(result)
            save(args, report)
        assert peer is not None
        report["idle"] = await bench.idle(peer, args.idle_seconds)
        save(args, report)
        report["restart"] = await bench.restart(peer, deployments, n)
        save(args, report)
        if args.latency_samples:
            report["latency"] = await bench.latency(report["runs"][-1]["org"], args.latency_samples)
        report["peak_rss_mib"] = max(
            [r["peak_rss_mib"] for r in report["runs"]]
            + [report["restart"]["peak_rss_mib"], round(status_kib(peer.pid, "VmHWM") / 1024, 1)]
        )
        if cluster is None:  # a cluster of our own goes as a whole
            report["cleanup_seconds"] = round(await bench.cleanup(report["runs"][-1]["org"]), 1)
    finally:
        report["wall_seconds"] = round(time.monotonic() - started, 1)
        save(args, report)
        await bench.close()
        if cluster is not None and not args.keep_cluster:
            await asyncio.to_thread(cluster.down)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    return report


async def where_it_stood(
    bench: PeerBench, n: int, tag: str, mark: int, t0: float, error: str
) -> dict[str, Any]:
    """Components Ready, Deployments made and the peer's writes and figures so far."""
    wl = Workload(f"b{n}{tag}o", n)  # run.py's operator_run names its organization so
    components, _ = await bench.kube.list(kind_path(API, "Component", wl.namespace))
    deployments, _ = await bench.kube.list(
        "/apis/apps/v1/deployments", labelSelector=f"cdp.dev/organization={wl.org}"
    )
    writes = bench.audit.writes(mark, user_agent_prefix=USER_AGENT_PREFIX)
    peer = bench.operators[-1]
    return {
        "error": error,
        "after_seconds": round(time.monotonic() - t0, 1),
        "components": len(components),
        "components_ready": sum(1 for c in components if component_ready(c)),
        "deployments": len(deployments),
        "writes": len(writes),
        "writes_by_request": breakdown(writes),
        "peer_cpu_seconds": round(cpu_seconds(peer.pid), 1),
        "peer_rss_mib": round(status_kib(peer.pid, "VmRSS") / 1024, 1),
        "peer_peak_rss_mib": round(status_kib(peer.pid, "VmHWM") / 1024, 1),
    }


def save(args: Any, report: dict[str, Any]) -> Path:
    out = Path(args.results_dir) / f"kopf-peer-{args.stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    return out


def summary(report: dict[str, Any]) -> str:
    runs = report["runs"]
    lines = [
        f"Kopf peer, N={report['n']} ({report['rendered_objects']} rendered objects, "
        f"minimum writes {report['minimum_writes']})",
        f"convergence s: {[r['seconds'] for r in runs]} "
        f"(median {_median([r['seconds'] for r in runs])})",
        "writes: "
        + f"{[r['operator_writes'] for r in runs]} "
        + f"(median {_median([r['operator_writes'] for r in runs])}, "
        + f"per component {_median([r['writes_per_component'] for r in runs])})",
        f"floor s (same cluster, before the peer runs): {report.get('floor', {}).get('seconds')}",
        f"ratio to the floor: {[r.get('ratio_to_floor') for r in runs]}",
        f"peer CPU s during convergence: {[r['operator_cpu_seconds'] for r in runs]}",
    ]
    if "timed_out" in report:
        lines.append(f"TIMED OUT: {report['timed_out']}")
    if runs:
        lines.append(f"writes by request (last run): {runs[-1]['operator_writes_by_request']}")
    if "idle" in report:
        idle = report["idle"]
        lines.append(
            f"idle {idle['seconds']:.0f} s: {idle['writes']} writes, "
            f"CPU {idle['operator_cpu_seconds']} s"
        )
    if "restart" in report:
        rs = report["restart"]
        lines.append(
            f"restart: {rs['seconds']} s, {rs['writes']} writes {rs['writes_by_request']}, "
            f"CPU {rs['operator_cpu_seconds']} s"
        )
    if "latency" in report:
        lat = report["latency"]
        lines.append(
            f"create->Deployment p50/p95 {lat['to_all_deployments']['p50']}/"
            f"{lat['to_all_deployments']['p95']} s, create->Ready p50/p95 "
            f"{lat['to_ready']['p50']}/{lat['to_ready']['p95']} s ({lat['samples']} samples)"
        )
    if "peak_rss_mib" in report:
        lines.append(f"peak RSS {report['peak_rss_mib']} MiB")
    return "\n".join(lines)


API = "cdp.dev/v1alpha1"


def log(msg: str) -> None:
    bench_run.log(msg)


def main(argv: list[str] | None = None) -> int:
    extra = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    extra.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="no floor run first (the bench's own runs have the floor)",
    )
    mine, rest = extra.parse_known_args(argv)
    args = bench_run.parse_args(rest)
    args.floor = mine.floor
    report = asyncio.run(measure(args))
    print(summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
