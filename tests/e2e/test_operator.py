"""The operator against the real control plane: what domain.md promises, observed."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
import yaml

from kit import AuditLog, Kube, describe

from .conftest import (
    CLUSTER_NETWORKS,
    MANAGED,
    manifest,
    manual_task,
    pod_templates,
    projects_in_both_regions,
    scheduled_task,
    service_component,
    sixth_component_over_the_developer_limit,
)
from .operator_harness import REPO, OperatorProcess

pytestmark = pytest.mark.e2e


# --------------------------------------------------------------------- samples
def test_samples_become_ready_and_match_the_domain(kube: Kube, operator: OperatorProcess) -> None:
    """Every sample in examples/ reaches Ready=True and materialises what domain.md says."""
    kube.run("apply", "--server-side", "-f", str(REPO / "examples/00-dataplanes.yaml"))
    kube.run("apply", "--server-side", "-f", str(REPO / "examples/01-organizations.yaml"))
    for org in ("hobby", "globex", "initech"):
        kube.wait_for(lambda o=org: kube.get("namespace", f"cdp-org-{o}"), 60, f"org ns {org}")
    for f in ("10-hobby.yaml", "20-globex.yaml", "30-initech.yaml"):
        kube.run("apply", "--server-side", "-f", str(REPO / "examples" / f))

    docs = []
    for path in sorted((REPO / "examples").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        kube.wait_condition(
            doc["kind"].lower(),
            doc["metadata"]["name"],
            doc["metadata"].get("namespace"),
            timeout=180,
        )

    # kubectl wait works on our conditions (kstatus-style status).
    kube.run(
        "wait", "--for=condition=Ready", "component/orders", "-n", "cdp-org-globex", "--timeout=30s"
    )

    # Organization namespace.
    org_ns = kube.get("namespace", "cdp-org-globex")
    assert org_ns is not None
    assert org_ns["metadata"]["labels"]["cdp.dev/organization"] == "globex"
    assert org_ns["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cdp-operator"

    # Default environments: payg with projects in us and eu -> 4 defaults + staging.
    envs = {e["metadata"]["name"]: e for e in kube.list("environments", "cdp-org-globex")}
    assert set(envs) == {"development", "production", "development-eu", "production-eu", "staging"}
    assert envs["production-eu"]["spec"] == {"dataPlane": "eu", "production": True}
    org = kube.get("organization", "globex")
    assert org is not None and org["status"]["dataPlanes"] == ["us", "eu"]

    # Runtime namespaces: project x environment of the same data plane.
    runtime = {
        n["metadata"]["name"]: n
        for n in kube.list("namespaces", selector="cdp.dev/organization=globex,cdp.dev/project")
    }
    assert set(runtime) == {
        "globex-shop-development",
        "globex-shop-production",
        "globex-shop-staging",
        "globex-analytics-development-eu",
        "globex-analytics-production-eu",
    }
    ns = runtime["globex-shop-production"]["metadata"]
    assert (
        ns["labels"].items()
        >= {
            "cdp.dev/organization": "globex",
            "cdp.dev/project": "shop",
            "cdp.dev/environment": "production",
            "cdp.dev/data-plane": "us",
            "app.kubernetes.io/managed-by": "cdp-operator",
            "pod-security.kubernetes.io/enforce": "restricted",
        }.items()
    )
    assert ns["annotations"]["cdp.dev/egress-cidrs"] == "20.22.170.144/28"
    assert ns["annotations"]["cdp.dev/region"] == "US East 2"
    assert ns["annotations"]["cdp.dev/build-retention"] == "5"
    eu_ns = runtime["globex-analytics-production-eu"]["metadata"]
    assert eu_ns["annotations"]["cdp.dev/egress-cidrs"] == "20.166.183.112/28"

    # NetworkPolicies in every runtime namespace.
    policies = {
        p["metadata"]["name"]: p for p in kube.list("networkpolicies", "globex-shop-production")
    }
    for name in ("cdp-default-deny", "cdp-allow-dns", "cdp-allow-same-project"):
        assert name in policies, name
    assert set(policies["cdp-default-deny"]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    egress = [
        p
        for n, p in policies.items()
        if n.startswith("cdp-orders") and "Egress" in p["spec"]["policyTypes"]
    ]
    assert (
        egress and egress[0]["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"] == "203.0.113.10/32"
    )

    # service: Deployment + Service + Ingress (public endpoint), HA in production.
    prod = "globex-shop-production"
    deploy = kube.get("deployment", "orders", prod)
    assert deploy is not None
    assert deploy["spec"]["replicas"] >= 2
    assert deploy["spec"]["revisionHistoryLimit"] == 5
    assert deploy["metadata"]["annotations"]["cdp.dev/build-retention"] == "5"
    assert deploy["metadata"]["annotations"]["cdp.dev/egress-cidrs"] == "20.22.170.144/28"
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod.get("topologySpreadConstraints")
    assert kube.get("poddisruptionbudget", "orders", prod) is not None
    assert kube.get("service", "orders", prod) is not None
    ing = kube.get("ingress", "orders", prod)
    assert ing is not None
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "10m"
    assert ing["spec"]["ingressClassName"] == "nginx"
    # Development override applied, one replica, no PDB.
    dev_deploy = kube.get("deployment", "orders", "globex-shop-development")
    assert dev_deploy is not None
    env = {
        e["name"]: e["value"]
        for e in dev_deploy["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["LOG_LEVEL"] == "debug"
    assert kube.get("poddisruptionbudget", "orders", "globex-shop-development") is None

    # web-app and webhook: Deployments with Ingresses.
    assert kube.get("deployment", "storefront", prod) is not None
    assert kube.get("deployment", "stripe-hook", prod) is not None
    # scheduled-task: CronJob with the tier's history limits.
    cron = kube.get("cronjob", "nightly-report", "globex-analytics-production-eu")
    assert cron is not None and cron["spec"]["schedule"] == "0 2 * * *"
    assert cron["spec"]["successfulJobsHistoryLimit"] == 5
    # manual-task: nothing long-lived until asked.
    assert not kube.list("jobs", "globex-analytics-development-eu", MANAGED)

    # Free tier: retention 1 everywhere.
    hobby = kube.get("deployment", "posts-api", "hobby-blog-development")
    assert hobby is not None and hobby["spec"]["revisionHistoryLimit"] == 1
    hobby_ns = kube.get("namespace", "hobby-blog-development")
    assert hobby_ns is not None
    assert hobby_ns["metadata"]["annotations"]["cdp.dev/build-retention"] == "1"

    # Component status tells, per environment, namespace, workload and readiness.
    comp = kube.get("component", "orders", "cdp-org-globex")
    assert comp is not None
    envs_status = {e["name"]: e for e in comp["status"]["environments"]}
    assert envs_status["production"]["namespace"] == prod
    assert envs_status["production"]["workloadKind"] == "Deployment"
    assert envs_status["production"]["ready"] is True


def test_gitops_safe_no_operator_metadata_on_user_resources(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name)
    kube.apply(manifest("Project", "p", ns))
    kube.apply(service_component(ns, "api", "p"))
    kube.wait_condition("component", "api", ns)
    comp = json.loads(
        kube.run("get", "component", "api", "-n", ns, "-o", "json", "--show-managed-fields").stdout
    )
    meta = comp["metadata"]
    assert not meta.get("finalizers")
    assert not [k for k in (meta.get("annotations") or {}) if "kopf" in k]
    # The operator wrote only the status subresource of the user's object.
    for entry in meta["managedFields"]:
        if entry["manager"] == "cdp-operator":
            assert entry.get("subresource") == "status", entry


# ----------------------------------------------------------- cross-object errors
def test_cross_object_errors_are_reported_in_status(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="developer")
    kube.apply(manifest("Project", "p", ns))
    # Unknown project.
    kube.apply(service_component(ns, "lost", "nope"))
    lost = kube.wait_condition("component", "lost", ns, "False", "ProjectNotFound")
    assert kube.condition(lost, "Stalled")["status"] == "True"  # type: ignore[index]
    # Unknown data plane.
    kube.apply(manifest("Project", "mars", ns, dataPlane="mars"))
    kube.wait_condition("project", "mars", ns, "False", "DataPlaneNotFound")
    # A data plane the free tier may not use.
    kube.apply(manifest("Project", "abroad", ns, dataPlane="eu"))
    kube.wait_condition("project", "abroad", ns, "False", "DataPlaneNotAllowed")
    assert not kube.list(
        "namespaces", selector=f"cdp.dev/organization={org_name},cdp.dev/project=abroad"
    )
    # Environments beyond the defaults on the free tier.
    kube.apply(manifest("Environment", "qa", ns, dataPlane="us"))
    kube.wait_condition("environment", "qa", ns, "False", "EnvironmentLimitExceeded")
    assert kube.get("namespace", f"{org_name}-p-qa") is None
    # The project that fits works.
    kube.wait_condition("project", "p", ns)


def test_egress_allowlists_follow_the_data_planes_cluster_networks(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    """A DataPlane's clusterNetworks reach the egress policies of running components
    when they change, and the EgressAllowlistEffective condition follows the
    allowlist: set, flipped and removed as it applies."""
    dp = f"lab{org_name}"
    ingress = {"baseDomain": f"{dp}.example.org"}
    kube.apply(manifest("DataPlane", dp, region="Lab", ingress=ingress))
    try:
        ns = make_org(org_name, tier="payg", default_data_plane=dp)
        kube.apply(manifest("Project", "p", ns))
        everything = {"cidr": "0.0.0.0/0", "ports": [443]}
        pods = {"cidr": "10.244.0.0/16", "ports": [8080]}
        runtime = f"{org_name}-p-development"

        def judged(reason: str | None) -> Any:
            """(condition, egress rules) once the status describes the latest spec and
            the condition has `reason` (None: no such condition)."""
            comp = kube.get("component", "api", ns)
            if (
                not comp
                or (comp.get("status") or {}).get("observedGeneration")
                != comp["metadata"]["generation"]
            ):
                return None
            cond = kube.condition(comp, "EgressAllowlistEffective")
            if (cond and cond["reason"]) != reason:
                return None
            policy = kube.get("networkpolicy", "cdp-api-egress", runtime)
            return cond, [r["to"][0]["ipBlock"] for r in policy["spec"]["egress"]] if policy else []

        # No clusterNetworks: the allowlist applies as written, and the status says so.
        kube.apply(service_component(ns, "api", "p", egress=[everything, pods]))
        cond, blocks = kube.wait_for(lambda: judged("ClusterNetworksUnset"), 90, "unset")
        assert cond["status"] == "True" and f"DataPlane {dp} declares no" in cond["message"]
        assert blocks == [{"cidr": "0.0.0.0/0"}, {"cidr": "10.244.0.0/16"}]

        # The DataPlane learns the cluster's networks: the running component follows.
        kube.apply(
            manifest(
                "DataPlane", dp, region="Lab", clusterNetworks=CLUSTER_NETWORKS, ingress=ingress
            )
        )
        expected_except = sorted(CLUSTER_NETWORKS, key=_address_order)
        cond, blocks = kube.wait_for(
            lambda: (j := judged("InsideClusterNetwork")) and len(j[1]) == 1 and j,
            90,
            "the entry inside the pod network left out and reported",
        )
        assert cond["status"] == "False"
        assert cond["message"] == (
            f"egress 10.244.0.0/16 lies inside the cluster network 10.244.0.0/16 of DataPlane "
            f"{dp} and opens nothing; egress 0.0.0.0/0 excludes the cluster networks "
            f"{', '.join(expected_except)} of DataPlane {dp}"
        )
        assert blocks == [{"cidr": "0.0.0.0/0", "except": expected_except}]

        # ... and told as a Warning Event on the Component, once.
        def warnings() -> list[dict[str, Any]]:
            listed = json.loads(
                kube.run("get", "events.events.k8s.io", "-n", ns, "-o", "json").stdout
            )
            return [
                e
                for e in listed["items"]
                if e["regarding"]["name"] == "api"
                and e["type"] == "Warning"
                and e["reason"] == "InsideClusterNetwork"
            ]

        event = kube.wait_for(lambda: warnings(), 30, "a Warning event")[0]
        assert event["note"].startswith(
            "EgressAllowlistEffective: egress 10.244.0.0/16 lies inside"
        )
        ready = kube.condition(kube.get("component", "api", ns))
        assert ready is not None and ready["reason"] in ("Available", "Progressing"), ready

        # Every entry inside: no egress policy at all (default deny), still reported.
        kube.apply(service_component(ns, "api", "p", egress=[pods]))
        cond, blocks = kube.wait_for(
            lambda: (j := judged("InsideClusterNetwork")) and not j[1] and j, 60, "policy pruned"
        )
        assert cond["status"] == "False"
        assert len(warnings()) == 1, "a new message under the same reason is not a new event"
        # Only entries that open something: True.
        kube.apply(service_component(ns, "api", "p", egress=[everything]))
        cond, blocks = kube.wait_for(lambda: judged("ClusterNetworksExcluded"), 60, "effective")
        assert cond["status"] == "True" and blocks == [
            {"cidr": "0.0.0.0/0", "except": expected_except}
        ]
        # No allowlist: neither the condition nor the policy.
        kube.apply(service_component(ns, "api", "p", egress=[]))
        assert kube.wait_for(lambda: judged(None), 60, "condition removed") == (None, [])
    finally:
        kube.delete("organization", org_name, wait=False)
        kube.delete("dataplane", dp, wait=False)


def _address_order(cidr: str) -> tuple[int, int]:
    net = ipaddress.ip_network(cidr)
    return int(net.network_address), net.prefixlen


def test_resources_outside_an_organization_namespace(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(manifest("Project", "p", namespace))
    kube.apply(manifest("Environment", "e", namespace, dataPlane="us"))
    kube.apply(service_component(namespace, "c", "p"))
    for kind, name in (("project", "p"), ("environment", "e"), ("component", "c")):
        obj = kube.wait_condition(kind, name, namespace, "False", "NotInOrganizationNamespace")
        assert "cdp-org-" in kube.condition(obj)["message"]  # type: ignore[index]
    # Nothing was materialised for them: no workload anywhere carries this component.
    assert not [
        d
        for d in kube.list("deployments", selector="cdp.dev/component=c")
        if d["metadata"]["labels"].get("cdp.dev/organization") in (None, namespace)
    ]


def test_component_limit_keeps_the_oldest(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns, over = sixth_component_over_the_developer_limit(kube, make_org, org_name)
    assert "5" in kube.condition(over)["message"]  # type: ignore[index]
    assert kube.get("deployment", "c5", f"{org_name}-p-development") is None
    # Free a slot: the next oldest is admitted.
    kube.delete("component", "c0", ns)
    kube.wait_condition("component", "c5", ns)
    kube.wait_for(
        lambda: kube.get("deployment", "c5", f"{org_name}-p-development"), 60, "c5 deployed"
    )
    kube.wait_gone("deployment", "c0", f"{org_name}-p-development")


def test_payg_environment_limit(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    projects_in_both_regions(kube, ns, "a", "b")
    kube.wait_condition("project", "b", ns)
    kube.apply(manifest("Environment", "staging", ns, dataPlane="us"))
    kube.wait_condition("environment", "staging", ns)
    kube.apply(manifest("Environment", "qa", ns, dataPlane="eu"))
    kube.wait_condition("environment", "qa", ns, "False", "EnvironmentLimitExceeded")
    assert kube.get("namespace", f"{org_name}-b-qa") is None
    assert kube.get("namespace", f"{org_name}-a-staging") is not None


def test_namespace_conflict_is_reported_not_taken_over(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    squatter = f"{org_name}-p-development"
    kube.run("create", "namespace", squatter)
    kube.run("label", "namespace", squatter, "owner=someone-else")
    try:
        ns = make_org(org_name)
        kube.apply(manifest("Project", "p", ns))
        proj = kube.wait_condition("project", "p", ns, "False", "NamespaceConflict")
        assert squatter in kube.condition(proj)["message"]  # type: ignore[index]
        # The other environment works; the squatter's namespace is untouched.
        kube.wait_for(
            lambda: kube.get("namespace", f"{org_name}-p-production"), 60, "production ns"
        )
        taken = kube.get("namespace", squatter)
        assert taken is not None
        assert taken["metadata"]["labels"].get("owner") == "someone-else"
        assert "cdp.dev/organization" not in taken["metadata"]["labels"]
        assert not kube.list("networkpolicies", squatter)
        # Deleting the organization leaves it alone too.
        kube.delete("organization", org_name)
        kube.wait_gone("namespace", f"{org_name}-p-production")
        assert kube.get("namespace", squatter) is not None
    finally:
        kube.delete("namespace", squatter, wait=False)


# ------------------------------------------------------------------------ drift
def test_drift_is_repaired(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    kube.apply(
        service_component(
            ns,
            "api",
            "p",
            endpoints=[{"name": "http", "port": 8080, "visibility": "public"}],
        )
    )
    kube.apply(scheduled_task(ns, "cron", "p", "x/c:1", "*/5 * * * *"))
    kube.wait_condition("component", "api", ns)
    kube.wait_condition("component", "cron", ns)
    rt = f"{org_name}-p-production"

    for kind, name in (
        ("deployment", "api"),
        ("service", "api"),
        ("ingress", "api"),
        ("poddisruptionbudget", "api"),
        ("cronjob", "cron"),
        ("networkpolicy", "cdp-default-deny"),
        ("networkpolicy", "cdp-allow-dns"),
        ("networkpolicy", "cdp-api-ingress"),
    ):
        before = kube.get(kind, name, rt)
        assert before is not None, (kind, name)
        kube.delete(kind, name, rt)
        kube.wait_for(
            lambda k=kind, n=name, uid=before["metadata"]["uid"]: (
                (o := kube.get(k, n, rt)) and o["metadata"]["uid"] != uid
            ),
            60,
            f"{kind}/{name} recreated",
        )

    # Edits come back: image, replicas, a label the policies rely on.
    kube.run(
        "patch",
        "deployment",
        "api",
        "-n",
        rt,
        "--type=json",
        "-p",
        json.dumps(
            [
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/image",
                    "value": "evil:1",
                },
                {"op": "replace", "path": "/spec/replicas", "value": 7},
            ]
        ),
    )
    kube.wait_for(
        lambda: (
            (d := kube.get("deployment", "api", rt))
            and d["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.example.com/api:1"
            and d["spec"]["replicas"] == 2
        ),
        60,
        "deployment restored",
    )
    # A CronJob's schedule and a default Environment come back too.
    kube.run(
        "patch",
        "cronjob",
        "cron",
        "-n",
        rt,
        "--type=merge",
        "-p",
        '{"spec":{"schedule":"0 0 1 1 *"}}',
    )
    kube.wait_for(
        lambda: kube.get("cronjob", "cron", rt)["spec"]["schedule"] == "*/5 * * * *",  # type: ignore[index]
        60,
        "cronjob schedule restored",
    )
    dev_env = kube.get("environment", "development", ns)
    assert dev_env is not None
    kube.delete("environment", "development", ns)
    kube.wait_for(
        lambda: (
            (e := kube.get("environment", "development", ns))
            and e["metadata"]["uid"] != dev_env["metadata"]["uid"]
        ),
        60,
        "default environment recreated",
    )
    kube.run("label", "namespace", rt, "--overwrite", "cdp.dev/organization=someone-else")
    kube.wait_for(
        lambda: kube.get("namespace", rt)["metadata"]["labels"]["cdp.dev/organization"] == org_name,  # type: ignore[index]
        60,
        "namespace label restored",
    )
    kube.run("annotate", "namespace", rt, "--overwrite", "cdp.dev/egress-cidrs=0.0.0.0/0")
    kube.wait_for(
        lambda: (
            kube.get("namespace", rt)["metadata"]["annotations"]["cdp.dev/egress-cidrs"]
            == "20.22.170.144/28"
        ),  # type: ignore[index]
        60,
        "namespace annotation restored",
    )
    kube.run(
        "patch",
        "networkpolicy",
        "cdp-default-deny",
        "-n",
        rt,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"policyTypes": ["Ingress"]}}),
    )
    kube.wait_for(
        lambda: (
            set(kube.get("networkpolicy", "cdp-default-deny", rt)["spec"]["policyTypes"])
            == {"Ingress", "Egress"}
        ),  # type: ignore[index]
        60,
        "default deny restored",
    )


def _our_field_entries(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(operation, subresource) of cdp-operator's managedFields entries."""
    return sorted(
        (e["operation"], e.get("subresource", ""))
        for e in obj["metadata"].get("managedFields") or []
        if e["manager"] == "cdp-operator"
    )


