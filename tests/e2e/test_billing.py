"""Free and paid components (domain.md): the developer tier's sixth component is a
choice (allowPaidComponents), not a wall; which components are free is sticky; a
change of billing class rolls nothing out; turning paid usage off holds, never
deletes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kit import Kube

from .conftest import manifest, service_component, sixth_component_over_the_developer_limit
from .operator_harness import OperatorProcess
from .test_cli_e2e import cdp, ok

pytestmark = pytest.mark.e2e


def billing(kube: Kube, name: str, namespace: str) -> str | None:
    obj = kube.get("component", name, namespace)
    return (obj or {}).get("status", {}).get("billing")


def counts(kube: Kube, org: str) -> tuple[int | None, int | None]:
    status = (kube.get("organization", org) or {}).get("status") or {}
    return status.get("freeComponents"), status.get("paidComponents")


def replica_sets(kube: Kube, org: str) -> dict[str, str]:
    """ReplicaSet name -> uid in every runtime namespace of the organization."""
    result = {}
    for ns in kube.list("namespaces", selector=f"cdp.dev/organization={org},cdp.dev/project"):
        for rs in kube.list("replicasets", ns["metadata"]["name"]):
            result[rs["metadata"]["name"]] = rs["metadata"]["uid"]
    return result


def set_allow_paid(kube: Kube, org: str, allow: bool) -> None:
    patch = json.dumps({"spec": {"allowPaidComponents": allow}})
    kube.run("patch", "organization", org, "--type=merge", "-p", patch)


def paid_metric(operator: OperatorProcess, org: str) -> float | None:
    return operator.metrics().value("cdp_paid_components", organization=org)


def test_the_developer_tiers_sixth_component_is_paid_when_allowed(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str, cluster: Any
) -> None:
    # Paid usage off (the default): the sixth is refused, with both ways out.
    ns, over = sixth_component_over_the_developer_limit(kube, make_org, org_name)
    dev = f"{org_name}-p-development"
    for i in range(5):
        assert billing(kube, f"c{i}", ns) == "free"
    text = kube.condition(over)["message"]  # type: ignore[index]
    assert f"spec.allowPaidComponents: true on Organization {org_name}" in text, text
    assert "upgrade to payg" in text
    assert billing(kube, "c5", ns) is None
    assert kube.get("deployment", "c5", dev) is None
    kube.wait_for(lambda: counts(kube, org_name) == (5, 0), 60, "5 free, 0 paid")
    operator.wait_settled()
    before = replica_sets(kube, org_name)

    # Allowed: the sixth runs as paid; the five free ones do not move.
    set_allow_paid(kube, org_name, True)
    kube.wait_condition("component", "c5", ns)
    assert billing(kube, "c5", ns) == "paid"
    assert kube.get("deployment", "c5", dev) is not None
    kube.wait_for(lambda: counts(kube, org_name) == (5, 1), 60, "5 free, 1 paid")
    assert paid_metric(operator, org_name) == 1
    columns = kube.run("get", "components", "-n", ns, "--no-headers").stdout
    assert [ln.split()[3] for ln in columns.splitlines() if ln.startswith("c5 ")] == ["paid"]
    org_columns = kube.run("get", "organization", org_name, "--no-headers").stdout.split()
    assert org_columns[4:7] == ["true", "5", "1"], org_columns
    table = ok(cdp(cluster, "get", "components", "--organization", org_name))
    assert [ln.split()[4] for ln in table.splitlines() if ln.startswith("c5 ")] == ["paid"]
    operator.wait_settled()
    after_paid = replica_sets(kube, org_name)
    assert {k: v for k, v in after_paid.items() if not k.startswith("c5-")} == before

    # A free slot opens: the oldest paid component takes it, with no rollout.
    kube.delete("component", "c0", ns)
    kube.wait_for(lambda: billing(kube, "c5", ns) == "free", 60, "c5 free")
    kube.wait_for(lambda: counts(kube, org_name) == (5, 0), 60, "5 free, 0 paid")
    kube.wait_condition("component", "c5", ns)
    operator.wait_settled()
    assert {k: v for k, v in replica_sets(kube, org_name).items() if not k.startswith("c0-")} == {
        k: v for k, v in after_paid.items() if not k.startswith("c0-")
    }

    # A new component never takes a free slot; turning paid usage off holds it.
    kube.apply(service_component(ns, "c6", "p"))
    kube.wait_condition("component", "c6", ns)
    assert billing(kube, "c6", ns) == "paid"
    operator.wait_settled()
    running = kube.get("deployment", "c6", dev)
    assert running is not None
    set_allow_paid(kube, org_name, False)
    held = kube.wait_condition("component", "c6", ns, "False", "ComponentLimitExceeded")
    assert "kept running as they are" in kube.condition(held)["message"]  # type: ignore[index]
    org = kube.wait_condition("organization", org_name, None, "False", "OverTierLimit")
    assert {"kind": "Component", "name": "c6", "reason": "ComponentLimitExceeded"} in org["status"][
        "held"
    ]
    kube.wait_for(lambda: counts(kube, org_name) == (5, 1), 60, "the held one still counts")
    operator.wait_settled()
    still = kube.get("deployment", "c6", dev)
    assert still is not None and still["metadata"]["uid"] == running["metadata"]["uid"]
    assert still["metadata"]["generation"] == running["metadata"]["generation"]


def test_payg_and_enterprise_components_are_all_paid(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    for name in ("a", "b"):
        kube.apply(service_component(ns, name, "p"))
    for name in ("a", "b"):
        kube.wait_condition("component", name, ns)
        assert billing(kube, name, ns) == "paid"
    kube.wait_for(lambda: counts(kube, org_name) == (0, 2), 60, "0 free, 2 paid")
    assert paid_metric(operator, org_name) == 2
    kube.run(
        "patch", "organization", org_name, "--type=merge", "-p", '{"spec":{"tier":"enterprise"}}'
    )
    kube.wait_condition("organization", org_name)
    assert counts(kube, org_name) == (0, 2)
    assert billing(kube, "a", ns) == "paid" and billing(kube, "b", ns) == "paid"
    kube.delete("organization", org_name)
    kube.wait_for(lambda: paid_metric(operator, org_name) is None, 60, "metric of a deleted org")
