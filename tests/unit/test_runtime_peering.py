"""The leader guard (runtime/peering.py): Kopf's peering rule, when the guard turns
active or stands by, and what the operator's workers do under it. Both
clocks are fakes: no sleeps."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from kubernetes.client import Configuration

from cdp_operator.apply.binding import Client
from cdp_operator.apply.reconciler import Reconciler
from cdp_operator.runtime.kind import Kind
from cdp_operator.runtime.peering import CLUSTER_PEERING, Peer, PeeringGuard, decide, parse_peers
from fakeapi import FakeApi

NOW = datetime.datetime(2026, 11, 27, 9, 0, 0, tzinfo=datetime.UTC)


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


class PeeringObject:
    """The ClusterKopfPeering object as the guard reads it (Client.get)."""

    def __init__(self) -> None:
        self.status: dict[str, Any] | None = {}
        self.error: Exception | None = None
        self.reads: list[tuple[Kind, str]] = []

    def announce(self, identity: str, priority: int, lastseen: datetime.datetime) -> None:
        assert self.status is not None
        self.status[identity] = {
            "priority": priority,
            "lifetime": 15,
            "lastseen": lastseen.isoformat(),
        }

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        self.reads.append((kind, name))
        if self.error:
            raise self.error
        return None if self.status is None else {"metadata": {"name": name}, "status": self.status}


class Clocks:
    def __init__(self) -> None:
        self.mono = 0.0
        self.wall = NOW

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += datetime.timedelta(seconds=seconds)


def guard_for(obj: PeeringObject, clocks: Clocks, priority: int = 100) -> PeeringGuard:
    return PeeringGuard(
        obj, "cdp", "me", priority, settle=4.0, clock=lambda: clocks.mono, now=lambda: clocks.wall
    )


def test_alone_the_guard_acts_at_once_and_reads_kopfs_object() -> None:
    async def scenario() -> None:
        obj, clocks = PeeringObject(), Clocks()
        obj.announce("me", 100, clocks.wall)
        guard = guard_for(obj, clocks)
        assert guard.standby.is_set() and not guard.active.is_set()
        await guard.poll_once()
        assert guard.active.is_set() and not guard.standby.is_set()
        assert obj.reads == [(CLUSTER_PEERING, "cdp")]

    asyncio.run(scenario())


def test_with_lower_peers_alive_the_guard_waits_the_settle_time_first() -> None:
    async def scenario() -> None:
        obj, clocks = PeeringObject(), Clocks()
        obj.announce("me", 200, clocks.wall)
        obj.announce("old-leader", 100, clocks.wall)
        guard = guard_for(obj, clocks, priority=200)
        await guard.poll_once()  # eligible from t=0
        assert not guard.active.is_set()
        clocks.advance(3.9)
        await guard.poll_once()
        assert not guard.active.is_set(), "the lower peer may not have stopped yet"
        clocks.advance(0.1)
        await guard.poll_once()
        assert guard.active.is_set()

    asyncio.run(scenario())


def test_a_higher_peer_appearing_stops_us_within_one_poll() -> None:
    async def scenario() -> None:
        obj, clocks = PeeringObject(), Clocks()
        obj.announce("me", 100, clocks.wall)
        guard = guard_for(obj, clocks)
        await guard.poll_once()
        assert guard.active.is_set()
        obj.announce("new", 200, clocks.wall)
        await guard.poll_once()
        assert guard.standby.is_set() and not guard.active.is_set()
        clocks.advance(16)  # its keep-alive lapses; ours is renewed
        obj.announce("me", 100, clocks.wall)
        await guard.poll_once()
        assert guard.active.is_set(), "a dead peer no longer outranks us"

    asyncio.run(scenario())


def test_an_unreadable_object_keeps_the_last_state_and_a_missing_one_stands_by() -> None:
    async def scenario() -> None:
        obj, clocks = PeeringObject(), Clocks()
        obj.announce("me", 100, clocks.wall)
        guard = guard_for(obj, clocks)
        await guard.poll_once()
        obj.error = ConnectionError("apiserver away")
        await guard.poll_once()
        assert guard.active.is_set(), "an outage of the API server is no reason to stop"
        obj.error, obj.status = None, None
        await guard.poll_once()
        assert guard.standby.is_set(), "no peering object: nobody may act"

    asyncio.run(scenario())


# ------------------------------------------- the workers under the guard
class Guard:
    """The two events of PeeringGuard that Reconciler.run waits on."""

    def __init__(self) -> None:
        self.active = asyncio.Event()
        self.standby = asyncio.Event()
        self.standby.set()

    def take_over(self) -> None:
        self.standby.clear()
        self.active.set()

    def stand_by(self) -> None:
        self.active.clear()
        self.standby.set()


def test_workers_run_only_while_active_and_take_over_with_everything_queued() -> None:

    async def settle() -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    async def scenario() -> None:
        reconciler = Reconciler(Client(Configuration(), api=FakeApi()))
        reconciler.expect_kinds([])
        processed: list[object] = []
        release = asyncio.Event()

        async def process(key: object) -> None:
            processed.append(key)
            await release.wait()

        reconciler.process = process  # type: ignore[method-assign]
        guard = Guard()
        runner = asyncio.create_task(reconciler.run(2, guard))  # type: ignore[arg-type]
        org: dict[str, Any] = {
            "kind": "Organization",
            "metadata": {"name": "acme", "resourceVersion": "1"},
        }
        reconciler.observe("ADDED", org)
        await settle()
        assert processed == [] and len(reconciler.queue) == 0, "standing by: nothing queued"
        assert reconciler.cache.get("Organization", None, "acme") is not None, "cache kept warm"

        guard.take_over()
        await settle()
        assert processed == [("org", "acme")], "on takeover every object is looked at again"

        guard.stand_by()
        await settle()
        assert len(reconciler.queue) == 0, "outranked: the queue is dropped"
        reconciler.observe(
            "MODIFIED", {**org, "metadata": {**org["metadata"], "resourceVersion": "2"}}
        )
        release.set()
        await settle()
        assert processed == [("org", "acme")], "no work while standing by"
        runner.cancel()

    asyncio.run(scenario())
