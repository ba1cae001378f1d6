"""The operator's controller: one reconciler per kind on the generic runtime.

Work items are keys: ("org", name), ("component", namespace, name),
("dataplane", name) and ("stray", kind, namespace, name). Watch events only
update the cache and queue keys (intake.py); a worker recomputes the whole
desired state of its key from the cache, writes only what differs, prunes what
it created and no longer wants (writes.py), and patches status only when it
changed (status.py). With everything converged, a reconcile makes no API
request at all.

| key | reconciler |
|---|---|
| org | organization.py |
| component | component.py (workload_status.py, runs.py) |
| dataplane, stray | dataplane.py |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable, Iterable

from ..runtime.client import Client
from ..runtime.events import EventRecorder
from ..runtime.objects import Obj
from ..runtime.peering import PeeringGuard
from ..runtime.queue import Requeue
from . import kinds as K
from .component import ComponentReconciler
from .context import Shared
from .dataplane import DataPlaneReconciler, StrayReconciler
from .intake import Intake
from .kit import Kit
from .metrics import Metrics
from .organization import OrganizationReconciler
from .writes import ApplyRejected

__all__ = ["ApplyRejected", "Reconciler"]

logger = logging.getLogger(__name__)


class Reconciler:
    """Intake, the per-kind reconcilers and the workers, wired together."""

    def __init__(
        self,
        client: Client,
        *,
        scope: Iterable[str] | None = None,
        metrics: Metrics | None = None,
        events: EventRecorder | None = None,
    ) -> None:
        shared = self.shared = Shared.make(client, scope, metrics, events)
        self.client, self.cache, self.queue = shared.client, shared.cache, shared.queue
        self.pods, self.run_pods, self.metrics = shared.pods, shared.run_pods, shared.metrics
        kit = self.kit = Kit.make(shared)
        self.writer, self.status, self.spec_changes = kit.writer, kit.status, kit.spec_changes
        self.intake = Intake(shared, kit.spec_changes)
        self.orgs = OrganizationReconciler(kit)
        self.components = ComponentReconciler(kit)
        self.data_planes = DataPlaneReconciler(kit)
        self.strays = StrayReconciler(kit)
        self.metrics.queue_depth.set_function(lambda: len(self.queue))
        for kind in K.CHILD_KINDS:
            self.metrics.managed.labels(kind.kind).set_function(self._managed_counter(kind.kind))

    def _managed_counter(self, kind: str) -> Callable[[], int]:
        return lambda: self.cache.count_managed(kind)

    # ----------------------------------------------------------- the informers' sink
    @property
    def synced(self) -> asyncio.Event:
        return self.intake.synced

    def expect_kinds(self, kinds: Iterable[str]) -> None:
        self.intake.expect_kinds(kinds)

    def listed_page(self, kind: K.Kind, items: list[Obj], first: bool) -> None:
        self.intake.listed_page(kind, items, first)

    def listed(self, kind: K.Kind, items: list[Obj], resource_version: str) -> None:
        self.intake.listed(kind, items, resource_version)

    def event(self, kind: K.Kind, event_type: str, obj: Obj) -> None:
        self.intake.event(kind, event_type, obj)

    def observe(self, event_type: str | None, obj: Obj) -> None:
        self.intake.observe(event_type, obj)

    # ----------------------------------------------------------------- workers
    async def process(self, key: Hashable) -> Requeue | None:
        assert isinstance(key, tuple)
        kind = key[0]
        with self.metrics.reconcile(kind):
            if kind == "org":
                await self.orgs.reconcile(key[1])
            elif kind == "component":
                return await self.components.reconcile(key[1], key[2])
            elif kind == "dataplane":
                await self.data_planes.reconcile(key[1])
            elif kind == "stray":
                await self.strays.reconcile(key[1], key[2], key[3])
        return None

    async def run(self, concurrency: int = 8, guard: PeeringGuard | None = None) -> None:
        """Reconcile once every kind is listed; with a guard, only while it says active."""
        await self.synced.wait()
        if guard is None:
            await self.queue.run(self.process, concurrency)
            return
        while True:
            if not guard.active.is_set():
                self.shared.queueing = False
                self.queue.reset()
                await guard.active.wait()
            self.shared.queueing = True
            self.intake.enqueue_everything()
            await self._work_until_standby(concurrency, guard)
            self.shared.queueing = False
            dropped = self.queue.reset()
            logger.info("standing by: workers stopped, %d queued keys dropped", dropped)

    async def _work_until_standby(self, concurrency: int, guard: PeeringGuard) -> None:
        workers = asyncio.create_task(self.queue.run(self.process, concurrency))
        standby = asyncio.create_task(guard.standby.wait())
        done, _ = await asyncio.wait({workers, standby}, return_when=asyncio.FIRST_COMPLETED)
        for task in (workers, standby):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if workers in done:
            workers.result()  # only an error ends the workers: surface it

    # ------------------------------------- entry points the fast tests drive directly
    async def reconcile_org(self, name: str) -> None:
        await self.orgs.reconcile(name)

    async def reconcile_component(self, namespace: str, name: str) -> Requeue | None:
        return await self.components.reconcile(namespace, name)

    async def reconcile_data_plane(self, name: str) -> None:
        await self.data_planes.reconcile(name)
