"""The level-based reconciler: cache in, plan, minimal writes out.

Work items are keys: ("org", name), ("component", namespace, name) and
("dataplane", name). Watch events only update the cache and queue keys; a
worker recomputes the whole desired state of its key from the cache, writes
only what differs, prunes what it created and no longer wants, and patches
status only when it changed. With everything converged, a reconcile makes no
API request at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import replace
from typing import Any, NamedTuple, TypeVar

from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ValidationError

from ..models import labels as L
from ..models import naming
from ..models.resources import (
    ComponentSpec,
    DataPlaneSpec,
    EnvironmentSpec,
    OrganizationSpec,
    ProjectSpec,
)
from ..models.status import OPTIONAL_CONDITIONS, Condition, set_condition
from ..models.tiers import Billing, Tier, limits_for
from ..render import workloads as render_workloads
from ..render.addresses import endpoint_addresses
from ..render.context import Runtime
from ..render.plan import (
    AWAITED_REASONS,
    HELD_NOTE,
    REFERENCE_GRACE,
    ComponentPlan,
    Held,
    OrgPlan,
    Resource,
    Verdict,
    awaiting_reference,
    component_billing,
    not_served_verdict,
    plan_component,
    plan_organization,
    run_environments,
    served_in_cluster,
    spec_age,
)
from ..render.pod_health import REASONS as POD_PROBLEMS
from ..render.pod_health import diagnose
from ..runtime.client import AlreadyExists, Client, api_status
from ..runtime.diff import is_subset
from ..runtime.events import EventRecorder
from ..runtime.objects import Obj, key_of
from ..runtime.peering import PeeringGuard
from ..runtime.queue import Requeue, WorkQueue
from . import kinds as K
from .binding import FIELD_MANAGER, Cache, created_not_applied
from .metrics import Metrics
from .pods import PodIndex

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=BaseModel)

#: Component verdicts that a pending organization reconcile may change.
_STALE_PLAN_REASONS = frozenset({"ProjectNotFound", "ProjectNotReady", "EnvironmentNotFound"})

#: Seconds between status writes that only report a rollout's progress.
PROGRESS_INTERVAL = 5.0

# Why a Component is looked at again later, and when. Short waits are for state
# that another reconcile is producing now; long ones for what no watch reports.
NO_PLAN_YET = Requeue(1.0, "its organization's plan is not made yet (queued)")
PLAN_CATCHING_UP = Requeue(
    0.5, "the organization's plan predates a Project or Environment the cache holds"
)
NAMESPACES_UNDERWAY = Requeue(0.5, "the organization reconcile is creating its namespaces")
REJECTED_RETRY = Requeue(
    60.0, "the API server refused a rendered object; a spec change queues it sooner"
)
CONFLICT_RECHECK = Requeue(30.0, "objects not ours hold our names, and they are not watched")

#: Managed kinds the org-level reconcile owns (everything else belongs to components).
_ORG_LEVEL_KINDS = {"Namespace", "NetworkPolicy", "Environment"}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: Obj) -> dict[str, Any]:
    meta: dict[str, Any] = obj.get("metadata") or {}
    return meta


#: Reasons that mean "not admitted under the tier's limits".
_LIMIT_REASONS = {"ComponentLimitExceeded", "EnvironmentLimitExceeded"}


def _held_slot(obj: Obj) -> bool:
    """For the age order of limits: a Component holds a free slot (status.billing), an
    Environment an admitted one (its Ready reason is not a limit)."""
    billing = (obj.get("status") or {}).get("billing")
    if billing is not None:
        return bool(billing == Billing.FREE)
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("reason") not in _LIMIT_REASONS
    return False


def _resource(obj: Obj, spec: Any) -> Resource[Any]:
    meta = _meta(obj)
    return Resource(
        held_slot=_held_slot(obj),
        name=meta["name"],
        namespace=meta.get("namespace") or "",
        uid=meta.get("uid") or "",
        generation=int(meta.get("generation") or 0),
        created=meta.get("creationTimestamp") or "",
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        spec=spec,
    )


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"spec.{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


class Reconciler:
    def __init__(
        self,
        client: Client,
        *,
        scope: Iterable[str] | None = None,
        metrics: Metrics | None = None,
        events: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.cache = Cache()
        #: Summaries of the pods of our Deployments and of manual runs (kept out of
        #: the cache: small), each fed by its own informer.
        self.pods = PodIndex()
        self.run_pods = PodIndex()
        self._pod_indexes = {K.POD.kind: self.pods, K.RUN_POD.kind: self.run_pods}
        #: Component key -> (generation, wall-clock time) of a spec change seen live.
        self._spec_changed: dict[Hashable, tuple[int, float]] = {}
        self.queue = WorkQueue()
        self.scope = None if scope is None else frozenset(scope)
        self.metrics = metrics or Metrics()
        self.events = events
        self._plans: dict[str, OrgPlan] = {}
        self._plan_fingerprints: dict[str, str] = {}
        #: namespace name -> organization that wants it (from the latest plans)
        self._wanted_namespaces: dict[str, str] = {}
        #: when each Component's status was last written (monotonic), for coalescing
        self._status_written: dict[tuple[str, str, str], float] = {}
        #: (kind, namespace, name) -> (kind, reason) of every resource held back
        #: (cdp_held_resources); org -> the Project and Environment keys it holds
        self._held: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._held_by_org: dict[str, set[tuple[str, str, str]]] = {}
        self.synced = asyncio.Event()
        self._unlisted: set[str] = set()
        self._expected = 0
        self._queueing = True
        self.metrics.queue_depth.set_function(lambda: len(self.queue))
        for kind in K.CHILD_KINDS:
            self.metrics.managed.labels(kind.kind).set_function(self._managed_counter(kind.kind))

    def _managed_counter(self, kind: str) -> Callable[[], int]:
        return lambda: self.cache.count_managed(kind)

    # ------------------------------------------------------------ event intake
    def expect_kinds(self, kinds: Iterable[str]) -> None:
        """The kinds that must be listed before the first reconcile (wait-for-sync)."""
        self._unlisted = set(kinds)
        self._expected = len(self._unlisted)
        if not self._unlisted:
            self.synced.set()

    def listed(self, kind: K.Kind, items: list[Obj], resource_version: str) -> None:
        """A complete list of a kind: the first one fills the cache; a later one
        (after a watch could not resume) also tells what was deleted meanwhile."""
        self.metrics.lists.labels(kind.kind).inc()
        if (index := self._pod_indexes.get(kind.kind)) is not None:
            self._enqueue(index.replace_all(items))
            self._mark_listed(kind)
            return
        keys = set()
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
        if (index := self._pod_indexes.get(kind.kind)) is not None:
            key = index.update(event_type, obj)
            self._enqueue(() if key is None else (key,))
            return
        if kind.kind == "Component":
            self._note_spec_change(event_type, obj)
        self.observe(event_type, obj)

    def _note_spec_change(self, event_type: str, obj: Obj) -> None:
        """When a Component's spec changed (its generation moved) while watched: the
        start of the grace for a Project or Environment on its way. The cache keeps
        no managedFields times, so this is the only record of an update's time."""
        key = key_of(obj)
        if event_type == "DELETED":
            self._spec_changed.pop(key, None)
            return
        meta = _meta(obj)
        before = self.cache.get("Component", meta.get("namespace"), meta.get("name", ""))
        generation = int(meta.get("generation") or 0)
        if before is not None and int(_meta(before).get("generation") or 0) != generation:
            self._spec_changed[key] = (generation, time.time())

    def _spec_age(self, obj: Obj) -> float | None:
        """Seconds since the Component's spec last changed, if known: from the update
        this operator saw, or from its creation while it has never changed; None for
        a change made before this operator watched (no grace: it is not on its way)."""
        meta = _meta(obj)
        generation = int(meta.get("generation") or 0)
        seen = self._spec_changed.get(key_of(obj))
        if seen is not None and seen[0] == generation:
            age = time.time() - seen[1]
            if age >= REFERENCE_GRACE:
                del self._spec_changed[key_of(obj)]  # the grace is over: forget it
            return age
        if generation <= 1:
            return spec_age(obj, datetime.datetime.now(datetime.UTC), own_manager=FIELD_MANAGER)
        return None

    def _enqueue(self, keys: Iterable[Hashable]) -> None:
        if self._queueing:  # standing by: the work waits for takeover
            for key in keys:
                self.queue.add(key)

    def observe(self, event_type: str | None, obj: Obj) -> None:
        """Feed one watch event into the cache and queue the keys it affects."""
        if not obj.get("metadata") or not obj.get("kind"):
            return
        if event_type == "DELETED":
            self.cache.remove(obj)
        elif not self.cache.upsert(obj):
            return
        if not self._queueing:
            return  # standing by: the cache stays current, the work waits for takeover
        for key in self._keys_for(event_type, obj):
            self.queue.add(key)

    def _org_of_namespace(self, namespace: str) -> str | None:
        for org in self.cache.all("Organization"):
            if naming.organization_namespace_name(_meta(org)["name"]) == namespace:
                return str(_meta(org)["name"])
        return None

    def _keys_for(self, event_type: str | None, obj: Obj) -> list[Hashable]:
        kind = obj["kind"]
        meta = _meta(obj)
        name = meta["name"]
        namespace = meta.get("namespace") or ""
        labels = meta.get("labels") or {}
        managed = labels.get(L.MANAGED_BY) == L.MANAGED_BY_VALUE
        if kind == "Organization":
            return [("org", name)]
        if kind == "DataPlane":
            orgs = [("org", _meta(o)["name"]) for o in self.cache.all("Organization")]
            return [("dataplane", name), *orgs]
        if kind in ("Environment", "Project"):
            org = self._org_of_namespace(namespace)
            return [("org", org)] if org else [("stray", kind, namespace, name)]
        if kind == "Component":
            keys: list[Hashable] = [("component", namespace, name)]
            org = self._org_of_namespace(namespace)
            if org and event_type in (None, "ADDED", "DELETED"):
                plan = self._plans.get(org)
                if plan and not _all_paid(plan.tier):
                    # Admission and free slots are by age: one more or one fewer
                    # changes who fits and who is free.
                    keys += [
                        ("component", namespace, _meta(c)["name"])
                        for c in self.cache.in_namespace("Component", namespace)
                    ]
                # The Organization counts free and paid components, lists held ones.
                keys.append(("org", org))
            return keys
        if kind == "Namespace":
            # Whoever wants it, owns it or is named in its labels: any of them may
            # have to repair, conflict-report or prune it.
            named = {self._wanted_namespaces.get(name), _controlling_org(obj)}
            if managed:
                named.add(labels.get(L.ORGANIZATION))
            return [("org", o) for o in sorted(o for o in named if o)]
        if not managed or L.ORGANIZATION not in labels:
            return []
        org = labels[L.ORGANIZATION]
        if L.COMPONENT in labels:
            return [("component", naming.organization_namespace_name(org), labels[L.COMPONENT])]
        return [("org", org)]

    # ----------------------------------------------------------------- workers
    async def process(self, key: Hashable) -> Requeue | None:
        assert isinstance(key, tuple)
        kind = key[0]
        with self.metrics.reconcile(kind):
            if kind == "org":
                await self.reconcile_org(key[1])
                return None
            if kind == "component":
                return await self.reconcile_component(key[1], key[2])
            if kind == "dataplane":
                await self.reconcile_data_plane(key[1])
            if kind == "stray":
                await self.reconcile_stray(key[1], key[2], key[3])
        return None

    async def reconcile_stray(self, kind: str, namespace: str, name: str) -> None:
        """A Project or Environment outside any organization namespace: say so."""
        obj = self.cache.get(kind, namespace, name)
        if obj is None or self._org_of_namespace(namespace) is not None:
            return
        ns_obj = self.cache.get("Namespace", None, namespace)
        if ns_obj is None or _meta(ns_obj).get("deletionTimestamp") or L.is_managed(_meta(ns_obj)):
            return  # an organization namespace being deleted
        await self._write_verdict(obj, _not_in_org_namespace(namespace))

    async def run(self, concurrency: int = 8, guard: PeeringGuard | None = None) -> None:
        """Reconcile once every kind is listed; with a guard, only while it says active."""
        await self.synced.wait()
        if guard is None:
            await self.queue.run(self.process, concurrency)
            return
        while True:
            if not guard.active.is_set():
                self._queueing = False
                self.queue.reset()
                await guard.active.wait()
            self._queueing = True
            self._enqueue_everything()
            workers = asyncio.create_task(self.queue.run(self.process, concurrency))
            standby = asyncio.create_task(guard.standby.wait())
            done, _ = await asyncio.wait({workers, standby}, return_when=asyncio.FIRST_COMPLETED)
            for task in (workers, standby):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if workers in done:
                workers.result()  # only an error ends the workers: surface it
            self._queueing = False
            dropped = self.queue.reset()
            logger.info("standing by: workers stopped, %d queued keys dropped", dropped)

    def _enqueue_everything(self) -> None:
        """After a pause nothing queued is trusted: look at every object again."""
        for dp in self.cache.all("DataPlane"):
            self.queue.add(("dataplane", _meta(dp)["name"]))
        for org in self.cache.all("Organization"):
            self.queue.add(("org", _meta(org)["name"]))
        for kind in ("Project", "Environment"):
            for obj in self.cache.all(kind):
                for key in self._keys_for(None, obj):
                    self.queue.add(key)
        for comp in self.cache.all("Component"):
            self.queue.add(("component", _meta(comp).get("namespace") or "", _meta(comp)["name"]))

    async def _parse(self, obj: Obj, model: type[S]) -> Resource[S] | None:
        """The object with its spec validated, or None after reporting InvalidSpec.

        Admission enforces the same rules; this catches objects stored before a
        rule existed, or written around the CRD schema.
        """
        try:
            return _resource(obj, model.model_validate(obj.get("spec") or {}))
        except ValidationError as exc:
            await self._write_verdict(
                obj, Verdict(False, "InvalidSpec", _validation_message(exc), stalled=True)
            )
            return None

    # ------------------------------------------------------------ data planes
    def _data_planes(self) -> dict[str, DataPlaneSpec]:
        result = {}
        for obj in self.cache.all("DataPlane"):
            try:
                result[_meta(obj)["name"]] = DataPlaneSpec.model_validate(obj.get("spec") or {})
            except ValidationError:
                continue
        return result

    async def reconcile_data_plane(self, name: str) -> None:
        obj = self.cache.get("DataPlane", None, name)
        if obj is None:
            return
        served = self.scope is None or name in self.scope
        if not served and served_in_cluster(obj):
            return  # another operator of this cluster serves it
        data_plane = await self._parse(obj, DataPlaneSpec)
        if data_plane is None:
            return
        if not served:
            await self._write_verdict(obj, not_served_verdict(None, name))
            return
        spec = data_plane.spec
        # No counts in the message: they would rewrite every DataPlane's status
        # whenever any organization comes or goes.
        await self._write_verdict(obj, Verdict(True, "Available", f"region {spec.region}"))

    # ---------------------------------------------------------- organizations
    async def reconcile_org(self, name: str) -> None:
        org_obj = self.cache.get("Organization", None, name)
        if org_obj is None:
            await self._prune_deleted_org(name)
            return None
        org = await self._parse(org_obj, OrganizationSpec)
        if org is None:
            return None
        org_ns = naming.organization_namespace_name(name)

        environments = [
            r
            for o in self.cache.in_namespace("Environment", org_ns)
            if (r := await self._parse(o, EnvironmentSpec)) is not None
        ]
        projects = [
            proj
            for o in self.cache.in_namespace("Project", org_ns)
            if (proj := await self._parse(o, ProjectSpec)) is not None
        ]

        plan = plan_organization(
            org,
            self._data_planes(),
            environments,
            projects,
            foreign_namespaces=self._foreign_namespaces(name, org.uid),
            scope=self.scope,
            materialised=self._runtime_namespaces(name),
            present=[
                (kind, _meta(o)["name"])
                for kind in ("Project", "Environment")
                for o in self.cache.in_namespace(kind, org_ns)
            ],
            held_components=(billing := self._billing_of_org(name, org)).held,
        )
        verdict = plan.verdicts[("Organization", "", name)]
        plan.verdicts[("Organization", "", name)] = replace(
            verdict,
            extra={**verdict.extra, "freeComponents": billing.free, "paidComponents": billing.paid},
        )
        self.metrics.paid.labels(name).set(billing.paid)
        self._own_namespaces(plan, org)
        self._plans[name] = plan
        for ns in [
            plan.namespace,
            *(rt.namespace for rt in plan.runtimes.values()),
            *plan.held_namespaces,
        ]:
            self._wanted_namespaces[ns] = name
        self._count_held_of_org(name, plan)

        # Namespaces first: everything else lives inside them.
        namespaces = [o for o in plan.desired if o["kind"] == "Namespace"]
        others = [o for o in plan.desired if o["kind"] != "Namespace"]
        await self._ensure_all(namespaces)
        await self._ensure_all(others)
        if not plan.blocked:
            await self._prune(
                self._org_level_children(name),
                plan.desired,
                owner=("Organization", None, name),
                keep=plan.keeps,
            )

        # Statuses (only of what this instance serves), written concurrently.
        writes = []
        for (kind, ns, obj_name), verdict in plan.verdicts.items():
            target = self.cache.get(kind, ns or None, obj_name)
            if target is None:
                continue
            dp = self._unserved_data_plane(plan, kind, obj_name, target)
            if dp is not None:
                if self._served_elsewhere(dp):
                    continue  # another operator of this cluster writes it
                verdict = not_served_verdict(verdict, dp)
            writes.append(self._write_verdict(target, verdict))
        await asyncio.gather(*writes)

        fingerprint = _plan_fingerprint(plan) + repr(
            sorted(dp for dp in plan.projects.values() if self._served_elsewhere(dp))
        )
        if self._plan_fingerprints.get(name) != fingerprint:
            self._plan_fingerprints[name] = fingerprint
            for comp in self.cache.in_namespace("Component", org_ns):
                self.queue.add(("component", org_ns, _meta(comp)["name"]))
        return None

    def _runtime_namespaces(self, org: str) -> dict[str, tuple[str, str]]:
        """This organization's runtime namespaces that exist: name -> (project, environment)."""
        result = {}
        for ns in self.cache.owned_by(org):
            labels = _meta(ns).get("labels") or {}
            if ns["kind"] == "Namespace" and L.PROJECT in labels and L.ENVIRONMENT in labels:
                result[_meta(ns)["name"]] = (labels[L.PROJECT], labels[L.ENVIRONMENT])
        return result

    def _component_billing(
        self, namespace: str, tier: Tier, allow_paid: bool
    ) -> dict[str, Billing | None]:
        """Every component's billing class (None: over the limit)."""
        components = self.cache.in_namespace("Component", namespace)
        if _all_paid(tier):
            return {_meta(c)["name"]: Billing.PAID for c in components}
        return component_billing(tier, allow_paid, [_resource(c, None) for c in components])

    def _billing_of_org(self, org: str, resource: Resource[OrganizationSpec]) -> _OrgBilling:
        """Free and paid counts, and the components over the limit that still run
        (held: they have objects, and count as paid while they run)."""
        spec = resource.spec
        billing = self._component_billing(
            naming.organization_namespace_name(org), spec.tier, spec.allow_paid_components
        )
        held = [
            Held("Component", name, "ComponentLimitExceeded")
            for name, cls in billing.items()
            if cls is None and self.cache.owned_by(org, name)
        ]
        classes = list(billing.values())
        return _OrgBilling(
            free=classes.count(Billing.FREE),
            paid=classes.count(Billing.PAID) + len(held),
            held=sorted(held),
        )

    def _count_held_of_org(self, org: str, plan: OrgPlan) -> None:
        """cdp_held_resources for the Projects and Environments of one organization
        (Components are counted by their own reconcile)."""
        keys = set()
        for held in plan.held:
            if held.kind != "Component":
                key = (held.kind, plan.namespace, held.name)
                keys.add(key)
                self._set_held(key, held.reason)
        for gone in self._held_by_org.get(org, set()) - keys:
            self._set_held(gone, None)
        self._held_by_org[org] = keys

    def _set_held(self, key: tuple[str, str, str], reason: str | None) -> None:
        before = self._held.pop(key, None)
        if before is not None:
            self.metrics.held.labels(*before).dec()
        if reason is not None:
            self._held[key] = (key[0], reason)
            self.metrics.held.labels(key[0], reason).inc()

    def _unserved_data_plane(self, plan: OrgPlan, kind: str, name: str, obj: Obj) -> str | None:
        """The data plane of a Project or Environment this instance does not serve."""
        if kind not in ("Project", "Environment"):
            return None
        dp = (plan.projects.get(name) if kind == "Project" else None) or (
            obj.get("spec") or {}
        ).get("dataPlane")
        return dp if dp is not None and not plan.serves(dp) else None

    def _served_elsewhere(self, data_plane: str) -> bool:
        """Another operator of this cluster serves that data plane (and writes the
        status of its resources): see render.plan.served_in_cluster."""
        return (self.scope is None or data_plane not in self.scope) and served_in_cluster(
            self.cache.get("DataPlane", None, data_plane)
        )

    def _own_namespaces(self, plan: OrgPlan, org: Resource[OrganizationSpec]) -> None:
        """Namespaces belong to the Organization: if it goes while we are down, GC cleans up."""
        owner = {
            "apiVersion": L.API_VERSION,
            "kind": "Organization",
            "name": org.name,
            "uid": org.uid,
            "controller": True,
            "blockOwnerDeletion": False,
        }
        for obj in plan.desired:
            if obj["kind"] == "Namespace" and org.uid:
                obj["metadata"]["ownerReferences"] = [owner]

    def _foreign_namespaces(self, org: str, org_uid: str) -> set[str]:
        """Namespaces this organization must not touch.

        Ours: labelled for this organization, or owned by this very Organization
        object (its uid) even if someone edited the labels: drift to repair, not
        a stranger's namespace.
        """
        foreign = set()
        for ns in self.cache.all("Namespace"):
            labels = _meta(ns).get("labels") or {}
            ours = (
                labels.get(L.MANAGED_BY) == L.MANAGED_BY_VALUE and labels.get(L.ORGANIZATION) == org
            ) or (bool(org_uid) and org_uid in _owner_uids(ns))
            if not ours:
                foreign.add(_meta(ns)["name"])
        return foreign

    def _org_level_children(self, org: str) -> list[Obj]:
        result = []
        for obj in self.cache.owned_by(org):
            labels = _meta(obj).get("labels") or {}
            if obj["kind"] not in _ORG_LEVEL_KINDS or L.COMPONENT in labels:
                continue
            dp = labels.get(L.DATA_PLANE)
            if (
                obj["kind"] != "Environment"
                and dp
                and self.scope is not None
                and dp not in self.scope
            ):
                continue  # another instance serves that data plane
            result.append(obj)
        return result

    async def _prune_deleted_org(self, name: str) -> None:
        with contextlib.suppress(KeyError):
            self.metrics.paid.remove(name)
        for key in self._held_by_org.pop(name, set()):
            self._set_held(key, None)
        children = [o for o in self.cache.owned_by(name) if o["kind"] in _ORG_LEVEL_KINDS]
        if not children:
            return
        await self._prune(children, [], owner=("Organization", None, name))
        self._plans.pop(name, None)
        self._plan_fingerprints.pop(name, None)

    # -------------------------------------------------------------- components
    async def reconcile_component(self, namespace: str, name: str) -> Requeue | None:
        org = self._org_of_namespace(namespace)
        obj = self.cache.get("Component", namespace, name)
        if obj is None:
            self._status_written.pop(("Component", namespace, name), None)
            self._set_held(("Component", namespace, name), None)
            if org:
                await self._prune(
                    self.cache.owned_by(org, name), [], owner=("Component", namespace, name)
                )
            return None
        if org is None:
            ns_obj = self.cache.get("Namespace", None, namespace)
            if (
                ns_obj is None
                or _meta(ns_obj).get("deletionTimestamp")
                or L.is_managed(_meta(ns_obj))
            ):
                return None  # its organization is being deleted: it goes with the namespace
            await self._write_verdict(obj, _not_in_org_namespace(namespace))
            return None
        plan = self._plans.get(org)
        if plan is None:
            self.queue.add(("org", org))
            return NO_PLAN_YET
        parsed = await self._parse(obj, ComponentSpec)
        if parsed is None:
            return None
        component: Resource[ComponentSpec] = parsed
        spec = component.spec
        project_dp = plan.projects.get(spec.project)
        if project_dp is not None and not plan.serves(project_dp):
            if not self._served_elsewhere(project_dp):
                await self._write_verdict(obj, not_served_verdict(None, project_dp))
            return None  # another instance serves that data plane

        billing = (
            Billing.PAID
            if _all_paid(plan.tier)
            else self._component_billing(namespace, plan.tier, plan.allow_paid).get(name)
        )
        admitted = billing is not None
        owned = self.cache.owned_by(org, name)
        cplan = plan_component(
            plan,
            component,
            admitted=admitted,
            materialised=bool(owned),
            environments_present=[
                _meta(e)["name"] for e in self.cache.in_namespace("Environment", namespace)
            ],
        )
        run_request = component.annotations.get(L.RUN_REQUEST) or ""
        if spec.type == "manual-task" and len(run_request) > L.RUN_TOKEN_MAX:
            # Annotations are outside the CRD schema: judge the run request here.
            cplan = ComponentPlan(
                verdict=Verdict(
                    False,
                    "InvalidRunRequest",
                    f"metadata.annotations[{L.RUN_REQUEST}]: a run request token has at most "
                    f"{L.RUN_TOKEN_MAX} characters (got {len(run_request)}); no run started",
                    stalled=True,
                )
            )
        elif spec.type == "manual-task" and cplan.verdict is None and self._new_run(obj):
            try:
                run_environments(component.annotations.get(L.RUN_ENVIRONMENTS), cplan.runtimes)
            except ValueError as exc:
                cplan = ComponentPlan(
                    verdict=Verdict(False, "InvalidRunRequest", str(exc), stalled=True)
                )
        if (
            cplan.verdict is not None
            and cplan.verdict.reason in _STALE_PLAN_REASONS
            and self.queue.is_queued(("org", org))
        ):
            # The organization's plan predates a Project or Environment the cache
            # now holds (applied together with this Component): judge it against the
            # new plan instead of reporting Stalled=True for a moment.
            return PLAN_CATCHING_UP
        if cplan.verdict is not None and cplan.verdict.reason in AWAITED_REASONS:
            # Under GitOps the Project or Environment may come a moment later.
            verdict, recheck = awaiting_reference(
                cplan.verdict,
                self._spec_age(obj),
            )
            if recheck is not None:
                await self._write_verdict(obj, _billed(cplan.complete(verdict), billing))
                return Requeue(recheck, f"{verdict.reason}: the grace for it to appear ends")
        if cplan.verdict is not None:
            # It cannot be materialised now: only a deletion deletes, so what it
            # already has stays exactly as it is (no prune, no update) until the
            # cause is gone; its status says why.
            self._set_held(("Component", namespace, name), cplan.verdict.reason if owned else None)
            await self._write_verdict(obj, _billed(cplan.complete(cplan.verdict), billing))
            return None
        self._set_held(("Component", namespace, name), None)

        run_status = await self._manual_runs(component, spec, cplan)
        missing_ns = [
            rt.namespace
            for rt in cplan.runtimes
            if self.cache.get("Namespace", None, rt.namespace) is None
        ]
        if missing_ns:
            # The org reconcile creates runtime namespaces; wait for them. While it
            # is queued or running they are on their way: no status write for that.
            underway = self.queue.is_busy(("org", org))
            self.queue.add(("org", org))
            if underway:
                return NAMESPACES_UNDERWAY
            await self._write_verdict(
                obj,
                Verdict(
                    False,
                    "WaitingForNamespace",
                    f"runtime namespace(s) {', '.join(missing_ns)} not created yet",
                ),
            )
            return NAMESPACES_UNDERWAY
        try:
            conflicts = await self._ensure_all(cplan.desired)
        except ApplyRejected as exc:
            # The API server refused an object rendered from this spec: say which
            # and why, instead of retrying in silence. A spec change re-queues it.
            await self._write_verdict(obj, Verdict(False, "ApplyRejected", str(exc), stalled=True))
            return REJECTED_RETRY
        await self._prune(
            owned,
            cplan.desired,
            owner=("Component", namespace, name),
            # Objects in a held runtime namespace stay as they are with it.
            keep=lambda o: o["kind"] == "Job" or _meta(o).get("namespace") in plan.held_namespaces,
        )
        if spec.type == "manual-task":
            await self._prune_runs(org, name, plan, component.annotations.get(L.RUN_REQUEST))
        if conflicts:
            # Watches see only our objects: look again now and then.
            verdict = Verdict(False, "NameConflict", "; ".join(sorted(conflicts)), stalled=True)
            await self._write_verdict(obj, cplan.complete(verdict))
            return CONFLICT_RECHECK
        verdict = self._component_readiness(
            component, spec, cplan, run_status, self._held_entries(org, plan, name)
        )
        return await self._write_verdict(
            obj, _billed(cplan.complete(verdict), billing), coalesce=PROGRESS_INTERVAL
        )

    async def _manual_runs(
        self, component: Resource[ComponentSpec], spec: ComponentSpec, cplan: ComponentPlan
    ) -> dict[str, Any] | None:
        """Add a Job per runtime for a new run request; return the lastRun status to write."""
        if spec.type != "manual-task" or cplan.verdict is not None:
            return None
        token = component.annotations.get(L.RUN_REQUEST)
        obj = self.cache.get("Component", component.namespace, component.name) or {}
        last = (obj.get("status") or {}).get("lastRun") or {}
        if not token:
            return last or None
        if last.get("token") == token:
            return dict(last)
        jobs = []
        for rt in run_environments(component.annotations.get(L.RUN_ENVIRONMENTS), cplan.runtimes):
            job = render_workloads.manual_run_job(rt, component.name, spec, token)
            cplan.desired.append(job)
            jobs.append(f"{rt.namespace}/{job['metadata']['name']}")
        if self.events:
            self.events.normal(obj, "RunRequested", f"run {token!r}: {len(jobs)} Job(s)")
        return {"token": token, "jobs": jobs}

    @staticmethod
    def _new_run(obj: Obj) -> bool:
        """A run request whose token has not started a run yet."""
        token = (_meta(obj).get("annotations") or {}).get(L.RUN_REQUEST)
        last = ((obj.get("status") or {}).get("lastRun") or {}).get("token")
        return bool(token) and token != last

    async def _prune_runs(
        self, org: str, component: str, plan: OrgPlan, current: str | None
    ) -> None:
        """Keep the newest runs per namespace: the tier's build retention.

        The run of the current request always counts as newest: timestamps have
        one-second resolution, so two quick runs could otherwise tie.
        """
        retention = limits_for(plan.tier).build_retention
        by_ns: dict[str, list[Obj]] = {}
        for job in self.cache.owned_by(org, component):
            if job["kind"] == "Job":
                by_ns.setdefault(_meta(job)["namespace"], []).append(job)
        for jobs in by_ns.values():
            jobs.sort(
                key=lambda j: (
                    (_meta(j).get("annotations") or {}).get(L.RUN_TOKEN) == current,
                    _meta(j).get("creationTimestamp") or "",
                    _meta(j)["name"],
                )
            )
            for old in jobs[: max(0, len(jobs) - retention)]:
                await self._delete(old)

    def _component_readiness(
        self,
        component: Resource[ComponentSpec],
        spec: ComponentSpec,
        cplan: ComponentPlan,
        run_status: dict[str, Any] | None,
        held: list[dict[str, Any]],
    ) -> Verdict:
        """Readiness from the workloads of every admitted environment; environments
        held as they are (`held`, see _held_entries) are listed, not judged."""
        envs = []
        not_ready = []
        stalled_msgs = []
        problems = []  # why pods do not run, per environment (render/pod_health.py)
        for rt in cplan.runtimes:
            token = (run_status or {}).get("token")
            entry = self._workload_status(rt, component.name, spec, token)
            envs.append(entry)
            if not entry["ready"]:
                not_ready.append(f"{rt.environment}: {entry['message']}")
                if entry.get("stalled"):
                    stalled_msgs.append(f"{rt.environment}: {entry['message']}")
                if entry.get("reason"):
                    problems.append(entry["reason"])
            entry.pop("stalled", None)
        extra: dict[str, Any] = {"environments": envs + held}
        extra.update(_where(spec, cplan.runtimes, envs))
        if run_status:
            extra["lastRun"] = run_status
        if problems:
            # The most pressing cause names the condition; the message has every
            # environment that is not ready. Stalled when one of them needs a person.
            reason = min(problems, key=POD_PROBLEMS.index)
            return Verdict(False, reason, "; ".join(not_ready), bool(stalled_msgs), extra)
        if stalled_msgs:
            return Verdict(False, "ProgressDeadlineExceeded", "; ".join(stalled_msgs), True, extra)
        if not cplan.runtimes:
            return Verdict(
                False,
                "NoEnvironments",
                "no admitted environment on the project's data plane",
                extra=extra,
            )
        if not_ready:
            return Verdict(False, "Progressing", "; ".join(not_ready), extra=extra)
        kept = "".join(f"; {e['name']}: {e['message']}" for e in held)
        return Verdict(True, "Available", f"ready in {len(envs)} environment(s){kept}", extra=extra)

    def _held_entries(self, org: str, plan: OrgPlan, component: str) -> list[dict[str, Any]]:
        """Status entries for the component's workloads in held runtime namespaces."""
        entries = []
        for obj in self.cache.owned_by(org, component):
            meta = _meta(obj)
            why = plan.held_namespaces.get(meta.get("namespace") or "")
            if why is None or obj["kind"] not in ("Deployment", "CronJob"):
                continue
            entry: dict[str, Any] = {
                "name": (meta.get("labels") or {}).get(L.ENVIRONMENT, ""),
                "namespace": meta["namespace"],
                "workloadKind": obj["kind"],
                "workloadName": meta["name"],
            }
            entry.update(_live_state(obj))
            entry.pop("stalled", None)
            entry["message"] = f"held ({why}), {HELD_NOTE}: {entry['message']}"
            entries.append(entry)
        return sorted(entries, key=lambda e: str(e["name"]))

    def _workload_status(
        self, rt: Runtime, component: str, spec: ComponentSpec, run_token: str | None = None
    ) -> dict[str, Any]:
        ref = render_workloads.component_workload_ref(rt, component, spec)
        entry: dict[str, Any] = {"name": rt.environment, "namespace": rt.namespace}
        if endpoints := endpoint_addresses(rt, component, spec):
            entry["endpoints"] = endpoints
        if ref is None:  # manual-task: nothing long-lived; runs are Jobs
            entry.update(workloadKind="Job", workloadName="", ready=True, message="runs on request")
            if run_token:
                name = render_workloads.manual_run_job_name(component, run_token)
                job = self.cache.get("Job", rt.namespace, name)
                state = _job_state(job)
                entry.update(workloadName=name, message=f"run {run_token!r}: {state}")
                if state in ("Running", "Pending"):
                    # A run whose pod cannot start waits forever (a pull failure is
                    # no Job failure): say why. The component itself stays Ready.
                    pods = self.run_pods.pods_of(rt.namespace, component)
                    problem = diagnose([p for p in pods if p.job == name], exits=False)
                    if problem is not None:
                        entry.update(
                            reason=problem.reason,
                            message=f"run {run_token!r}: {state}: {problem.message}",
                        )
            return entry
        kind, wname = ref
        entry.update(workloadKind=kind, workloadName=wname)
        live = self.cache.get(kind, rt.namespace, wname)
        if live is None:
            entry.update(ready=False, message=f"{kind} not created yet")
            return entry
        entry.update(_live_state(live))
        if not entry["ready"] and kind == "Deployment":
            problem = diagnose(
                [p for p in self.pods.pods_of(rt.namespace, component) if not p.job],
                deadline_exceeded=bool(entry.get("stalled")),
            )
            if problem is not None:
                # Whether the previous version still serves, then why the pods do not run.
                served = (
                    "no progress within the Deployment's progress deadline"
                    if entry.get("stalled")
                    else str(entry["message"]).removesuffix(", rolling out")
                )
                entry.update(reason=problem.reason, message=f"{served}: {problem.message}")
                entry["stalled"] = problem.stalled
        return entry

    # ----------------------------------------------------------------- writing
    async def _ensure_all(self, desired: list[Obj]) -> list[str]:
        """Create or update every object; what could not be, as conflict messages."""
        # Nothing can be created in a namespace being deleted (the API server refuses
        # with 403 NamespaceTerminating): an Organization's deletion seen on its
        # namespaces before on itself would otherwise fail a reconcile. Skipped, not
        # an error: the deletion (or a later reconcile) settles it.
        desired = [obj for obj in desired if not self._terminating(obj)]
        if not desired:
            return []
        results = await asyncio.gather(*(self._ensure(obj) for obj in desired))
        return [r for r in results if r]

    def _terminating(self, obj: Obj) -> bool:
        namespace = _meta(obj).get("namespace")
        ns = self.cache.get("Namespace", None, namespace) if namespace else None
        return bool(ns and _meta(ns).get("deletionTimestamp"))

    async def _ensure(self, desired: Obj) -> str | None:
        """Make desired so; a message instead when its name is taken by an object
        the operator did not create (left untouched, never adopted)."""
        kind = K.kind_of(desired)
        meta = desired["metadata"]
        live = self.cache.get(desired["kind"], meta.get("namespace"), meta["name"])
        if live is None:
            # Not in the cache: new, or somebody else's (child kinds are watched
            # by our label). A create is one request and never touches an
            # object that exists; only when the name is taken do we read it.
            try:
                created = await self._write(kind, meta["name"], self.client.create_object(desired))
            except AlreadyExists:
                live = await self.client.get(kind, meta.get("namespace"), meta["name"])
                if live is None:
                    raise  # deleted meanwhile: retry with backoff
                live.setdefault("kind", desired["kind"])
            else:
                self.metrics.write(kind.kind, "create")
                created.setdefault("kind", desired["kind"])
                self.cache.upsert(created)
                return None
        shares_owner = bool(_owner_uids(desired) & _owner_uids(live))
        if not (L.is_managed(_meta(live)) or shares_owner):
            # Not cached either: no watch would keep it current.
            where = f" in namespace {meta['namespace']!r}" if meta.get("namespace") else ""
            message = (
                f"{kind.kind} {meta['name']!r}{where} exists and was not created by "
                "cdp-operator; it is left untouched (rename or delete it)"
            )
            logger.warning("%s", message)
            return message
        self.cache.upsert(live)
        if is_subset(desired, live):
            return None
        if created_not_applied(live):
            # Made by our create: hand its fields to our apply first, or the
            # apply could never remove a field the operator stops rendering.
            adopted = await self.client.adopt_fields(kind, meta.get("namespace"), meta["name"])
            if adopted is None:
                raise LookupError(f"{kind.kind} {meta['name']!r} disappeared while adopting")
            self.metrics.write(kind.kind, "adopt")
            adopted.setdefault("kind", desired["kind"])
            self.cache.upsert(adopted)
        result = await self._write(kind, meta["name"], self.client.apply(desired))
        self.metrics.write(kind.kind, "apply")
        result.setdefault("kind", desired["kind"])
        self.cache.upsert(result)
        return None

    @staticmethod
    async def _write(kind: K.Kind, name: str, request: Awaitable[Obj]) -> Obj:
        """A create or apply; what the API server refuses outright is ApplyRejected."""
        try:
            return await request
        except ApiException as exc:
            if 400 <= (exc.status or 0) < 500 and exc.status not in (404, 409, 429):
                raise ApplyRejected(kind.kind, name, _api_message(exc)) from exc
            raise

    async def _prune(
        self,
        candidates: Iterable[Obj],
        desired: Iterable[Obj],
        *,
        owner: tuple[str, str | None, str],
        keep: Any = None,
    ) -> None:
        wanted = {key_of(o) for o in desired}
        kind_name, ns, name = owner
        org = name if kind_name == "Organization" else self._org_of_namespace(ns or "")
        doomed = [
            o
            for o in candidates
            if key_of(o) not in wanted
            and L.is_managed(_meta(o))
            and not (keep and keep(o))
            and self._may_prune(o, org, name if kind_name == "Organization" else None)
        ]
        # Whatever lives in a namespace being deleted goes with it.
        doomed_ns = {_meta(o)["name"] for o in doomed if o["kind"] == "Namespace"}
        doomed = [o for o in doomed if _meta(o).get("namespace") not in doomed_ns]
        if not doomed:
            return
        owner_obj = self.cache.get(kind_name, ns, name)
        if owner_obj is None:
            # Deleting because the owner is gone: make sure it really is, not
            # just missing from a cache that is still filling after a restart.
            live_owner = await self.client.get(K.BY_KIND[kind_name], ns, name)
            if live_owner is not None:
                live_owner.setdefault("kind", kind_name)
                self.cache.upsert(live_owner)
                self.queue.add(
                    ("org", name) if kind_name == "Organization" else ("component", ns, name)
                )
                return
        await asyncio.gather(*(self._delete(o) for o in doomed))

    def _may_prune(self, obj: Obj, org: str | None, owner_org: str | None) -> bool:
        """Only what this instance made for this organization, where it made it."""
        meta = _meta(obj)
        labels = meta.get("labels") or {}
        # Labels can be edited; an owner reference to another Organization wins.
        if _controlling_org(obj) not in (None, owner_org):
            return False
        # Another instance serves that data plane (default Environments are shared).
        dp = labels.get(L.DATA_PLANE)
        if obj["kind"] != "Environment" and dp and self.scope is not None and dp not in self.scope:
            return False
        namespace = meta.get("namespace")
        if namespace:
            # Namespaced objects only in namespaces we created for this organization:
            # labels on an object in somebody else's namespace prove nothing.
            ns = self.cache.get("Namespace", None, namespace)
            ns_labels = (_meta(ns).get("labels") or {}) if ns else {}
            if not (
                ns_labels.get(L.MANAGED_BY) == L.MANAGED_BY_VALUE
                and org is not None
                and ns_labels.get(L.ORGANIZATION) == org
            ):
                return False
        return True

    async def _delete(self, obj: Obj) -> None:
        meta = _meta(obj)
        if meta.get("deletionTimestamp"):
            return
        await self.client.delete(
            K.kind_of(obj), meta.get("namespace"), meta["name"], meta.get("uid")
        )
        self.metrics.write(obj["kind"], "delete")
        self.cache.remove(obj)

    async def _write_verdict(
        self, obj: Obj, verdict: Verdict, *, coalesce: float = 0.0
    ) -> Requeue | None:
        """Patch obj's status to the verdict, if that changes it.

        With `coalesce`, a rollout's progress (the same not-ready reason at the
        same generation, with other counts) is written at most once per that
        many seconds: the seconds to wait are returned instead, to requeue.
        Every change of reason, readiness or generation is written at once.
        """
        meta = _meta(obj)
        generation = int(meta.get("generation") or 0)
        current = obj.get("status") or {}
        conditions = _parse_conditions(current.get("conditions"))
        now = _now()
        reconciling = not verdict.ready and not verdict.stalled
        for ctype, value, reason, message in (
            ("Ready", verdict.ready, verdict.reason, verdict.message),
            (
                "Reconciling",
                reconciling,
                verdict.reason if reconciling else "Done",
                verdict.message if reconciling else "",
            ),
            (
                "Stalled",
                verdict.stalled,
                verdict.reason if verdict.stalled else "Done",
                verdict.message if verdict.stalled else "",
            ),
            *verdict.conditions,
        ):
            conditions = set_condition(conditions, ctype, value, reason, message, generation, now)
        carried = {c.type for c in verdict.conditions}
        conditions = [
            c for c in conditions if c.type not in OPTIONAL_CONDITIONS or c.type in carried
        ]
        condition_dicts = [c.model_dump(by_alias=True, exclude_none=True) for c in conditions]
        status: dict[str, Any] = {"observedGeneration": generation, "conditions": condition_dicts}
        status.update(verdict.extra)
        if is_subset(status, current):
            return None
        previous_ready = next(
            (c for c in current.get("conditions") or [] if c.get("type") == "Ready"), None
        )
        key = key_of(obj)
        if (
            coalesce
            and reconciling
            and previous_ready is not None
            and previous_ready.get("status") == "False"
            and previous_ready.get("reason") == verdict.reason
            and current.get("observedGeneration") == generation
        ):
            wait = self._status_written.get(key, 0.0) + coalesce - time.monotonic()
            if wait > 0:
                return Requeue(wait, "rollout progress is written at most every few seconds")
        kind = K.kind_of(obj)
        result = await self.client.patch_status(kind, meta.get("namespace"), meta["name"], status)
        if coalesce:
            self._status_written[key] = time.monotonic()
        self.metrics.write(kind.kind, "status")
        if verdict.reason.endswith("LimitExceeded") or verdict.reason == "DataPlaneNotAllowed":
            self.metrics.limits.labels(verdict.reason).inc()
        if result is not None:
            result.setdefault("kind", obj["kind"])
            self.cache.upsert(result)
        if self.events and (
            previous_ready is None
            or previous_ready.get("status") != ("True" if verdict.ready else "False")
            or previous_ready.get("reason") != verdict.reason
        ):
            if verdict.ready:
                self.events.normal(obj, verdict.reason, verdict.message)
            elif verdict.stalled:
                self.events.warning(obj, verdict.reason, verdict.message)
        if self.events:
            # A further condition turning False (an egress entry that opens
            # nothing, say) needs a person too, whatever Ready says.
            before = {c.get("type"): c for c in current.get("conditions") or []}
            for extra in verdict.conditions:
                was = before.get(extra.type) or {}
                if not extra.status and (
                    was.get("status") != "False" or was.get("reason") != extra.reason
                ):
                    self.events.warning(obj, extra.reason, f"{extra.type}: {extra.message}")
        return None


