"""Tenant boundaries: what a tenant with edit rights on its organization namespace can do.

The tenant is a ServiceAccount bound (RoleBinding) to the ClusterRole ``edit``
plus a small ClusterRole for the cdp.dev kinds tenants own (projects,
components, environments), both only in ``cdp-org-<A>``. It authenticates with
a token from the TokenRequest API, through its own kubeconfig.

As that tenant:

* a Component naming a project of organization B makes the operator act in
  nothing of B (its status says why; the audit log shows no operator write in
  B's namespaces);
* anything in B's namespace, runtime namespaces, namespaces' labels,
  Organizations and DataPlanes is Forbidden.

What a tenant *can* do that harms others is a finding, written as a strict xfail
naming it (it starts passing once fixed):

* T1 (fixed): runtime namespace names of two organizations could be made to
  collide, so a tenant squatted another organization's namespace (the victim
  got NamespaceConflict); now a plain name never ends like a hashed one and
  organization names may not start with ``cdp-`` (tests below, and
  ``tests/unit/test_naming.py``);
* T2 (fixed): pods a tenant runs in its organization namespace were not
  isolated (no policies there) and bypassed the egress allowlist; the
  organization namespace now gets default-deny and DNS policies;
* T3 (fixed): with ``edit``, a tenant published an Ingress for another
  organization's public host. The chart's ValidatingAdmissionPolicy
  (``templates/admissionpolicy.yaml``, installed here exactly as ``helm
  template`` renders it) now refuses any host under a DataPlane's base domain
  that does not end with ``.<the namespace's organization>.<baseDomain>``: in
  rules, wildcards, TLS hosts and ingress-nginx's server-alias, plus rules that
  catch every host; the operator's own Ingresses still pass.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp_operator.models.naming import runtime_namespace_name
from isolation.netpol_eval import Cluster, External
from kit import AuditLog, Kube, holds_for, service_account_token, token_kubeconfig

from .conftest import manifest
from .identities import CHART
from .operator_harness import OperatorProcess

pytestmark = pytest.mark.e2e

CDP_TENANT_RULES = [
    {
        "apiGroups": ["cdp.dev"],
        "resources": ["projects", "components", "environments"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": ["cdp.dev"],
        "resources": ["projects/status", "components/status", "environments/status"],
        "verbs": ["get"],
    },
]


@dataclass
class Tenant:
    cluster: Any
    kubeconfig: Path
    org_a: str
    ns_a: str
    org_b: str
    ns_b: str
    run: str

    def kubectl(self, *args: str, input: str | None = None) -> Any:
        return self.cluster.kubectl(
            "--kubeconfig", str(self.kubeconfig), *args, input=input, check=False
        )

    def apply(self, text: str) -> Any:
        return self.kubectl(
            "apply", "--server-side", "--field-manager=tenant", "-f", "-", input=text
        )


def settle(operator: OperatorProcess) -> None:
    """Let the operator work off its queue. On a loaded machine kwok's nodes may flap
    and keep the operator busy with status updates: then a bounded wait is enough."""
    with contextlib.suppress(TimeoutError):
        operator.wait_settled(quiet=2, timeout=60)


def forged_service(name: str, t: Tenant, more_labels: dict[str, str] | None = None) -> str:
    """A Service tenant A makes in its namespace, labelled as if the operator had made
    it for organization B's component bapi (YAML)."""
    labels = {
        "app.kubernetes.io/managed-by": "cdp-operator",
        "cdp.dev/organization": t.org_b,
        "cdp.dev/component": "bapi",
        **(more_labels or {}),
    }
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": t.ns_a, "labels": labels},
            "spec": {"selector": {"app": "forged"}, "ports": [{"port": 80}]},
        }
    )


def reconcile_bs_component(kube: Kube, operator: OperatorProcess, t: Tenant) -> None:
    """Make the operator reconcile organization B's component (a new annotation), and
    let it work that off."""
    poke = f"poke={uuid.uuid4().hex[:6]}"
    kube.run("annotate", "component", "bapi", "-n", t.ns_b, poke, "--overwrite")
    settle(operator)


