"""The pure decision layer: admission, tier limits (oldest first), conflicts, scope."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cdp_operator.models import labels as L
from cdp_operator.models.resources import (
    ComponentSpec,
    DataPlaneSpec,
    EgressRule,
    Endpoint,
    EnvironmentSpec,
    OrganizationSpec,
    ProjectSpec,
)
from cdp_operator.models.tiers import Billing, Tier
from cdp_operator.render.addresses import endpoint_addresses
from cdp_operator.render.component_plan import (
    admitted_components,
    component_billing,
    plan_component,
    run_environments,
)
from cdp_operator.render.plan import plan_organization
from cdp_operator.render.verdict import Resource, Verdict

DPS = {
    "us": DataPlaneSpec.model_validate(
        {
            "region": "US East 2",
            "egressCIDRs": ["20.22.170.144/28"],
            "ingress": {"baseDomain": "us.example.com"},
        }
    ),
    "eu": DataPlaneSpec.model_validate(
        {
            "region": "North Europe",
            "egressCIDRs": ["20.166.183.112/28"],
            "ingress": {"baseDomain": "eu.example.com"},
        }
    ),
}
NS = "cdp-org-acme"


def org(tier: str = "payg", default: str = "us") -> Resource[OrganizationSpec]:
    return Resource(
        name="acme",
        uid="u-1",
        spec=OrganizationSpec.model_validate({"tier": tier, "defaultDataPlane": default}),
    )


def project(
    name: str, dp: str | None = None, created: str = "2026-01-01T00:00:00Z"
) -> Resource[ProjectSpec]:
    spec: dict[str, Any] = {"dataPlane": dp} if dp else {}
    return Resource(name=name, namespace=NS, created=created, spec=ProjectSpec.model_validate(spec))


def env(name: str, dp: str, created: str, default: bool = False) -> Resource[EnvironmentSpec]:
    labels = {L.DEFAULT_ENVIRONMENT: "true"} if default else {}
    return Resource(
        name=name,
        namespace=NS,
        created=created,
        labels=labels,
        spec=EnvironmentSpec.model_validate({"dataPlane": dp}),
    )


def component(name: str, created: str, project_name: str = "shop") -> Resource[ComponentSpec]:
    return Resource(
        name=name,
        namespace=NS,
        created=created,
        spec=ComponentSpec.model_validate(
            {
                "project": project_name,
                "type": "service",
                "image": "x:1",
                "build": {"buildpack": "ballerina"},
            }
        ),
    )


def verdict(plan: Any, kind: str, name: str) -> Any:
    ns = "" if kind == "Organization" else NS
    return plan.verdicts[(kind, ns, name)]


def test_default_environments_per_data_plane_in_use() -> None:
    plan = plan_organization(org(), DPS, [], [project("shop"), project("data", "eu")])
    names = sorted(o["metadata"]["name"] for o in plan.desired if o["kind"] == "Environment")
    assert names == ["development", "development-eu", "production", "production-eu"]
    runtime = sorted(o["metadata"]["name"] for o in plan.desired if o["kind"] == "Namespace")
    assert runtime == [
        "acme-data-development-eu",
        "acme-data-production-eu",
        "acme-shop-development",
        "acme-shop-production",
        "cdp-org-acme",
    ]


def test_payg_allows_five_environments_defaults_included_oldest_first() -> None:
    defaults = [
        env("development", "us", "2026-01-01T00:00:00Z", True),
        env("production", "us", "2026-01-01T00:00:00Z", True),
        env("development-eu", "eu", "2026-01-02T00:00:00Z", True),
        env("production-eu", "eu", "2026-01-02T00:00:00Z", True),
    ]
    staging = env("staging", "us", "2026-01-03T00:00:00Z")
    qa = env("qa", "eu", "2026-01-04T00:00:00Z")
    plan = plan_organization(
        org(), DPS, [*defaults, qa, staging], [project("shop"), project("data", "eu")]
    )
    assert verdict(plan, "Environment", "staging").ready
    over = verdict(plan, "Environment", "qa")
    assert not over.ready and over.stalled and over.reason == "EnvironmentLimitExceeded"
    assert "5" in over.message
    assert "qa" not in plan.environments


def test_payg_limit_counts_defaults_even_before_they_exist() -> None:
    # The eu defaults are desired by this very plan; they still count.
    staging = env("staging", "us", "2026-01-03T00:00:00Z")
    qa = env("qa", "eu", "2026-01-04T00:00:00Z")
    plan = plan_organization(org(), DPS, [qa, staging], [project("shop"), project("data", "eu")])
    assert verdict(plan, "Environment", "staging").ready
    assert verdict(plan, "Environment", "qa").reason == "EnvironmentLimitExceeded"


def test_developer_tier_only_defaults_and_only_the_default_data_plane() -> None:
    plan = plan_organization(
        org("developer"),
        DPS,
        [env("qa", "us", "2026-01-03T00:00:00Z")],
        [project("shop"), project("abroad", "eu")],
    )
    assert verdict(plan, "Environment", "qa").reason == "EnvironmentLimitExceeded"
    assert verdict(plan, "Project", "abroad").reason == "DataPlaneNotAllowed"
    assert "abroad" not in plan.projects
    assert plan.data_planes == ["us"]


def test_enterprise_has_no_environment_limit() -> None:
    envs = [env(f"e{i}", "us", f"2026-01-0{i + 1}T00:00:00Z") for i in range(8)]
    plan = plan_organization(org("enterprise"), DPS, envs, [project("shop")])
    assert all(verdict(plan, "Environment", f"e{i}").ready for i in range(8))


def test_unknown_data_planes_are_reported() -> None:
    plan = plan_organization(
        org(default="mars"), DPS, [env("x", "venus", "t")], [project("p", "pluto")]
    )
    assert verdict(plan, "Organization", "acme").reason == "DataPlaneNotFound"
    assert verdict(plan, "Environment", "x").reason == "DataPlaneNotFound"
    assert verdict(plan, "Project", "p").reason == "DataPlaneNotFound"


def test_foreign_namespace_is_a_conflict_not_a_takeover() -> None:
    plan = plan_organization(
        org(), DPS, [], [project("shop")], foreign_namespaces={"acme-shop-development"}
    )
    names = {o["metadata"]["name"] for o in plan.desired if o["kind"] == "Namespace"}
    assert "acme-shop-development" not in names
    assert "acme-shop-production" in names
    v = verdict(plan, "Project", "shop")
    assert v.reason == "NamespaceConflict" and v.stalled

    blocked = plan_organization(org(), DPS, [], [project("shop")], foreign_namespaces={NS})
    assert blocked.blocked and not blocked.desired
    assert verdict(blocked, "Organization", "acme").reason == "NamespaceConflict"


def test_component_limit_is_oldest_first_and_deterministic() -> None:
    comps = [component(f"c{i}", f"2026-01-01T00:00:0{i}Z") for i in range(7)]
    admitted = admitted_components(Tier.DEVELOPER, list(reversed(comps)))
    assert admitted == {f"c{i}" for i in range(5)}
    # Same timestamp: the name breaks the tie.
    same = [component(n, "2026-01-01T00:00:00Z") for n in "fedcba"]
    assert admitted_components(Tier.DEVELOPER, same) == set("abcde")
    assert admitted_components(Tier.PAYG, comps) == {c.name for c in comps}


def test_component_plans() -> None:
    plan = plan_organization(org(), DPS, [], [project("shop")])
    ok = plan_component(plan, component("api", "t"), admitted=True)
    assert ok.verdict is None
    assert {rt.environment for rt in ok.runtimes} == {"development", "production"}
    assert any(o["kind"] == "Deployment" for o in ok.desired)

    over = plan_component(plan, component("api", "t"), admitted=False)
    assert over.verdict is not None and over.verdict.reason == "ComponentLimitExceeded"
    assert not over.desired

    lost = plan_component(plan, component("api", "t", project_name="nope"), admitted=True)
    assert lost.verdict is not None and lost.verdict.reason == "ProjectNotFound"


def test_component_plans_judge_the_egress_allowlist_beside_readiness() -> None:
    """An allowlist entry inside the DataPlane's cluster networks is left out of every
    environment's egress policy and reported as a condition of its own; Ready is the
    workloads' business (the verdict passed to `complete` is kept as it is)."""
    us = DPS["us"].model_copy(update={"cluster_networks": ["10.0.0.0/8"]})
    plan = plan_organization(org(), {**DPS, "us": us}, [], [project("shop")])
    spec = component("api", "t").spec.model_copy(
        update={"egress": [EgressRule(cidr="10.1.0.0/16"), EgressRule(cidr="0.0.0.0/0")]}
    )
    cplan = plan_component(plan, Resource(name="api", namespace=NS, spec=spec), admitted=True)
    assert cplan.verdict is None
    (cond,) = cplan.conditions
    assert (cond.type, cond.status, cond.reason) == (
        "EgressAllowlistEffective",
        False,
        "InsideClusterNetwork",
    )
    assert cond.message.startswith(
        "egress 10.1.0.0/16 lies inside the cluster network 10.0.0.0/8 of DataPlane us and "
        "opens nothing"
    )
    blocks = [
        o["spec"]["egress"]
        for o in cplan.desired
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "cdp-api-egress"
    ]
    assert blocks == [[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}]] * 2
    available = Verdict(True, "Available", "ready in 2 environment(s)")
    done = cplan.complete(available)
    assert (done.ready, done.reason, done.message) == (True, "Available", available.message)
    assert done.conditions == (cond,)

    # No allowlist, or a component that is not admitted: no such condition.
    assert plan_component(plan, component("web", "t"), admitted=True).conditions == []
    over = plan_component(plan, Resource(name="api", namespace=NS, spec=spec), admitted=False)
    assert over.conditions == [] and over.verdict is not None
    assert over.complete(over.verdict).conditions == ()


