"""The informer's paged delivery (runtime/informer.py `PagedSink`): a sink with
`listed_page` gets each page of a list as it arrives and then `listed` with no
items, so a list of 20,000 Deployments is never held whole (the restart of an
operator on a shared data plane). Against the in-memory API; no threads."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from cdp_operator.apply import kinds as K
from cdp_operator.apply.binding import Client
from cdp_operator.apply.reconciler import Reconciler
from cdp_operator.runtime import informer as informer_module
from cdp_operator.runtime.informer import Informer
from cdp_operator.runtime.kind import Kind
from cdp_operator.runtime.objects import Obj
from fakeapi import FakeApi

DEPLOYMENTS = K.DEPLOYMENT.collection_path


def deployment(name: str, **labels: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "acme-shop-dev", "labels": labels},
        "spec": {"replicas": 1},
    }


class PagedSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def listed_page(self, kind: Kind, items: list[Obj], first: bool) -> None:
        self.calls.append(("page", ([i["metadata"]["name"] for i in items], first)))

    def listed(self, kind: Kind, items: list[Obj], resource_version: str) -> None:
        self.calls.append(("listed", (len(items), resource_version)))

    def event(self, kind: Kind, event_type: str, obj: Obj) -> None:
        self.calls.append((event_type, obj["metadata"]["name"]))


def run_step(informer: Informer, loop: asyncio.AbstractEventLoop, version: str | None) -> Any:
    result = informer.step(version)
    loop.run_until_complete(asyncio.sleep(0))
    return result


def test_a_paged_sink_gets_every_page_then_the_end_of_the_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(informer_module, "PAGE_SIZE", 2)
    api, loop, sink = FakeApi(), asyncio.new_event_loop(), PagedSink()
    try:
        for name in "abcde":
            api.put(DEPLOYMENTS, deployment(name))
        listed_at = str(api.revision)
        run_step(Informer(api, K.DEPLOYMENT, sink, loop), loop, None)  # type: ignore[arg-type]
        assert sink.calls == [
            ("page", (["a", "b"], True)),
            ("page", (["c", "d"], False)),
            ("page", (["e"], False)),
            ("listed", (0, listed_at)),
        ]
    finally:
        loop.close()


def test_an_expired_continue_token_starts_the_pages_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(informer_module, "PAGE_SIZE", 1)
    api, loop, sink = FakeApi(), asyncio.new_event_loop(), PagedSink()
    try:
        for name in "ab":
            api.put(DEPLOYMENTS, deployment(name))
        expired = [False]

        def expire_once(request: Any) -> None:
            if request.query.get("continue") and not expired[0]:
                expired[0] = True
                api.expire_continue_tokens()

        api.before_request = expire_once
        run_step(Informer(api, K.DEPLOYMENT, sink, loop), loop, None)  # type: ignore[arg-type]
        assert sink.calls == [
            ("page", (["a"], True)),
            ("page", (["a"], True)),  # started over: the sink forgets the first attempt
            ("page", (["b"], False)),
            ("listed", (0, str(api.revision))),
        ]
    finally:
        loop.close()


def test_the_operator_finds_what_was_deleted_while_unwatched_across_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operator as a paged sink: a re-list in pages still tells which objects
    are gone (the keys of every page count), and fills the cache page by page."""
    monkeypatch.setattr(informer_module, "PAGE_SIZE", 2)
    api, loop = FakeApi(), asyncio.new_event_loop()
    from kubernetes.client import Configuration

    reconciler = Reconciler(Client(Configuration(), api=api))
    reconciler.expect_kinds(["Deployment"])
    informer = Informer(api, K.DEPLOYMENT, reconciler, loop)  # type: ignore[arg-type]
    managed = {"app.kubernetes.io/managed-by": "cdp-operator", "cdp.dev/organization": "acme"}
    try:
        for name in "abcde":
            api.put(DEPLOYMENTS, deployment(name, **managed, **{"cdp.dev/component": name}))
        version = run_step(informer, loop, None)
        assert reconciler.synced.is_set()
        assert sorted(o["metadata"]["name"] for o in reconciler.cache.owned_by("acme")) == list(
            "abcde"
        )
        assert reconciler.cache.count_managed("Deployment") == 5
        api.remove(DEPLOYMENTS, "acme-shop-dev", "b")  # one page's object
        api.remove(DEPLOYMENTS, "acme-shop-dev", "e")  # the last page's
        api.compact()
        assert run_step(informer, loop, version) is None
        run_step(informer, loop, None)
        names = sorted(o["metadata"]["name"] for o in reconciler.cache.owned_by("acme"))
        assert names == ["a", "c", "d"]
        assert reconciler.cache.count_managed("Deployment") == 3
    finally:
        loop.close()


