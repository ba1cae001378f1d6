"""Lookups that every reconcile (or metrics scrape) makes, at the scale of a
shared data plane (hundreds of Organizations, thousands of Components): the
cache's per-namespace view (runtime/cache.py `in_namespace`), the organization
of a namespace (apply/context.py `org_of_namespace`), the managed-object counts
(apply/binding.py) and an organization's foreign namespaces
(apply/organization.py). Each must give exactly what a scan of everything gives,
without the scan."""

from __future__ import annotations

import random
from typing import Any

from kubernetes.client import Configuration

from cdp_operator.apply.binding import Cache as OperatorCache
from cdp_operator.apply.binding import Client, is_managed
from cdp_operator.apply.context import Shared
from cdp_operator.apply.organization import ForeignNamespaces
from cdp_operator.models import naming
from cdp_operator.models.labels import COMPONENT, MANAGED_BY, MANAGED_BY_VALUE, ORGANIZATION
from cdp_operator.render.prune import namespace_owned_by
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


def test_the_managed_counts_are_what_counting_the_cache_gives() -> None:
    """cdp_managed_objects is read at every scrape: kept by upsert/remove, it must
    equal a count over the cache through label changes, stale answers and removals."""
    rng = random.Random(13)
    cache = OperatorCache()
    for rv in range(1, 2001):
        name, kind = rng.choice("abcdef"), rng.choice(("Deployment", "Service"))
        labels = {MANAGED_BY: MANAGED_BY_VALUE} if rng.random() < 0.6 else {}
        step = rng.random()
        if step < 0.6:
            cache.upsert(obj(kind, name, "ns", rv, **labels))
        elif step < 0.8:
            cache.upsert(obj(kind, name, "ns", rng.randint(1, rv), **labels))
        else:
            cache.remove(obj(kind, name, "ns", rv))
        for k in ("Deployment", "Service", "Namespace"):
            assert cache.count_managed(k) == cache.count(k, is_managed), k


def test_foreign_namespaces_are_the_cached_ones_the_organization_did_not_make() -> None:
    """What plan_organization asks (`name in foreign`) is answered as the set of
    every cached namespace not owned by the organization answered it."""
    cache = OperatorCache()
    mine = {MANAGED_BY: MANAGED_BY_VALUE, ORGANIZATION: "acme"}
    theirs = {MANAGED_BY: MANAGED_BY_VALUE, ORGANIZATION: "other"}
    namespaces = [
        obj("Namespace", "cdp-org-acme", "", 1, **mine),
        obj("Namespace", "acme-shop-dev", "", 2, **mine),
        obj("Namespace", "acme-shop-prod", "", 3, **theirs),  # another org's
        obj("Namespace", "acme-blog-dev", "", 4),  # a stranger's
        obj("Namespace", "relabelled", "", 5),  # ours by owner, labels edited
    ]
    namespaces[-1]["metadata"]["ownerReferences"] = [{"uid": "acme-uid", "kind": "Organization"}]
    for ns in namespaces:
        cache.upsert(ns)
    foreign = ForeignNamespaces(cache, "acme", "acme-uid")
    scanned = {
        ns["metadata"]["name"]
        for ns in cache.all("Namespace")
        if not namespace_owned_by(ns, "acme", "acme-uid")
    }
    assert scanned == {"acme-shop-prod", "acme-blog-dev"}
    for name in [*(ns["metadata"]["name"] for ns in namespaces), "absent", ""]:
        assert (name in foreign) == (name in scanned), name


def test_a_packed_kind_answers_every_query_as_a_parsed_one() -> None:
    """The same events into a cache that packs Deployments and one that does not:
    every read gives equal objects (versions, index, counts and re-list diffs included)."""

    def index(o: dict[str, Any]) -> list[Any]:
        return [("by", v) for v in (o["metadata"].get("labels") or {}).values()]

    def managed(o: dict[str, Any]) -> bool:
        return (o["metadata"].get("labels") or {}).get("m") == "yes"

    rng = random.Random(17)
    plain = Cache(index=index, counted=managed)
    packed = Cache(index=index, counted=managed, packed={"Deployment"})
    for rv in range(1, 2001):
        kind, ns, name = rng.choice(("Deployment", "Service")), rng.choice("xy"), rng.choice("abcd")
        labels = {"m": rng.choice(("yes", "no")), "c": rng.choice("pq")}
        step, stale = rng.random(), rng.randint(1, rv)
        for cache in (plain, packed):
            if step < 0.6:
                cache.upsert(obj(kind, name, ns, rv, **labels))
            elif step < 0.8:
                cache.upsert(obj(kind, name, ns, stale, **labels))
            else:
                cache.remove(obj(kind, name, ns, rv))
        for k in ("Deployment", "Service"):
            assert list(packed.all(k)) == list(plain.all(k))
            assert packed.counted_total(k) == plain.counted_total(k) == plain.count(k, managed)
            for n in "xy":
                assert packed.in_namespace(k, n) == plain.in_namespace(k, n)
                assert packed.get(k, n, "a") == plain.get(k, n, "a")
            listed = {(k, "x", "a")}
            assert packed.missing_from(k, listed, str(rv // 2)) == plain.missing_from(
                k, listed, str(rv // 2)
            )
        for value in (("by", "p"), ("by", "yes")):
            key = lambda o: (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])  # noqa: E731
            assert sorted(packed.indexed(value), key=key) == sorted(plain.indexed(value), key=key)
            services = [o for o in plain.indexed(value) if o["kind"] == "Service"]
            assert sorted(packed.indexed(value, {"Service"}), key=key) == sorted(services, key=key)


def test_a_packed_object_read_is_a_copy_the_cache_does_not_share() -> None:
    cache = Cache(packed={"Deployment"})
    cache.upsert(obj("Deployment", "a", "x", 1, app="a"))
    got = cache.get("Deployment", "x", "a")
    assert got is not None
    got["metadata"]["labels"]["app"] = "changed"
    assert cache.get("Deployment", "x", "a") == obj("Deployment", "a", "x", 1, app="a")


def test_org_level_finds_what_no_component_is_labelled_on() -> None:
    cache = OperatorCache()
    base = {MANAGED_BY: MANAGED_BY_VALUE, ORGANIZATION: "acme"}
    cache.upsert(obj("Namespace", "acme-shop-dev", "", 1, **base))
    cache.upsert(obj("NetworkPolicy", "default-deny", "acme-shop-dev", 2, **base))
    cache.upsert(obj("NetworkPolicy", "web", "acme-shop-dev", 3, **base, **{COMPONENT: "web"}))
    cache.upsert(obj("Deployment", "web", "acme-shop-dev", 4, **base, **{COMPONENT: "web"}))
    names = sorted(o["metadata"]["name"] for o in cache.org_level("acme"))
    assert names == ["acme-shop-dev", "default-deny"]
    only_ns = cache.org_level("acme", frozenset({"Namespace"}))
    assert [o["metadata"]["name"] for o in only_ns] == ["acme-shop-dev"]
    assert len(cache.owned_by("acme")) == 4  # everything of the organization, as before
    assert [o["kind"] for o in cache.owned_by("acme", "web")] in (
        ["NetworkPolicy", "Deployment"],
        ["Deployment", "NetworkPolicy"],
    )
    assert cache.count_managed("NetworkPolicy") == 2
