"""A Component's status from its live workloads and pods: the cache lookups
for render/readiness.py, which judges them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models.resources import ComponentSpec
from ..render import workloads as render_workloads
from ..render.addresses import endpoint_addresses
from ..render.component_plan import ComponentPlan
from ..render.context import Runtime
from ..render.pod_health import diagnose
from ..render.readiness import component_verdict, held_entry, job_state, live_state
from ..render.verdict import OrgPlan, Resource, Verdict
from ..runtime.objects import Key, Obj
from .context import Shared

#: The kinds whose objects in a held namespace get a status entry.
HELD_KINDS = frozenset({"Deployment", "CronJob"})


class WorkloadStatus:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.cache = shared.cache

    def readiness(
        self,
        component: Resource[ComponentSpec],
        spec: ComponentSpec,
        cplan: ComponentPlan,
        run_status: dict[str, Any] | None,
        held: list[dict[str, Any]],
        known: Mapping[Key, Obj] | None = None,
    ) -> Verdict:
        """Readiness from the workloads of every admitted environment; environments
        held as they are (`held`, see held_entries) are listed, not judged.
        `known`: the component's objects as the reconcile read them (Cache.get)."""
        token = (run_status or {}).get("token")
        envs = [self.entry(rt, component.name, spec, token, known) for rt in cplan.runtimes]
        return component_verdict(spec, cplan.runtimes, envs, held, run_status)

    def held_entries(self, org: str, plan: OrgPlan, component: str) -> list[dict[str, Any]]:
        """Status entries for the component's workloads in held runtime namespaces."""
        entries: list[dict[str, Any]] = []
        if not plan.held_namespaces:
            return entries  # the common case: no need to read the component's objects
        for obj in self.cache.indexed((org, component), HELD_KINDS):
            why = plan.held_namespaces.get(obj["metadata"].get("namespace") or "")
            if why is not None:
                entries.append(held_entry(obj, why))
        return sorted(entries, key=lambda e: str(e["name"]))

    def entry(
        self,
        rt: Runtime,
        component: str,
        spec: ComponentSpec,
        run_token: str | None = None,
        known: Mapping[Key, Obj] | None = None,
    ) -> dict[str, Any]:
        """The status entry of one environment (with `stalled` and a pod problem's
        `reason` for render.readiness.component_verdict)."""
        entry: dict[str, Any] = {"name": rt.environment, "namespace": rt.namespace}
        if endpoints := endpoint_addresses(rt, component, spec):
            entry["endpoints"] = endpoints
        ref = render_workloads.component_workload_ref(rt, component, spec)
        if ref is None:  # manual-task: nothing long-lived; runs are Jobs
            entry.update(workloadKind="Job", workloadName="", ready=True, message="runs on request")
            if run_token:
                entry.update(self._run_entry(rt, component, run_token))
            return entry
        kind, wname = ref
        entry.update(workloadKind=kind, workloadName=wname)
        live = self.cache.get(kind, rt.namespace, wname, known)
        if live is None:
            entry.update(ready=False, message=f"{kind} not created yet")
            return entry
        entry.update(live_state(live))
        if not entry["ready"] and kind == "Deployment":
            entry.update(self._pod_problem(rt, component, entry))
        return entry

    def _run_entry(self, rt: Runtime, component: str, token: str) -> dict[str, Any]:
        name = render_workloads.manual_run_job_name(component, token)
        state = job_state(self.cache.get("Job", rt.namespace, name))
        result: dict[str, Any] = {"workloadName": name, "message": f"run {token!r}: {state}"}
        if state in ("Running", "Pending"):
            # A run whose pod cannot start waits forever (a pull failure is no
            # Job failure): say why. The component itself stays Ready.
            pods = self.shared.run_pods.pods_of(rt.namespace, component)
            problem = diagnose([p for p in pods if p.job == name], exits=False)
            if problem is not None:
                result.update(
                    reason=problem.reason, message=f"run {token!r}: {state}: {problem.message}"
                )
        return result

    def _pod_problem(self, rt: Runtime, component: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Why the pods of a Deployment that is not ready do not run, if known."""
        pods = self.shared.pods.pods_of(rt.namespace, component)
        problem = diagnose(
            [p for p in pods if not p.job], deadline_exceeded=bool(entry.get("stalled"))
        )
        if problem is None:
            return {}
        # Whether the previous version still serves, then why the pods do not run.
        served = (
            "no progress within the Deployment's progress deadline"
            if entry.get("stalled")
            else str(entry["message"]).removesuffix(", rolling out")
        )
        return {
            "reason": problem.reason,
            "message": f"{served}: {problem.message}",
            "stalled": problem.stalled,
        }