class _OrgBilling(NamedTuple):
    free: int
    paid: int
    held: list[Held]


def _all_paid(tier: Tier) -> bool:
    """Every component is paid: no free ones, no limit (payg, enterprise)."""
    limits = limits_for(tier)
    return limits.free_components == 0 and limits.max_components is None


def _billed(verdict: Verdict, billing: Billing | None) -> Verdict:
    """The verdict with status.billing; none when over the limit (a held component
    keeps the class it ran with: the status patch leaves the field as it is)."""
    if billing is None:
        return verdict
    return replace(verdict, extra={**verdict.extra, "billing": billing.value})


class ApplyRejected(Exception):
    """The API server refused an object we rendered (invalid, forbidden...)."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        super().__init__(f"{kind} {name!r} was rejected by the API server: {message}")


def _api_message(exc: ApiException) -> str:
    return str(api_status(exc).get("message") or exc.reason)[:1000]


def _owner_uids(obj: Obj) -> set[str]:
    return {str(r.get("uid")) for r in _meta(obj).get("ownerReferences") or [] if r.get("uid")}


def _controlling_org(obj: Obj) -> str | None:
    """Name of the Organization an object's controller reference points at, if any."""
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("kind") == "Organization" and ref.get("controller"):
            return str(ref.get("name"))
    return None


