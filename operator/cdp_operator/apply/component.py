"""The Component reconciler, as a sequence of steps: plan it against its
organization's plan, hold it if it cannot be materialised, wait for its
runtime namespaces, write its objects and prune what it no longer wants, then
report its readiness. Each step either lets the next one run or ends the
reconcile (with a requeue, or none)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..models import labels as L
from ..models.resources import ComponentSpec
from ..models.tiers import Billing
from ..render.billing import all_paid
from ..render.component_plan import ComponentPlan, plan_component
from ..render.gitops import AWAITED_REASONS, awaiting_reference, not_served_verdict
from ..render.runs import invalid_run_request
from ..render.status import billed, not_in_org_namespace
from ..render.verdict import OrgPlan, Resource, Verdict
from ..runtime.objects import Key, Obj, key_of
from ..runtime.queue import Requeue
from .kit import KindReconciler, Kit
from .runs import ManualRuns
from .workload_status import WorkloadStatus
from .writes import ApplyRejected

#: Component verdicts that a pending organization reconcile may change.
STALE_PLAN_REASONS = frozenset({"ProjectNotFound", "ProjectNotReady", "EnvironmentNotFound"})

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


class Done(NamedTuple):
    """A step ended the reconcile (and when to look again, if at all)."""

    requeue: Requeue | None = None


@dataclass
class Attempt:
    """One reconcile of one Component: what the steps share."""

    obj: Obj
    org: str
    plan: OrgPlan
    component: Resource[ComponentSpec]
    billing: Billing | None = None
    owned: list[Obj] = field(default_factory=list)
    #: The owned objects by key: looked up again to compare and to report
    #: (Cache.get's `known`: not unpacked a second and third time).
    known: dict[Key, Obj] = field(default_factory=dict)
    cplan: ComponentPlan = field(default_factory=ComponentPlan)
    run_status: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return ("Component", self.component.namespace, self.component.name)

    @property
    def manual(self) -> bool:
        return self.component.spec.type == "manual-task"


class ComponentReconciler(KindReconciler):
    def __init__(self, kit: Kit) -> None:
        super().__init__(kit)
        self.spec_changes = kit.spec_changes
        self.workloads = WorkloadStatus(kit.shared)
        self.runs = ManualRuns(kit.shared, kit.writer)

    async def reconcile(self, namespace: str, name: str) -> Requeue | None:
        attempt = await self._attempt(namespace, name)
        if isinstance(attempt, Done):
            return attempt.requeue
        steps: list[Callable[[Attempt], Awaitable[Done | None]]] = [
            self._plan,
            self._hold_unless_plannable,
            self._start_runs,
            self._wait_for_namespaces,
            self._materialise,
        ]
        for step in steps:
            if (done := await step(attempt)) is not None:
                return done.requeue
        return await self._report(attempt)

    async def _attempt(self, namespace: str, name: str) -> Attempt | Done:
        """The Component, its organization and plan; or why there is nothing to do."""
        org = self.shared.org_of_namespace(namespace)
        obj = self.cache.get("Component", namespace, name)
        if obj is None:
            await self._deleted(org, namespace, name)
            return Done()
        if org is None:
            if not self.shared.awaits_its_organization(namespace):
                await self.status.write(obj, not_in_org_namespace(namespace))
            return Done()  # else: its organization is being deleted, it goes with it
        plan = self.shared.plans.get(org)
        if plan is None:
            self.shared.queue.add(("org", org))
            return Done(NO_PLAN_YET)
        component = await self.status.parse(obj, ComponentSpec)
        if component is None:
            return Done()
        project_dp = plan.projects.get(component.spec.project)
        if project_dp is not None and not plan.serves(project_dp):
            if not self.shared.served_elsewhere(project_dp):
                await self.status.write(obj, not_served_verdict(None, project_dp))
            return Done()  # another instance serves that data plane
        return Attempt(obj, org, plan, component)

    async def _deleted(self, org: str | None, namespace: str, name: str) -> None:
        """Gone: prune what it materialised (only a deletion deletes)."""
        self.status.forget(("Component", namespace, name))
        self.held.set(("Component", namespace, name), None)
        if org:
            owned = self.cache.owned_by(org, name)
            await self.writer.prune(owned, [], owner=("Component", namespace, name))

    async def _plan(self, a: Attempt) -> Done | None:
        """Its billing class, its objects, and its plan (a run request judged too)."""
        plan = a.plan
        a.billing = (
            Billing.PAID
            if all_paid(plan.tier)
            else self.shared.component_billing(
                a.component.namespace, plan.tier, plan.allow_paid
            ).get(a.component.name)
        )
        a.owned = self.cache.owned_by(a.org, a.component.name)
        a.known = {key_of(o): o for o in a.owned}
        a.cplan = plan_component(
            plan,
            a.component,
            admitted=a.billing is not None,
            materialised=bool(a.owned),
            environments_present=[
                e["metadata"]["name"]
                for e in self.cache.in_namespace("Environment", a.component.namespace)
            ],
        )
        if a.manual and (problem := self._invalid_run_request(a)):
            a.cplan = ComponentPlan(
                verdict=Verdict(False, "InvalidRunRequest", problem, stalled=True)
            )
        return None

    @staticmethod
    def _invalid_run_request(a: Attempt) -> str | None:
        annotations = a.component.annotations
        return invalid_run_request(
            annotations.get(L.RUN_REQUEST) or "",
            ((a.obj.get("status") or {}).get("lastRun") or {}).get("token"),
            annotations.get(L.RUN_ENVIRONMENTS),
            a.cplan.runtimes if a.cplan.verdict is None else None,
        )

    async def _hold_unless_plannable(self, a: Attempt) -> Done | None:
        """A Component that cannot be materialised now keeps what it has, exactly
        as it is (only a deletion deletes: no prune, no update) until the cause
        is gone; its status says why."""
        verdict = a.cplan.verdict
        if verdict is None:
            self.held.set(a.key, None)
            return None
        if verdict.reason in STALE_PLAN_REASONS and self.shared.queue.is_queued(("org", a.org)):
            # The organization's plan predates a Project or Environment the cache
            # now holds (applied together with this Component): judge it against the
            # new plan instead of reporting Stalled=True for a moment.
            return Done(PLAN_CATCHING_UP)
        if verdict.reason in AWAITED_REASONS:
            # Under GitOps the Project or Environment may come a moment later.
            awaited, recheck = awaiting_reference(verdict, self.spec_changes.age(a.obj))
            if recheck is not None:
                await self.status.write(a.obj, billed(a.cplan.complete(awaited), a.billing))
                return Done(Requeue(recheck, f"{awaited.reason}: the grace for it to appear ends"))
        self.held.set(a.key, verdict.reason if a.owned else None)
        await self.status.write(a.obj, billed(a.cplan.complete(verdict), a.billing))
        return Done()

    async def _start_runs(self, a: Attempt) -> Done | None:
        a.run_status = self.runs.start(a.component, a.cplan)
        return None

    async def _wait_for_namespaces(self, a: Attempt) -> Done | None:
        """The org reconcile creates runtime namespaces; wait for them. While it
        is queued or running they are on their way: no status write for that."""
        missing = [
            rt.namespace
            for rt in a.cplan.runtimes
            if self.cache.get("Namespace", None, rt.namespace) is None
        ]
        if not missing:
            return None
        underway = self.shared.queue.is_busy(("org", a.org))
        self.shared.queue.add(("org", a.org))
        if not underway:
            message = f"runtime namespace(s) {', '.join(missing)} not created yet"
            await self.status.write(a.obj, Verdict(False, "WaitingForNamespace", message))
        return Done(NAMESPACES_UNDERWAY)

    async def _materialise(self, a: Attempt) -> Done | None:
        """Write what differs, prune what is no longer wanted, keep the newest runs."""
        try:
            conflicts = await self.writer.ensure_all(a.cplan.desired, a.known)
        except ApplyRejected as exc:
            # The API server refused an object rendered from this spec: say which
            # and why, instead of retrying in silence. A spec change re-queues it.
            await self.status.write(a.obj, Verdict(False, "ApplyRejected", str(exc), stalled=True))
            return Done(REJECTED_RETRY)
        held_namespaces = a.plan.held_namespaces
        await self.writer.prune(
            a.owned,
            a.cplan.desired,
            owner=a.key,
            # Objects in a held runtime namespace stay as they are with it.
            keep=lambda o: o["kind"] == "Job" or o["metadata"].get("namespace") in held_namespaces,
        )
        if a.manual:
            current = a.component.annotations.get(L.RUN_REQUEST)
            await self.runs.prune(a.org, a.component.name, a.plan, current)
        if conflicts:
            # Watches see only our objects: look again now and then.
            verdict = Verdict(False, "NameConflict", "; ".join(sorted(conflicts)), stalled=True)
            await self.status.write(a.obj, a.cplan.complete(verdict))
            return Done(CONFLICT_RECHECK)
        return None

    async def _report(self, a: Attempt) -> Requeue | None:
        """Readiness from its workloads; a rollout's progress is coalesced."""
        held = self.workloads.held_entries(a.org, a.plan, a.component.name)
        verdict = self.workloads.readiness(
            a.component, a.component.spec, a.cplan, a.run_status, held, a.known
        )
        return await self.status.write(
            a.obj, billed(a.cplan.complete(verdict), a.billing), coalesce=PROGRESS_INTERVAL
        )
