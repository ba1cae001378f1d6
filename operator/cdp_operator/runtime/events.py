"""Kubernetes Events (events.k8s.io/v1), posted in the background, best effort.

The recorder does not aggregate: callers emit an Event for a transition only
(the reconciler: a change of Ready reason), so there are no repeats to fold
into a series; what it bounds is how many wait and how many are in flight.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from typing import Any, Protocol

from .objects import Obj

logger = logging.getLogger(__name__)


class Poster(Protocol):
    async def create(self, path: str, body: Obj) -> Obj | None: ...


class Counter(Protocol):
    def inc(self) -> None: ...


#: Events waiting to be posted; beyond this the newest are dropped (and counted).
MAX_PENDING = 1000
#: Events in flight at once: they are for people, and must not take the API
#: capacity that reconciles need (a thousand Components turning Ready at once
#: would otherwise queue a thousand requests ahead of the next writes).
SENDERS = 2


class EventRecorder:
    """Posts Events in the background, a few at a time, like client-go's broadcaster."""

    def __init__(
        self, client: Poster, *, controller: str, instance: str, dropped: Counter | None = None
    ) -> None:
        """`controller` and `instance`: the Event's reportingController and
        reportingInstance; `dropped` counts Events dropped because too many waited."""
        self.client = client
        self.controller = controller
        self.instance = instance
        self.dropped = dropped
        self._pending: asyncio.Queue[tuple[dict[str, Any], str, str, str]] | None = None
        self._senders: list[asyncio.Task[None]] = []

    def normal(self, obj: dict[str, Any], reason: str, message: str) -> None:
        self._emit(obj, "Normal", reason, message)

    def warning(self, obj: dict[str, Any], reason: str, message: str) -> None:
        self._emit(obj, "Warning", reason, message)

    def _emit(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if self._pending is None:
            self._pending = asyncio.Queue(MAX_PENDING)
            loop = asyncio.get_running_loop()
            self._senders = [loop.create_task(self._send()) for _ in range(SENDERS)]
        try:
            self._pending.put_nowait((obj, type_, reason, message))
        except asyncio.QueueFull:
            if self.dropped:
                self.dropped.inc()
            logger.debug(
                "event %s for %s dropped: %d pending", reason, obj["metadata"]["name"], MAX_PENDING
            )

    async def _send(self) -> None:
        assert self._pending is not None
        while True:
            item = await self._pending.get()
            try:
                await self._post(*item)
            finally:
                self._pending.task_done()

    async def _post(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
            "eventTime": now,
            "type": type_,
            "reason": reason,
            "note": message[:1024],
            "action": "Reconcile",
            "reportingController": self.controller,
            "reportingInstance": self.instance,
            "regarding": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
        }
        try:
            await self.client.create(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events", body)
        except Exception as exc:  # events are best effort; never fail a reconcile for one
            logger.debug("event %s for %s not posted: %s", reason, meta["name"], exc)