def test_a_spec_change_removes_what_is_no_longer_rendered(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    """Objects are created with one POST (no read first); their fields move to
    the operator's server-side apply before the first update, so an update can
    remove what the spec no longer asks for, and leaves others' fields alone."""
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    env = [{"name": "KEEP", "value": "1"}, {"name": "DROP", "value": "2"}]
    kube.apply(service_component(ns, "api", "p", env=env))
    kube.wait_condition("component", "api", ns)
    rt = f"{org_name}-p-development"
    created = kube.run("get", "deployment", "api", "-n", rt, "-o", "json", "--show-managed-fields")
    assert _our_field_entries(json.loads(created.stdout)) == [("Update", "")], (
        "made by a create: owned by an Update entry"
    )
    kube.run("label", "deployment", "api", "-n", rt, "team=payments")  # somebody else's field

    kube.apply(service_component(ns, "api", "p", env=env[:1]))

    def env_names() -> list[str] | None:
        d = kube.get("deployment", "api", rt)
        return (
            [e["name"] for e in d["spec"]["template"]["spec"]["containers"][0].get("env") or []]
            if d
            else None
        )

    kube.wait_for(lambda: "DROP" not in (env_names() or ["DROP"]), 60, "DROP removed")
    assert "KEEP" in (env_names() or [])
    updated = json.loads(
        kube.run("get", "deployment", "api", "-n", rt, "-o", "json", "--show-managed-fields").stdout
    )
    assert _our_field_entries(updated) == [("Apply", "")]
    assert updated["metadata"]["labels"]["team"] == "payments"
    kube.wait_condition("component", "api", ns)


def test_a_name_taken_by_a_foreign_object_is_reported_not_taken_over(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    rt = f"{org_name}-p-production"
    kube.wait_for(lambda: kube.get("namespace", rt), 60, "runtime namespace")
    kube.run("create", "service", "clusterip", "api", "--tcp=80:80", "-n", rt)
    before = kube.get("service", "api", rt)
    assert before is not None

    kube.apply(service_component(ns, "api", "p"))
    comp = kube.wait_condition("component", "api", ns, "False", "NameConflict")
    message = kube.condition(comp)["message"]  # type: ignore[index]
    assert f"Service 'api' in namespace '{rt}'" in message, message
    assert kube.condition(comp, "Stalled")["status"] == "True"  # type: ignore[index]
    after = kube.get("service", "api", rt)
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert "app.kubernetes.io/managed-by" not in (after["metadata"].get("labels") or {})
    # Everything else of the component was made (the other environment entirely).
    assert kube.get("deployment", "api", rt) is not None
    assert kube.get("service", "api", f"{org_name}-p-development") is not None

    # Once the name is free, the operator makes its own (it looks again every 30 s).
    kube.delete("service", "api", rt)
    kube.wait_condition("component", "api", ns, timeout=120)
    ours = kube.get("service", "api", rt)
    assert ours is not None and ours["metadata"]["uid"] != before["metadata"]["uid"]
    assert ours["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cdp-operator"


# --------------------------------------------------------------------- deletion
def test_deletion_removes_exactly_what_was_materialised(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="enterprise")
    kube.apply(manifest("Project", "p", ns))
    kube.apply(manifest("Project", "q", ns))
    kube.apply(manifest("Environment", "qa", ns, dataPlane="us"))
    kube.apply(service_component(ns, "api", "p"))
    kube.apply(service_component(ns, "web", "p"))
    kube.wait_condition("component", "api", ns)
    kube.wait_condition("component", "web", ns)
    dev = f"{org_name}-p-development"
    # Something the operator did not create, inside a namespace it did.
    kube.run("create", "configmap", "user-notes", "-n", ns, "--from-literal=a=b")

    # Component: its objects go, the sibling's stay.
    kube.delete("component", "api", ns)
    kube.wait_gone("deployment", "api", dev)
    kube.wait_gone("service", "api", dev)
    assert kube.get("deployment", "web", dev) is not None
    assert not [
        p for p in kube.list("networkpolicies", dev) if p["metadata"]["name"].startswith("cdp-api-")
    ]

    # Environment: its runtime namespaces go (and finish terminating).
    assert kube.get("namespace", f"{org_name}-p-qa") is not None
    kube.delete("environment", "qa", ns)
    kube.wait_gone("namespace", f"{org_name}-p-qa")
    kube.wait_gone("namespace", f"{org_name}-q-qa")

    # Project: its runtime namespaces go, the other project's stay.
    kube.delete("project", "q", ns)
    kube.wait_gone("namespace", f"{org_name}-q-development")
    kube.wait_gone("namespace", f"{org_name}-q-production")
    assert kube.get("namespace", dev) is not None
    assert kube.get("configmap", "user-notes", ns) is not None

    # Organization: everything goes, nothing stays Terminating.
    kube.delete("organization", org_name)
    for name in (ns, dev, f"{org_name}-p-production"):
        kube.wait_gone("namespace", name, timeout=180)


# ------------------------------------------------------------------ tier change
def test_tier_change_causes_no_rollout(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    kube.apply(service_component(ns, "api", "p"))
    kube.apply(scheduled_task(ns, "cron", "p", "x/cron:1", "*/5 * * * *"))
    kube.wait_condition("component", "api", ns)
    kube.wait_condition("component", "cron", ns)
    rt = f"{org_name}-p-production"
    before = pod_templates(kube, rt)
    rs_before = {r["metadata"]["name"] for r in kube.list("replicasets", rt)}
    assert before

    kube.run(
        "patch", "organization", org_name, "--type=merge", "-p", '{"spec":{"tier":"enterprise"}}'
    )
    kube.wait_for(
        lambda: (
            kube.get("namespace", rt)["metadata"]["labels"].get("cdp.dev/tier", "enterprise")
            == "enterprise"  # type: ignore[index]
            and (o := kube.get("organization", org_name))
            and o["status"].get("observedGeneration") == o["metadata"]["generation"]
        ),
        60,
        "tier change observed",
    )
    operator.wait_settled()
    assert pod_templates(kube, rt) == before
    assert {r["metadata"]["name"] for r in kube.list("replicasets", rt)} == rs_before

    # Even a change that moves retention (payg 5 -> developer 1) rolls nothing.
    kube.run(
        "patch", "organization", org_name, "--type=merge", "-p", '{"spec":{"tier":"developer"}}'
    )
    kube.wait_for(
        lambda: kube.get("deployment", "api", rt)["spec"]["revisionHistoryLimit"] == 1,  # type: ignore[index]
        60,
        "retention moved",
    )
    operator.wait_settled()
    assert pod_templates(kube, rt) == before
    assert {r["metadata"]["name"] for r in kube.list("replicasets", rt)} == rs_before


# ------------------------------------------------------------------ manual runs
def test_manual_task_runs_on_request_and_prunes_to_retention(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="developer")  # retention 1
    kube.apply(manifest("Project", "p", ns))
    kube.apply(manual_task(ns, "job", "p", "x/job:1"))
    kube.wait_condition("component", "job", ns)
    dev = f"{org_name}-p-development"
    assert not kube.list("jobs", dev, MANAGED)

    kube.run("annotate", "component", "job", "-n", ns, "--overwrite", "cdp.dev/run-request=first")
    first = kube.wait_for(lambda: kube.list("jobs", dev, MANAGED), 60, "first run Job")
    assert len(first) == 1
    kube.wait_for(
        lambda: (
            (c := kube.get("component", "job", ns))
            and (c["status"].get("lastRun") or {}).get("token") == "first"
        ),
        60,
        "lastRun recorded",
    )
    # The run's outcome, from the real Job status, is in the component's status.
    kube.wait_for(
        lambda: (
            (c := kube.get("component", "job", ns))
            and all("Complete" in e["message"] for e in c["status"]["environments"])
        ),
        90,
        "run reported Complete per environment",
    )
    kube.run("annotate", "component", "job", "-n", ns, "--overwrite", "cdp.dev/run-request=second")
    kube.wait_for(
        lambda: (
            [
                j["metadata"]["annotations"].get("cdp.dev/run-token")
                for j in kube.list("jobs", dev, MANAGED)
            ]
            == ["second"]
        ),
        90,
        "second run replaces the first (retention 1)",
    )


# ------------------------------------------------------------------ idempotence
def test_restart_makes_zero_writes(
    kube: Kube, cluster: Any, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    if not getattr(cluster, "audit_log", None):
        pytest.skip("needs the local control plane's audit log")
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    kube.apply(manifest("Project", "r", ns, dataPlane="eu"))
    kube.apply(
        service_component(
            ns, "api", "p", endpoints=[{"name": "h", "port": 80, "visibility": "public"}]
        )
    )
    kube.apply(scheduled_task(ns, "cron", "r", "x/c:1", "@hourly"))
    kube.apply(manual_task(ns, "job", "p", "x/j:1"))
    for c in ("api", "cron", "job"):
        kube.wait_condition("component", c, ns)
    operator.wait_settled()

    operator.stop()
    audit = AuditLog(cluster.audit_log)
    mark = audit.mark()
    operator.start()
    operator.wait_settled(quiet=5)
    writes = audit.writes(mark, user_agent_prefix="cdp-operator/")
    assert writes == [], [describe(w) for w in writes]
    # It did read and reconcile everything again.
    assert operator.total("cdp_reconcile_total") > 0
    # And every one of its requests carried its user agent: none from a bare kopf client.
    assert not audit.writes(user_agent_prefix="kopf/")