def test_scope_limits_what_is_materialised_not_what_is_reported() -> None:
    projects = [project("shop"), project("data", "eu")]
    full = plan_organization(org(), DPS, [], projects)
    us_only = plan_organization(org(), DPS, [], projects, scope=["us"])
    assert us_only.verdicts == full.verdicts
    ns = {o["metadata"]["name"] for o in us_only.desired if o["kind"] == "Namespace"}
    assert "acme-data-development-eu" not in ns and "acme-shop-development" in ns
    eu_comp = component("job", "t", project_name="data")
    assert plan_component(us_only, eu_comp, admitted=True).desired == []


def test_plans_are_deterministic() -> None:
    projects = [project("shop"), project("data", "eu")]
    assert (
        plan_organization(org(), DPS, [], projects).desired
        == plan_organization(org(), DPS, [], list(reversed(projects))).desired
    )


def test_a_held_slot_is_kept_when_a_newer_object_ties_on_time() -> None:
    # Same creation second: by name alone "a" would win over "z".
    z = Resource(
        name="z",
        namespace=NS,
        created="2026-01-01T00:00:00Z",
        held_slot=True,
        spec=component("z", "t").spec,
    )
    a = component("a", "2026-01-01T00:00:00Z")
    others = [component(f"o{i}", "2025-01-01T00:00:00Z") for i in range(4)]
    admitted = admitted_components(Tier.DEVELOPER, [a, z, *others])
    assert "z" in admitted and "a" not in admitted


