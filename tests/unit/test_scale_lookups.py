"""Lookups that every reconcile makes, at the scale of a shared data plane
(hundreds of Organizations, thousands of Components): the cache's per-namespace
view (runtime/cache.py `in_namespace`) and the organization of a namespace
(apply/context.py `org_of_namespace`). Each must give exactly what a scan of
everything gives, without the scan."""

from __future__ import annotations

import random
from typing import Any

from kubernetes.client import Configuration

from cdp_operator.apply.binding import Client
from cdp_operator.apply.context import Shared
from cdp_operator.models import naming
from cdp_operator.runtime.cache import Cache
from fakeapi import FakeApi


def obj(kind: str, name: str, ns: str, rv: int, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": str(rv), "labels": labels}
    if ns:
        meta["namespace"] = ns
    return {"kind": kind, "metadata": meta}


def scan(cache: Cache, kind: str, namespace: str) -> list[dict[str, Any]]:
    """What in_namespace answered before it had an index: every object of the
    kind, in the cache's order, filtered."""
    return [o for o in cache.all(kind) if (o["metadata"].get("namespace") or "") == namespace]


def test_in_namespace_answers_what_a_scan_answers_through_upserts_and_removals() -> None:
    rng = random.Random(15)
    cache = Cache()
    kinds, namespaces, names = ("Component", "Project"), ("a", "b", "c", ""), "pqrstu"
    for rv in range(1, 3001):
        kind, ns, name = rng.choice(kinds), rng.choice(namespaces), rng.choice(names)
        step = rng.random()
        if step < 0.6:
            cache.upsert(obj(kind, name, ns, rv, step=str(rv % 3)))
        elif step < 0.8:
            cache.upsert(obj(kind, name, ns, rng.randint(1, rv)))  # often a stale answer
        else:
            cache.remove(obj(kind, name, ns, rv))
        for k in kinds:
            for n in namespaces:
                assert cache.in_namespace(k, n) == scan(cache, k, n), (k, n)


def test_in_namespace_keeps_the_first_insertion_order_when_an_object_changes() -> None:
    cache = Cache()
    for i, name in enumerate(("c", "a", "b"), start=1):
        cache.upsert(obj("Component", name, "org", i))
    cache.upsert(obj("Component", "c", "org", 10, changed="yes"))
    got = cache.in_namespace("Component", "org")
    assert [o["metadata"]["name"] for o in got] == ["c", "a", "b"]
    assert got[0]["metadata"]["labels"] == {"changed": "yes"}
    assert cache.in_namespace("Component", "other") == []
    assert cache.in_namespace("Project", "org") == []


def test_in_namespace_forgets_a_namespace_whose_objects_are_all_gone() -> None:
    cache = Cache()
    cache.upsert(obj("Component", "a", "org", 1))
    cache.remove(obj("Component", "a", "org", 2))
    assert cache.in_namespace("Component", "org") == []
    assert ("Component", "org") not in cache._by_namespace  # no empty buckets pile up
    cache.upsert(obj("Component", "a", "org", 3))  # newer than the removal: back
    assert [o["metadata"]["name"] for o in cache.in_namespace("Component", "org")] == ["a"]


def shared_with(*orgs: str) -> Shared:
    shared = Shared.make(Client(Configuration(), concurrency=1, api=FakeApi()), None, None, None)
    for i, name in enumerate(orgs, start=1):
        shared.cache.upsert(
            {"kind": "Organization", "metadata": {"name": name, "resourceVersion": str(i)}}
        )
    return shared


def test_org_of_namespace_names_the_cached_organization_of_an_org_namespace() -> None:
    shared = shared_with(*(f"org{i:03d}" for i in range(500)))
    assert shared.org_of_namespace(naming.organization_namespace_name("org042")) == "org042"
    # Not an organization's namespace: a runtime namespace, one of no cached org, another.
    assert shared.org_of_namespace(naming.runtime_namespace_name("org042", "p", "dev")) is None
    assert shared.org_of_namespace(naming.organization_namespace_name("gone")) is None
    assert shared.org_of_namespace("kube-system") is None
    assert shared.org_of_namespace("") is None


def test_org_of_namespace_agrees_with_a_scan_of_every_organization() -> None:
    names = ["a", "b-1", "x" * 30, "org-with-dashes", "z9"]
    shared = shared_with(*names)
    candidates = [naming.organization_namespace_name(n) for n in [*names, "nope", "y" * 30]]
    candidates += ["cdp-org-", "cdp-org-a-b", "a", "default"]
    for ns in candidates:
        expected = next((n for n in names if naming.organization_namespace_name(n) == ns), None)
        assert shared.org_of_namespace(ns) == expected, ns
