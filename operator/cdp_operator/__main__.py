"""`cdp-operator` / `python -m cdp_operator`: run the operator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import socket
import sys

from . import __version__


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cdp-operator", description=__doc__)
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    p.add_argument(
        "--data-plane",
        action="append",
        default=None,
        help="Serve only this DataPlane (repeatable; comma-separated accepted). Default: all.",
    )
    p.add_argument("--workers", type=int, default=int(os.environ.get("CDP_WORKERS", "8")))
    p.add_argument("--concurrency", type=int, default=32, help="Parallel API requests.")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("CDP_METRICS_PORT", "0")),
        help="Serve Prometheus metrics on this port (0: off).",
    )
    p.add_argument("--metrics-address", default=os.environ.get("CDP_METRICS_ADDRESS", "127.0.0.1"))
    p.add_argument(
        "--health-endpoint",
        default=os.environ.get("CDP_HEALTH_ENDPOINT"),
        help="Liveness endpoint URL, e.g. http://0.0.0.0:8081/healthz",
    )
    p.add_argument(
        "--peering",
        default=os.environ.get("CDP_PEERING"),
        help="Kopf peering name for high availability (default: standalone).",
    )
    p.add_argument(
        "--peering-priority",
        type=int,
        default=int(os.environ["CDP_PEERING_PRIORITY"])
        if os.environ.get("CDP_PEERING_PRIORITY")
        else None,
        help="Kopf peering priority: the live instance with the highest one works, the others "
        "stand by. Default: random, because Kopf pauses every instance when two share a "
        "priority (replicas of one Deployment would otherwise all stop).",
    )
    p.add_argument(
        "--peering-lifetime",
        type=int,
        default=int(os.environ.get("CDP_PEERING_LIFETIME", "15")),
        help="Seconds a replica's keep-alive is valid (Kopf's peer lifetime; Kopf's default "
        "is 60). A standby takes over at most this long after the active replica dies; it "
        "renews every lifetime-10 to lifetime-5 seconds (at least every second).",
    )
    p.add_argument(
        "--log-format", choices=["text", "json"], default=os.environ.get("CDP_LOG_FORMAT", "text")
    )
    p.add_argument("--log-level", default=os.environ.get("CDP_LOG_LEVEL", "INFO"))
    p.add_argument("--version", action="version", version=f"cdp-operator {__version__}")
    return p.parse_args(argv)


def _configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        from .process.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("kopf").setLevel(max(logging.INFO, root.level))
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def _identity() -> str:
    """This replica's name in the peering object: the pod's name when the chart
    sets POD_ID, else host, pid and a random suffix (unique per process)."""
    pod = os.environ.get("POD_ID")
    if pod:
        return pod
    suffix = "".join(random.SystemRandom().choices("abcdefghijklmnopqrstuvwxyz0123456789", k=5))
    return f"{socket.gethostname()}/{os.getpid()}/{suffix}"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _configure_logging(args.log_format, args.log_level)
    if args.kubeconfig:
        # Before the kubernetes client is imported: it reads $KUBECONFIG at import
        # time, and Kopf's login goes through it.
        os.environ["KUBECONFIG"] = args.kubeconfig
    import kopf
    from prometheus_client import start_http_server

    from .process import wiring
    from .runtime import collector

    scope = None
    if args.data_plane:
        scope = sorted(
            {dp.strip() for item in args.data_plane for dp in item.split(",") if dp.strip()}
        )
    options = wiring.Options(
        kubeconfig=args.kubeconfig, scope=scope, workers=args.workers, concurrency=args.concurrency
    )
    collector.tune()  # before the cache fills (runtime/collector.py)
    options.metrics.gc_clock.install()
    if args.metrics_port:
        start_http_server(
            args.metrics_port, addr=args.metrics_address, registry=options.metrics.registry
        )
    if args.peering_lifetime < 2:
        raise SystemExit("cdp-operator: --peering-lifetime must be at least 2 seconds")
    options.peering_lifetime = args.peering_lifetime
    if args.peering is not None:
        priority = args.peering_priority
        if priority is None:
            priority = random.SystemRandom().randint(1, 2**31 - 1)
        options.peering, options.priority, options.identity = args.peering, priority, _identity()
        logging.getLogger("cdp_operator").info(
            "peering %r as %s with priority %d", args.peering, options.identity, priority
        )
    asyncio.run(
        kopf.operator(
            clusterwide=True,
            standalone=args.peering is None,
            peering_name=args.peering,
            priority=options.priority if args.peering is not None else None,
            identity=options.identity or None,  # type: ignore[arg-type]  # kopf's NewType
            liveness_endpoint=args.health_endpoint,
            memo=kopf.Memo(options=options),
        )
    )


if __name__ == "__main__":
    main()