# ------------------------------------------------- only a deletion deletes
def ns_obj(name: str) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": name}}


GLOBEX_ENVS = [
    env("development", "us", "2026-01-01T00:00:00Z", True),
    env("production", "us", "2026-01-01T00:00:00Z", True),
    env("development-eu", "eu", "2026-01-02T00:00:00Z", True),
    env("production-eu", "eu", "2026-01-02T00:00:00Z", True),
    env("staging", "us", "2026-01-03T00:00:00Z"),
]
GLOBEX_PROJECTS = [project("shop"), project("data", "eu")]
#: What a payg organization with these resources has materialised.
GLOBEX_NAMESPACES = {
    f"acme-{p}-{e.name}": (p, e.name)
    for p, dp in (("shop", "us"), ("data", "eu"))
    for e in GLOBEX_ENVS
    if e.spec.data_plane == dp
}


def test_a_downgrade_holds_what_runs_instead_of_pruning_it() -> None:
    payg = plan_organization(org(), DPS, GLOBEX_ENVS, GLOBEX_PROJECTS)
    assert {rt.namespace for rt in payg.runtimes.values()} == set(GLOBEX_NAMESPACES)
    assert not payg.held and verdict(payg, "Organization", "acme").ready

    dev = plan_organization(
        org("developer"), DPS, GLOBEX_ENVS, GLOBEX_PROJECTS, materialised=GLOBEX_NAMESPACES
    )
    desired = {o["metadata"]["name"] for o in dev.desired if o["kind"] == "Namespace"}
    assert desired == {NS, "acme-shop-development", "acme-shop-production"}
    # Everything else that runs is held, never pruned.
    assert set(dev.held_namespaces) == {
        "acme-shop-staging",
        "acme-data-development-eu",
        "acme-data-production-eu",
    }
    for name in GLOBEX_NAMESPACES:
        assert name in desired or dev.keeps(ns_obj(name))
    policy = {"kind": "NetworkPolicy", "metadata": {"namespace": "acme-shop-staging", "name": "x"}}
    assert dev.keeps(policy)
    # The eu default Environments stay: a Project still lives there.
    assert dev.held_environments == {"development-eu", "production-eu"}
    assert dev.keeps({"kind": "Environment", "metadata": {"name": "production-eu"}})
    assert not dev.keeps({"kind": "Environment", "metadata": {"name": "production"}})
    # Each held resource says why and what it keeps; the Organization lists them.
    data = verdict(dev, "Project", "data")
    assert data.reason == "DataPlaneNotAllowed" and data.stalled
    assert "acme-data-production-eu" in data.message and "kept running" in data.message
    staging = verdict(dev, "Environment", "staging")
    assert staging.reason == "EnvironmentLimitExceeded" and "acme-shop-staging" in staging.message
    assert verdict(dev, "Environment", "production-eu").reason == "DataPlaneNotAllowed"
    acme = verdict(dev, "Organization", "acme")
    assert (acme.ready, acme.reason, acme.stalled) == (False, "OverTierLimit", True)
    assert "Project data (DataPlaneNotAllowed)" in acme.message
    assert "Environment staging (EnvironmentLimitExceeded)" in acme.message
    assert "upgrade" in acme.message
    assert {(h["kind"], h["name"]) for h in acme.extra["held"]} == {
        ("Project", "data"),
        ("Environment", "staging"),
    }

    # Upgrading again: everything desired again, nothing held.
    again = plan_organization(
        org(), DPS, GLOBEX_ENVS, GLOBEX_PROJECTS, materialised=GLOBEX_NAMESPACES
    )
    assert not again.held_namespaces and not again.held
    assert verdict(again, "Organization", "acme").ready


