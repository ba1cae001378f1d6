"""The chart's RBAC is enough, and no more: the real operator runs as the chart's
ServiceAccount (a TokenRequest token in a kubeconfig) through the core scenarios.

Any 403 fails the test: in the operator's log, and (on the local control plane)
in the audit log for the ServiceAccount's user. The same identity cannot read
Secrets.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kit import AuditLog, Kube, describe

from .conftest import manifest, projects_in_both_regions
from .identities import (
    CHART,
    ChartIdentity,
    chart_rbac,
    operator_args,
    operator_as,
    render_chart,
)
from .operator_harness import OperatorProcess

pytestmark = pytest.mark.e2e

MANAGED = "app.kubernetes.io/managed-by=cdp-operator"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[ T][\d:,.]+")  # its milliseconds may read 403
FORBIDDEN = re.compile(r"\b403\b|\bforbidden\b|not enough permissions", re.IGNORECASE)


@pytest.fixture
def chart_identity(cluster: Any, namespace: str) -> Iterator[ChartIdentity]:
    with chart_rbac(cluster, f"rbac-{namespace[-5:]}", namespace) as identity:
        yield identity


def _assert_no_forbidden(
    cluster: Any, proc: OperatorProcess, identity: ChartIdentity, since: int
) -> Counter[str]:
    """No denial in the operator's log or (local cluster) in the audit log; the
    identity's writes by "verb resource[/subresource]"."""
    denied_lines = [
        line for line in proc.logs().splitlines() if FORBIDDEN.search(TIMESTAMP.sub("", line))
    ]
    assert not denied_lines, "operator log mentions a denial:\n" + "\n".join(denied_lines[:20])
    if cluster.audit_log is None:
        return Counter[str]()
    events = AuditLog(cluster.audit_log).events(since, username=identity.username)
    refused = [e for e in events if (e.get("responseStatus") or {}).get("code") == 403]
    # Not RBAC: a namespace being deleted refuses new objects (the operator's
    # best-effort Events about components of an organization being deleted).
    terminating = [e for e in refused if "being terminated" in _message(e)]
    denied = [describe(e) + f": {_message(e)}" for e in refused if e not in terminating]
    assert not denied, f"403 for {identity.username}:\n" + "\n".join(denied[:30])
    if terminating:
        print(f"\n{len(terminating)} write(s) refused by terminating namespaces (not RBAC):")
        print("\n".join(describe(e) for e in terminating))
    return Counter(
        f"{e['verb']} {e['objectRef'].get('resource')}"
        + (f"/{e['objectRef']['subresource']}" if e["objectRef"].get("subresource") else "")
        for e in events
        if e.get("objectRef")
    )


def _message(ev: dict[str, Any]) -> str:
    return str((ev.get("responseStatus") or {}).get("message") or "")


