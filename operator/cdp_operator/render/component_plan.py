"""What a Component should look like, judged against its organization's plan
(plan.py): admission under the tier's limits, billing, its runtimes and
objects, the egress allowlist's effect, and which environments a manual run
starts in. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..models import labels as L
from ..models.resources import (
    ComponentSpec,
    DataPlaneSpec,
)
from ..models.status import EGRESS_ALLOWLIST_EFFECTIVE
from ..models.tiers import Billing, Tier, limits_for
from ..runtime.objects import Obj
from . import workloads as render_workloads
from .context import Runtime
from .egress import allowlist_block
from .verdict import (
    HELD_NOTE,
    ExtraCondition,
    OrgPlan,
    Resource,
    Verdict,
)


@dataclass
class ComponentPlan:
    desired: list[Obj] = field(default_factory=list)
    #: Runtimes the component is deployed to, in a stable order.
    runtimes: list[Runtime] = field(default_factory=list)
    verdict: Verdict | None = None
    #: Judgements beside readiness (e.g. on the egress allowlist), for `complete`.
    conditions: list[ExtraCondition] = field(default_factory=list)

    def complete(self, verdict: Verdict) -> Verdict:
        """`verdict` (this plan's or the workloads' readiness) with the plan's conditions."""
        return replace(verdict, conditions=(*verdict.conditions, *self.conditions))


def component_billing(
    tier: Tier, allow_paid: bool, components: Sequence[Resource[Any]]
) -> dict[str, Billing | None]:
    """Each component's billing class; None when it is over the limit.

    In age order (what holds a free slot keeps it, then oldest first, then name)
    the first ones are free, as many as the tier includes; the others are paid
    where paid components are allowed (payg and enterprise always, developer when
    the Organization allows them), otherwise over the limit. So a new component
    never takes a free slot from another, and when one opens, the oldest paid
    component takes it.
    """
    limits = limits_for(tier)
    result: dict[str, Billing | None] = {}
    for i, comp in enumerate(sorted(components, key=lambda r: r.age_key)):
        if i < limits.free_components:
            result[comp.name] = Billing.FREE
        elif allow_paid or limits.max_components is None or i < limits.max_components:
            result[comp.name] = Billing.PAID
        else:
            result[comp.name] = None
    return result


def admitted_components(
    tier: Tier, components: Sequence[Resource[Any]], allow_paid: bool = False
) -> set[str]:
    """Names of the components within the tier's limit (free or paid)."""
    billing = component_billing(tier, allow_paid, components)
    return {name for name, cls in billing.items() if cls is not None}


def plan_component(
    plan: OrgPlan,
    component: Resource[ComponentSpec],
    *,
    admitted: bool,
    materialised: bool = False,
    environments_present: Iterable[str] | None = None,
) -> ComponentPlan:
    """What one component should have. A verdict instead of objects means it cannot
    be materialised now; the apply layer then writes nothing but status, so what
    already runs (materialised: it has objects) is held as it is.

    environments_present: every Environment that exists (admitted or not); an entry
    naming one of them that is not admitted (over a limit, data plane gone) is
    skipped, one naming none of them is a mistake the component reports.
    """
    spec = component.spec
    result = ComponentPlan()
    result.verdict = _cannot_materialise(
        plan, spec, admitted=admitted, materialised=materialised, present=environments_present
    )
    if result.verdict is not None:
        return result
    runtimes = plan.runtimes_of(spec.project)
    if spec.egress and runtimes:
        # Every runtime of a project is on the project's data plane.
        result.conditions.append(
            egress_condition(spec, runtimes[0].data_plane_name, runtimes[0].data_plane)
        )
    if spec.environments is not None:
        wanted = set(spec.environments)
        runtimes = [rt for rt in runtimes if rt.environment in wanted]
    result.runtimes = [rt for rt in runtimes if plan.serves(rt.data_plane_name)]
    for rt in result.runtimes:
        result.desired.extend(render_workloads.component_objects(rt, component.name, spec))
    return result


