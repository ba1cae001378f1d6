"""The Organization reconciler: its namespaces, default Environments and
policies from the organization plan (render/plan.py), the statuses of its
Projects and Environments, and the plan its Components are judged against."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import replace
from typing import NamedTuple

from pydantic import ValidationError

from ..models import labels as L
from ..models import naming
from ..models.resources import DataPlaneSpec, EnvironmentSpec, OrganizationSpec, ProjectSpec
from ..models.tiers import Billing
from ..render.gitops import AWAITED_REASONS, awaiting_reference, not_served_verdict
from ..render.plan import plan_organization
from ..render.prune import ORG_LEVEL_KINDS, is_org_level, namespace_owned_by
from ..render.verdict import Held, OrgPlan, Resource
from ..runtime.objects import Obj
from .binding import Cache
from .kit import KindReconciler, Kit


class OrgBilling(NamedTuple):
    free: int
    paid: int
    held: list[Held]


def plan_fingerprint(plan: OrgPlan) -> str:
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


def own_namespaces(plan: OrgPlan, org: Resource[OrganizationSpec]) -> None:
    """Namespaces belong to the Organization: if it goes while we are down, GC cleans up."""
    if not org.uid:
        return
    owner = {
        "apiVersion": L.API_VERSION,
        "kind": "Organization",
        "name": org.name,
        "uid": org.uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }
    for obj in plan.desired:
        if obj["kind"] == "Namespace":
            obj["metadata"]["ownerReferences"] = [owner]


NAMESPACE_ONLY = frozenset({"Namespace"})


class ForeignNamespaces:
    """The cached namespaces this organization did not make, as a container: the
    plan only asks about the names it wants, so each question is one lookup
    instead of a set of every namespace of the cluster built per reconcile
    (thousands on a shared data plane, times hundreds of organizations)."""

    def __init__(self, cache: Cache, org: str, org_uid: str) -> None:
        self.cache, self.org, self.org_uid = cache, org, org_uid

    def __contains__(self, name: object) -> bool:
        ns = self.cache.get("Namespace", None, str(name)) if isinstance(name, str) else None
        return ns is not None and not namespace_owned_by(ns, self.org, self.org_uid)


class OrganizationReconciler(KindReconciler):
    def __init__(self, kit: Kit) -> None:
        super().__init__(kit)
        self._fingerprints: dict[str, str] = {}

    async def reconcile(self, name: str) -> None:
        org_obj = self.cache.get("Organization", None, name)
        if org_obj is None:
            await self._prune_deleted(name)
            return
        org = await self.status.parse(org_obj, OrganizationSpec)
        if org is None:
            return
        plan = await self._plan(name, org)
        self._remember(name, plan)
        # Namespaces first: everything else lives inside them.
        await self.writer.ensure_all([o for o in plan.desired if o["kind"] == "Namespace"])
        await self.writer.ensure_all([o for o in plan.desired if o["kind"] != "Namespace"])
        if not plan.blocked:
            await self.writer.prune(
                self._org_level_children(name),
                plan.desired,
                owner=("Organization", None, name),
                keep=plan.keeps,
            )
        await self._write_statuses(name, plan)
        self._requeue_components_if_changed(name, plan)
        self._requeue_for_new_environments(name, plan)

    def _requeue_for_new_environments(self, name: str, plan: OrgPlan) -> None:
        """Default Environments this pass created have no verdict in its plan, and
        their watch events queue nothing (the cache already holds the create's
        answer): look again, so their status is written now, not at a restart."""
        for obj in plan.desired:
            meta = obj["metadata"]
            key = ("Environment", meta.get("namespace"), meta["name"])
            if obj["kind"] == "Environment" and key not in plan.verdicts and self.cache.get(*key):
                self.shared.queue.add(("org", name))
                return

    async def _plan(self, name: str, org: Resource[OrganizationSpec]) -> OrgPlan:
        """The organization's plan from the cache, with its Ready's billing counts."""
        org_ns = naming.organization_namespace_name(name)
        environments = [
            r
            for o in self.cache.in_namespace("Environment", org_ns)
            if (r := await self.status.parse(o, EnvironmentSpec)) is not None
        ]
        projects = [
            proj
            for o in self.cache.in_namespace("Project", org_ns)
            if (proj := await self.status.parse(o, ProjectSpec)) is not None
        ]
        billing = self._billing(name, org)
        plan = plan_organization(
            org,
            self._data_planes(),
            environments,
            projects,
            foreign_namespaces=self._foreign_namespaces(name, org.uid),
            scope=self.shared.scope,
            materialised=self._runtime_namespaces(name),
            present=[
                (kind, o["metadata"]["name"])
                for kind in ("Project", "Environment")
                for o in self.cache.in_namespace(kind, org_ns)
            ],
            held_components=billing.held,
        )
        key = ("Organization", "", name)
        verdict = plan.verdicts[key]
        counts = {"freeComponents": billing.free, "paidComponents": billing.paid}
        plan.verdicts[key] = replace(verdict, extra={**verdict.extra, **counts})
        self.shared.metrics.paid.labels(name).set(billing.paid)
        own_namespaces(plan, org)
        return plan

    def _remember(self, name: str, plan: OrgPlan) -> None:
        """The plan for the components, its namespaces for intake, its held counts."""
        self.shared.plans[name] = plan
        for ns in [
            plan.namespace,
            *(rt.namespace for rt in plan.runtimes.values()),
            *plan.held_namespaces,
        ]:
            self.shared.wanted_namespaces[ns] = name
        self.held.count_org(name, plan)

    async def _write_statuses(self, name: str, plan: OrgPlan) -> None:
        """Statuses (only of what this instance serves), written concurrently. A
        DataPlane missing for a moment (applied in the same commit) is waited for
        like a Component's Project: the organization is looked at again when the
        grace ends."""
        writes = []
        recheck: float | None = None
        for (kind, ns, obj_name), verdict in plan.verdicts.items():
            target = self.cache.get(kind, ns or None, obj_name)
            if target is None:
                continue
            if verdict.reason in AWAITED_REASONS:
                verdict, wait = awaiting_reference(
                    verdict, self.kit.spec_changes.age(target), kind=kind
                )
                if wait is not None:
                    recheck = wait if recheck is None else min(recheck, wait)
            dp = _unserved_data_plane(plan, kind, obj_name, target)
            if dp is not None:
                if self.shared.served_elsewhere(dp):
                    continue  # another operator of this cluster writes it
                verdict = not_served_verdict(verdict, dp)
            writes.append(self.status.write(target, verdict))
        await asyncio.gather(*writes)
        if recheck is not None:
            self.shared.queue.add_after(("org", name), recheck)

    def _requeue_components_if_changed(self, name: str, plan: OrgPlan) -> None:
        """Components depend on the plan: look at them again when it changed."""
        elsewhere = sorted(dp for dp in plan.projects.values() if self.shared.served_elsewhere(dp))
        fingerprint = plan_fingerprint(plan) + repr(elsewhere)
        if self._fingerprints.get(name) == fingerprint:
            return
        self._fingerprints[name] = fingerprint
        for comp in self.cache.in_namespace("Component", plan.namespace):
            self.shared.queue.add(("component", plan.namespace, comp["metadata"]["name"]))

    def _data_planes(self) -> dict[str, DataPlaneSpec]:
        result = {}
        for obj in self.cache.all("DataPlane"):
            try:
                result[obj["metadata"]["name"]] = DataPlaneSpec.model_validate(
                    obj.get("spec") or {}
                )
            except ValidationError:
                continue
        return result

    def _runtime_namespaces(self, org: str) -> dict[str, tuple[str, str]]:
        """This organization's runtime namespaces that exist: name -> (project, environment)."""
        result = {}
        for ns in self.cache.org_level(org, NAMESPACE_ONLY):
            labels = ns["metadata"].get("labels") or {}
            if ns["kind"] == "Namespace" and L.PROJECT in labels and L.ENVIRONMENT in labels:
                result[ns["metadata"]["name"]] = (labels[L.PROJECT], labels[L.ENVIRONMENT])
        return result

    def _billing(self, org: str, resource: Resource[OrganizationSpec]) -> OrgBilling:
        """Free and paid counts, and the components over the limit that still run
        (held: they have objects, and count as paid while they run)."""
        spec = resource.spec
        billing = self.shared.component_billing(
            naming.organization_namespace_name(org), spec.tier, spec.allow_paid_components
        )
        held = [
            Held("Component", name, "ComponentLimitExceeded")
            for name, cls in billing.items()
            if cls is None and self.cache.owned_by(org, name)
        ]
        classes = list(billing.values())
        return OrgBilling(
            free=classes.count(Billing.FREE),
            paid=classes.count(Billing.PAID) + len(held),
            held=sorted(held),
        )

    def _foreign_namespaces(self, org: str, org_uid: str) -> ForeignNamespaces:
        """Namespaces this organization must not touch (render/prune.namespace_owned_by)."""
        return ForeignNamespaces(self.cache, org, org_uid)

    def _org_level_children(self, org: str) -> list[Obj]:
        return [
            o
            for o in self.cache.org_level(org, ORG_LEVEL_KINDS)
            if is_org_level(o, self.shared.scope)
        ]

    async def _prune_deleted(self, name: str) -> None:
        with contextlib.suppress(KeyError):
            self.shared.metrics.paid.remove(name)
        self.held.forget_org(name)
        children = [o for o in self.cache.owned_by(name) if o["kind"] in ORG_LEVEL_KINDS]
        if not children:
            return
        await self.writer.prune(children, [], owner=("Organization", None, name))
        self.shared.plans.pop(name, None)
        self._fingerprints.pop(name, None)


def _unserved_data_plane(plan: OrgPlan, kind: str, name: str, obj: Obj) -> str | None:
    """The data plane of a Project or Environment this instance does not serve."""
    if kind not in ("Project", "Environment"):
        return None
    dp = (plan.projects.get(name) if kind == "Project" else None) or (obj.get("spec") or {}).get(
        "dataPlane"
    )
    return dp if dp is not None and not plan.serves(dp) else None
