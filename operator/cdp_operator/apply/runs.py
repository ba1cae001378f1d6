"""Manual runs of a manual-task Component: a Job per environment for a new run
request, and the tier's build retention (decided by render/runs.py)."""

from __future__ import annotations

from typing import Any

from ..models import labels as L
from ..models.resources import ComponentSpec
from ..models.tiers import limits_for
from ..render import workloads as render_workloads
from ..render.component_plan import ComponentPlan, run_environments
from ..render.runs import runs_to_prune
from ..render.verdict import OrgPlan, Resource
from .context import Shared
from .writes import Writer


class ManualRuns:
    def __init__(self, shared: Shared, writer: Writer) -> None:
        self.shared = shared
        self.writer = writer

    def start(
        self, component: Resource[ComponentSpec], cplan: ComponentPlan
    ) -> dict[str, Any] | None:
        """Add a Job per runtime for a new run request; return the lastRun status to write."""
        spec = component.spec
        if spec.type != "manual-task" or cplan.verdict is not None:
            return None
        token = component.annotations.get(L.RUN_REQUEST)
        obj = self.shared.cache.get("Component", component.namespace, component.name) or {}
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
        if self.shared.events:
            self.shared.events.normal(obj, "RunRequested", f"run {token!r}: {len(jobs)} Job(s)")
        return {"token": token, "jobs": jobs}

    async def prune(self, org: str, component: str, plan: OrgPlan, current: str | None) -> None:
        """Keep the newest runs per namespace: the tier's build retention."""
        jobs = [j for j in self.shared.cache.owned_by(org, component) if j["kind"] == "Job"]
        for old in runs_to_prune(jobs, limits_for(plan.tier).build_retention, current):
            await self.writer.delete(old)
