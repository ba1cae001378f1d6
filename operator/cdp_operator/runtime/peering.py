"""High availability: act only while no live peer outranks us.

Replicas announce themselves through Kopf's peering protocol: Kopf's keep-alive
writes `status.<identity> = {priority, lifetime, lastseen}` into a
ClusterKopfPeering object. Kopf's own pause only stops Kopf's watchers; the
operator's informers and work queue are its own, so this guard reads the same
object and applies the same rule Kopf does (a live peer with a higher priority,
or with the same one, pauses us; a peer is dead once `lastseen + lifetime` has
passed). `kopf freeze` works on it too: it adds a high-priority peer.

Two replicas never act together: a replica pauses within one poll of seeing a
higher-priority peer, and a replica that becomes eligible while lower-priority
peers are alive waits `settle` seconds (several polls) before it starts, so
they have stopped by then. Standby replicas keep their informers running: on
takeover their cache is current and they only re-check every object.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .kind import Kind
from .objects import Obj

logger = logging.getLogger(__name__)

#: Kopf's peering object: the replicas' priorities and keep-alives.
CLUSTER_PEERING = Kind("ClusterKopfPeering", "kopf.dev", "v1", "clusterkopfpeerings", False)


class Reader(Protocol):
    async def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None: ...


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Peer:
    identity: str
    priority: int
    deadline: datetime.datetime


def parse_peers(status: Mapping[str, Any] | None) -> list[Peer]:
    peers = []
    for identity, info in (status or {}).items():
        if not isinstance(info, Mapping):
            continue
        try:
            priority = int(info.get("priority") or 0)
            lifetime = int(info.get("lifetime") or 60)
            lastseen = datetime.datetime.fromisoformat(str(info["lastseen"]))
        except (KeyError, TypeError, ValueError):
            continue
        if lastseen.tzinfo is None:
            lastseen = lastseen.replace(tzinfo=datetime.UTC)
        peers.append(Peer(identity, priority, lastseen + datetime.timedelta(seconds=lifetime)))
    return peers


@dataclass(frozen=True)
class Decision:
    eligible: bool
    reason: str
    lower_alive: bool  # live peers we outrank (they must notice us before we act)


def decide(peers: list[Peer], identity: str, priority: int, now: datetime.datetime) -> Decision:
    live = [p for p in peers if p.deadline > now]
    if not any(p.identity == identity for p in live):
        return Decision(False, "not announced in the peering object yet", False)
    others = [p for p in live if p.identity != identity]
    higher = sorted(p.identity for p in others if p.priority > priority)
    if higher:
        return Decision(False, f"outranked by {', '.join(higher)}", False)
    same = sorted(p.identity for p in others if p.priority == priority)
    if same:
        return Decision(False, f"same priority as {', '.join(same)} (Kopf pauses both)", False)
    return Decision(True, "highest priority", any(p.priority < priority for p in others))


class PeeringGuard:
    def __init__(
        self,
        client: Reader,
        name: str,
        identity: str,
        priority: int,
        *,
        poll: float = 1.0,
        settle: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = _utcnow,
    ) -> None:
        """`clock` measures the settle time; `now` is compared with the peers'
        keep-alives (wall-clock time, as Kopf writes them)."""
        self.client = client
        self.clock = clock
        self.now = now
        self.name = name
        self.identity = identity
        self.priority = priority
        self.poll = poll
        self.settle = settle
        self.active = asyncio.Event()
        self.standby = asyncio.Event()
        self.standby.set()
        self._eligible_since: float | None = None
        self._reason = ""

    async def run(self) -> None:
        while True:
            await self.poll_once()
            await asyncio.sleep(self.poll)

    async def poll_once(self) -> None:
        """Read the peering object once and become active or stand by."""
        try:
            decision = await self.check()
        except Exception as exc:  # the API server is away: keep the last state
            logger.warning("peering %s: cannot read (%s)", self.name, exc)
            return
        now = self.clock()
        if not decision.eligible:
            self._eligible_since = None
            self._set(False, decision.reason)
        elif self.active.is_set():
            pass
        elif not decision.lower_alive:
            self._set(True, decision.reason)
        else:
            if self._eligible_since is None:
                self._eligible_since = now
            if now - self._eligible_since >= self.settle:
                self._set(True, f"{decision.reason}; lower-priority peers had {self.settle}s")

    async def check(self) -> Decision:
        obj = await self.client.get(CLUSTER_PEERING, None, self.name)
        if obj is None:
            return Decision(False, f"ClusterKopfPeering {self.name!r} does not exist", False)
        now = self.now()
        return decide(parse_peers(obj.get("status")), self.identity, self.priority, now)

    def _set(self, active: bool, reason: str) -> None:
        if active == self.active.is_set():
            if not active and reason != self._reason:
                logger.info("standing by: %s", reason)
                self._reason = reason
            return
        self._reason = reason
        if active:
            logger.info("peering %s: active (%s)", self.name, reason)
            self.standby.clear()
            self.active.set()
        else:
            logger.info("peering %s: standing by (%s)", self.name, reason)
            self.active.clear()
            self.standby.set()