def forbidden(result: Any) -> bool:
    return result.returncode != 0 and "forbidden" in result.stderr.lower()


@pytest.fixture(scope="module")
def tenant(
    cluster: Any, kube: Kube, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tenant]:
    run = uuid.uuid4().hex[:5]
    org_a, org_b = f"ta{run}", f"tb{run}"
    role = f"cdp-tenant-{run}"
    for org in (org_a, org_b):
        kube.apply(manifest("Organization", org, tier="payg", defaultDataPlane="us"))
    ns_a, ns_b = f"cdp-org-{org_a}", f"cdp-org-{org_b}"
    for ns in (ns_a, ns_b):
        kube.wait_for(lambda ns=ns: kube.get("namespace", ns), 60, f"namespace {ns}")
    kube.apply(manifest("Project", "shop", ns_a))
    kube.apply(manifest("Project", "bproj", ns_b))
    kube.apply(
        manifest(
            "Component",
            "bapi",
            ns_b,
            project="bproj",
            type="service",
            image="registry.example.com/b:1",
            endpoints=[{"name": "http", "port": 8080, "visibility": "public"}],
        )
    )
    kube.wait_condition("project", "bproj", ns_b)
    kube.wait_condition("project", "shop", ns_a)
    # B's component materialised (not necessarily Ready: pod readiness is kwok's).
    for env in ("development", "production"):
        kube.wait_for(
            lambda env=env: kube.get("ingress", "bapi", f"{org_b}-bproj-{env}"),
            90,
            f"bapi's ingress in {env}",
        )
    rbac = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "tenant", "namespace": ns_a},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": CDP_TENANT_RULES,
        },
    ]
    for name, ref in (("tenant-edit", "edit"), ("tenant-cdp", role)):
        rbac.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": ns_a},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": ref,
                },
                "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": ns_a}],
            }
        )
    kube.apply(yaml.safe_dump_all(rbac))
    token = service_account_token(cluster, ns_a, "tenant", seconds=3600)
    path = token_kubeconfig(cluster, token, tmp_path_factory.mktemp("tenant") / "kubeconfig")
    t = Tenant(cluster, path, org_a, ns_a, org_b, ns_b, run)
    # RBAC caches may need a moment.
    kube.wait_for(
        lambda: t.kubectl("get", "components", "-n", ns_a).returncode == 0, 30, "tenant RBAC"
    )
    yield t
    for org in (org_a, org_b):
        kube.delete("organization", org, wait=False)
    kube.delete("clusterrole", role, wait=False)


def org_b_namespaces(kube: Kube, t: Tenant) -> set[str]:
    return {t.ns_b} | {
        ns["metadata"]["name"]
        for ns in kube.list("namespaces", selector=f"cdp.dev/organization={t.org_b}")
    }


# ------------------------------------------------------------------ boundaries
def test_the_tenant_is_who_we_think(tenant: Tenant) -> None:
    who = json.loads(tenant.kubectl("auth", "whoami", "-o", "json").stdout)
    assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{tenant.ns_a}:tenant"
    # It can work in its own namespace.
    result = tenant.apply(manifest("Project", "mine", tenant.ns_a))
    assert result.returncode == 0, result.stderr


