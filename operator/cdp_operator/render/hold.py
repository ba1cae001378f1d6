"""Only a deletion deletes (domain.md): what exists and is no longer desired,
while the Project and Environment that asked for it still exist, is held as
it is. Pure: decided on an organization's plan (plan.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from ..models import labels as L
from ..models.resources import (
    DataPlaneSpec,
    EnvironmentSpec,
    OrganizationSpec,
    ProjectSpec,
)
from ..models.tiers import Tier, limits_for
from .verdict import HELD_NOTE, Held, OrgPlan, Resource, Verdict


def hold(
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
    held_by = _held_namespaces(plan, environments, projects, materialised, present)
    default_dp = org.spec.default_data_plane
    _held_default_environments(plan, held_by, default_dp, data_planes, environments, projects)
    _note_held(plan, held_by)


def _held_namespaces(
    plan: OrgPlan,
    environments: Sequence[Resource[EnvironmentSpec]],
    projects: Sequence[Resource[ProjectSpec]],
    materialised: Mapping[str, tuple[str, str]],
    present: Iterable[tuple[str, str]],
) -> dict[tuple[str, str], list[str]]:
    """Runtime namespaces that exist, are not desired, and whose Project and
    Environment still exist: held. Returns them by the (kind, name) that holds them."""
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
    return held_by


def _held_default_environments(
    plan: OrgPlan,
    held_by: Mapping[tuple[str, str], list[str]],
    default_dp: str,
    data_planes: Mapping[str, DataPlaneSpec],
    environments: Sequence[Resource[EnvironmentSpec]],
    projects: Sequence[Resource[ProjectSpec]],
) -> None:
    """Default Environments of a data plane that a Project still lives on stay."""
    dps_present = {default_dp} | {p.spec.data_plane or default_dp for p in projects}
    for env in environments:
        if env.labels.get(L.DEFAULT_ENVIRONMENT) != "true" or env.name in plan.environments:
            continue
        if env.spec.data_plane not in dps_present and ("Environment", env.name) not in held_by:
            continue  # nothing lives there any more: pruned
        plan.held_environments.add(env.name)
        key = ("Environment", env.namespace, env.name)
        plan.verdicts[key] = data_plane_problem(
            env.spec.data_plane, data_planes, default_dp, plan.tier
        ) or Verdict(
            False,
            "DataPlaneNotInUse",
            f"no admitted project uses data plane {env.spec.data_plane!r}",
            stalled=True,
        )


def _note_held(plan: OrgPlan, held_by: Mapping[tuple[str, str], list[str]]) -> None:
    """What each holding Project or Environment keeps, in its verdict and plan.held."""
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


def data_plane_problem(
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
