"""The garbage collector's setting (runtime/collector.py) and its pause metrics."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from cdp_operator.apply.metrics import Metrics
from cdp_operator.runtime import collector
from cdp_operator.runtime.cache import Cache, compact, slim


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)


def test_tune_sets_the_threshold(restored: None) -> None:
    collector.tune()
    assert gc.get_threshold() == collector.THRESHOLD
    collector.tune((1000, 5, 5))
    assert gc.get_threshold() == (1000, 5, 5)


def test_the_clock_counts_pauses_per_generation_and_the_metrics_show_them() -> None:
    metrics = Metrics()
    clock = metrics.gc_clock
    clock.install()
    try:
        clock.install()  # idempotent: one callback
        assert gc.callbacks.count(clock) == 1
        gc.collect(0)
        gc.collect()
    finally:
        clock.remove()
    assert clock not in gc.callbacks
    assert clock.collections[0] >= 1 and clock.collections[2] >= 1
    assert clock.seconds[2] > 0
    text = generate_latest(metrics.registry).decode()
    assert 'cdp_gc_collections_total{generation="2"} ' in text
    assert 'cdp_gc_pause_seconds_total{generation="0"} ' in text


def _page(start: int, size: int) -> bytes:
    """A list page of Deployment-shaped objects (nested dicts and lists, as parsed)."""
    items = [
        {
            "metadata": {
                "name": f"d{i}",
                "namespace": f"ns{i % 50}",
                "resourceVersion": str(i + 1),
                "labels": {"app": f"d{i}", "cdp.dev/organization": "o"},
                "managedFields": [{"manager": "m", "operation": "Update", "fieldsV1": {}}],
            },
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "main",
                                "ports": [{"containerPort": p} for p in range(4)],
                                "env": [{"name": f"E{e}", "value": "v"} for e in range(8)],
                            }
                        ]
                    }
                }
            },
            "status": {"conditions": [{"type": t, "status": "True"} for t in "ABC"]},
        }
        for i in range(start, start + size)
    ]
    return json.dumps({"items": items}).encode()


def _full_collections_ingesting(pages: list[bytes]) -> int:
    """Parse each page and keep its objects in a cache, as a restart's lists do;
    count the collections of the oldest generation meanwhile."""
    clock = collector.PauseClock()
    cache = Cache()
    clock.install()
    try:
        for page in pages:
            for obj in json.loads(page)["items"]:
                obj["kind"] = "Deployment"
                cache.upsert(compact(slim(obj)))
    finally:
        clock.remove()
    return clock.collections[2]


def test_the_tuned_collector_does_not_scan_the_cache_for_every_few_pages(
    restored: None,
) -> None:
    """Why the operator tunes it: with CPython's default, objects of a page being
    parsed are promoted to the oldest generation and each few pages set off a
    collection of everything cached; with the operator's setting, none."""
    pages = [_page(start, 500) for start in range(0, 20_000, 500)]
    gc.collect()
    gc.set_threshold(700, 10, 10)  # CPython's default
    default = _full_collections_ingesting(pages)
    gc.collect()
    collector.tune()
    tuned = _full_collections_ingesting(pages)
    assert default >= 3, default
    assert tuned == 0, tuned