def test_a_reference_to_another_organizations_project_acts_in_nothing_of_it(
    cluster: Any, kube: Kube, operator: OperatorProcess, tenant: Tenant
) -> None:
    t = tenant
    start = AuditLog(cluster.audit_log).mark()
    before = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for ns in org_b_namespaces(kube, t)
        for o in kube.list("deployments,services,ingresses,networkpolicies", ns)
    }
    # By name, by a namespace-qualified name, and with B's environments named.
    attempts = {
        "steal": {"project": "bproj"},
        "steal-qualified": {"project": "bproj", "environments": ["development"]},
        "steal-overrides": {
            "project": "bproj",
            "overrides": [{"environment": "production", "replicas": 5}],
        },
    }
    for name, extra in attempts.items():
        result = t.apply(
            manifest(
                "Component",
                name,
                t.ns_a,
                type="service",
                image="registry.example.com/evil:1",
                endpoints=[{"name": "http", "port": 8080, "visibility": "organization"}],
                **extra,
            )
        )
        assert result.returncode == 0, result.stderr
    # A project path that names the other organization's namespace is not even a valid name.
    bad = t.apply(
        manifest(
            "Component",
            "steal-path",
            t.ns_a,
            project=f"{t.ns_b}/bproj",
            type="service",
            image="x:1",
        )
    )
    assert bad.returncode != 0 and "spec.project" in bad.stderr
    for name in attempts:
        comp = kube.wait_condition("component", name, t.ns_a, "False", "ProjectNotFound")
        assert "bproj" in kube.condition(comp)["message"]  # type: ignore[index]
        assert not kube.list(
            "deployments,services,ingresses,networkpolicies,cronjobs,jobs",
            selector=f"cdp.dev/component={name}",
        )
    settle(operator)
    after = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for ns in org_b_namespaces(kube, t)
        for o in kube.list("deployments,services,ingresses,networkpolicies", ns)
    }
    assert before == after
    for env, replicas in (("development", 1), ("production", 2)):
        deploy = kube.get("deployment", "bapi", f"{t.org_b}-bproj-{env}")
        assert deploy is not None and deploy["spec"]["replicas"] == replicas
    if cluster.audit_log:
        # Every operator write in B's namespaces but the status of B's own objects and
        # Events, which follow B's pods (kwok may flip their readiness at any time).
        b_ns = org_b_namespaces(kube, t)
        writes = []
        for ev in AuditLog(cluster.audit_log).writes(start, user_agent_prefix="cdp-operator"):
            ref = ev.get("objectRef") or {}
            in_b = ref.get("namespace") in b_ns or (
                ref.get("resource") == "namespaces" and ref.get("name") in b_ns
            )
            own_status = ref.get("subresource") == "status" and ref.get("name") in ("bapi", "bproj")
            if in_b and not own_status and ref.get("resource") != "events":
                writes.append(
                    (ev["verb"], ref.get("resource"), ref.get("namespace"), ref.get("name"))
                )
        assert not writes, writes


def test_nothing_in_another_organizations_namespace(tenant: Tenant) -> None:
    t = tenant
    assert forbidden(t.apply(manifest("Project", "intruder", t.ns_b)))
    assert forbidden(
        t.apply(
            manifest("Component", "intruder", t.ns_b, project="bproj", type="service", image="x:1")
        )
    )
    assert forbidden(t.kubectl("get", "components", "-n", t.ns_b))
    assert forbidden(t.kubectl("delete", "component", "bapi", "-n", t.ns_b))
    assert forbidden(t.kubectl("get", "pods", "-n", f"{t.org_b}-bproj-development"))


def test_no_access_to_runtime_namespaces_or_their_policies(tenant: Tenant) -> None:
    t = tenant
    rt = f"{t.org_a}-shop-development"
    for args in (
        ("get", "networkpolicies", "-n", rt),
        ("delete", "networkpolicy", "cdp-default-deny", "-n", rt),
        ("get", "deployments", "-n", rt),
    ):
        assert forbidden(t.kubectl(*args)), args
    allow_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-all", "namespace": rt},
        "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}]},
    }
    assert forbidden(t.apply(yaml.safe_dump(allow_all)))


def test_namespace_labels_are_out_of_reach(kube: Kube, tenant: Tenant) -> None:
    """The policies select namespaces by cdp.dev/* labels: a tenant can change none."""
    t = tenant
    rt = f"{t.org_a}-shop-development"
    for ns, label in (
        (rt, f"cdp.dev/organization={t.org_b}"),
        (rt, "cdp.dev/environment=production"),
        (t.ns_a, "cdp.dev/environment=development"),
        (t.ns_a, f"kubernetes.io/metadata.name={t.org_b}"),
        (f"{t.org_b}-bproj-development", f"cdp.dev/organization={t.org_a}"),
    ):
        assert forbidden(t.kubectl("label", "namespace", ns, label, "--overwrite")), (ns, label)
    forged = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": f"forged-{t.run}",
            "labels": {
                "app.kubernetes.io/managed-by": "cdp-operator",
                "cdp.dev/organization": t.org_b,
                "cdp.dev/environment": "development",
            },
        },
    }
    assert forbidden(t.apply(yaml.safe_dump(forged)))
    live = kube.get("namespace", rt)
    assert live is not None and live["metadata"]["labels"]["cdp.dev/organization"] == t.org_a


