"""Prometheus metrics: reconciles, errors and durations per kind, writes, managed objects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from ..runtime.collector import PauseClock

_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

#: Every metric: attribute of `Metrics` -> (type, name, help, label names).
_DECLARATIONS: dict[str, tuple[type[Counter | Gauge | Histogram], str, str, tuple[str, ...]]] = {
    "reconciles": (Counter, "cdp_reconcile_total", "Reconciles run, per key kind.", ("kind",)),
    "errors": (
        Counter,
        "cdp_reconcile_errors_total",
        "Reconciles that failed (and were retried).",
        ("kind",),
    ),
    "durations": (
        Histogram,
        "cdp_reconcile_duration_seconds",
        "Reconcile duration, per key kind.",
        ("kind",),
    ),
    "writes": (
        Counter,
        "cdp_api_writes_total",
        "API writes, per object kind and operation (create, adopt, apply, delete, status).",
        ("kind", "operation"),
    ),
    "events_dropped": (
        Counter,
        "cdp_events_dropped_total",
        "Kubernetes Events not posted because too many were waiting (events are best effort).",
        (),
    ),
    "limits": (
        Counter,
        "cdp_limit_exceeded_total",
        "Resources found over a tier limit, per reason.",
        ("reason",),
    ),
    "held": (
        Gauge,
        "cdp_held_resources",
        "Projects, Environments and Components that cannot be materialised now (over a "
        "tier limit, a reference missing) but already run: kept as they are, per reason.",
        ("kind", "reason"),
    ),
    "paid": (
        Gauge,
        "cdp_paid_components",
        "Components that run as paid components, per organization (held ones included).",
        ("organization",),
    ),
    "managed": (Gauge, "cdp_managed_objects", "Objects the operator manages, per kind.", ("kind",)),
    "lists": (
        Counter,
        "cdp_informer_lists_total",
        "Complete lists per kind: 1 at start, +1 each time a watch could not resume.",
        ("kind",),
    ),
    "watch_events": (
        Counter,
        "cdp_watch_events_total",
        "Watch events received, per kind and type (ADDED, MODIFIED, DELETED; bookmarks "
        "not counted): the work the cluster sends, beside the reconciles it causes.",
        ("kind", "type"),
    ),
    "active": (
        Gauge,
        "cdp_active",
        "1 while this replica reconciles; 0 while it stands by for a higher-priority peer.",
        (),
    ),
    "queue_depth": (Gauge, "cdp_work_queue_depth", "Keys waiting or being reconciled.", ()),
}


class Metrics:
    # One attribute per row of _DECLARATIONS (checked below).
    reconciles: Counter
    errors: Counter
    durations: Histogram
    writes: Counter
    events_dropped: Counter
    limits: Counter
    held: Gauge
    paid: Gauge
    managed: Gauge
    lists: Counter
    watch_events: Counter
    active: Gauge
    queue_depth: Gauge

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        for attribute, (metric, name, documentation, labels) in _DECLARATIONS.items():
            extra: dict[str, Any] = {"buckets": _DURATION_BUCKETS} if metric is Histogram else {}
            collector = metric(name, documentation, labels, registry=self.registry, **extra)
            setattr(self, attribute, collector)
        #: The garbage collector's pauses, once the process installs the clock.
        self.gc_clock = PauseClock()
        self.registry.register(_GcPauses(self.gc_clock))

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


class _GcPauses(Collector):
    """cdp_gc_pause_seconds_total and cdp_gc_collections_total per generation."""

    def __init__(self, clock: PauseClock) -> None:
        self.clock = clock

    def collect(self) -> Iterator[CounterMetricFamily]:
        seconds = CounterMetricFamily(
            "cdp_gc_pause_seconds",
            "Time spent in Python's cyclic garbage collector, per generation (2: a pass "
            "over every tracked object of the process).",
            labels=["generation"],
        )
        collections = CounterMetricFamily(
            "cdp_gc_collections", "Collections, per generation.", labels=["generation"]
        )
        for generation in range(3):
            seconds.add_metric([str(generation)], self.clock.seconds[generation])
            collections.add_metric([str(generation)], self.clock.collections[generation])
        yield seconds
        yield collections


def _check_declarations() -> None:
    """The table and the typed attributes name the same metrics, with the same types."""
    declared = {a: metric.__name__ for a, (metric, *_) in _DECLARATIONS.items()}
    if declared != Metrics.__annotations__:
        raise TypeError(f"Metrics attributes {Metrics.__annotations__} != {declared}")


_check_declarations()