def test_the_next_page_is_asked_for_before_this_one_is_delivered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API server prepares page 2 while page 1 is cut down and delivered: the
    request for it is made before the sink gets page 1 (a restart's lists would
    otherwise take the API server's time and the operator's one after the other)."""
    monkeypatch.setattr(informer_module, "PAGE_SIZE", 2)
    api, sink = FakeApi(), PagedSink()
    for name in "abcde":
        api.put(DEPLOYMENTS, deployment(name))
    continued = threading.Event()

    def note(request: Any) -> None:
        if request.query.get("continue"):
            continued.set()

    api.before_request = note
    asked_before_delivery: list[bool] = []

    class Watching(PagedSink):
        def listed_page(self, kind: Kind, items: list[Obj], first: bool) -> None:
            if first:  # bounded: without the prefetch, this waits 5 s and notes False
                asked_before_delivery.append(continued.wait(5))
            super().listed_page(kind, items, first)

    sink = Watching()
    informer = Informer(api, K.DEPLOYMENT, sink, asyncio.new_event_loop())  # type: ignore[arg-type]
    monkeypatch.setattr(informer, "_deliver", lambda fn, *args: fn(*args))
    items, version, count = informer._list()
    assert asked_before_delivery == [True]
    assert [c for c in sink.calls if c[0] == "page"] == [
        ("page", (["a", "b"], True)),
        ("page", (["c", "d"], False)),
        ("page", (["e"], False)),
    ]
    assert items == [] and version == str(api.revision) and count == 5


def test_informers_sharing_lanes_list_that_many_kinds_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The informers share the listing bound (process/wiring.py: a lock): each
    holds it for its whole list, every page delivered inside it; a bound of two
    lanes lets two lists run side by side and a third wait for a lane."""
    monkeypatch.setattr(informer_module, "PAGE_SIZE", 1)
    api = FakeApi()
    for name in "ab":
        api.put(DEPLOYMENTS, deployment(name))
    lock = threading.Lock()
    holders: list[int] = []  # the threads holding a lane now
    most: list[int] = []
    outside: list[int] = []  # pages delivered without a lane held (none)

    class Lanes:
        def __init__(self) -> None:
            self.semaphore = threading.BoundedSemaphore(2)

        def __enter__(self) -> None:
            self.semaphore.acquire()
            with lock:
                holders.append(threading.get_ident())
                most.append(len(holders))

        def __exit__(self, *exc: object) -> None:
            with lock:
                holders.remove(threading.get_ident())
            self.semaphore.release()

    class Slow(PagedSink):
        def listed_page(self, kind: Kind, items: list[Obj], first: bool) -> None:
            with lock:
                if threading.get_ident() not in holders:
                    outside.append(threading.get_ident())
            threading.Event().wait(0.3)  # a page that takes its time to cut down

    lanes = Lanes()
    loop = asyncio.new_event_loop()
    try:
        informers = [
            Informer(api, K.DEPLOYMENT, Slow(), loop, listing=lanes)  # type: ignore[arg-type]
            for _ in range(3)
        ]
        for informer in informers:
            monkeypatch.setattr(informer, "_deliver", lambda fn, *args: fn(*args))
        threads = [threading.Thread(target=i.step, args=(None,)) for i in informers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert not any(t.is_alive() for t in threads)
        assert not outside, "every page is delivered while its informer holds a lane"
        assert max(most) == 2  # side by side, never three
        assert len(most) == 3 and not holders  # every list took a lane and gave it back
    finally:
        loop.close()


def test_watch_events_are_counted_per_kind_and_type() -> None:
    """cdp_watch_events_total: what the cluster sent, beside the reconciles it caused
    (the benchmark reads it to tell more events from dearer ones)."""
    api, loop = FakeApi(), asyncio.new_event_loop()
    from kubernetes.client import Configuration

    reconciler = Reconciler(Client(Configuration(), api=api))
    reconciler.expect_kinds(["Deployment"])
    informer = Informer(api, K.DEPLOYMENT, reconciler, loop)  # type: ignore[arg-type]
    managed = {"app.kubernetes.io/managed-by": "cdp-operator", "cdp.dev/organization": "acme"}
    counter = reconciler.metrics.watch_events
    try:
        api.put(DEPLOYMENTS, deployment("a", **managed))
        version = run_step(informer, loop, None)  # a list is not a watch event
        assert counter.labels("Deployment", "ADDED")._value.get() == 0
        api.put(DEPLOYMENTS, deployment("b", **managed))
        changed = deployment("a", **managed)
        changed["spec"]["replicas"] = 2
        api.put(DEPLOYMENTS, changed)
        api.remove(DEPLOYMENTS, "acme-shop-dev", "b")
        run_step(informer, loop, version)
        types = ("ADDED", "MODIFIED", "DELETED")
        got = {t: counter.labels("Deployment", t)._value.get() for t in types}
        assert got == {"ADDED": 1, "MODIFIED": 1, "DELETED": 1}
    finally:
        loop.close()
