"""The Event recorder (runtime/events.py): what it posts, how many at a time,
and what it does when too many wait. It does not aggregate: its callers emit
on transitions only (tests/e2e checks that a converged cluster posts none)."""

from __future__ import annotations

import asyncio
from typing import Any

from cdp_operator.apply.binding import REPORTING_CONTROLLER
from cdp_operator.apply.binding import EventRecorder as OperatorRecorder
from cdp_operator.apply.metrics import Metrics
from cdp_operator.runtime.events import MAX_PENDING, SENDERS, EventRecorder

TARGET = {
    "apiVersion": "cdp.dev/v1alpha1",
    "kind": "Component",
    "metadata": {"name": "web", "namespace": "cdp-org-acme", "uid": "u-1", "resourceVersion": "7"},
}


class Api:
    """Stands in for Client.create: counts requests in flight, releases on demand."""

    def __init__(self, fail: bool = False) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.posted: list[tuple[str, dict[str, Any]]] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.release.wait()
        self.in_flight -= 1
        if self.fail:
            raise ConnectionError("apiserver away")
        self.posted.append((path, body))
        return body


class Dropped:
    def __init__(self) -> None:
        self.count = 0

    def inc(self) -> None:
        self.count += 1


async def drain(api: Api, until: int) -> None:
    for _ in range(20 * until + 100):
        if len(api.posted) >= until:
            return
        await asyncio.sleep(0)


def test_an_event_names_its_object_controller_and_instance() -> None:
    async def scenario() -> Api:
        api = Api()
        api.release.set()
        recorder = EventRecorder(api, controller="example.com/ctl", instance="pod-1")
        recorder.warning(TARGET, "ApplyRejected", "x" * 2000)
        await drain(api, 1)
        return api

    ((path, body),) = asyncio.run(scenario()).posted
    assert path == "/apis/events.k8s.io/v1/namespaces/cdp-org-acme/events"
    assert body["type"] == "Warning" and body["reason"] == "ApplyRejected"
    assert body["reportingController"] == "example.com/ctl"
    assert body["reportingInstance"] == "pod-1"
    assert len(body["note"]) == 1024, "the API server refuses longer notes"
    assert body["regarding"] == {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "Component",
        "name": "web",
        "namespace": "cdp-org-acme",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert body["metadata"]["name"].startswith("web.")


def test_events_of_cluster_scoped_objects_go_to_default() -> None:
    async def scenario() -> Api:
        api = Api()
        api.release.set()
        recorder = EventRecorder(api, controller="c", instance="i")
        recorder.normal({"kind": "Organization", "metadata": {"name": "acme"}}, "Ready", "ok")
        await drain(api, 1)
        return api

    ((path, body),) = asyncio.run(scenario()).posted
    assert path == "/apis/events.k8s.io/v1/namespaces/default/events"
    assert body["regarding"]["namespace"] is None and body["type"] == "Normal"


def test_events_are_posted_a_few_at_a_time_and_overflow_is_counted() -> None:
    async def scenario() -> tuple[Api, int]:
        api, dropped = Api(), Dropped()
        recorder = EventRecorder(api, controller="c", instance="i", dropped=dropped)
        for i in range(MAX_PENDING + SENDERS + 5):
            recorder.normal({**TARGET, "metadata": {"name": f"c{i}", "namespace": "n"}}, "R", "m")
            await asyncio.sleep(0)  # let the senders take what they can
        assert api.in_flight == SENDERS, "never more than SENDERS requests in flight"
        api.release.set()
        await drain(api, MAX_PENDING + SENDERS)
        return api, dropped.count

    api, dropped = asyncio.run(scenario())
    assert api.most_in_flight == SENDERS
    assert len(api.posted) == MAX_PENDING + SENDERS, "everything queued is posted once released"
    assert dropped == 5, "what did not fit is counted, not queued"


def test_a_failed_post_is_dropped_and_the_next_ones_still_go() -> None:
    async def scenario() -> Api:
        api = Api(fail=True)
        api.release.set()
        recorder = EventRecorder(api, controller="c", instance="i")
        recorder.normal(TARGET, "First", "m")
        for _ in range(10):
            await asyncio.sleep(0)
        api.fail = False
        recorder.normal(TARGET, "Second", "m")
        await drain(api, 1)
        return api

    assert [b["reason"] for _, b in asyncio.run(scenario()).posted] == ["Second"]


def test_the_operator_reports_as_cdp_operator_and_counts_drops_in_its_metrics() -> None:
    metrics = Metrics()
    recorder = OperatorRecorder(Api(), metrics=metrics)
    assert recorder.controller == REPORTING_CONTROLLER == "cdp.dev/cdp-operator"
    assert recorder.instance == "cdp-operator"
    assert recorder.dropped is metrics.events_dropped