def test_organizations_and_data_planes_are_admin_only(kube: Kube, tenant: Tenant) -> None:
    t = tenant
    assert forbidden(
        t.kubectl(
            "patch", "organization", t.org_a, "--type=merge", "-p", '{"spec":{"tier":"enterprise"}}'
        )
    )
    assert forbidden(
        t.apply(manifest("Organization", f"x{t.run}", tier="enterprise", defaultDataPlane="us"))
    )
    assert forbidden(t.kubectl("delete", "organization", t.org_b))
    assert forbidden(
        t.kubectl(
            "patch",
            "dataplane",
            "us",
            "--type=merge",
            "-p",
            '{"spec":{"egressCIDRs":["0.0.0.0/0"]}}',
        )
    )
    assert forbidden(
        t.kubectl(
            "patch",
            "organization",
            t.org_a,
            "--subresource=status",
            "--type=merge",
            "-p",
            '{"status":{}}',
        )
    )
    # Status of its own resources is the operator's to write.
    assert forbidden(
        t.kubectl(
            "patch",
            "project",
            "shop",
            "-n",
            t.ns_a,
            "--subresource=status",
            "--type=merge",
            "-p",
            '{"status":{"observedGeneration":99}}',
        )
    )
    assert kube.get("organization", t.org_a)["spec"]["tier"] == "payg"  # type: ignore[index]


def test_no_escalation_through_rbac(tenant: Tenant) -> None:
    t = tenant
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "escalate", "namespace": t.ns_a},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": t.ns_a}],
    }
    assert forbidden(t.apply(yaml.safe_dump(binding)))


def test_forged_labels_on_tenant_objects_make_the_operator_touch_nothing_of_b(
    kube: Kube, operator: OperatorProcess, tenant: Tenant
) -> None:
    """Objects a tenant labels as if the operator made them for organization B."""
    t = tenant
    more = {"cdp.dev/project": "bproj", "cdp.dev/environment": "development"}
    result = t.apply(forged_service("forged", t, more))
    assert result.returncode == 0, result.stderr
    # Make the operator reconcile B's component, then check B is intact.
    reconcile_bs_component(kube, operator, t)
    for env in ("development", "production"):
        for kind in ("deployment", "service", "ingress"):
            assert kube.get(kind, "bapi", f"{t.org_b}-bproj-{env}") is not None, (kind, env)
    kube.delete("service", "forged", t.ns_a, wait=False)


def test_objects_outside_runtime_namespaces_are_never_pruned(
    kube: Kube, operator: OperatorProcess, tenant: Tenant
) -> None:
    t = tenant
    assert t.apply(forged_service("forged-2", t)).returncode == 0
    try:
        reconcile_bs_component(kube, operator, t)
        # Give the prune its chance (bounded): deleted within 30 s is the finding.
        holds_for(
            lambda: kube.get("service", "forged-2", t.ns_a),
            30,
            f"service forged-2 in {t.ns_a} (not deleted by the operator)",
            interval=1,
        )
    finally:
        kube.delete("service", "forged-2", t.ns_a, wait=False)


