"""What an organization should look like: the pure decision layer.

Given a snapshot of the user's resources (already parsed into models), decide
which ones are admitted (references resolve, tier limits, data-plane rules),
which objects must exist, and what each resource's status says. No I/O: the
apply layer feeds the snapshot in and carries the plan out.

Components are planned against an OrgPlan in component_plan.py; the GitOps
rules (fan-out across clusters, references on their way) are in gitops.py;
the types of a verdict in verdict.py."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

from ..models import labels as L
from ..models import naming
from ..models.resources import (
    DataPlaneSpec,
    EnvironmentSpec,
    OrganizationSpec,
    ProjectSpec,
)
from ..models.status import HELD_MAX
from ..models.tiers import limits_for
from . import environments as render_environments
from . import namespaces as render_namespaces
from . import policies as render_policies
from .context import Runtime
from .hold import data_plane_problem, hold
from .verdict import (
    ADMITTED,
    HELD_LISTED,
    HELD_NOTE,
    TIER_LIMIT_REASONS,
    Held,
    OrgPlan,
    Resource,
    Verdict,
)


def plan_organization(
    org: Resource[OrganizationSpec],
    data_planes: Mapping[str, DataPlaneSpec],
    environments: Sequence[Resource[EnvironmentSpec]],
    projects: Sequence[Resource[ProjectSpec]],
    *,
    foreign_namespaces: Container[str] = (),
    scope: Iterable[str] | None = None,
    materialised: Mapping[str, tuple[str, str]] | None = None,
    present: Iterable[tuple[str, str]] = (),
    held_components: Sequence[Held] = (),
) -> OrgPlan:
    """Decide everything at organization level.

    foreign_namespaces: names of existing namespaces the operator did not create
    for this organization (a desired name among them is a conflict, never a
    takeover); only asked whether a name is among them. scope: the data
    planes this operator instance serves (None: all).
    materialised: the runtime namespaces this organization has now, name ->
    (project, environment). present: (kind, name) of every Project and
    Environment that exists, including those whose spec does not parse.
    held_components: Components over a limit that still run (from the apply
    layer, which sees their objects), for the Organization's status.
    """
    tier = org.spec.tier
    org_ns = naming.organization_namespace_name(org.name)
    foreign = foreign_namespaces
    plan = OrgPlan(
        organization=org.name,
        namespace=org_ns,
        tier=tier,
        allow_paid=org.spec.allow_paid_components,
        scope=None if scope is None else frozenset(scope),
    )
    org_key = ("Organization", "", org.name)

    if org_ns in foreign:
        plan.blocked = True
        plan.verdicts[org_key] = _namespace_taken(org_ns)
        return plan
    plan.desired.append(render_namespaces.organization_namespace(org.name))
    plan.desired.extend(render_policies.organization_policies(org.name, org_ns))

    default_dp = org.spec.default_data_plane
    problems: list[tuple[str, str]] = []
    if default_dp not in data_planes:
        problems.append(("DataPlaneNotFound", f"default data plane {default_dp!r} does not exist"))
    in_use = _admit_projects(plan, projects, data_planes, default_dp)
    default_names = _default_environments(plan, org, environments, in_use, default_dp)
    _admit_environments(plan, environments, data_planes, default_dp, default_names)
    _project_verdicts(plan, projects, _plan_runtimes(plan, org.name, data_planes, foreign))
    hold(plan, org, data_planes, environments, projects, materialised or {}, present)
    plan.held.extend(held_components)
    plan.data_planes = in_use
    if problems:
        reason, message = problems[0]
        plan.verdicts[org_key] = Verdict(False, reason, message, stalled=True)
    else:
        plan.verdicts[org_key] = _organization_verdict(plan, in_use)
    return plan


def _namespace_taken(org_ns: str) -> Verdict:
    return Verdict(
        False,
        "NamespaceConflict",
        f"namespace {org_ns!r} already exists and was not created by cdp-operator "
        "for this organization; it is left untouched",
        stalled=True,
    )


def _admit_projects(
    plan: OrgPlan,
    projects: Sequence[Resource[ProjectSpec]],
    data_planes: Mapping[str, DataPlaneSpec],
    default_dp: str,
) -> list[str]:
    """Resolve and check the data plane each Project lives in (oldest first);
    return the data planes in use, the default one first."""
    in_use: list[str] = [default_dp] if default_dp in data_planes else []
    for project in sorted(projects, key=lambda r: r.age_key):
        dp = project.spec.data_plane or default_dp
        key = ("Project", project.namespace, project.name)
        problem = data_plane_problem(dp, data_planes, default_dp, plan.tier)
        if problem is not None:
            plan.verdicts[key] = problem
            continue
        plan.projects[project.name] = dp
        if dp not in in_use:
            in_use.append(dp)
    return in_use


def _default_environments(
    plan: OrgPlan,
    org: Resource[OrganizationSpec],
    environments: Sequence[Resource[EnvironmentSpec]],
    in_use: Sequence[str],
    default_dp: str,
) -> set[str]:
    """The default Environments of every data plane in use (they come first);
    return their names."""
    user_envs = {e.name for e in environments if e.labels.get(L.DEFAULT_ENVIRONMENT) != "true"}
    defaults: list[tuple[str, str, bool]] = []
    for dp in in_use:
        dev, prod = naming.default_environment_names(dp, dp == default_dp)
        defaults += [(dev, dp, False), (prod, dp, True)]
    for name, dp, production in defaults:
        if name in user_envs:
            continue  # a user-created Environment of that name wins; it is judged below
        plan.desired.append(
            render_environments.default_environment(
                org.name, org.uid, plan.namespace, name, dp, production
            )
        )
        plan.environments[name] = EnvironmentSpec(data_plane=dp, production=production)
    return {name for name, _, _ in defaults}


def _admit_environments(
    plan: OrgPlan,
    environments: Sequence[Resource[EnvironmentSpec]],
    data_planes: Mapping[str, DataPlaneSpec],
    default_dp: str,
    default_names: set[str],
) -> None:
    """Admit Environments under the tier's limits, defaults first, then by age."""
    tier, limits = plan.tier, limits_for(plan.tier)
    count = len(plan.environments)
    for env in sorted(environments, key=lambda r: (r.name not in default_names, *r.age_key)):
        key = ("Environment", env.namespace, env.name)
        if env.labels.get(L.DEFAULT_ENVIRONMENT) == "true":
            if env.name in plan.environments:
                plan.verdicts[key] = Verdict(True, ADMITTED, "default environment")
            continue
        problem = data_plane_problem(env.spec.data_plane, data_planes, default_dp, tier)
        if problem is None and limits.defaults_only and env.name not in default_names:
            problem = Verdict(
                False,
                "EnvironmentLimitExceeded",
                f"the {tier.value} tier allows only the default environments "
                "(development and production); upgrade to payg or enterprise to create more",
                stalled=True,
            )
        over = limits.max_environments is not None and count >= limits.max_environments
        if problem is None and over:
            problem = Verdict(
                False,
                "EnvironmentLimitExceeded",
                f"the {tier.value} tier allows at most {limits.max_environments} "
                "environments per organization, defaults included; this one is over the "
                "limit (oldest environments are kept)",
                stalled=True,
            )
        if problem is not None:
            plan.verdicts[key] = problem
            continue
        count += 1
        plan.environments[env.name] = env.spec
        plan.verdicts[key] = Verdict(True, ADMITTED, "environment admitted")