def _cannot_materialise(
    plan: OrgPlan,
    spec: ComponentSpec,
    *,
    admitted: bool,
    materialised: bool,
    present: Iterable[str] | None,
) -> Verdict | None:
    """Why the component cannot be materialised now (its organization, the tier's
    limit, its project, the environments it names), if it cannot."""
    held = f"; its running workloads are {HELD_NOTE} until this is resolved" if materialised else ""
    if plan.blocked:
        return Verdict(
            False, "OrganizationNotReady", f"the organization is not materialised{held}", True
        )
    if not admitted:
        free = limits_for(plan.tier).free_components
        return Verdict(
            False,
            "ComponentLimitExceeded",
            f"the {plan.tier.value} tier includes {free} free components per organization and "
            f"this one is beyond them (the oldest components are free){held}: allow paid "
            f"components (spec.allowPaidComponents: true on Organization {plan.organization}, "
            "set by a cluster admin), upgrade to payg, or delete components",
            stalled=True,
        )
    if spec.project not in plan.projects:
        return Verdict(
            False,
            "ProjectNotFound" if spec.project not in _known_projects(plan) else "ProjectNotReady",
            f"project {spec.project!r} does not exist or is not admitted in this "
            f"organization{held}",
            stalled=True,
        )
    known = set(plan.environments) | set(present or ())
    named = (spec.environments or []) + [o.environment for o in spec.overrides]
    unknown = sorted({e for e in named if e not in known})
    if unknown:
        return Verdict(
            False,
            "EnvironmentNotFound",
            f"environment(s) {', '.join(unknown)} named in spec.environments or spec.overrides "
            f"do not exist{held}; correct or remove the name(s)",
            stalled=True,
        )
    return None


def run_environments(requested: str | None, runtimes: Sequence[Runtime]) -> list[Runtime]:
    """The runtimes a manual run starts in: those named in the run-environments
    annotation (comma separated), or all of them when it is absent or empty.
    Raises ValueError naming what is not an environment of the component."""
    names = [n.strip() for n in (requested or "").split(",") if n.strip()]
    if not names:
        return list(runtimes)
    known = {rt.environment for rt in runtimes}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(
            f"metadata.annotations[{L.RUN_ENVIRONMENTS}]: {', '.join(unknown)} "
            f"{'is not an environment' if len(unknown) == 1 else 'are not environments'} "
            f"this component runs in ({', '.join(sorted(known)) or 'none'}); no run started"
        )
    return [rt for rt in runtimes if rt.environment in names]


def _networks(networks: Sequence[str]) -> str:
    if len(networks) == 1:
        return f"the cluster network {networks[0]}"
    return "the cluster networks " + ", ".join(networks)


def egress_condition(
    spec: ComponentSpec, data_plane_name: str, data_plane: DataPlaneSpec
) -> ExtraCondition:
    """Whether every egress allowlist entry opens something once the DataPlane's
    cluster networks are taken out (render/egress.py). An entry inside them is left
    out of the egress policy; the component stays Ready, this condition says so."""
    dp = f"DataPlane {data_plane_name}"
    networks = data_plane.cluster_networks
    if not networks:
        return ExtraCondition(
            EGRESS_ALLOWLIST_EFFECTIVE,
            True,
            "ClusterNetworksUnset",
            f"{dp} declares no clusterNetworks: egress entries apply as written and may "
            "reach in-cluster addresses",
        )
    nothing: list[str] = []
    excluded: list[str] = []
    for cidr in dict.fromkeys(rule.cidr for rule in spec.egress):
        block = allowlist_block(cidr, networks)
        if block.opens_nothing:
            nothing.append(
                f"egress {cidr} lies inside {_networks(block.covered_by)} of {dp} and opens nothing"
            )
        elif block.excluded:
            excluded.append(f"egress {cidr} excludes {_networks(block.excluded)} of {dp}")
    if nothing:
        return ExtraCondition(
            EGRESS_ALLOWLIST_EFFECTIVE, False, "InsideClusterNetwork", "; ".join(nothing + excluded)
        )
    if excluded:
        return ExtraCondition(
            EGRESS_ALLOWLIST_EFFECTIVE, True, "ClusterNetworksExcluded", "; ".join(excluded)
        )
    return ExtraCondition(
        EGRESS_ALLOWLIST_EFFECTIVE,
        True,
        "OutsideClusterNetworks",
        f"no egress entry overlaps the cluster networks of {dp}",
    )


def _known_projects(plan: OrgPlan) -> set[str]:
    return {k[2] for k in plan.verdicts if k[0] == "Project"}
