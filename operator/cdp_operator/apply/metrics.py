"""Prometheus metrics: reconciles, errors and durations per kind, writes, managed objects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconciles = Counter(
            "cdp_reconcile_total", "Reconciles run, per key kind.", ["kind"], registry=self.registry
        )
        self.errors = Counter(
            "cdp_reconcile_errors_total",
            "Reconciles that failed (and were retried).",
            ["kind"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "cdp_reconcile_duration_seconds",
            "Reconcile duration, per key kind.",
            ["kind"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.writes = Counter(
            "cdp_api_writes_total",
            "API writes, per object kind and operation (create, adopt, apply, delete, status).",
            ["kind", "operation"],
            registry=self.registry,
        )
        self.events_dropped = Counter(
            "cdp_events_dropped_total",
            "Kubernetes Events not posted because too many were waiting (events are best effort).",
            registry=self.registry,
        )
        self.limits = Counter(
            "cdp_limit_exceeded_total",
            "Resources found over a tier limit, per reason.",
            ["reason"],
            registry=self.registry,
        )
        self.held = Gauge(
            "cdp_held_resources",
            "Projects, Environments and Components that cannot be materialised now (over a "
            "tier limit, a reference missing) but already run: kept as they are, per reason.",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.paid = Gauge(
            "cdp_paid_components",
            "Components that run as paid components, per organization (held ones included).",
            ["organization"],
            registry=self.registry,
        )
        self.managed = Gauge(
            "cdp_managed_objects",
            "Objects the operator manages, per kind.",
            ["kind"],
            registry=self.registry,
        )
        self.lists = Counter(
            "cdp_informer_lists_total",
            "Complete lists per kind: 1 at start, +1 each time a watch could not resume.",
            ["kind"],
            registry=self.registry,
        )
        self.active = Gauge(
            "cdp_active",
            "1 while this replica reconciles; 0 while it stands by for a higher-priority peer.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "cdp_work_queue_depth", "Keys waiting or being reconciled.", registry=self.registry
        )

    @contextmanager
    def reconcile(self, kind: str) -> Iterator[None]:
        start = time.perf_counter()
        self.reconciles.labels(kind).inc()
        try:
            yield
        except Exception:
            self.errors.labels(kind).inc()
            raise
        finally:
            self.durations.labels(kind).observe(time.perf_counter() - start)

    def write(self, kind: str, operation: str) -> None:
        self.writes.labels(kind, operation).inc()