# ----------------------------------------------------------------- findings
def test_runtime_namespace_names_never_collide_across_organizations(
    kube: Kube, operator: OperatorProcess, tenant: Tenant
) -> None:
    """T1: organization A gives a project and an environment names whose join equals the
    (hashed) runtime namespace name of a later organization A-corp. That join ends like
    a hashed name, so A's namespace is hashed too, and A-corp's project gets its own."""
    t = tenant
    victim = f"{t.org_a}-corp"  # an organization onboarded later
    target = runtime_namespace_name(victim, "p", "development")
    prefix = f"{t.org_a}-corp-"
    assert target.startswith(prefix) and len(target) <= 63
    env = target.removeprefix(prefix)  # "p-development-<hash>": a valid Environment name
    assert len(env) <= 40
    own = runtime_namespace_name(t.org_a, "corp", env)
    assert own != target and own != f"{prefix}{env}"
    # The tenant of A (payg): a project "corp" and an environment named like the hash.
    assert t.apply(manifest("Project", "corp", t.ns_a)).returncode == 0
    assert t.apply(manifest("Environment", env, t.ns_a, dataPlane="us")).returncode == 0
    try:
        ns = kube.wait_for(lambda: kube.get("namespace", own), 60, "A's own runtime namespace")
        assert ns["metadata"]["labels"]["cdp.dev/organization"] == t.org_a
        assert ns["metadata"]["labels"]["cdp.dev/environment"] == env
        assert kube.get("namespace", target) is None
        kube.apply(manifest("Organization", victim, tier="payg", defaultDataPlane="us"))
        vns = f"cdp-org-{victim}"
        kube.wait_for(lambda: kube.get("namespace", vns), 60, "victim org namespace")
        kube.apply(manifest("Project", "p", vns))
        proj = kube.wait_for(
            lambda: (p := kube.get("project", "p", vns)) and kube.condition(p) and p, 60, "status"
        )
        ready = kube.condition(proj)
        assert ready is not None
        assert ready["status"] == "True", (
            f"the victim's project: {ready['reason']}: {ready['message']}"
        )
        live = kube.get("namespace", target)
        assert live is not None
        assert live["metadata"]["labels"]["cdp.dev/organization"] == victim
    finally:
        kube.delete("organization", victim, wait=False)
        t.kubectl("delete", "environment", env, "-n", t.ns_a, "--wait=false")
        t.kubectl("delete", "project", "corp", "-n", t.ns_a, "--wait=false")


def test_a_runtime_namespace_never_takes_an_organization_namespace_name(kube: Kube) -> None:
    """T1: the organization 'cdp' could name a runtime namespace cdp-org-<x> (project 'org',
    environment '<x>') and squat the organization namespace of a future tenant <x>.
    Organization names 'cdp' and 'cdp-…' are rejected at admission, naming the field."""
    for name in ("cdp", "cdp-org", f"cdp-{uuid.uuid4().hex[:5]}"):
        result = kube.apply(
            manifest("Organization", name, tier="payg", defaultDataPlane="us"), check=False
        )
        assert result.returncode != 0, f"organization {name} was admitted"
        assert "metadata.name" in result.stderr, result.stderr
        assert "must not be 'cdp' nor start with 'cdp-'" in result.stderr, result.stderr
        assert kube.get("organization", name) is None


def test_pods_a_tenant_runs_in_its_organization_namespace_are_isolated(
    kube: Kube, tenant: Tenant
) -> None:
    t = tenant
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sidestep", "namespace": t.ns_a, "labels": {"app": "sidestep"}},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "c",
                    "image": "registry.example.com/x:1",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                }
            ],
        },
    }
    result = t.apply(yaml.safe_dump(pod))
    assert result.returncode == 0, f"the tenant may run pods: {result.stderr}"
    try:
        cluster = Cluster.from_kubernetes(
            kube.list("namespaces"), kube.list("pods", t.ns_a), kube.list("networkpolicies")
        )
        me = next(p for p in cluster.pods if p.name == "sidestep")
        assert not cluster.allowed(me, External("198.51.100.1"), 5432)
    finally:
        kube.delete("pod", "sidestep", t.ns_a, wait=False)


# ------------------------------------------------------ T3: public hosts
POLICY_TEMPLATE = "templates/admissionpolicy.yaml"
ALIAS = "nginx.ingress.kubernetes.io/server-alias"


