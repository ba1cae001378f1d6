"""Only a deletion deletes (domain.md): downgrades, a deleted DataPlane, typos and a
deleted Environment never take down what runs elsewhere.

Every test snapshots the uid of each namespace, workload, Service, Ingress,
PodDisruptionBudget, NetworkPolicy, ReplicaSet and default Environment of its
organization, makes the mistake, and checks that each one is still there with the
same uid; then it removes the cause and checks that nothing rolls out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from kit import Kube

from .conftest import (
    DATA_PLANES,
    manifest,
    pod_templates,
    projects_in_both_regions,
    scheduled_task,
    service_component,
)
from .operator_harness import OperatorProcess

pytestmark = pytest.mark.e2e

#: The kinds a snapshot records in each of the organization's namespaces.
KINDS = (
    "deployments,services,ingresses,networkpolicies,cronjobs,poddisruptionbudgets,"
    "replicasets,environments.cdp.dev"
)


def snapshot(kube: Kube, org: str) -> dict[str, str]:
    """kind/namespace/name -> uid of everything the organization has."""
    result: dict[str, str] = {}
    for ns in kube.list("namespaces", selector=f"cdp.dev/organization={org}"):
        name = ns["metadata"]["name"]
        result[f"Namespace/{name}"] = ns["metadata"]["uid"]
        items = json.loads(kube.run("get", KINDS, "-n", name, "-o", "json").stdout)["items"]
        for obj in items:
            result[f"{obj['kind']}/{name}/{obj['metadata']['name']}"] = obj["metadata"]["uid"]
    return result


def assert_kept(
    before: dict[str, str], after: dict[str, str], *, gone: Callable[[str], bool] | None = None
) -> None:
    """Everything in `before` is in `after` with the same uid, except the keys that
    `gone` selects, which must be absent."""
    expected_gone = {k for k in before if gone and gone(k)}
    lost = {k for k in before if k not in after} - expected_gone
    replaced = {k for k in before if k in after and after[k] != before[k]}
    assert not lost, f"deleted: {sorted(lost)}"
    assert not replaced, f"re-created: {sorted(replaced)}"
    assert not expected_gone & after.keys(), f"still there: {sorted(expected_gone & after.keys())}"


def in_namespace(namespace: str, component: str = "") -> Callable[[str], bool]:
    """Selects a snapshot's keys in `namespace` (of `component`, when given)."""

    def select(key: str) -> bool:
        _, ns, name = [*key.split("/"), ""][:3]
        if key == f"Namespace/{namespace}":
            return not component
        return ns == namespace and (not component or component in name)

    return select


def images(kube: Kube, namespace: str, name: str) -> str | None:
    d = kube.get("deployment", name, namespace)
    return str(d["spec"]["template"]["spec"]["containers"][0]["image"]) if d else None


def message(obj: dict[str, Any] | None, kube: Kube) -> str:
    cond = kube.condition(obj)
    assert cond is not None
    return str(cond["message"])


def warning_reasons(kube: Kube, namespace: str | None, name: str) -> set[str]:
    args = ["get", "events.events.k8s.io", "-o", "json", "--field-selector"]
    args += [f"regarding.name={name},type=Warning"]
    args += ["-n", namespace] if namespace else ["-A"]
    return {e["reason"] for e in json.loads(kube.run(*args).stdout)["items"]}


def held_gauge(operator: OperatorProcess, kind: str, reason: str) -> float:
    return operator.metrics().value("cdp_held_resources", kind=kind, reason=reason) or 0.0


