"""One operator per data-plane region: two operators on one cluster, installed as the
chart would install them with `dataPlanes: [us]` and `dataPlanes: [eu]`.

Each runs as its own release's ServiceAccount, so the audit log tells their writes
apart (both send the same user agent). An organization with a project in each
region must become Ready, with every write to a region's runtime namespaces,
workloads and statuses made by that region's operator only.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kit import AuditLog, Kube, describe, username

from .conftest import manifest, projects_in_both_regions
from .identities import (
    ChartIdentity,
    chart_rbac,
    operator_args,
    operator_as,
    render_chart,
)
from .operator_harness import OperatorProcess

pytestmark = pytest.mark.e2e

REGIONS = ("us", "eu")


@dataclass
class RegionalOperator:
    region: str
    identity: ChartIdentity
    process: OperatorProcess


@pytest.fixture
def regional_operators(
    cluster: Any, crds: None, admin_operator_stopped: None, namespace: str, tmp_path: Path
) -> Iterator[dict[str, RegionalOperator]]:
    if cluster.audit_log is None:
        pytest.skip("needs the local control plane's audit log to attribute writes")
    result: dict[str, RegionalOperator] = {}
    with contextlib.ExitStack() as rbac:
        try:
            for region in REGIONS:
                release = f"cdp-{region}-{namespace[-5:]}"
                values = ("--set", f"dataPlanes={{{region}}}")
                args = operator_args(render_chart(cluster, release, namespace, *values))
                scope = [a for a in args if a.startswith("--data-plane")]
                assert scope == [f"--data-plane={region}"], args
                identity = rbac.enter_context(chart_rbac(cluster, release, namespace, *values))
                proc = operator_as(cluster, identity, tmp_path, *scope, name=f"operator-{region}")
                result[region] = RegionalOperator(region, identity, proc)
                proc.start()
            yield result
        finally:
            for op in result.values():
                op.process.stop()
            for op in result.values():
                print(f"\n{op.region} operator log: {op.process.log_path}")


def _writes(
    audit_log: Path, since: int, ops: dict[str, RegionalOperator]
) -> dict[str, list[dict[str, Any]]]:
    by_user = {op.identity.username: region for region, op in ops.items()}
    result: dict[str, list[dict[str, Any]]] = {region: [] for region in ops}
    for ev in AuditLog(audit_log).writes(since):
        region = by_user.get(username(ev))
        if region:
            result[region].append(ev)
    return result


def _region_of_target(
    ev: dict[str, Any], namespaces: dict[str, str], objects: dict[tuple[str, str], str]
) -> str | None:
    """The data plane a written object belongs to; None for organization-level objects."""
    ref = ev.get("objectRef") or {}
    resource, name, ns = ref.get("resource"), ref.get("name", ""), ref.get("namespace", "")
    if resource == "namespaces":
        return namespaces.get(name)
    if ns in namespaces:
        return namespaces[ns]
    if ref.get("subresource") == "status":
        return objects.get((str(resource), name))
    return None


def _table(
    writes: dict[str, list[dict[str, Any]]], classify: Callable[[dict[str, Any]], str | None]
) -> str:
    lines = []
    for region, events in writes.items():
        counts = Counter(f"{classify(e) or 'org-level'}" for e in events)
        lines.append(f"{region} operator: {len(events)} writes, by target region {dict(counts)}")
    return "\n".join(lines)


def _setup_org(kube: Kube, org: str) -> tuple[str, dict[str, str], dict[tuple[str, str], str]]:
    kube.apply(manifest("Organization", org, tier="payg", defaultDataPlane="us"))
    ns = f"cdp-org-{org}"
    kube.wait_for(lambda: kube.get("namespace", ns), 60, f"namespace {ns}")
    projects_in_both_regions(kube, ns, "shop", "analytics")
    build = {"buildpack": "go", "configs": {"buildPackLangVersion": "1.23"}}
    components = {
        "api": ("shop", dict(type="service", endpoints=[{"name": "h", "port": 8080}])),
        "web": (
            "shop",
            dict(
                type="web-app",
                endpoints=[{"name": "w", "port": 80, "visibility": "public"}],
                build={
                    "buildpack": "nodejs",
                    "configs": {"buildPackLangVersion": "20", "port": "80"},
                },
            ),
        ),
        "report": ("analytics", dict(type="service", endpoints=[{"name": "h", "port": 8080}])),
        "nightly": ("analytics", dict(type="scheduled-task", schedule="0 2 * * *")),
    }
    for name, (project, spec) in components.items():
        spec.setdefault("build", build)
        kube.apply(
            manifest(
                "Component", name, ns, project=project, image=f"r.example.com/{name}:1", **spec
            )
        )
    kube.wait_condition("organization", org, timeout=120)
    for env in ("development", "production", "development-eu", "production-eu"):
        kube.wait_condition("environment", env, ns, timeout=120)
    for project in ("shop", "analytics"):
        kube.wait_condition("project", project, ns, timeout=120)
    for name in components:
        kube.wait_condition("component", name, ns, timeout=180)

    namespaces = {
        n["metadata"]["name"]: n["metadata"]["labels"]["cdp.dev/data-plane"]
        for n in kube.list("namespaces", selector=f"cdp.dev/organization={org},cdp.dev/project")
    }
    assert sorted(namespaces.values()) == ["eu", "eu", "us", "us"], namespaces
    objects = {("projects", "shop"): "us", ("projects", "analytics"): "eu"}
    objects |= {
        ("components", n): "us" if p == "shop" else "eu" for n, (p, _) in components.items()
    }
    objects |= {("environments", e): "us" for e in ("development", "production")}
    objects |= {("environments", e): "eu" for e in ("development-eu", "production-eu")}
    objects |= {("dataplanes", r): r for r in REGIONS}
    return ns, namespaces, objects


def test_each_region_is_written_only_by_its_operator(
    cluster: Any, kube: Kube, regional_operators: dict[str, RegionalOperator], org_name: str
) -> None:
    ops = regional_operators
    since = AuditLog(cluster.audit_log).mark()
    _ns, namespaces, objects = _setup_org(kube, org_name)
    for op in ops.values():
        op.process.wait_settled()

    writes = _writes(cluster.audit_log, since, ops)

    def classify(ev: dict[str, Any]) -> str | None:
        return _region_of_target(ev, namespaces, objects)

    print("\n" + _table(writes, classify))
    for region, events in writes.items():
        foreign = [describe(e) for e in events if classify(e) not in (None, region)]
        assert not foreign, f"the {region} operator wrote to another region:\n" + "\n".join(foreign)
        own = [e for e in events if classify(e) == region]
        assert own, f"the {region} operator wrote nothing in its region"
        # Its runtime namespaces and workloads were created by it.
        created = {
            (e["objectRef"]["resource"], e["objectRef"].get("name"))
            for e in own
            if e["objectRef"]["resource"] in ("namespaces", "deployments", "cronjobs")
        }
        expected_ns = {("namespaces", n) for n, r in namespaces.items() if r == region}
        assert expected_ns <= created, (region, created)

    # Every runtime namespace's objects carry only their region's operator as
    # field manager... and the same user agent: the audit log is what tells them apart.
    for name, region in namespaces.items():
        for deploy in kube.list("deployments", name):
            assert deploy["metadata"]["labels"]["cdp.dev/data-plane"] == region

    # Converged: the two operators do not fight over shared organization-level objects.
    quiet_since = AuditLog(cluster.audit_log).mark()
    ops["us"].process.wait_settled(quiet=5)
    ops["eu"].process.wait_settled(quiet=5)
    later = _writes(cluster.audit_log, quiet_since, ops)
    assert not any(later.values()), {r: [describe(e) for e in ev] for r, ev in later.items()}
    kube.delete("organization", org_name, wait=False)


def test_deletions_in_a_region_are_made_by_its_operator(
    cluster: Any, kube: Kube, regional_operators: dict[str, RegionalOperator], org_name: str
) -> None:
    ops = regional_operators
    ns, namespaces, objects = _setup_org(kube, org_name)
    for op in ops.values():
        op.process.wait_settled()

    def classify(ev: dict[str, Any]) -> str | None:
        return _region_of_target(ev, namespaces, objects)

    since = AuditLog(cluster.audit_log).mark()
    # A component in each region, then a project in each region, then the org.
    kube.delete("component", "api", ns)
    kube.delete("component", "report", ns)
    kube.wait_gone("deployment", "api", f"{org_name}-shop-development")
    kube.wait_gone("deployment", "report", f"{org_name}-analytics-development-eu")
    for op in ops.values():
        op.process.wait_settled()
    kube.delete("organization", org_name)
    for name in [ns, *namespaces]:
        kube.wait_gone("namespace", name, timeout=180)
    for op in ops.values():
        op.process.wait_settled()

    writes = _writes(cluster.audit_log, since, ops)
    print("\n" + _table(writes, classify))
    foreign = {
        region: [describe(e) for e in events if classify(e) not in (None, region)]
        for region, events in writes.items()
    }
    assert not any(foreign.values()), "writes to another region's objects:\n" + "\n".join(
        f"{region} operator: {line}" for region, lines in foreign.items() for line in lines
    )
