"""Status writes: a verdict patched only when it changes the status (what it
says is render/status.py's), specs parsed or reported InvalidSpec."""

from __future__ import annotations

import datetime
import time
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..render.billing import resource_of
from ..render.status import events_for, invalid_spec, only_progress, status_of
from ..render.verdict import Resource, Verdict
from ..runtime.diff import is_subset
from ..runtime.objects import Key, Obj, key_of
from ..runtime.queue import Requeue
from . import kinds as K
from .context import Shared

S = TypeVar("S", bound=BaseModel)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusWriter:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        #: when each object's status was last written (monotonic), for coalescing
        self._written: dict[Key, float] = {}

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)

    async def parse(self, obj: Obj, model: type[S]) -> Resource[S] | None:
        """The object with its spec validated, or None after reporting InvalidSpec.

        Admission enforces the same rules; this catches objects stored before a
        rule existed, or written around the CRD schema.
        """
        try:
            return resource_of(obj, model.model_validate(obj.get("spec") or {}))
        except ValidationError as exc:
            await self.write(obj, invalid_spec(exc))
            return None

    async def write(self, obj: Obj, verdict: Verdict, *, coalesce: float = 0.0) -> Requeue | None:
        """Patch obj's status to the verdict, if that changes it.

        With `coalesce`, a rollout's progress (the same not-ready reason at the
        same generation, with other counts) is written at most once per that
        many seconds: the seconds to wait are returned instead, to requeue.
        Every change of reason, readiness or generation is written at once.
        """
        meta = obj["metadata"]
        generation = int(meta.get("generation") or 0)
        current = obj.get("status") or {}
        status = status_of(current, verdict, generation, _now())
        if is_subset(status, current):
            return None
        key = key_of(obj)
        if coalesce and only_progress(current, verdict, generation):
            wait = self._written.get(key, 0.0) + coalesce - time.monotonic()
            if wait > 0:
                return Requeue(wait, "rollout progress is written at most every few seconds")
        kind = K.kind_of(obj)
        client, metrics = self.shared.client, self.shared.metrics
        result = await client.patch_status(kind, meta.get("namespace"), meta["name"], status)
        if coalesce:
            self._written[key] = time.monotonic()
        metrics.write(kind.kind, "status")
        if verdict.reason.endswith("LimitExceeded") or verdict.reason == "DataPlaneNotAllowed":
            metrics.limits.labels(verdict.reason).inc()
        if result is not None:
            result.setdefault("kind", obj["kind"])
            self.shared.cache.upsert(result)
        if self.shared.events:
            for event in events_for(current, verdict):
                post = self.shared.events.warning if event.warning else self.shared.events.normal
                post(obj, event.reason, event.message)
        return None
