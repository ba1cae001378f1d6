"""Event intake: watch events and lists into the cache, and the keys they
affect into the work queue. Keys: ("org", name), ("component", namespace,
name), ("dataplane", name) and ("stray", kind, namespace, name)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Hashable, Iterable

from ..models import labels as L
from ..models import naming
from ..render.billing import all_paid
from ..render.gitops import REFERENCE_GRACE, spec_age
from ..render.prune import controlling_org
from ..runtime.objects import Key, Obj, key_of
from . import kinds as K
from .binding import FIELD_MANAGER
from .context import Shared

logger = logging.getLogger(__name__)


#: Kinds whose missing references get a grace (render/gitops.py AWAITED_REASONS).
SPEC_TIMED_KINDS = frozenset({"Component", "Organization", "Project", "Environment"})


class SpecChanges:
    """When each resource's spec changed (its generation moved) while watched:
    the start of the grace for a Project or Environment on its way. The cache
    keeps no managedFields times, so this is the only record of an update's time."""

    def __init__(self) -> None:
        #: Key -> (generation, wall-clock time) of a spec change seen live.
        self.changed: dict[Key, tuple[int, float]] = {}

    def note(self, event_type: str, obj: Obj, before: Obj | None) -> None:
        key = key_of(obj)
        if event_type == "DELETED":
            self.changed.pop(key, None)
            return
        generation = int(obj["metadata"].get("generation") or 0)
        if before is not None and int(before["metadata"].get("generation") or 0) != generation:
            self.changed[key] = (generation, time.time())

    def age(self, obj: Obj) -> float | None:
        """Seconds since the resource's spec last changed, if known: from the update
        this operator saw, or from its creation while it has never changed; None for
        a change made before this operator watched (no grace: it is not on its way)."""
        generation = int(obj["metadata"].get("generation") or 0)
        seen = self.changed.get(key_of(obj))
        if seen is not None and seen[0] == generation:
            age = time.time() - seen[1]
            if age >= REFERENCE_GRACE:
                del self.changed[key_of(obj)]  # the grace is over: forget it
            return age
        if generation <= 1:
            return spec_age(obj, datetime.datetime.now(datetime.UTC), own_manager=FIELD_MANAGER)
        return None