def test_limits_still_apply_in_full_to_what_never_ran() -> None:
    dev = plan_organization(org("developer"), DPS, GLOBEX_ENVS, GLOBEX_PROJECTS, materialised={})
    assert not dev.held_namespaces and not dev.held
    assert "kept running" not in verdict(dev, "Environment", "staging").message
    assert verdict(dev, "Organization", "acme").ready


def test_a_deleted_data_plane_holds_its_projects() -> None:
    plan = plan_organization(
        org(), {"us": DPS["us"]}, GLOBEX_ENVS, GLOBEX_PROJECTS, materialised=GLOBEX_NAMESPACES
    )
    assert set(plan.held_namespaces) == {"acme-data-development-eu", "acme-data-production-eu"}
    assert verdict(plan, "Project", "data").reason == "DataPlaneNotFound"
    assert plan.held_environments == {"development-eu", "production-eu"}
    acme = verdict(plan, "Organization", "acme")
    assert acme.reason == "ResourcesHeld" and "Project data" in acme.message


def test_only_a_deletion_of_the_project_or_environment_prunes() -> None:
    # staging deleted: its namespace goes; the others stay desired.
    envs = [e for e in GLOBEX_ENVS if e.name != "staging"]
    plan = plan_organization(org(), DPS, envs, GLOBEX_PROJECTS, materialised=GLOBEX_NAMESPACES)
    assert not plan.keeps(ns_obj("acme-shop-staging"))
    assert "acme-shop-staging" not in {rt.namespace for rt in plan.runtimes.values()}
    # data deleted: its namespaces and the eu defaults go.
    plan = plan_organization(
        org(), DPS, GLOBEX_ENVS, [project("shop")], materialised=GLOBEX_NAMESPACES
    )
    assert not plan.keeps(ns_obj("acme-data-production-eu"))
    assert not plan.held_environments
    # A Project whose stored spec no longer parses still exists: nothing of it goes.
    plan = plan_organization(
        org(),
        DPS,
        GLOBEX_ENVS,
        [project("shop")],
        materialised=GLOBEX_NAMESPACES,
        present=[("Project", "data")],
    )
    assert plan.keeps(ns_obj("acme-data-production-eu"))


def test_a_component_that_cannot_be_materialised_is_held_with_a_reason() -> None:
    plan = plan_organization(org(), DPS, GLOBEX_ENVS, GLOBEX_PROJECTS)
    present = [e.name for e in GLOBEX_ENVS]
    typo = component("api", "t")
    typo = replace(typo, spec=typo.spec.model_copy(update={"environments": ["prodution"]}))
    held = plan_component(
        plan, typo, admitted=True, materialised=True, environments_present=present
    )
    assert held.verdict is not None and held.verdict.reason == "EnvironmentNotFound"
    assert "prodution" in held.verdict.message and "kept running" in held.verdict.message
    assert not held.desired
    fresh = plan_component(plan, typo, admitted=True, environments_present=present)
    assert fresh.verdict is not None and "kept running" not in fresh.verdict.message
    over = plan_component(plan, component("c6", "t"), admitted=False, materialised=True)
    assert over.verdict is not None and over.verdict.reason == "ComponentLimitExceeded"
    assert "kept running" in over.verdict.message and "upgrade" in over.verdict.message