# ------------------------------------------------------------------- downgrade
def test_a_downgrade_keeps_everything_running_and_an_upgrade_rolls_nothing(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    projects_in_both_regions(kube, ns, "shop", "data")
    kube.apply(manifest("Environment", "staging", ns, dataPlane="us"))
    public = [{"name": "web", "port": 8080, "visibility": "public"}]
    kube.apply(service_component(ns, "c0", "shop", endpoints=public))
    for i in range(1, 6):
        kube.apply(service_component(ns, f"c{i}", "shop"))
    kube.apply(scheduled_task(ns, "report", "data", "registry.example.com/report:1", "0 3 * * *"))
    components = [f"c{i}" for i in range(6)] + ["report"]
    for name in components:
        kube.wait_condition("component", name, ns, timeout=120)
    kube.wait_condition("organization", org_name)
    operator.wait_settled()
    before = snapshot(kube, org_name)
    assert f"Namespace/{org_name}-data-production-eu" in before
    assert f"Namespace/{org_name}-shop-staging" in before
    assert f"Ingress/{org_name}-shop-production/c0" in before
    assert f"CronJob/{org_name}-data-production-eu/report" in before
    templates = {n: pod_templates(kube, n.split("/")[1]) for n in before if n[:10] == "Namespace/"}
    gauges = {
        (k, r): held_gauge(operator, k, r)
        for k, r in (
            ("Project", "DataPlaneNotAllowed"),
            ("Environment", "EnvironmentLimitExceeded"),
            ("Component", "ComponentLimitExceeded"),
        )
    }

    # payg -> developer: one data plane, the two default environments, 5 components.
    kube.run(
        "patch", "organization", org_name, "--type=merge", "-p", '{"spec":{"tier":"developer"}}'
    )
    org = kube.wait_condition("organization", org_name, None, "False", "OverTierLimit")
    held = {(h["kind"], h["name"]): h["reason"] for h in org["status"]["held"]}
    over = sorted(n for (k, n) in held if k == "Component")
    assert held[("Project", "data")] == "DataPlaneNotAllowed"
    assert held[("Environment", "staging")] == "EnvironmentLimitExceeded"
    assert len(over) == 2 and all(
        held[("Component", n)] == "ComponentLimitExceeded" for n in over
    ), held
    assert "upgrade" in message(org, kube)
    assert kube.condition(org, "Stalled")["status"] == "True"  # type: ignore[index]
    for name in over:
        c = kube.wait_condition("component", name, ns, "False", "ComponentLimitExceeded")
        assert "kept running as they are" in message(c, kube)
    data = kube.wait_condition("project", "data", ns, "False", "DataPlaneNotAllowed")
    assert f"{org_name}-data-production-eu" in message(data, kube)
    kube.wait_condition("environment", "staging", ns, "False", "EnvironmentLimitExceeded")
    kube.wait_condition("environment", "production-eu", ns, "False", "DataPlaneNotAllowed")
    operator.wait_settled()
    assert_kept(before, snapshot(kube, org_name))
    assert "OverTierLimit" in warning_reasons(kube, None, org_name)
    assert "DataPlaneNotAllowed" in warning_reasons(kube, ns, "data")
    assert (
        held_gauge(operator, "Project", "DataPlaneNotAllowed")
        >= 1 + gauges[("Project", "DataPlaneNotAllowed")]
    )
    assert (
        held_gauge(operator, "Component", "ComponentLimitExceeded")
        >= 2 + gauges[("Component", "ComponentLimitExceeded")]
    )

    # Limits still apply in full to what never ran.
    kube.apply(service_component(ns, "c9", "shop"))
    kube.wait_condition("component", "c9", ns, "False", "ComponentLimitExceeded")
    assert "kept running" not in message(kube.get("component", "c9", ns), kube)
    assert kube.get("deployment", "c9", f"{org_name}-shop-development") is None
    kube.delete("component", "c9", ns)

    # developer -> payg: everything is admitted again, with no rollout.
    kube.run("patch", "organization", org_name, "--type=merge", "-p", '{"spec":{"tier":"payg"}}')
    org = kube.wait_condition("organization", org_name)
    assert org["status"]["held"] == []
    for name in components:
        kube.wait_condition("component", name, ns)
    kube.wait_condition("project", "data", ns)
    kube.wait_condition("environment", "staging", ns)
    operator.wait_settled()
    after = snapshot(kube, org_name)
    assert_kept(before, after)
    assert {k for k in after if k.startswith("ReplicaSet/")} == {
        k for k in before if k.startswith("ReplicaSet/")
    }, "a new ReplicaSet: something rolled out"
    assert {n: pod_templates(kube, n.split("/")[1]) for n in templates} == templates
    for (kind, reason), value in gauges.items():
        assert held_gauge(operator, kind, reason) == value, (kind, reason)

    # Deleting the Organization still removes everything.
    kube.delete("organization", org_name)
    for key in before:
        if key.startswith("Namespace/"):
            kube.wait_gone("namespace", key.split("/")[1], timeout=180)


# ------------------------------------------------------------------ data plane
def test_a_deleted_data_plane_holds_its_projects_and_its_return_rolls_nothing(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="enterprise")
    projects_in_both_regions(kube, ns, "shop", "data")
    kube.apply(service_component(ns, "web", "shop"))
    kube.apply(service_component(ns, "api", "data"))
    kube.wait_condition("component", "web", ns)
    kube.wait_condition("component", "api", ns)
    operator.wait_settled()
    before = snapshot(kube, org_name)
    assert f"Deployment/{org_name}-data-production-eu/api" in before

    try:
        kube.run("delete", "dataplane", "eu", "--wait=true")
        data = kube.wait_condition("project", "data", ns, "False", "DataPlaneNotFound")
        assert "kept running as they are" in message(data, kube)
        api = kube.wait_condition("component", "api", ns, "False", "ProjectNotReady")
        assert "kept running as they are" in message(api, kube)
        org = kube.wait_condition("organization", org_name, None, "False", "ResourcesHeld")
        assert {"kind": "Project", "name": "data", "reason": "DataPlaneNotFound"} in org["status"][
            "held"
        ]
        kube.wait_condition("component", "web", ns)
        operator.wait_settled()
        assert_kept(before, snapshot(kube, org_name))
    finally:
        kube.apply(DATA_PLANES)

    kube.wait_condition("project", "data", ns)
    kube.wait_condition("component", "api", ns)
    kube.wait_condition("organization", org_name)
    operator.wait_settled()
    after = snapshot(kube, org_name)
    assert_kept(before, after)
    assert {k for k in after if k.startswith("ReplicaSet/")} == {
        k for k in before if k.startswith("ReplicaSet/")
    }


# ----------------------------------------------------------------------- typos
def test_a_typo_in_overrides_or_environments_is_reported_never_executed(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    """A held Component gets no spec updates (docs/design.md): a new image given with
    a typo waits until the typo is fixed, then rolls out like any change."""
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    kube.apply(manifest("Environment", "staging", ns, dataPlane="us"))
    kube.apply(service_component(ns, "api", "p"))
    kube.wait_condition("component", "api", ns)
    operator.wait_settled()
    before = snapshot(kube, org_name)
    staging, prod = f"{org_name}-p-staging", f"{org_name}-p-production"
    assert f"Deployment/{staging}/api" in before

    # A typo in an override, with a new image: nothing changes, the status says why.
    new_image = "registry.example.com/api:2"
    typo = [{"environment": "stagng", "replicas": 2}]
    kube.apply(service_component(ns, "api", "p", image=new_image, overrides=typo))
    api = kube.wait_condition("component", "api", ns, "False", "EnvironmentNotFound")
    assert "stagng" in message(api, kube) and "kept running" in message(api, kube)
    assert kube.condition(api, "Stalled")["status"] == "True"  # type: ignore[index]
    operator.wait_settled()
    assert_kept(before, snapshot(kube, org_name))
    assert images(kube, prod, "api") == "registry.example.com/api:1"
    assert "EnvironmentNotFound" in warning_reasons(kube, ns, "api")

    # The fix: the held change applies now, in place.
    fixed = [{"environment": "staging", "replicas": 2}]
    kube.apply(service_component(ns, "api", "p", image=new_image, overrides=fixed))
    kube.wait_condition("component", "api", ns)
    assert images(kube, prod, "api") == new_image
    assert kube.get("deployment", "api", staging)["spec"]["replicas"] == 2  # type: ignore[index]
    operator.wait_settled()
    before = snapshot(kube, org_name)  # the image change made new ReplicaSets

    # A typo in `environments`: the staging Deployment is not removed.
    spec = {"image": new_image, "overrides": fixed}
    kube.apply(service_component(ns, "api", "p", environments=["development", "prodution"], **spec))
    api = kube.wait_condition("component", "api", ns, "False", "EnvironmentNotFound")
    assert "prodution" in message(api, kube)
    operator.wait_settled()
    assert_kept(before, snapshot(kube, org_name))

    # The fix narrows the component to two environments, as asked: only staging's go.
    kube.apply(
        service_component(ns, "api", "p", environments=["development", "production"], **spec)
    )
    kube.wait_condition("component", "api", ns)
    kube.wait_gone("deployment", "api", staging)
    operator.wait_settled()
    assert_kept(before, snapshot(kube, org_name), gone=in_namespace(staging, "api"))


# ------------------------------------------------------------------ environment
def test_deleting_a_non_production_environment_touches_only_its_objects(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    kube.apply(manifest("Environment", "staging", ns, dataPlane="us"))
    overrides = [{"environment": "staging", "replicas": 1}]
    kube.apply(service_component(ns, "api", "p", overrides=overrides))
    kube.apply(service_component(ns, "web", "p"))
    kube.wait_condition("component", "api", ns)
    kube.wait_condition("component", "web", ns)
    operator.wait_settled()
    before = snapshot(kube, org_name)
    staging = f"{org_name}-p-staging"
    assert f"Deployment/{staging}/api" in before

    kube.delete("environment", "staging", ns)
    kube.wait_gone("namespace", staging, timeout=180)
    api = kube.wait_condition("component", "api", ns, "False", "EnvironmentNotFound")
    assert "staging" in message(api, kube)
    kube.wait_condition("component", "web", ns)
    operator.wait_settled()
    after = snapshot(kube, org_name)
    deleted = f"Environment/{ns}/staging"
    assert_kept(before, after, gone=lambda k: k == deleted or in_namespace(staging)(k))

    # Removing the stale override: Ready again, nothing else moves.
    kube.apply(service_component(ns, "api", "p"))
    kube.wait_condition("component", "api", ns)
    operator.wait_settled()
    assert snapshot(kube, org_name) == after