class Intake:
    def __init__(self, shared: Shared, spec_changes: SpecChanges) -> None:
        self.shared = shared
        self.cache = shared.cache
        self.spec_changes = spec_changes
        self.pod_indexes = {K.POD.kind: shared.pods, K.RUN_POD.kind: shared.run_pods}
        self.synced = asyncio.Event()
        self._unlisted: set[str] = set()
        self._expected = 0
        #: kind -> (pod objects, keys of other objects) of the list being paged in
        self._pages: dict[str, tuple[list[Obj], set[Key]]] = {}

    def expect_kinds(self, kinds: Iterable[str]) -> None:
        """The kinds that must be listed before the first reconcile (wait-for-sync)."""
        self._unlisted = set(kinds)
        self._expected = len(self._unlisted)
        if not self._unlisted:
            self.synced.set()

    def listed_page(self, kind: K.Kind, items: list[Obj], first: bool) -> None:
        """A page of a list (the informer's paged delivery): objects go to the
        cache at once; `listed` ends the list. Pods are summarised per page too
        but replace the index only as a whole list."""
        if first:
            self._pages[kind.kind] = ([], set())
        pods, keys = self._pages.setdefault(kind.kind, ([], set()))
        if kind.kind in self.pod_indexes:
            pods.extend(items)  # transformed by their informer: small summaries' input
            return
        for obj in items:
            keys.add(key_of(obj))
            self.observe(None, obj)

    def listed(self, kind: K.Kind, items: list[Obj], resource_version: str) -> None:
        """A complete list of a kind (or the end of its pages): the first one fills
        the cache; a later one (after a watch could not resume) also tells what
        was deleted meanwhile."""
        self.shared.metrics.lists.labels(kind.kind).inc()
        pages, keys = self._pages.pop(kind.kind, ([], set()))
        if (index := self.pod_indexes.get(kind.kind)) is not None:
            self.enqueue(index.replace_all([*pages, *items]))
            self._mark_listed(kind)
            return
        for obj in items:
            keys.add(key_of(obj))
            self.observe(None, obj)
        for gone in self.cache.missing_from(kind.kind, keys, resource_version):
            where = "/".join(part for part in key_of(gone)[1:] if part)
            logger.info("%s %s was deleted while unwatched", kind.kind, where)
            self.observe("DELETED", gone)
        self._mark_listed(kind)

    def _mark_listed(self, kind: K.Kind) -> None:
        self._unlisted.discard(kind.kind)
        if not self._unlisted and not self.synced.is_set():
            logger.info("cache synced: %d kinds listed", self._expected)
            self.synced.set()

    def event(self, kind: K.Kind, event_type: str, obj: Obj) -> None:
        self.shared.metrics.watch_events.labels(kind.kind, event_type).inc()
        if (index := self.pod_indexes.get(kind.kind)) is not None:
            key = index.update(event_type, obj)
            self.enqueue(() if key is None else (key,))
            return
        if kind.kind in SPEC_TIMED_KINDS:
            meta = obj["metadata"]
            before = self.cache.get(kind.kind, meta.get("namespace"), meta.get("name", ""))
            self.spec_changes.note(event_type, obj, before)
        self.observe(event_type, obj)

    def enqueue(self, keys: Iterable[Hashable]) -> None:
        if self.shared.queueing:  # standing by: the work waits for takeover
            for key in keys:
                self.shared.queue.add(key)

    def observe(self, event_type: str | None, obj: Obj) -> None:
        """Feed one watch event into the cache and queue the keys it affects."""
        if not obj.get("metadata") or not obj.get("kind"):
            return
        if event_type == "DELETED":
            self.cache.remove(obj)
        elif not self.cache.upsert(obj):
            return
        if self.shared.queueing:  # standing by: the cache stays current, the work waits
            self.enqueue(self.keys_for(event_type, obj))

    def keys_for(self, event_type: str | None, obj: Obj) -> list[Hashable]:
        """The keys whose reconcile an event of obj may change."""
        kind = obj["kind"]
        meta = obj["metadata"]
        name, namespace = meta["name"], meta.get("namespace") or ""
        if kind == "Organization":
            return [("org", name)]
        if kind == "DataPlane":
            orgs = [("org", o["metadata"]["name"]) for o in self.cache.all("Organization")]
            return [("dataplane", name), *orgs]
        if kind in ("Environment", "Project"):
            org = self.shared.org_of_namespace(namespace)
            return [("org", org)] if org else [("stray", kind, namespace, name)]
        if kind == "Component":
            return self._component_keys(event_type, namespace, name)
        if kind == "Namespace":
            return self._namespace_keys(obj)
        labels = meta.get("labels") or {}
        if not L.is_managed(meta) or L.ORGANIZATION not in labels:
            return []
        org = labels[L.ORGANIZATION]
        if L.COMPONENT in labels:
            return [("component", naming.organization_namespace_name(org), labels[L.COMPONENT])]
        return [("org", org)]

    def _component_keys(self, event_type: str | None, namespace: str, name: str) -> list[Hashable]:
        keys: list[Hashable] = [("component", namespace, name)]
        org = self.shared.org_of_namespace(namespace)
        if org and event_type in (None, "ADDED", "DELETED"):
            plan = self.shared.plans.get(org)
            if plan and not all_paid(plan.tier):
                # Admission and free slots are by age: one more or one fewer
                # changes who fits and who is free.
                keys += [
                    ("component", namespace, c["metadata"]["name"])
                    for c in self.cache.in_namespace("Component", namespace)
                ]
            # The Organization counts free and paid components, lists held ones.
            keys.append(("org", org))
        return keys

    def _namespace_keys(self, ns: Obj) -> list[Hashable]:
        """Whoever wants it, owns it or is named in its labels: any of them may
        have to repair, conflict-report or prune it."""
        meta = ns["metadata"]
        named = {self.shared.wanted_namespaces.get(meta["name"]), controlling_org(ns)}
        if L.is_managed(meta):
            named.add((meta.get("labels") or {}).get(L.ORGANIZATION))
        return [("org", o) for o in sorted(o for o in named if o)]

    def enqueue_everything(self) -> None:
        """After a pause nothing queued is trusted: look at every object again."""
        queue = self.shared.queue
        for dp in self.cache.all("DataPlane"):
            queue.add(("dataplane", dp["metadata"]["name"]))
        for org in self.cache.all("Organization"):
            queue.add(("org", org["metadata"]["name"]))
        for kind in ("Project", "Environment"):
            for obj in self.cache.all(kind):
                for key in self.keys_for(None, obj):
                    queue.add(key)
        for comp in self.cache.all("Component"):
            queue.add(
                ("component", comp["metadata"].get("namespace") or "", comp["metadata"]["name"])
            )
