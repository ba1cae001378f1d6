"""Pure parts of the apply layer: the cache's version rules and re-list diff,
the work queue's reset, the peering rule the HA guard shares with Kopf, and
the Event sender's bound.

The behaviour they serve is proven against the real control plane in
tests/e2e/test_resilience.py (watch expiry, preemption, failover); these pin
the edge cases cheaply.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

from cdp_operator.runtime.cache import (
    CREATED_NOT_APPLIED,
    FIELD_MANAGER,
    LAST_APPLIED,
    Cache,
    compact,
    created_not_applied,
    key_of,
    slim,
)
from cdp_operator.runtime.events import MAX_PENDING, SENDERS, EventRecorder
from cdp_operator.apply.metrics import Metrics
from cdp_operator.runtime.peering import Peer, decide, parse_peers
from cdp_operator.runtime.queue import WorkQueue

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NOW = datetime.datetime(2026, 11, 27, 9, 0, 0, tzinfo=datetime.UTC)


def obj(name: str, rv: int, kind: str = "Deployment", ns: str = "n") -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)}}


# ------------------------------------------------------------------- cache
def test_upsert_keeps_the_newer_version_and_skips_the_same_one() -> None:
    cache = Cache()
    assert cache.upsert(obj("a", 5))
    assert not cache.upsert(obj("a", 5)), "the same version again is not news"
    assert not cache.upsert(obj("a", 4)), "an older version never replaces a newer one"
    assert cache.upsert(obj("a", 6))
    assert cache.get("Deployment", "n", "a") == obj("a", 6)


def test_upsert_drops_managed_fields_and_last_applied_without_touching_the_input() -> None:
    cache = Cache()
    o = obj("a", 1)
    o["metadata"]["managedFields"] = [{"manager": "x"}]
    o["metadata"]["annotations"] = {LAST_APPLIED: "{...}", "keep": "me"}
    cache.upsert(o)
    meta = cache.get("Deployment", "n", "a")["metadata"]  # type: ignore[index]
    assert "managedFields" not in meta
    assert meta["annotations"] == {"keep": "me"}
    assert o["metadata"]["managedFields"] and LAST_APPLIED in o["metadata"]["annotations"]


def test_slim_keeps_only_whether_our_create_still_owns_fields() -> None:
    def entry(manager: str, operation: str, subresource: str = "") -> dict[str, Any]:
        e = {"manager": manager, "operation": operation, "fieldsV1": {"f:spec": {}}}
        return {**e, "subresource": subresource} if subresource else e

    cases = [
        ([entry(FIELD_MANAGER, "Update")], True),  # made by our create
        ([entry(FIELD_MANAGER, "Apply"), entry("kube-controller-manager", "Update")], False),
        ([entry(FIELD_MANAGER, "Update", "status")], False),  # our status writes
        ([entry("kubectl-edit", "Update")], False),  # somebody else's update
        ([entry(FIELD_MANAGER, "Apply"), entry(FIELD_MANAGER, "Update")], True),
    ]
    for fields, expected in cases:
        o = obj("a", 1)
        o["metadata"]["managedFields"] = fields
        slimmed = slim(o)
        assert created_not_applied(o) is expected
        assert created_not_applied(slimmed) is expected, fields
        if expected:
            # One shared marker, kept as it is by compact(), never a copy per object.
            assert slimmed["metadata"]["managedFields"] is CREATED_NOT_APPLIED
            assert compact(slimmed)["metadata"]["managedFields"] is CREATED_NOT_APPLIED
            assert slim(slimmed) is slimmed
        else:
            assert "managedFields" not in slimmed["metadata"]


def test_missing_from_a_relist_are_the_deleted_ones_only() -> None:
    cache = Cache()
    for o in (obj("kept", 10), obj("deleted", 11), obj("written-after-list", 30)):
        cache.upsert(o)
    cache.upsert(obj("other-kind", 12, kind="Service"))
    listed = {key_of(obj("kept", 10))}
    gone = cache.missing_from("Deployment", listed, "20")
    # "written-after-list" came from a write answered after the list was taken
    # (version 30 > 20): absent from the list, yet not deleted.
    assert [o["metadata"]["name"] for o in gone] == ["deleted"]


def test_missing_from_without_a_numeric_version_treats_every_absent_object_as_gone() -> None:
    cache = Cache()
    cache.upsert(obj("a", 3))
    assert [o["metadata"]["name"] for o in cache.missing_from("Deployment", set(), "")] == ["a"]


def test_compact_keeps_the_value_and_shares_strings() -> None:
    raw = json.dumps(
        {
            "metadata": {"name": "orders", "labels": {"app.kubernetes.io/managed-by": "cdp"}},
            "spec": {"replicas": 2, "paused": False, "ports": [{"port": 80, "name": "http"}]},
            "status": {"message": "x" * 100},
        }
    )
    a, b = compact(json.loads(raw)), compact(json.loads(raw))
    assert a == json.loads(raw)
    assert next(iter(a["metadata"]["labels"])) is next(iter(b["metadata"]["labels"]))
    assert a["metadata"]["name"] is b["metadata"]["name"]
    assert a["status"]["message"] is not b["status"]["message"], "long strings are not interned"


def test_compact_halves_the_memory_of_a_parsed_deployment() -> None:
    """What the cache holds per Deployment, measured (not timed): the golden
    web-app Deployment with the metadata and status the API server adds."""
    docs = yaml.safe_load_all((GOLDEN / "web-app-production.yaml").read_text())
    deployment = next(d for d in docs if d and d.get("kind") == "Deployment")
    deployment["metadata"].update(uid="3f1c2a1e-0000-4000-8000-000000000001", generation=1)
    deployment["status"] = {
        "observedGeneration": 1,
        "replicas": 2,
        "availableReplicas": 2,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ],
    }
    raw = json.dumps(deployment)

    def size(parse: Any) -> float:
        warm = [parse() for _ in range(5)]  # interned strings exist before measuring
        tracemalloc.start()
        held = [parse() for _ in range(200)]
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del warm, held
        return current / 200

    plain = size(lambda: json.loads(raw))
    shared = size(lambda: compact(json.loads(raw)))
    assert shared < 0.6 * plain, (plain, shared)


# ------------------------------------------------------------------- queue
def test_reset_forgets_queued_scheduled_and_failing_keys() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        queue.add("a")
        queue.add("b")
        queue.add_after("c", 30)
        assert len(queue) == 2 and queue.is_queued("a")
        assert queue.reset() == 3
        assert len(queue) == 0 and not queue.is_queued("a")
        processed: list[str] = []

        async def worker(key: object) -> None:
            processed.append(str(key))

        queue.add("d")
        runner = asyncio.create_task(queue.run(worker, 1))
        await asyncio.wait_for(queue.wait_idle(), 5)
        runner.cancel()
        assert processed == ["d"], "only what was added after the reset runs"

    asyncio.run(scenario())


# ----------------------------------------------------------------- peering
def peer(identity: str, priority: int, seconds_left: float) -> Peer:
    return Peer(identity, priority, NOW + datetime.timedelta(seconds=seconds_left))


def test_the_highest_live_priority_acts() -> None:
    peers = [peer("me", 200, 10), peer("low", 100, 10)]
    decision = decide(peers, "me", 200, NOW)
    assert decision.eligible and decision.lower_alive


def test_a_live_higher_priority_peer_pauses_us_and_a_dead_one_does_not() -> None:
    assert not decide([peer("me", 100, 10), peer("hi", 200, 1)], "me", 100, NOW).eligible
    decision = decide([peer("me", 100, 10), peer("hi", 200, -1)], "me", 100, NOW)
    assert decision.eligible and not decision.lower_alive


def test_same_priority_pauses_both_as_kopf_does() -> None:
    decision = decide([peer("me", 100, 10), peer("twin", 100, 10)], "me", 100, NOW)
    assert not decision.eligible and "same priority" in decision.reason


def test_not_acting_before_our_own_keepalive_is_visible() -> None:
    assert not decide([peer("low", 1, 10)], "me", 100, NOW).eligible
    assert not decide([peer("me", 100, -1)], "me", 100, NOW).eligible


def test_parse_peers_reads_kopf_status_and_skips_garbage() -> None:
    status = {
        "a": {"priority": 5, "lifetime": 15, "lastseen": "2026-11-27T09:00:00.5+00:00"},
        "b": {"priority": "x", "lifetime": 15, "lastseen": "2026-11-27T09:00:00"},
        "c": "not a mapping",
        "d": {"priority": 1},
    }
    (a,) = parse_peers(status)
    assert a.identity == "a" and a.priority == 5
    assert a.deadline == datetime.datetime(2026, 11, 27, 9, 0, 15, 500000, tzinfo=datetime.UTC)
    assert parse_peers(None) == []


# ------------------------------------------------------------------ events
class _SlowEventClient:
    """Stands in for Client.create: counts requests in flight, releases on demand."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.posted = 0
        self.release = asyncio.Event()

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.release.wait()
        self.in_flight -= 1
        self.posted += 1
        return body


def test_events_are_posted_a_few_at_a_time_and_overflow_is_counted() -> None:
    async def scenario() -> tuple[_SlowEventClient, float]:
        api = _SlowEventClient()
        metrics = Metrics()
        recorder = EventRecorder(api, metrics=metrics)  # type: ignore[arg-type]
        target = {"apiVersion": "cdp.dev/v1alpha1", "kind": "Component"}
        for i in range(MAX_PENDING + SENDERS + 5):
            recorder.normal({**target, "metadata": {"name": f"c{i}", "namespace": "n"}}, "R", "m")
            await asyncio.sleep(0)  # let the senders take what they can
        assert api.in_flight == SENDERS, "never more than SENDERS requests in flight"
        api.release.set()
        for _ in range(200):
            if api.posted == MAX_PENDING + SENDERS:
                break
            await asyncio.sleep(0.01)
        dropped = metrics.registry.get_sample_value("cdp_events_dropped_total") or 0.0
        return api, dropped

    api, dropped = asyncio.run(scenario())
    assert api.most_in_flight == SENDERS
    assert api.posted == MAX_PENDING + SENDERS, "everything queued is posted once released"
    assert dropped == 5, "what did not fit is counted, not queued"
