"""The informer (runtime/informer.py) against the in-memory API
(tests/fakeapi.py): list in pages, watch from the list's version, bookmarks,
410 Gone and the re-list that finds what was deleted while unwatched.

Each test drives the informer one round at a time (Informer.step) on the
test's thread; what it delivers is queued on an event loop that the test
runs to completion. No threads of its own, no sleeps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from cdp_operator.apply import kinds as K
from cdp_operator.apply.binding import Client
from cdp_operator.apply.reconciler import Reconciler
from cdp_operator.runtime import informer as informer_module
from cdp_operator.runtime.informer import Informer
from cdp_operator.runtime.kind import Kind
from cdp_operator.runtime.objects import Obj
from fakeapi import FakeApi

DEPLOYMENTS = K.DEPLOYMENT.collection_path
MANAGED = {
    "app.kubernetes.io/managed-by": "cdp-operator",
    "cdp.dev/organization": "acme",
    "cdp.dev/component": "web",
}


def deployment(name: str, labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "acme-shop-dev", "labels": labels or {}},
        "spec": {"replicas": 1, **spec},
    }


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def listed(self, kind: Kind, items: list[Obj], resource_version: str) -> None:
        self.calls.append(("listed", ([i["metadata"]["name"] for i in items], resource_version)))
        self.items = items

    def event(self, kind: Kind, event_type: str, obj: Obj) -> None:
        self.calls.append((event_type, obj["metadata"]["name"]))
        self.last = obj


class Harness:
    def __init__(self, sink: Any, selector: str = "") -> None:
        self.api = FakeApi()
        self.loop = asyncio.new_event_loop()
        self.informer = Informer(self.api, K.DEPLOYMENT, sink, self.loop, selector=selector)  # type: ignore[arg-type]
        self.version: str | None = None

    def step(self) -> str | None:
        self.version = self.informer.step(self.version)
        self.loop.run_until_complete(asyncio.sleep(0))  # deliver what the round queued
        return self.version

    def close(self) -> None:
        self.loop.close()


@pytest.fixture
def harness() -> Any:
    h = Harness(Sink())
    yield h
    h.close()


def test_the_first_round_lists_in_pages_then_watches_from_the_lists_version(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(informer_module, "PAGE_SIZE", 2)
    for name in ("a", "b", "c", "d", "e"):
        harness.api.put(DEPLOYMENTS, deployment(name))
    listed_at = harness.api.revision
    harness.step()
    sink = harness.informer.sink
    assert sink.calls == [("listed", (["a", "b", "c", "d", "e"], str(listed_at)))]  # type: ignore[attr-defined]
    pages = [r for r in harness.api.requests if "watch" not in r.query]
    assert [r.query.get("limit") for r in pages] == ["2", "2", "2"]
    watch = next(r for r in harness.api.requests if r.query.get("watch") == "true")
    assert watch.query["resourceVersion"] == str(listed_at)
    assert watch.query["allowWatchBookmarks"] == "true"
    item = sink.items[0]  # type: ignore[attr-defined]
    assert item["kind"] == "Deployment" and item["apiVersion"] == "apps/v1", "lists omit them"
    assert all("fieldsV1" not in e for e in item["metadata"]["managedFields"]), "slimmed"


def test_watch_events_arrive_in_order_and_the_next_watch_resumes_after_them(
    harness: Harness,
) -> None:
    harness.step()
    harness.api.put(DEPLOYMENTS, deployment("a"))
    harness.api.put(DEPLOYMENTS, deployment("a", replicas=3))
    harness.api.put(DEPLOYMENTS, deployment("b"))
    harness.api.remove(DEPLOYMENTS, "acme-shop-dev", "a")
    version = harness.step()
    sink = harness.informer.sink
    assert sink.calls[1:] == [("ADDED", "a"), ("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]  # type: ignore[attr-defined]
    assert version == str(harness.api.revision)
    harness.step()
    assert len(sink.calls) == 5, "nothing delivered twice"  # type: ignore[attr-defined]
    assert harness.api.requests[-1].query["resourceVersion"] == version


def test_a_bookmark_moves_the_version_on_without_an_event(harness: Harness) -> None:
    harness.step()
    other = "/api/v1/configmaps"  # changes elsewhere move the revision on
    harness.api.put(other, {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "n"}})
    version = harness.step()
    assert version == str(harness.api.revision)
    assert len(harness.informer.sink.calls) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("as_status", [False, True], ids=["error-event", "http-410"])
def test_410_gone_means_list_again(harness: Harness, as_status: bool) -> None:
    harness.api.gone_as_status = as_status
    harness.api.put(DEPLOYMENTS, deployment("a"))
    harness.step()
    harness.api.put(DEPLOYMENTS, deployment("b"))
    harness.api.compact()
    assert harness.step() is None, "the watch could not resume: the next round lists"
    harness.step()
    sink = harness.informer.sink
    assert sink.calls[-1] == ("listed", (["a", "b"], str(harness.api.revision)))  # type: ignore[attr-defined]


def test_an_expired_continue_token_starts_the_list_over(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(informer_module, "PAGE_SIZE", 1)
    for name in ("a", "b"):
        harness.api.put(DEPLOYMENTS, deployment(name))
    expired = [False]

    def expire_once(request: Any) -> None:
        if request.query.get("continue") and not expired[0]:
            expired[0] = True
            harness.api.expire_continue_tokens()

    harness.api.before_request = expire_once
    harness.step()
    assert harness.informer.sink.calls[0] == ("listed", (["a", "b"], str(harness.api.revision)))  # type: ignore[attr-defined]


def test_other_errors_propagate_for_the_thread_to_retry(harness: Harness) -> None:
    harness.step()
    harness.api.fail_next("GET", 500, "InternalError")
    with pytest.raises(ApiException) as raised:
        harness.step()
    assert raised.value.status == 500
    assert harness.version is not None, "the version to resume from is kept"


def test_a_selector_is_sent_and_an_object_leaving_it_is_deleted_for_us() -> None:
    h = Harness(Sink(), selector="app.kubernetes.io/managed-by=cdp-operator")
    try:
        h.api.put(DEPLOYMENTS, deployment("ours", MANAGED))
        h.api.put(DEPLOYMENTS, deployment("theirs"))
        h.step()
        h.api.put(DEPLOYMENTS, deployment("ours", {}))  # somebody removed our labels
        h.step()
        assert h.informer.sink.calls == [("listed", (["ours"], "102")), ("DELETED", "ours")]  # type: ignore[attr-defined]
        assert all(
            r.query["labelSelector"] == "app.kubernetes.io/managed-by=cdp-operator"
            for r in h.api.requests
        )
    finally:
        h.close()


# ------------------------------------------------ with the operator as sink
def operator_on(api: FakeApi) -> Reconciler:
    client = Client(_configuration(), api=api)
    reconciler = Reconciler(client)
    reconciler.expect_kinds(["Deployment"])
    return reconciler


def _configuration() -> Any:
    from kubernetes.client import Configuration

    return Configuration()


def test_what_was_deleted_while_unwatched_leaves_the_cache_and_queues_its_owner() -> None:
    reconciler_loop = asyncio.new_event_loop()
    api = FakeApi()
    reconciler = operator_on(api)
    informer = Informer(api, K.DEPLOYMENT, reconciler, reconciler_loop)  # type: ignore[arg-type]
    try:
        for name in ("web", "api"):
            api.put(DEPLOYMENTS, deployment(name, {**MANAGED, "cdp.dev/component": name}))
        version = informer.step(None)
        reconciler_loop.run_until_complete(asyncio.sleep(0))
        assert reconciler.synced.is_set()
        assert {o["metadata"]["name"] for o in reconciler.cache.owned_by("acme")} == {"web", "api"}
        reconciler.queue.reset()
        # The operator loses its watch; meanwhile "api" is deleted and etcd compacts.
        api.remove(DEPLOYMENTS, "acme-shop-dev", "api")
        api.compact()
        assert informer.step(version) is None
        informer.step(None)
        reconciler_loop.run_until_complete(asyncio.sleep(0))
        assert [o["metadata"]["name"] for o in reconciler.cache.owned_by("acme")] == ["web"]
        assert reconciler.cache.get("Deployment", "acme-shop-dev", "api") is None
        assert reconciler.queue.is_queued(("component", "cdp-org-acme", "api")), (
            "its Component is looked at again, to re-create or prune"
        )
        assert not reconciler.queue.is_queued(("component", "cdp-org-acme", "web")), (
            "an object that did not change queues nothing"
        )
    finally:
        reconciler_loop.close()