def _plan_runtimes(
    plan: OrgPlan,
    organization: str,
    data_planes: Mapping[str, DataPlaneSpec],
    foreign: Container[str],
) -> dict[str, list[str]]:
    """Runtime namespaces: every admitted project x admitted environment on its
    data plane. Returns the conflicts per project (a name taken by a stranger)."""
    project_problems: dict[str, list[str]] = {}
    for project_name, dp in sorted(plan.projects.items()):
        for env_name, env_spec in sorted(plan.environments.items()):
            if env_spec.data_plane != dp:
                continue
            rt = Runtime(
                organization=organization,
                tier=plan.tier,
                data_plane_name=dp,
                data_plane=data_planes[dp],
                project=project_name,
                environment=env_name,
                environment_spec=env_spec,
            )
            if rt.namespace in foreign:
                project_problems.setdefault(project_name, []).append(
                    f"namespace {rt.namespace!r} (environment {env_name}) already exists and "
                    "was not created by cdp-operator; it is left untouched"
                )
                continue
            plan.runtimes[(project_name, env_name)] = rt
            if plan.serves(dp):
                plan.desired.append(render_namespaces.runtime_namespace(rt))
                plan.desired.extend(render_policies.runtime_policies(rt))
    return project_problems


def _project_verdicts(
    plan: OrgPlan,
    projects: Sequence[Resource[ProjectSpec]],
    project_problems: Mapping[str, list[str]],
) -> None:
    """The verdict of every admitted Project: its namespaces, or their conflicts."""
    for project in projects:
        key = ("Project", project.namespace, project.name)
        if key in plan.verdicts:
            continue
        namespaces = [
            {"environment": rt.environment, "namespace": rt.namespace}
            for rt in plan.runtimes_of(project.name)
        ]
        extra = {"dataPlane": plan.projects[project.name], "namespaces": namespaces}
        if project.name in project_problems:
            message = "; ".join(project_problems[project.name])
            plan.verdicts[key] = Verdict(False, "NamespaceConflict", message, True, extra)
        else:
            message = f"{len(namespaces)} runtime namespace(s)"
            plan.verdicts[key] = Verdict(True, ADMITTED, message, extra=extra)


def _organization_verdict(plan: OrgPlan, in_use: Sequence[str]) -> Verdict:
    """Admitted, or which resources are held and why (over a limit, or missing something)."""
    tier = plan.tier
    org_extra: dict[str, Any] = {
        "namespace": plan.namespace,
        "dataPlanes": list(in_use),
        "environments": len(plan.environments),
        "held": [h._asdict() for h in plan.held[:HELD_MAX]],
    }
    if not plan.held:
        message = f"tier {tier.value}; data planes: {', '.join(in_use)}"
        return Verdict(True, ADMITTED, message, extra=org_extra)
    over_limit = any(h.reason in TIER_LIMIT_REASONS for h in plan.held)
    listed = ", ".join(f"{h.kind} {h.name} ({h.reason})" for h in plan.held[:HELD_LISTED])
    if len(plan.held) > HELD_LISTED:
        listed += f" and {len(plan.held) - HELD_LISTED} more (status.held)"
    advice = (
        f"they are over the {tier.value} tier's limits: delete them or upgrade the tier"
        if over_limit
        else "each one's status says what it is missing"
    )
    return Verdict(
        False,
        "OverTierLimit" if over_limit else "ResourcesHeld",
        f"{listed}: {HELD_NOTE}; {advice}",
        stalled=True,
        extra=org_extra,
    )