def _where(spec: ComponentSpec, runtimes: list[Runtime], envs: list[dict[str, Any]]) -> Obj:
    """status.url (the first public URL in a production environment) and
    status.replicas (the scale subresource's: the fewest ready replicas among the
    environments that run spec.replicas, i.e. have no replicas override)."""
    result: Obj = {}
    production = {rt.environment for rt in runtimes if rt.production}
    for entry in envs:
        if entry["name"] in production:
            urls = [e["url"] for e in entry.get("endpoints") or [] if e.get("url")]
            if urls:
                result["url"] = urls[0]
                break
    overridden = {o.environment for o in spec.overrides if o.replicas is not None}
    ready = [
        int(entry.get("readyReplicas") or 0)
        for entry in envs
        if entry.get("workloadKind") == "Deployment" and entry["name"] not in overridden
    ]
    if ready:
        result["replicas"] = min(ready)
    return result


def _live_state(live: Obj) -> dict[str, Any]:
    """ready, message (and for Deployments replicas, readyReplicas, stalled) of a workload."""
    if live["kind"] == "CronJob":
        schedule = (live.get("spec") or {}).get("schedule", "")
        return {"ready": True, "message": f"scheduled {schedule}"}
    want = int((live.get("spec") or {}).get("replicas", 1))
    st = live.get("status") or {}
    observed = int(st.get("observedGeneration") or 0) >= int(_meta(live).get("generation") or 0)
    updated = int(st.get("updatedReplicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    state: dict[str, Any] = {"replicas": want, "readyReplicas": int(st.get("readyReplicas") or 0)}
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return {**state, "ready": False, "stalled": True, "message": cond.get("message", "")}
    if observed and updated >= want and available >= want:
        return {**state, "ready": True, "message": f"{available}/{want} available"}
    return {**state, "ready": False, "message": f"{available}/{want} available, rolling out"}


def _job_state(job: Obj | None) -> str:
    if job is None:
        return "Job not found (pruned or not created yet)"
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return str(cond["type"])
    return "Running" if (job.get("status") or {}).get("active") else "Pending"


def _not_in_org_namespace(namespace: str) -> Verdict:
    return Verdict(
        False,
        "NotInOrganizationNamespace",
        f"namespace {namespace!r} is not the namespace of any Organization; create Projects, "
        "Environments and Components in the namespace cdp-operator created for their "
        "organization (cdp-org-<organization>)",
        stalled=True,
    )


def _parse_conditions(raw: Any) -> list[Condition]:
    result = []
    for item in raw or []:
        try:
            result.append(Condition.model_validate(item))
        except ValidationError:
            continue  # not ours to keep (malformed): rewritten below
    return result


def _plan_fingerprint(plan: OrgPlan) -> str:
    """What components depend on: tier, admitted projects, runtimes and their settings."""
    parts = [
        plan.tier.value,
        str(plan.blocked),
        repr(sorted(plan.projects.items())),
        repr(sorted(plan.scope or [])),
        repr(sorted(plan.held_namespaces.items())),
        str(plan.allow_paid),
    ]
    for key, rt in sorted(plan.runtimes.items()):
        parts.append(
            f"{key}:{rt.data_plane.model_dump_json()}:{rt.environment_spec.model_dump_json()}"
        )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
