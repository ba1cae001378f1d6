"""Kubernetes Events on the custom resources, for meaningful transitions only."""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from typing import Any

from .client import Client

logger = logging.getLogger(__name__)

REPORTING_CONTROLLER = "cdp.dev/cdp-operator"


class EventRecorder:
    def __init__(self, client: Client, instance: str = "cdp-operator") -> None:
        self.client = client
        self.instance = instance
        self._tasks: set[asyncio.Task[None]] = set()

    def normal(self, obj: dict[str, Any], reason: str, message: str) -> None:
        self._emit(obj, "Normal", reason, message)

    def warning(self, obj: dict[str, Any], reason: str, message: str) -> None:
        self._emit(obj, "Warning", reason, message)

    def _emit(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        task = asyncio.get_running_loop().create_task(self._post(obj, type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
            "reportingController": REPORTING_CONTROLLER,
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
