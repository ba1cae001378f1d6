"""What an organization should look like: the pure decision layer.

Given a snapshot of the user's resources (already parsed into models), decide
which ones are admitted (references resolve, tier limits, data-plane rules),
which objects must exist, and what each resource's status says. No I/O: the
apply layer feeds the snapshot in and carries the plan out.

Components are planned against an OrgPlan in component_plan.py; the GitOps
rules (fan-out across clusters, references on their way) are in gitops.py;
the types of a verdict in verdict.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from ..models.tiers import Tier, limits_for
from ..runtime.objects import Obj
from . import environments as render_environments
from . import namespaces as render_namespaces
from . import policies as render_policies
from .context import Runtime
from .verdict import (
    ADMITTED,
    HELD_LISTED,
    HELD_NOTE,
    TIER_LIMIT_REASONS,
    Held,
    Resource,
    Verdict,
)


@dataclass
class OrgPlan:
    organization: str
    namespace: str
    tier: Tier
    #: The Organization allows paid components beyond the tier's free ones.
    allow_paid: bool = False
    #: Objects that must exist (server-side applied when they differ).
    desired: list[Obj] = field(default_factory=list)
    #: (kind, namespace, name) -> verdict, for Organization, Environment, Project.
    verdicts: dict[tuple[str, str, str], Verdict] = field(default_factory=dict)
    #: Admitted projects -> their data plane.
    projects: dict[str, str] = field(default_factory=dict)
    #: Admitted environments -> (spec); only those on a data plane that exists.
    environments: dict[str, EnvironmentSpec] = field(default_factory=dict)
    #: (project, environment) -> Runtime for every runtime namespace.
    runtimes: dict[tuple[str, str], Runtime] = field(default_factory=dict)
    #: Data planes this organization uses.
    data_planes: list[str] = field(default_factory=list)
    #: The org cannot be materialised at all (e.g. its namespace is taken).
    blocked: bool = False
    #: Data planes this operator instance serves (None: all).
    scope: frozenset[str] | None = None
    #: Runtime namespaces that exist but are no longer desired while their Project
    #: and Environment still exist (over a limit, data plane gone): kept untouched.
    #: namespace -> why, for status messages.
    held_namespaces: dict[str, str] = field(default_factory=dict)
    #: Default Environments (operator-made) kept although their data plane is not in
    #: use by an admitted project: a Project still lives there.
    held_environments: set[str] = field(default_factory=set)
    #: Projects, Environments and Components held back, for the Organization's status.
    held: list[Held] = field(default_factory=list)

    def keeps(self, obj: Obj) -> bool:
        """Whether an org-level object that is not desired must stay as it is
        instead of being pruned: only the deletion of its Project or Environment
        (or of the Organization) removes it."""
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Namespace":
            return meta.get("name") in self.held_namespaces
        if obj.get("kind") == "Environment":
            return meta.get("name") in self.held_environments
        return meta.get("namespace") in self.held_namespaces

    def serves(self, data_plane: str) -> bool:
        return self.scope is None or data_plane in self.scope

    def runtimes_of(self, project: str) -> list[Runtime]:
        return [rt for (p, _), rt in sorted(self.runtimes.items()) if p == project]


def plan_organization(
    org: Resource[OrganizationSpec],
    data_planes: Mapping[str, DataPlaneSpec],
    environments: Sequence[Resource[EnvironmentSpec]],
    projects: Sequence[Resource[ProjectSpec]],
    *,
    foreign_namespaces: Iterable[str] = (),
    scope: Iterable[str] | None = None,
    materialised: Mapping[str, tuple[str, str]] | None = None,
    present: Iterable[tuple[str, str]] = (),
    held_components: Sequence[Held] = (),
) -> OrgPlan:
    """Decide everything at organization level.

    foreign_namespaces: names of existing namespaces the operator did not create
    for this organization (a desired name among them is a conflict, never a
    takeover). scope: the data planes this operator instance serves (None: all).
    materialised: the runtime namespaces this organization has now, name ->
    (project, environment). present: (kind, name) of every Project and
    Environment that exists, including those whose spec does not parse.
    held_components: Components over a limit that still run (from the apply
    layer, which sees their objects), for the Organization's status.
    """
    tier = org.spec.tier
    org_ns = naming.organization_namespace_name(org.name)
    foreign = set(foreign_namespaces)
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
        plan.verdicts[org_key] = Verdict(
            False,
            "NamespaceConflict",
            f"namespace {org_ns!r} already exists and was not created by cdp-operator "
            "for this organization; it is left untouched",
            stalled=True,
        )
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
    _hold(plan, org, data_planes, environments, projects, materialised or {}, present)
    plan.held.extend(held_components)
    plan.data_planes = in_use
    if problems:
        reason, message = problems[0]
        plan.verdicts[org_key] = Verdict(False, reason, message, stalled=True)
    else:
        plan.verdicts[org_key] = _organization_verdict(plan, in_use)
    return plan


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
        problem = _data_plane_problem(dp, data_planes, default_dp, plan.tier)
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
        problem = _data_plane_problem(env.spec.data_plane, data_planes, default_dp, tier)
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
    foreign: set[str],
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


def _hold(
    plan: OrgPlan,
    org: Resource[OrganizationSpec],
    data_planes: Mapping[str, DataPlaneSpec],
    environments: Sequence[Resource[EnvironmentSpec]],
    projects: Sequence[Resource[ProjectSpec]],
    materialised: Mapping[str, tuple[str, str]],
    present: Iterable[tuple[str, str]],
) -> None:
    """Only a deletion deletes: what exists and is no longer desired, while the
    Project and Environment that asked for it still exist, is held as it is.

    Fills plan.held_namespaces, plan.held_environments and plan.held, and adds to
    the verdicts of the Projects and Environments concerned what they keep.
    """
    default_dp = org.spec.default_data_plane
    present = list(present)
    projects_present = {p.name for p in projects} | {n for k, n in present if k == "Project"}
    envs_present = (
        {e.name for e in environments}
        | {n for k, n in present if k == "Environment"}
        | set(plan.environments)
    )
    desired = {rt.namespace for rt in plan.runtimes.values()}
    held_by: dict[tuple[str, str], list[str]] = {}
    for ns, (project, environment) in sorted(materialised.items()):
        if ns in desired or project not in projects_present or environment not in envs_present:
            continue  # desired, or its Project or Environment was deleted: pruned
        if project not in plan.projects:
            cause = ("Project", project)
        elif environment not in plan.environments:
            cause = ("Environment", environment)
        else:
            # Both admitted, yet this pair is not desired (a data plane that differs,
            # from before the rule that fixes a Project's data plane): keep it.
            cause = ("Project", project)
        held_by.setdefault(cause, []).append(ns)
        plan.held_namespaces[ns] = f"{cause[0].lower()} {cause[1]}"

    # Default Environments of a data plane that a Project still lives on stay.
    dps_present = {default_dp} | {p.spec.data_plane or default_dp for p in projects}
    for env in environments:
        if env.labels.get(L.DEFAULT_ENVIRONMENT) != "true" or env.name in plan.environments:
            continue
        if env.spec.data_plane not in dps_present and ("Environment", env.name) not in held_by:
            continue  # nothing lives there any more: pruned
        plan.held_environments.add(env.name)
        key = ("Environment", env.namespace, env.name)
        plan.verdicts[key] = _data_plane_problem(
            env.spec.data_plane, data_planes, default_dp, plan.tier
        ) or Verdict(
            False,
            "DataPlaneNotInUse",
            f"no admitted project uses data plane {env.spec.data_plane!r}",
            stalled=True,
        )

    for (kind, name), namespaces in sorted(held_by.items()):
        key = (kind, plan.namespace, name)
        verdict = plan.verdicts.get(key)
        if verdict is None or verdict.ready:
            continue
        for ns in namespaces:
            plan.held_namespaces[ns] = f"{kind.lower()} {name}: {verdict.reason}"
        plan.held.append(Held(kind, name, verdict.reason))
        plan.verdicts[key] = replace(
            verdict,
            message=f"{verdict.message}; its runtime namespace(s) {', '.join(namespaces)} "
            f"and what runs in them are {HELD_NOTE}",
        )


def _data_plane_problem(
    dp: str, data_planes: Mapping[str, DataPlaneSpec], default_dp: str, tier: Tier
) -> Verdict | None:
    """Why a Project or Environment may not use data plane `dp`, if it may not."""
    if dp not in data_planes:
        return Verdict(
            False, "DataPlaneNotFound", f"data plane {dp!r} does not exist", stalled=True
        )
    if dp != default_dp and not limits_for(tier).multiple_data_planes:
        return Verdict(
            False,
            "DataPlaneNotAllowed",
            f"the {tier.value} tier may use only the default data plane {default_dp!r}, "
            f"not {dp!r}; upgrade to payg or enterprise for more data planes",
            stalled=True,
        )
    return None