def ingress(
    name: str,
    namespace: str,
    *hosts: str | None,
    tls: tuple[str, ...] = (),
    annotations: dict[str, str] | None = None,
    default_backend: bool = False,
) -> str:
    """An Ingress routing each host (None: a rule without host) to the Service `evil`."""
    backend = {"service": {"name": "evil", "port": {"number": 80}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    spec: dict[str, Any] = {
        "ingressClassName": "nginx",
        "rules": [
            {**({"host": h} if h is not None else {}), "http": {"paths": [path]}} for h in hosts
        ],
    }
    if tls:
        spec["tls"] = [{"hosts": list(tls), "secretName": f"{name}-tls"}]
    if default_backend:
        spec["defaultBackend"] = backend
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return yaml.safe_dump(
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}
    )


@dataclass
class Hosts:
    """The base domains of the seed's data planes, and the hosts of A and B under them."""

    us: str
    eu: str
    a: str  # a host of organization A (the tenant) on us
    b: str  # the public host of B's component bapi in production (on us)


@pytest.fixture(scope="module")
def host_policy(cluster: Any, kube: Kube, tenant: Tenant) -> Iterator[Hosts]:
    """The chart's admission policies, installed exactly as `helm template` renders them,
    and enforced."""
    rendered = cluster.helm(
        "template", f"t3-{tenant.run}", str(CHART), "--show-only", POLICY_TEMPLATE
    ).stdout
    kube.apply(rendered)
    bases = {}
    for dp in ("us", "eu"):
        obj = kube.get("dataplane", dp)
        assert obj is not None
        bases[dp] = obj["spec"]["ingress"]["baseDomain"]
    live = kube.get("ingress", "bapi", f"{tenant.org_b}-bproj-production")
    assert live is not None
    hosts = Hosts(
        us=bases["us"],
        eu=bases["eu"],
        a=f"web-development.{tenant.org_a}.{bases['us']}",
        b=live["spec"]["rules"][0]["host"],
    )
    assert hosts.b.endswith(f".{tenant.org_b}.{hosts.us}")
    # The API server type-checks a new policy and loads its binding and parameters in
    # the background; until then requests pass. Probe with a dry run (creates nothing).
    probe = ingress("probe", tenant.ns_a, hosts.b)
    kube.wait_for(
        lambda: forbidden(
            tenant.kubectl(
                "apply",
                "--server-side",
                "--field-manager=tenant",
                "--dry-run=server",
                "-f",
                "-",
                input=probe,
            )
        ),
        60,
        "the admission policy to be enforced",
    )
    yield hosts
    kube.run("delete", "--ignore-not-found", "-f", "-", input=rendered)


def refused(kube: Kube, result: Any, name: str, namespace: str, *fragments: str) -> None:
    """Refused by the policy, with a message naming what is wrong; nothing was created."""
    try:
        assert forbidden(result), f"{name} admitted: {result.stdout}{result.stderr}"
        assert "ValidatingAdmissionPolicy" in result.stderr, result.stderr
        for fragment in fragments:
            assert fragment in result.stderr, (fragment, result.stderr)
    finally:
        if result.returncode == 0:
            kube.delete("ingress", name, namespace, wait=False)
    assert kube.get("ingress", name, namespace) is None


def test_a_tenant_cannot_publish_another_organizations_host(
    kube: Kube, tenant: Tenant, host_policy: Hosts
) -> None:
    """T3 (fixed): the chart's ValidatingAdmissionPolicy binds hosts under a DataPlane's
    base domain to the organization label of the Ingress's namespace."""
    t, h = tenant, host_policy
    result = t.apply(ingress("hijack", t.ns_a, h.b))
    refused(
        kube,
        result,
        "hijack",
        t.ns_a,
        f"spec.rules[0].host {h.b}",
        f"organization {t.org_a}",
        f".{t.org_a}.{h.us}",
    )


def test_a_tenant_publishes_its_own_hosts_and_hosts_outside_the_base_domains(
    kube: Kube, tenant: Tenant, host_policy: Hosts
) -> None:
    t, h = tenant, host_policy
    own = (
        h.a,
        f"*.{t.org_a}.{h.us}",
        f"a.b.{t.org_a}.{h.us}",
        f"web-production-eu.{t.org_a}.{h.eu}",
        f"www.{t.org_a}.example.org",  # under no base domain
        f"{h.us}.example.org",  # ends like none either
    )
    for i, host in enumerate(own):
        result = t.apply(ingress(f"mine-{i}", t.ns_a, host, tls=(host,)))
        assert result.returncode == 0, (host, result.stderr)
    result = t.apply(
        ingress(
            "mine",
            t.ns_a,
            *own,
            tls=own[:2],
            annotations={ALIAS: f" api.{t.org_a}.{h.us}, www.example.org"},
        )
    )
    assert result.returncode == 0, result.stderr
    live = kube.get("ingress", "mine", t.ns_a)
    assert live is not None and [r["host"] for r in live["spec"]["rules"]] == list(own)


@pytest.mark.parametrize(
    "case",
    [
        "rule",
        "wildcard-of-b",
        "wildcard-of-the-base-domain",
        "wildcard-above-the-base-domain",
        "the-base-domain",
        "organization-apex",
        "other-data-plane",
        "tls",
        "server-alias",
        "alias-pattern",
        "rule-without-host",
        "default-backend",
    ],
)
def test_every_way_to_claim_a_foreign_host_is_refused(
    kube: Kube, tenant: Tenant, host_policy: Hosts, case: str
) -> None:
    """Hosts under a base domain that the tenant's organization does not own, however the
    Ingress names them (rules, wildcards, TLS, ingress-nginx's server-alias), and rules
    that catch every host; each refusal names the field and the host."""
    t, h = tenant, host_policy
    name = f"claim-{case}"
    above = h.us.split(".", 1)[1]
    cases: dict[str, tuple[str, tuple[str, ...]]] = {
        "rule": (ingress(name, t.ns_a, h.a, h.b), (f"spec.rules[1].host {h.b}",)),
        "wildcard-of-b": (
            ingress(name, t.ns_a, f"*.{t.org_b}.{h.us}"),
            (f"spec.rules[0].host *.{t.org_b}.{h.us}",),
        ),
        "wildcard-of-the-base-domain": (
            ingress(name, t.ns_a, f"*.{h.us}"),
            (f"spec.rules[0].host *.{h.us}",),
        ),
        "wildcard-above-the-base-domain": (
            ingress(name, t.ns_a, f"*.{above}"),
            (f"spec.rules[0].host *.{above}",),
        ),
        "the-base-domain": (ingress(name, t.ns_a, h.us), (f"spec.rules[0].host {h.us}:",)),
        "organization-apex": (
            ingress(name, t.ns_a, f"{t.org_a}.{h.us}"),
            (f"spec.rules[0].host {t.org_a}.{h.us}",),
        ),
        "other-data-plane": (
            ingress(name, t.ns_a, f"web.{t.org_b}.{h.eu}"),
            (f"spec.rules[0].host web.{t.org_b}.{h.eu}", "DataPlane eu"),
        ),
        "tls": (
            ingress(name, t.ns_a, h.a, tls=(h.a, h.b)),
            (f"spec.tls[0].hosts {h.b}",),
        ),
        "server-alias": (
            ingress(name, t.ns_a, h.a, annotations={ALIAS: f"www.example.org, {h.b.upper()}"}),
            (f"metadata.annotations[{ALIAS}] {h.b}",),
        ),
        "alias-pattern": (
            ingress(name, t.ns_a, h.a, annotations={ALIAS: f"~^.*\\.{t.org_b}\\..*$"}),
            (f"metadata.annotations[{ALIAS}] ~^", "not a host name"),
        ),
        "rule-without-host": (
            ingress(name, t.ns_a, h.a, None),
            ("spec.rules[1].host (empty)", "serves every host"),
        ),
        "default-backend": (
            ingress(name, t.ns_a, h.a, default_backend=True),
            ("spec.defaultBackend", "serves every host"),
        ),
    }
    text, fragments = cases[case]
    refused(kube, t.apply(text), name, t.ns_a, *fragments)


def test_an_ingress_cannot_be_changed_to_a_foreign_host(
    kube: Kube, tenant: Tenant, host_policy: Hosts
) -> None:
    t, h = tenant, host_policy
    assert t.apply(ingress("moving", t.ns_a, h.a)).returncode == 0

    def patch(patch_type: str, body: Any) -> Any:
        args = ["patch", "ingress", "moving", "-n", t.ns_a, f"--type={patch_type}"]
        return t.kubectl(*args, "-p", json.dumps(body))

    try:
        for result in (
            t.apply(ingress("moving", t.ns_a, h.b)),
            patch("json", [{"op": "replace", "path": "/spec/rules/0/host", "value": h.b}]),
            patch("merge", {"spec": {"tls": [{"hosts": [h.b]}]}}),
        ):
            assert forbidden(result), result.stdout
            assert h.b in result.stderr, result.stderr
        live = kube.get("ingress", "moving", t.ns_a)
        assert live is not None
        assert [r["host"] for r in live["spec"]["rules"]] == [h.a]
        assert "tls" not in live["spec"]
    finally:
        kube.delete("ingress", "moving", t.ns_a, wait=False)


def test_a_namespace_without_an_organization_claims_no_host_under_a_base_domain(
    kube: Kube, namespace: str, host_policy: Hosts
) -> None:
    """Not only tenants: the policy binds every namespace (cluster admins included)."""
    h = host_policy
    result = kube.apply(ingress("nolabel", namespace, h.a), check=False)
    refused(
        kube,
        result,
        "nolabel",
        namespace,
        f"spec.rules[0].host {h.a}",
        "no cdp.dev/organization label",
    )
    result = kube.apply(ingress("elsewhere", namespace, "www.example.org"), check=False)
    assert result.returncode == 0, result.stderr


def test_data_plane_base_domains_cannot_nest(
    kube: Kube, tenant: Tenant, host_policy: Hosts
) -> None:
    """With `apps.cdp.example.com` next to `us.apps.cdp.example.com`, organization `us` of
    the first would own every host of the second."""
    h = host_policy
    above = h.us.split(".", 1)[1]
    for base, ok in ((above, False), (f"x.{h.us}", False), (f"t3{tenant.run}.example.org", True)):
        result = kube.run(
            "create",
            "--dry-run=server",
            "-f",
            "-",
            input=manifest(
                "DataPlane", f"t3{tenant.run}", region="x", ingress={"baseDomain": base}
            ),
            check=False,
        )
        if ok:
            assert result.returncode == 0, result.stderr
        else:
            assert result.returncode != 0, f"{base} admitted"
            assert f"spec.ingress.baseDomain: {base} and " in result.stderr, result.stderr
            assert "must not lie one under the other" in result.stderr, result.stderr


def test_the_operator_publishes_and_repairs_its_hosts_under_the_policy(
    kube: Kube, operator: OperatorProcess, tenant: Tenant, host_policy: Hosts
) -> None:
    """The operator's own Ingresses pass: a new public component gets its Ingresses, and
    a deleted one of B comes back."""
    t = tenant
    start = len(operator.logs())
    result = t.apply(
        manifest(
            "Component",
            "web",
            t.ns_a,
            project="shop",
            type="service",
            image="registry.example.com/web:1",
            endpoints=[{"name": "http", "port": 8080, "visibility": "public"}],
        )
    )
    assert result.returncode == 0, result.stderr
    rt = f"{t.org_b}-bproj-production"
    kube.delete("ingress", "bapi", rt)
    try:
        for env in ("development", "production"):
            ing = kube.wait_for(
                lambda env=env: kube.get("ingress", "web", f"{t.org_a}-shop-{env}"),
                120,
                f"web's Ingress in {env}",
            )
            assert ing["spec"]["rules"][0]["host"] == f"web-{env}.{t.org_a}.{host_policy.us}"
        repaired = kube.wait_for(lambda: kube.get("ingress", "bapi", rt), 120, "bapi's Ingress")
        assert repaired["spec"]["rules"][0]["host"] == host_policy.b
        settle(operator)
        for name, ns in (("web", t.ns_a), ("bapi", t.ns_b)):
            cond = kube.condition(kube.get("component", name, ns))
            assert cond is None or cond["reason"] != "ApplyRejected", (name, cond)
        logs = operator.logs()[start:]
        assert "ApplyRejected" not in logs and "ValidatingAdmissionPolicy" not in logs
    finally:
        t.kubectl("delete", "component", "web", "-n", t.ns_a, "--wait=false")