def test_an_environment_that_exists_but_is_not_admitted_is_skipped_not_an_error() -> None:
    dev = plan_organization(org("developer"), DPS, GLOBEX_ENVS, GLOBEX_PROJECTS)
    spec = component("api", "t").spec.model_copy(update={"environments": ["production", "staging"]})
    cplan = plan_component(
        dev,
        Resource(name="api", namespace=NS, spec=spec),
        admitted=True,
        environments_present=[e.name for e in GLOBEX_ENVS],
    )
    assert cplan.verdict is None
    assert [rt.environment for rt in cplan.runtimes] == ["production"]


# ------------------------------------------------------ free and paid components
def test_the_oldest_five_are_free_and_the_rest_paid_only_when_allowed() -> None:
    comps = [component(f"c{i}", f"2026-01-01T00:00:0{i}Z") for i in range(7)]
    off = component_billing(Tier.DEVELOPER, False, list(reversed(comps)))
    assert off == {**{f"c{i}": Billing.FREE for i in range(5)}, "c5": None, "c6": None}
    on = component_billing(Tier.DEVELOPER, True, comps)
    assert on == {
        **{f"c{i}": Billing.FREE for i in range(5)},
        "c5": Billing.PAID,
        "c6": Billing.PAID,
    }
    for tier in (Tier.PAYG, Tier.ENTERPRISE):
        for allow in (False, True):
            assert set(component_billing(tier, allow, comps).values()) == {Billing.PAID}


def test_a_free_slot_is_sticky_and_goes_to_the_oldest_paid_component() -> None:
    # c9 is older than every free one but paid: it never takes a slot from them...
    free = [replace(component(f"f{i}", "2026-01-02T00:00:00Z"), held_slot=True) for i in range(5)]
    old_paid = component("c9", "2026-01-01T00:00:00Z")
    newer_paid = component("c8", "2026-01-01T00:00:05Z")
    billing = component_billing(Tier.DEVELOPER, True, [*free, newer_paid, old_paid])
    assert [n for n, b in billing.items() if b == Billing.FREE] == [f"f{i}" for i in range(5)]
    # ...until a free one is deleted: then the oldest paid component is free.
    billing = component_billing(Tier.DEVELOPER, True, [*free[1:], newer_paid, old_paid])
    assert billing["c9"] == Billing.FREE and billing["c8"] == Billing.PAID
    # A new component never takes a free slot.
    new = component("a-new", "2026-01-01T00:00:00Z")
    billing = component_billing(Tier.DEVELOPER, True, [*free, new])
    assert billing["a-new"] == Billing.PAID


def test_the_limit_message_gives_both_ways_out() -> None:
    plan = plan_organization(org("developer"), DPS, [], [project("shop")])
    over = plan_component(plan, component("c5", "t"), admitted=False)
    assert over.verdict is not None and over.verdict.reason == "ComponentLimitExceeded"
    assert "allowPaidComponents: true on Organization acme" in over.verdict.message
    assert "upgrade to payg" in over.verdict.message


# ------------------------------------------------------------ where it runs
def test_a_manual_run_starts_in_the_environments_asked_for() -> None:
    plan = plan_organization(org(), DPS, [], [project("shop")])
    runtimes = plan.runtimes_of("shop")
    assert run_environments(None, runtimes) == runtimes
    assert run_environments(" , ", runtimes) == runtimes
    assert [rt.environment for rt in run_environments("production", runtimes)] == ["production"]
    with pytest.raises(ValueError, match="prodution is not an environment") as exc:
        run_environments("production,prodution", runtimes)
    assert "cdp.dev/run-environments" in str(exc.value)


def test_endpoint_addresses_and_public_urls() -> None:
    plan = plan_organization(org(), DPS, [], [project("shop")])
    rt = plan.runtimes[("shop", "production")]
    spec = component("api", "t").spec.model_copy(
        update={
            "endpoints": [
                Endpoint(name="web", port=8080, visibility="public", path="/api"),
                Endpoint(name="rpc", port=9090, visibility="organization"),
            ]
        }
    )
    web, rpc = endpoint_addresses(rt, "api", spec)
    assert web == {
        "name": "web",
        "port": 8080,
        "visibility": "public",
        "address": "api.acme-shop-production.svc:8080",
        "url": "http://api-production.acme.us.example.com/api",
    }
    assert rpc["address"] == "api.acme-shop-production.svc:9090" and "url" not in rpc
    task = spec.model_copy(update={"type": "scheduled-task", "endpoints": []})
    assert endpoint_addresses(rt, "api", task) == []