def _rules(cluster_role: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = cluster_role["rules"]
    return rules


# ---------------------------------------------------------------- the role itself
def test_cluster_role_has_no_wildcards_and_no_secrets(cluster: Any) -> None:
    for args in ((), ("--set", "replicaCount=2")):
        docs = render_chart(cluster, "r", "cdp-system", *args)
        role = next(d for d in docs if d["kind"] == "ClusterRole")
        for rule in _rules(role):
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(key, []), rule
            assert not rule.get("nonResourceURLs"), rule
            assert not {"secrets", "configmaps", "serviceaccounts"} & set(rule["resources"]), rule
            if "pods" in rule["resources"]:
                # Read only, to say why a component does not run; never a write.
                assert rule["resources"] == ["pods"] and rule["verbs"] == ["list", "watch"], rule
            assert not {"escalate", "bind", "impersonate", "update"} & set(rule["verbs"]), rule
    # HA adds exactly the peering rules.
    single = _rules(next(d for d in render_chart(cluster, "r", "x") if d["kind"] == "ClusterRole"))
    ha = _rules(
        next(
            d
            for d in render_chart(cluster, "r", "x", "--set", "replicaCount=2")
            if d["kind"] == "ClusterRole"
        )
    )
    extra = [r for r in ha if r not in single]
    assert ha[: len(single)] == single
    assert {g for r in extra for g in r["apiGroups"]} == {"kopf.dev"}


# ------------------------------------------------------------ the core scenarios
def test_operator_runs_as_the_chart_service_account(
    cluster: Any,
    kube: Kube,
    crds: None,
    admin_operator_stopped: None,
    chart_identity: ChartIdentity,
    org_name: str,
    tmp_path: Path,
) -> None:
    since = AuditLog(cluster.audit_log).mark()
    proc = operator_as(cluster, chart_identity, tmp_path)
    proc.start()
    try:
        counts = _core_scenarios(kube, proc, org_name)
    finally:
        proc.stop()
    print(f"\noperator log: {proc.log_path}")
    writes = _assert_no_forbidden(cluster, proc, chart_identity, since)
    if cluster.audit_log is None:
        pytest.skip("no audit log on an external cluster: 403s checked in the operator log only")
    print(f"writes by {chart_identity.username}: {sum(writes.values())}")
    for key, n in sorted(writes.items()):
        print(f"  {n:4d} {key}")
    print(f"objects seen: {counts}")
    # The identity really did the work (no other operator did it for us).
    expected = {
        # New objects: one POST each.
        "create namespaces",
        "create networkpolicies",
        "create deployments",
        "create services",
        "create ingresses",
        "create poddisruptionbudgets",
        "create cronjobs",
        "create jobs",
        "create environments",
        # The image change: managedFields adopted, then server-side applied.
        "patch deployments",
        "patch organizations/status",
        "patch environments/status",
        "patch projects/status",
        "patch components/status",
        "patch dataplanes/status",
        "create events",
        "delete deployments",
        "delete services",
        "delete ingresses",
        "delete namespaces",
    }
    assert expected <= set(writes), sorted(expected - set(writes))
    # Never the spec of what users own.
    for kind in ("organizations", "projects", "components", "dataplanes"):
        assert not [k for k in writes if k.endswith(f" {kind}")], writes


def _core_scenarios(kube: Kube, proc: OperatorProcess, org: str) -> dict[str, int]:
    """A new DataPlane; an org with projects in two data planes, a user Environment,
    a component of every type (a manual-task run included); then deletions down to
    the org."""
    dp = f"dp-{org}"
    kube.apply(
        manifest(
            "DataPlane",
            dp,
            region="Test",
            egressCIDRs=["192.0.2.0/28"],
            ingress={"className": "nginx", "baseDomain": "t.example.com"},
        )
    )
    kube.wait_condition("dataplane", dp)
    kube.apply(
        yaml.safe_dump(
            {
                "apiVersion": "cdp.dev/v1alpha1",
                "kind": "Organization",
                "metadata": {"name": org},
                "spec": {"tier": "payg", "defaultDataPlane": "us"},
            }
        )
    )
    ns = f"cdp-org-{org}"
    kube.wait_for(lambda: kube.get("namespace", ns), 60, f"namespace {ns}")
    projects_in_both_regions(kube, ns, "shop", "analytics")
    kube.apply(manifest("Environment", "staging", ns, dataPlane="us"))
    build = {"buildpack": "python", "configs": {"buildPackLangVersion": "3.11"}}
    components = {
        "api": dict(
            project="shop",
            type="service",
            endpoints=[{"name": "http", "port": 8080, "visibility": "organization"}],
            egress=[{"cidr": "203.0.113.10/32", "ports": [5432]}],
        ),
        "web": dict(
            project="shop",
            type="web-app",
            build={
                "buildpack": "nodejs",
                "configs": {"buildPackLangVersion": "20", "port": "3000"},
            },
            endpoints=[{"name": "web", "port": 3000, "visibility": "public"}],
        ),
        "hook": dict(
            project="shop",
            type="webhook",
            endpoints=[{"name": "hook", "port": 8080, "visibility": "public", "path": "/hook"}],
        ),
        "nightly": dict(project="analytics", type="scheduled-task", schedule="0 2 * * *"),
        "reindex": dict(project="analytics", type="manual-task"),
    }
    for name, spec in components.items():
        spec.setdefault("build", build)
        kube.apply(manifest("Component", name, ns, image=f"registry.example.com/{name}:1", **spec))
    kube.run("annotate", "component", "reindex", "-n", ns, "--overwrite", "cdp.dev/run-request=r1")

    kube.wait_condition("organization", org, timeout=120)
    for env in ("development", "production", "development-eu", "production-eu", "staging"):
        kube.wait_condition("environment", env, ns, timeout=120)
    for project in ("shop", "analytics"):
        kube.wait_condition("project", project, ns, timeout=120)
    for name in components:
        kube.wait_condition("component", name, ns, timeout=180)

    prod = f"{org}-shop-production"
    assert kube.get("poddisruptionbudget", "api", prod) is not None
    assert kube.get("ingress", "web", prod) is not None
    assert kube.get("cronjob", "nightly", f"{org}-analytics-production-eu") is not None
    kube.wait_for(
        lambda: kube.list("jobs", f"{org}-analytics-development-eu", MANAGED), 60, "run Job"
    )
    counts = {
        kind: len(kube.list(kind, selector=f"cdp.dev/organization={org}"))
        for kind in ("namespaces", "deployments", "services", "ingresses", "networkpolicies")
    }

    # An update: a created Deployment's fields move to the apply, then it is applied.
    api = components["api"]
    kube.apply(manifest("Component", "api", ns, image="registry.example.com/api:2", **api))
    kube.wait_for(
        lambda: (
            (d := kube.get("deployment", "api", prod))
            and d["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.example.com/api:2"
        ),
        60,
        "api updated",
    )

    # Deletions: a component, a project, then the organization.
    kube.delete("component", "hook", ns)
    for kind in ("deployment", "service", "ingress"):
        kube.wait_gone(kind, "hook", prod)
    kube.delete("project", "analytics", ns)
    kube.wait_gone("namespace", f"{org}-analytics-production-eu", timeout=180)
    kube.wait_condition("component", "nightly", ns, "False", "ProjectNotFound")
    proc.wait_settled()
    kube.delete("organization", org)
    for name in (ns, prod, f"{org}-shop-development", f"{org}-shop-staging"):
        kube.wait_gone("namespace", name, timeout=180)
    kube.delete("dataplane", dp)
    proc.wait_settled()
    return counts


def test_operator_with_peering_runs_as_the_chart_service_account(
    cluster: Any,
    kube: Kube,
    crds: None,
    admin_operator_stopped: None,
    namespace: str,
    org_name: str,
    tmp_path: Path,
) -> None:
    """High availability adds Kopf peering: the HA rendering's extra rules suffice."""
    release = f"ha-{namespace[-5:]}"
    kube.run("apply", "--server-side", "-f", str(CHART / "crds/kopf.dev_clusterkopfpeerings.yaml"))
    kube.run(
        "wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s"
    )
    docs = render_chart(cluster, release, namespace, "--set", "replicaCount=2")
    peering = next(d for d in docs if d["kind"] == "ClusterKopfPeering")
    args = operator_args(docs)
    assert f"--peering={peering['metadata']['name']}" in args
    kube.apply(yaml.safe_dump(peering))
    with chart_rbac(cluster, release, namespace, "--set", "replicaCount=2") as identity:
        since = AuditLog(cluster.audit_log).mark()
        proc = operator_as(cluster, identity, tmp_path, "--peering", peering["metadata"]["name"])
        try:
            proc.start()
            ns = f"cdp-org-{org_name}"
            kube.apply(manifest("Organization", org_name, tier="payg", defaultDataPlane="us"))
            kube.wait_for(lambda: kube.get("namespace", ns), 60, f"namespace {ns}")
            kube.apply(manifest("Project", "p", ns))
            kube.apply(
                manifest(
                    "Component",
                    "api",
                    ns,
                    project="p",
                    type="service",
                    image="registry.example.com/api:1",
                    build={"buildpack": "go", "configs": {"buildPackLangVersion": "1.23"}},
                )
            )
            kube.wait_condition("component", "api", ns, timeout=120)
            live = kube.get("clusterkopfpeering", peering["metadata"]["name"])
            assert live is not None and live.get("status"), "the operator joined the peering"
            kube.delete("organization", org_name)
            kube.wait_gone("namespace", ns, timeout=180)
            proc.wait_settled()
        finally:
            proc.stop()
            kube.delete("clusterkopfpeering", peering["metadata"]["name"], wait=False)
    writes = _assert_no_forbidden(cluster, proc, identity, since)
    if cluster.audit_log is not None:
        assert writes["patch clusterkopfpeerings"] > 0, writes


# -------------------------------------------------------------------- no Secrets
def test_the_chart_identity_cannot_read_secrets(
    cluster: Any, kube: Kube, chart_identity: ChartIdentity, namespace: str, tmp_path: Path
) -> None:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    kube.run("create", "secret", "generic", "s", "-n", namespace, "--from-literal=k=v")
    who = f"--as={chart_identity.username}"
    for verb in ("get", "list", "watch"):
        for scope in (["-n", namespace], ["-A"]):
            result = kube.run("auth", "can-i", verb, "secrets", *scope, who, check=False)
            assert result.stdout.strip() == "no", (verb, scope, result.stdout, result.stderr)
    # Users' specs stay theirs: the operator may not write them.
    for resource in ("organizations", "components.cdp.dev", "projects.cdp.dev"):
        result = kube.run("auth", "can-i", "patch", resource, "-A", who, check=False)
        assert result.stdout.strip() == "no", resource
    result = kube.run(
        "auth",
        "can-i",
        "patch",
        "components.cdp.dev",
        "--subresource=status",
        "-A",
        who,
        check=False,
    )
    assert result.stdout.strip() == "yes"

    # A real request with the token.
    kubeconfig = chart_identity.kubeconfig(cluster, tmp_path / "sa.kubeconfig")
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    assert api.list_namespace(limit=1).items is not None  # the token works
    for call in (
        lambda: api.read_namespaced_secret("s", namespace),
        lambda: api.list_namespaced_secret(namespace),
        lambda: api.list_secret_for_all_namespaces(),
    ):
        with pytest.raises(ApiException) as denied:
            call()
        assert denied.value.status == 403
