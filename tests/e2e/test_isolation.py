"""Network isolation, judged independently of the operator's render code.

Two organizations are materialised by the real operator; kwok runs their pods.
An ingress gateway pod (namespace ``ingress-nginx``), a cluster DNS pod
(``kube-system``, ``k8s-app=kube-dns``), an unrelated pod in a bystander
namespace and a pod a tenant could run in its own organization namespace (with
forged ``cdp.dev/*`` labels) complete the picture. Then the NetworkPolicies,
Namespaces and Pods actually in the cluster are read back and
``tests/isolation/netpol_eval.py`` (written from the Kubernetes spec) decides,
for every source pod, destination and port, whether traffic is allowed.

The expected answer is written here from domain.md, not from the operator:

* a runtime pod reaches a component's endpoint in namespace (org, project, env)
  only from the same organization and environment, and then only if it is in
  the same project (any port: components of a project and environment talk
  freely) or the endpoint's visibility is ``organization`` or ``public``
  (the levels nest);
* a ``public`` endpoint is also reachable from the DataPlane's ingress gateway
  namespace; nothing else in the cluster reaches it;
* egress of a runtime pod: DNS (53/UDP and 53/TCP to kube-dns pods only), the
  pods of its own organization and environment (whose ingress then decides),
  and its component's allowlist (203.0.113.10/32 port 5432 for ``api``);
  nothing else (not :5433, not 198.51.100.1, not the gateway, not bystanders);
* an allowlist never opens the DataPlane's cluster networks (the pod and
  service CIDRs): ``any`` allows 0.0.0.0/0 and reaches every external address
  but no pod or Service IP through it; ``vpc`` allows 10.0.0.0/8 port 5432 (a
  private network around the cluster) and 10.244.0.0/16 port 8080 (inside the
  pod network: opens nothing, reported in the Component's status);
* namespaces the operator does not manage have no policies: what they may do is
  outside the operator's promise, and is shown as such.

``CDP_ISOLATION_REPORT=path`` writes the truth table as Markdown (docs/isolation.md
was produced that way).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from isolation.netpol_eval import Cluster, External, Pod
from kit import Kube

from .conftest import CLUSTER_NETWORKS, manifest
from .operator_harness import REPO, OperatorProcess

pytestmark = pytest.mark.e2e

GATEWAY_NS = "ingress-nginx"
DNS_NS = "kube-system"
ENVS = {"development": "dev", "production": "prod"}
PROJECTS = ("p1", "p2")
PORTS = {"proj": 8080, "org": 8081, "pub": 8082}
VISIBILITY = {"proj": "project", "org": "organization", "pub": "public"}
ALLOWED_DB = ("203.0.113.10", 5432)
#: Egress allowlists: (cidr, ports) per component; p1 of each organization also has
#: `any` and `vpc`, whose allowlists cover the cluster networks.
ALLOWLISTS: dict[str, list[tuple[str, list[int]]]] = {
    "api": [("203.0.113.10/32", [5432])],
    "worker": [],
    "any": [("0.0.0.0/0", [])],
    "vpc": [("10.0.0.0/8", [5432]), ("10.244.0.0/16", [8080])],
}
COMPONENTS = {"p1": ("api", "worker", "any", "vpc"), "p2": ("api", "worker")}
EXTERNALS = [
    ("203.0.113.10", 5432),
    ("203.0.113.10", 5433),
    ("198.51.100.1", 5432),
    ("10.20.0.5", 5432),  # in 10.0.0.0/8, outside the cluster networks
    ("10.96.0.1", 443),  # the kubernetes Service (service network)
    ("10.244.200.1", 8080),  # pod network, no pod there
]
#: Ports probed on pods that serve nothing in particular.
OTHER_PORTS = [("TCP", 80), ("TCP", 9999), ("UDP", 53), ("TCP", 53)]

RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _pod(ns: str, name: str, labels: dict[str, str], ports: list[dict[str, Any]]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "registry.example.com/x:1",
                        "ports": ports,
                        "securityContext": RESTRICTED_CONTAINER,
                    }
                ],
                "automountServiceAccountToken": False,
            },
        }
    )


@dataclass(frozen=True)
class Workload:
    """A row of the truth table: the pods of one component in one runtime namespace,
    or one hand-made pod."""

    label: str
    org: str | None = None
    project: str | None = None
    env: str | None = None
    component: str | None = None

    @property
    def runtime(self) -> bool:
        return self.org is not None


@dataclass(frozen=True)
class Target:
    """A column: a (workload, port, protocol) or an external address."""

    label: str
    workload: Workload | None
    port: int
    protocol: str = "TCP"
    external: str | None = None
    endpoint: str | None = None  # proj | org | pub for component endpoints


@dataclass
class Truth:
    cluster: Cluster
    orgs: tuple[str, str]
    pods: dict[Workload, list[Pod]]
    rows: list[Workload]
    targets: list[Target]
    table: dict[tuple[Workload, Target], bool]
    #: "A", "B" -> the organizations' names in the cluster.
    names: dict[str, str] = field(default_factory=dict)

    def cell(self, src: Workload, target: Target) -> bool:
        return self.table[(src, target)]

    def cells(self, endpoint: str) -> list[tuple[Workload, Target, bool]]:
        """Every evaluated (source, endpoint target) pair of one visibility. A
        single-pod workload has no cell against itself (a pod to itself is loopback)."""
        return [(s, t, v) for (s, t), v in self.table.items() if t.endpoint == endpoint]


# ------------------------------------------------------------------ the setup
@pytest.fixture(scope="module")
def truth(kube: Kube, operator: OperatorProcess) -> Iterator[Truth]:
    run = uuid.uuid4().hex[:5]
    orgs = (f"isa{run}", f"isb{run}")
    bystander = f"bystander-{run}"
    created_gateway_ns = kube.get("namespace", GATEWAY_NS) is None
    if created_gateway_ns:
        kube.run("create", "namespace", GATEWAY_NS)
    kube.run("create", "namespace", bystander)
    extra_pods = [
        (GATEWAY_NS, f"gateway-{run}", {"app.kubernetes.io/name": "ingress-nginx"}, 80),
        (DNS_NS, f"coredns-{run}", {"k8s-app": "kube-dns"}, 53),
        (DNS_NS, f"metrics-{run}", {"k8s-app": "metrics-server"}, 53),
        (bystander, "app", {"app": "bystander"}, 80),
    ]
    try:
        for org in orgs:
            kube.apply(manifest("Organization", org, tier="payg", defaultDataPlane="us"))
        for org in orgs:
            ns = f"cdp-org-{org}"
            kube.wait_for(lambda ns=ns: kube.get("namespace", ns), 60, f"namespace {ns}")
            for project in PROJECTS:
                kube.apply(manifest("Project", project, ns))
                for comp in COMPONENTS[project]:
                    extra: dict[str, Any] = {}
                    if comp == "api":
                        extra["endpoints"] = [
                            {"name": n, "port": p, "visibility": VISIBILITY[n]}
                            for n, p in PORTS.items()
                        ]
                    if ALLOWLISTS[comp]:
                        extra["egress"] = [
                            {"cidr": cidr, "ports": ports} for cidr, ports in ALLOWLISTS[comp]
                        ]
                    kube.apply(
                        manifest(
                            "Component",
                            f"{project}-{comp}",
                            ns,
                            project=project,
                            type="service",
                            image=f"registry.example.com/{comp}:1",
                            **extra,
                        )
                    )
        # A pod a tenant with `edit` could run in its organization namespace, with
        # labels forged to look like a component of organization A.
        tenant_ns = f"cdp-org-{orgs[0]}"
        extra_pods.append(
            (
                tenant_ns,
                "tenant-pod",
                {
                    "cdp.dev/component": "p1-api",
                    "cdp.dev/organization": orgs[0],
                    "cdp.dev/project": "p1",
                    "cdp.dev/environment": "development",
                    "app.kubernetes.io/managed-by": "cdp-operator",
                },
                8080,
            )
        )
        for ns, name, labels, port in extra_pods:
            ports = [{"name": "p", "containerPort": port, "protocol": "TCP"}]
            if port == 53:
                ports = [
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                ]
            kube.apply(_pod(ns, name, labels, ports))
        # Materialised (workloads and policies written); whether kwok reports the
        # pods ready does not matter for the policies, only that they exist.
        for org in orgs:
            for project in PROJECTS:
                for comp in COMPONENTS[project]:
                    kube.wait_for(
                        lambda c=f"{project}-{comp}", ns=f"cdp-org-{org}": _materialised(
                            kube, c, ns
                        ),
                        180,
                        f"component {comp} of {org}/{project} materialised",
                    )
        yield _compute(kube, orgs, extra_pods, run, tenant_ns, bystander)
    finally:
        for org in orgs:
            kube.delete("organization", org, wait=False)
        for ns, name, _, _ in extra_pods:
            kube.delete("pod", name, ns, wait=False)
        kube.delete("namespace", bystander, wait=False)
        if created_gateway_ns:
            kube.delete("namespace", GATEWAY_NS, wait=False)


def _materialised(kube: Kube, name: str, ns: str) -> bool:
    obj = kube.get("component", name, ns)
    ready = kube.condition(obj)
    return bool(
        obj
        and ready
        and ready["reason"] in ("Available", "Progressing")
        and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
    )


def _running(kube: Kube, ns: str, name: str) -> bool:
    pod = kube.get("pod", name, ns)
    return bool(pod and (pod.get("status") or {}).get("podIP"))


def _compute(
    kube: Kube,
    orgs: tuple[str, str],
    extra_pods: list[tuple[str, str, dict[str, str], int]],
    run: str,
    tenant_ns: str,
    bystander: str,
) -> Truth:
    for ns, name, _, _ in extra_pods:
        kube.wait_for(lambda ns=ns, name=name: _running(kube, ns, name), 60, f"pod {name} IP")
    managed = "app.kubernetes.io/managed-by=cdp-operator"

    def runtime_pods_running() -> bool:
        for org in orgs:
            pods = [
                p
                for p in kube.list("pods", selector=f"{managed},cdp.dev/organization={org}")
                if p["metadata"]["namespace"] != tenant_ns  # the forged tenant pod
            ]
            # every component x development (1 replica), production (2)
            components = sum(len(c) for c in COMPONENTS.values())
            if len(pods) != components * (1 + 2) or not all(
                (p.get("status") or {}).get("podIP") for p in pods
            ):
                return False
        return True

    kube.wait_for(runtime_pods_running, 120, "runtime pods with IPs")
    namespaces = kube.list("namespaces")
    pods = kube.list("pods")
    policies = kube.list("networkpolicies")
    cluster = Cluster.from_kubernetes(namespaces, pods, policies, ipblock_matches_pods=True)

    by_workload: dict[Workload, list[Pod]] = {}
    names = {
        (GATEWAY_NS, f"gateway-{run}"): Workload("ingress gateway (ingress-nginx)"),
        (DNS_NS, f"coredns-{run}"): Workload("kube-dns (kube-system)"),
        (DNS_NS, f"metrics-{run}"): Workload("other kube-system pod"),
        (bystander, "app"): Workload("bystander namespace"),
        (tenant_ns, "tenant-pod"): Workload("tenant pod in org A's namespace"),
    }
    short = {orgs[0]: "A", orgs[1]: "B"}
    for pod in cluster.pods:
        labels = pod.labels
        if (pod.namespace, pod.name) in names:
            wl = names[(pod.namespace, pod.name)]
        elif (
            labels.get("app.kubernetes.io/managed-by") == "cdp-operator"
            and labels.get("cdp.dev/organization") in short
        ):
            org = short[labels["cdp.dev/organization"]]
            ns_labels = cluster.namespace_labels(pod.namespace)
            env, project = ns_labels["cdp.dev/environment"], ns_labels["cdp.dev/project"]
            comp = labels["cdp.dev/component"].removeprefix(f"{project}-")
            wl = Workload(f"{org}/{project}/{ENVS[env]}/{comp}", org, project, env, comp)
        else:
            continue
        by_workload.setdefault(wl, []).append(pod)

    rows = sorted(by_workload, key=lambda w: (not w.runtime, w.label))
    targets: list[Target] = []
    for wl in rows:
        if wl.runtime and wl.component == "api":
            for ep, port in PORTS.items():
                targets.append(Target(f"{wl.label}:{ep}", wl, port, endpoint=ep))
            targets.append(Target(f"{wl.label}:9999", wl, 9999))
        elif wl.runtime:
            targets.append(Target(f"{wl.label}:80", wl, 80))
        else:
            for proto, port in OTHER_PORTS:
                targets.append(Target(f"{wl.label}:{port}/{proto}", wl, port, proto))
    for ip, port in EXTERNALS:
        targets.append(Target(f"{ip}:{port}", None, port, external=ip))

    table: dict[tuple[Workload, Target], bool] = {}
    mixed = []
    for src in rows:
        for t in targets:
            results = set()
            for sp in by_workload[src]:
                dsts: list[Pod | External] = (
                    [External(t.external)] if t.external else list(by_workload[t.workload])  # type: ignore[index]
                )
                for dp in dsts:
                    if dp is sp:
                        continue
                    results.add(cluster.allowed(sp, dp, t.port, t.protocol))
            if len(results) > 1:
                mixed.append((src.label, t.label))
            if results:
                table[(src, t)] = results == {True}
    assert not mixed, f"pods of one workload disagree: {mixed}"
    names = {v: k for k, v in short.items()}
    return Truth(
        cluster, (short[orgs[0]], short[orgs[1]]), by_workload, rows, targets, table, names
    )


# ------------------------------------------------------- the expectation (domain.md)
def _in_org_namespace(w: Workload) -> bool:
    return w.label.startswith("tenant pod")


def in_cluster_networks(ip: str) -> bool:
    return any(ipaddress.ip_address(ip) in ipaddress.ip_network(n) for n in CLUSTER_NETWORKS)


def allowlisted(component: str | None, ip: str, port: int, protocol: str = "TCP") -> bool:
    """The component's allowlist opens exactly its destinations outside the cluster
    networks (an entry's ports are TCP; no ports: every port and protocol)."""
    if in_cluster_networks(ip):
        return False
    return any(
        ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)
        and (not ports or (port in ports and protocol == "TCP"))
        for cidr, ports in ALLOWLISTS.get(component or "", [])
    )


def expected(src: Workload, t: Target) -> bool:
    # The organization namespace holds resources, not workloads: default deny in
    # both directions, DNS only (docs/design.md, Ownership).
    if t.external:
        if _in_org_namespace(src):
            return False
        if not src.runtime:
            return True  # unmanaged namespaces have no egress policy
        return allowlisted(src.component, t.external, t.port, t.protocol)
    dst = t.workload
    assert dst is not None
    if not dst.runtime:
        if _in_org_namespace(dst):
            return False
        # Gateway, DNS, bystanders: no ingress policies there.
        if not src.runtime and not _in_org_namespace(src):
            return True
        return dst.label.startswith("kube-dns") and t.port == 53
    # dst is a component in a runtime namespace.
    if src.runtime:
        if (src.org, src.env) != (dst.org, dst.env):
            return False
        if src.project == dst.project:
            return True
        return t.endpoint in ("org", "pub")  # visibility levels nest
    return src.label.startswith("ingress gateway") and t.endpoint == "pub"


def expected_egress(src: Workload, t: Target) -> bool:
    """The egress side alone, for runtime sources."""
    assert src.runtime
    if t.external:
        return allowlisted(src.component, t.external, t.port, t.protocol)
    dst = t.workload
    assert dst is not None
    if dst.runtime:
        return (dst.org, dst.env) == (src.org, src.env)
    return dst.label.startswith("kube-dns") and t.port == 53


# -------------------------------------------------------------------- the tests
def test_truth_table_matches_the_domain(truth: Truth) -> None:
    wrong = [
        f"{src.label} -> {t.label}: evaluator {truth.cell(src, t)}, domain.md {expected(src, t)}"
        for (src, t) in truth.table
        if truth.cell(src, t) != expected(src, t)
    ]
    report = render_report(truth)
    print("\n" + report)
    if os.environ.get("CDP_ISOLATION_REPORT"):
        Path(os.environ["CDP_ISOLATION_REPORT"]).write_text(report)
    assert not wrong, "\n".join(wrong)
    assert len(truth.table) > 500


def test_another_organization_never_reaches_anything(truth: Truth) -> None:
    c = truth.cluster
    a = [p for w, ps in truth.pods.items() if w.org == "A" for p in ps]
    b = [p for w, ps in truth.pods.items() if w.org == "B" for p in ps]
    tenant = [p for w, ps in truth.pods.items() if w.label.startswith("tenant pod") for p in ps]
    checked = 0
    for srcs, dsts in ((a + tenant, b), (b, a)):
        for sp in srcs:
            for dp in dsts:
                for port in (*PORTS.values(), 9999, 53, 80, 443):
                    for proto in ("TCP", "UDP"):
                        assert not c.allowed(sp, dp, port, proto), (sp.key, dp.key, port, proto)
                        checked += 1
    assert checked > 1000


def test_organization_endpoint_only_from_same_org_and_environment(truth: Truth) -> None:
    for src, t, ok in truth.cells("org"):
        dst = t.workload
        assert dst is not None
        same = src.runtime and (src.org, src.env) == (dst.org, dst.env)
        assert ok == same, (src.label, t.label)
    # Explicitly: other project, same environment yes; other environment no.
    row = {w.label: w for w in truth.rows}
    col = {t.label: t for t in truth.targets}
    assert truth.cell(row["A/p2/dev/api"], col["A/p1/dev/api:org"])
    assert not truth.cell(row["A/p2/prod/api"], col["A/p1/dev/api:org"])
    assert not truth.cell(row["A/p1/prod/api"], col["A/p1/dev/api:org"])


def test_project_endpoint_only_from_same_project_and_environment(truth: Truth) -> None:
    for src, t, ok in truth.cells("proj"):
        dst = t.workload
        assert dst is not None
        same_ns = src.runtime and (src.org, src.project, src.env) == (
            dst.org,
            dst.project,
            dst.env,
        )
        assert ok == same_ns, (src.label, t.label)


def test_public_endpoint_from_the_gateway_and_where_organization_ones_are(truth: Truth) -> None:
    """Visibility levels nest: public = organization + the ingress gateway namespace."""
    for src, t, ok in truth.cells("pub"):
        dst = t.workload
        assert dst is not None
        gateway = src.label.startswith("ingress gateway")
        same_org_env = src.runtime and (src.org, src.env) == (dst.org, dst.env)
        assert ok == (gateway or same_org_env), (src.label, t.label)
    row = {w.label: w for w in truth.rows}
    col = {t.label: t for t in truth.targets}
    assert truth.cell(row["A/p2/dev/api"], col["A/p1/dev/api:pub"])
    assert not truth.cell(row["A/p2/prod/api"], col["A/p1/dev/api:pub"])
    assert not truth.cell(row["B/p1/dev/api"], col["A/p1/dev/api:pub"])


def test_egress_only_to_dns_allowlist_and_same_org_environment(truth: Truth) -> None:
    c = truth.cluster
    checked = 0
    for src in truth.rows:
        if not src.runtime:
            continue
        sp = truth.pods[src][0]
        for t in truth.targets:
            dsts: list[Pod | External] = (
                [External(t.external)] if t.external else truth.pods[t.workload]  # type: ignore[index]
            )
            for dp in dsts:
                if dp is sp:
                    continue
                got = c.verdict(sp, dp, t.port, t.protocol).egress
                assert got == expected_egress(src, t), (src.label, t.label, got)
                checked += 1
    assert checked > 300
    # The allowlist opens exactly 203.0.113.10:5432/TCP for api, nothing for worker.
    row = {w.label: w for w in truth.rows}
    api, worker = truth.pods[row["A/p1/dev/api"]][0], truth.pods[row["A/p1/dev/worker"]][0]
    assert c.allowed(api, External("203.0.113.10"), 5432)
    assert not c.allowed(api, External("203.0.113.10"), 5432, "UDP")
    assert not c.allowed(api, External("203.0.113.10"), 5433)
    assert not c.allowed(api, External("203.0.113.11"), 5432)
    assert not c.allowed(api, External("198.51.100.1"), 5432)
    assert not c.allowed(worker, External("203.0.113.10"), 5432)
    # DNS: both protocols to kube-dns, nothing else in kube-system.
    dns = truth.pods[row["kube-dns (kube-system)"]][0]
    other = truth.pods[row["other kube-system pod"]][0]
    for proto in ("UDP", "TCP"):
        assert c.allowed(api, dns, 53, proto)
        assert not c.allowed(api, other, 53, proto)
    assert not c.allowed(api, dns, 80)


def _workload(truth: Truth, label: str) -> Pod:
    return truth.pods[{w.label: w for w in truth.rows}[label]][0]


def test_allowlists_never_open_the_cluster_networks(truth: Truth) -> None:
    """0.0.0.0/0 and 10.0.0.0/8 reach what is outside the DataPlane's clusterNetworks,
    and no pod or Service IP through them (ipBlock taken to match pod IPs, as Calico
    and Cilium do)."""
    c = truth.cluster
    assert c.ipblock_matches_pods
    gateway = _workload(truth, "ingress gateway (ingress-nginx)")
    bystander = _workload(truth, "bystander namespace")
    other_system = _workload(truth, "other kube-system pod")
    dns = _workload(truth, "kube-dns (kube-system)")
    for org in truth.orgs:
        for env in ENVS.values():
            any_ = _workload(truth, f"{org}/p1/{env}/any")
            vpc = _workload(truth, f"{org}/p1/{env}/vpc")
            # Outside the cluster: everything for `any`, 10.0.0.0/8:5432 for `vpc`.
            for ip, port, proto in (
                ("203.0.113.10", 5433, "TCP"),
                ("198.51.100.1", 5432, "UDP"),
                ("10.20.0.5", 5432, "TCP"),
                ("8.8.8.8", 443, "TCP"),
            ):
                assert c.allowed(any_, External(ip), port, proto), (org, env, ip, port)
            assert c.allowed(vpc, External("10.20.0.5"), 5432)
            assert not c.allowed(vpc, External("10.20.0.5"), 5433)
            assert not c.allowed(vpc, External("10.20.0.5"), 5432, "UDP")
            assert not c.allowed(vpc, External("203.0.113.10"), 5432)
            # Inside: Service IPs, pod-network addresses, and the pods of namespaces
            # without ingress policies (other than DNS, which every pod may use).
            for src in (any_, vpc):
                assert not c.allowed(src, External("10.96.0.1"), 443)
                assert not c.allowed(src, External("10.96.0.10"), 5432)
                assert not c.allowed(src, External("10.244.200.1"), 8080)
                assert not c.allowed(src, External("10.244.200.1"), 5432)
                for pod in (gateway, bystander):
                    for port in (80, 5432, 8080):
                        assert not c.allowed(src, pod, port), (src.key, pod.key, port)
                for proto in ("UDP", "TCP"):
                    assert not c.allowed(src, other_system, 53, proto)
                    assert c.allowed(src, dns, 53, proto)
                assert not c.allowed(src, dns, 5432)
            # Another organization's pods: not even the egress side lets it out.
            other = "B" if org == "A" else "A"
            for dst in truth.pods[{w.label: w for w in truth.rows}[f"{other}/p1/{env}/api"]]:
                assert not c.verdict(any_, dst, 8080).egress
                assert not c.verdict(vpc, dst, 5432).egress


def without_excepts(cluster: Cluster) -> Cluster:
    """The same cluster with every ipBlock's except entries removed."""
    policies = copy.deepcopy(cluster.policies)
    for pol in policies:
        for rule in pol["spec"].get("egress") or []:
            for peer in rule.get("to") or []:
                (peer.get("ipBlock") or {}).pop("except", None)
    return Cluster(cluster.namespaces.values(), cluster.pods, policies, ipblock_matches_pods=True)


def into_the_cluster(truth: Truth) -> list[tuple[Workload, Target]]:
    """Cells where only an allowlist could let `any` or `vpc` in: pods of namespaces
    without ingress policies (DNS aside) and addresses in the cluster networks."""

    def inside(t: Target) -> bool:
        if t.external:
            return in_cluster_networks(t.external)
        dst = t.workload
        assert dst is not None
        dns = dst.label.startswith("kube-dns") and t.port == 53
        return not dst.runtime and not _in_org_namespace(dst) and not dns

    return [(src, t) for src, t in truth.table if src.component in ("any", "vpc") and inside(t)]


def evaluate(cluster: Cluster, truth: Truth, src: Workload, t: Target) -> bool:
    """A cell of the table, against another cluster: every pod pair allowed."""
    dsts: list[Pod | External] = (
        [External(t.external)] if t.external else list(truth.pods[t.workload])  # type: ignore[index]
    )
    return all(
        cluster.allowed(sp, dp, t.port, t.protocol)
        for sp in truth.pods[src]
        for dp in dsts
        if dp is not sp
    )


def test_without_the_excepts_the_allowlists_would_reach_into_the_cluster(truth: Truth) -> None:
    """The check above has teeth: the same policies without their except entries let
    `any` and `vpc` reach the gateway, the bystander, kube-system and the Service network."""
    cells = into_the_cluster(truth)
    assert len(cells) >= 50
    assert not any(truth.cell(src, t) for src, t in cells)
    before = without_excepts(truth.cluster)
    opened = [(src.label, t.label) for src, t in cells if evaluate(before, truth, src, t)]
    assert len(opened) >= len(cells) // 2, opened
    gateway = _workload(truth, "ingress gateway (ingress-nginx)")
    bystander = _workload(truth, "bystander namespace")
    other_system = _workload(truth, "other kube-system pod")
    any_, vpc = _workload(truth, "A/p1/dev/any"), _workload(truth, "A/p1/dev/vpc")
    assert before.allowed(any_, gateway, 80)
    assert before.allowed(any_, bystander, 80)
    assert before.allowed(any_, other_system, 53, "UDP")
    assert before.allowed(any_, External("10.96.0.1"), 443)
    assert before.allowed(vpc, gateway, 5432)
    assert before.allowed(vpc, External("10.96.0.10"), 5432)


def test_an_entry_inside_the_cluster_networks_is_left_out_and_reported(
    kube: Kube, truth: Truth
) -> None:
    org = truth.names["A"]
    ns = f"cdp-org-{org}"
    vpc = kube.get("component", "p1-vpc", ns)
    cond = kube.condition(vpc, "EgressAllowlistEffective")
    assert cond is not None and (cond["status"], cond["reason"]) == (
        "False",
        "InsideClusterNetwork",
    ), cond
    assert cond["message"].startswith(
        "egress 10.244.0.0/16 lies inside the cluster network 10.244.0.0/16 of DataPlane us "
        "and opens nothing; egress 10.0.0.0/8 excludes the cluster networks "
    ), cond
    # The component is not held back for it: Ready is its workloads' verdict.
    ready = kube.condition(vpc)
    assert ready is not None and ready["reason"] in ("Available", "Progressing"), ready
    stalled = kube.condition(vpc, "Stalled")
    assert stalled is not None and stalled["status"] == "False"
    any_ = kube.condition(kube.get("component", "p1-any", ns), "EgressAllowlistEffective")
    assert any_ is not None and (any_["status"], any_["reason"]) == (
        "True",
        "ClusterNetworksExcluded",
    ), any_
    assert (
        kube.condition(kube.get("component", "p1-worker", ns), "EgressAllowlistEffective") is None
    )

    # What the API server stored: one rule, the VPC minus the cluster networks.
    policy = kube.get("networkpolicy", "cdp-p1-vpc-egress", f"{org}-p1-development")
    assert policy is not None
    (rule,) = policy["spec"]["egress"]
    block = rule["to"][0]["ipBlock"]
    assert block["cidr"] == "10.0.0.0/8"
    excepted = [ipaddress.ip_network(e) for e in block["except"]]
    for net in map(ipaddress.ip_network, CLUSTER_NETWORKS):
        assert any(net.subnet_of(e) for e in excepted), (net, block)  # type: ignore[arg-type]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_the_apiserver_accepts_ipv4_and_ipv6_excepts(kube: Kube, truth: Truth) -> None:
    """The golden egress policy (0.0.0.0/0 and ::/0 minus dual-stack cluster networks)
    passes the API server's NetworkPolicy validation; an except equal to its cidr would
    not, which is why an entry inside the cluster networks is left out instead."""
    golden = yaml.safe_load((REPO / "tests/golden/egress-cluster-networks.yaml").read_text())
    golden["metadata"]["namespace"] = "default"
    result = kube.run("apply", "--dry-run=server", "-f", "-", input=json.dumps(golden))
    assert "created (server dry run)" in result.stdout, result.stdout
    bad = copy.deepcopy(golden)
    bad["metadata"]["name"] = "except-equals-cidr"
    bad["spec"]["egress"] = [
        {"to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.0.0/16"]}}]}
    ]
    result = kube.run("apply", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False)
    assert result.returncode != 0 and "must be a strict subset of `cidr`" in result.stderr


def test_the_verdict_does_not_depend_on_ipblock_reaching_pod_ips(truth: Truth) -> None:
    """ipBlock on pod IPs is implementation-defined; the table holds either way."""
    strict = Cluster(
        truth.cluster.namespaces.values(),
        truth.cluster.pods,
        truth.cluster.policies,
        ipblock_matches_pods=False,
    )
    for src in truth.rows:
        for t in truth.targets:
            if t.external or (src, t) not in truth.table:
                continue
            results = {
                strict.allowed(sp, dp, t.port, t.protocol)
                for sp in truth.pods[src]
                for dp in truth.pods[t.workload]  # type: ignore[index]
                if dp is not sp
            }
            assert results == {truth.cell(src, t)}, (src.label, t.label)


# --------------------------------------------------------------------- the report
def render_report(truth: Truth) -> str:
    """A Markdown matrix: every source against organization A's p1/development
    endpoints, DNS, the gateway pod and the external destinations; plus totals of the
    full table."""
    focus = [
        t
        for t in truth.targets
        if (t.workload and t.workload.label in ("A/p1/dev/api",) and t.endpoint)
        or (t.workload and t.workload.label == "kube-dns (kube-system)" and t.port == 53)
        or (t.workload and t.workload.label.startswith("ingress gateway") and t.port == 80)
        or t.external
    ]
    heads = []
    for t in focus:
        if t.endpoint:
            heads.append(f"{VISIBILITY[t.endpoint]} :{t.port}")
        elif t.external:
            heads.append(t.label)
        elif t.port == 80:
            heads.append("gateway pod :80")
        else:
            heads.append(f"DNS {t.port}/{t.protocol}")
    lines = [
        "| source \\ destination | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(heads),
    ]
    for src in truth.rows:
        cells = [
            "n/a" if (src, t) not in truth.table else "yes" if truth.cell(src, t) else "-"
            for t in focus
        ]
        lines.append(f"| {src.label} | " + " | ".join(cells) + " |")

    # Aggregate: source (org, environment) x destination (org, environment), over every
    # component port of the destination: allowed cells / evaluated cells.
    def group(w: Workload) -> str:
        return f"{w.org}/{ENVS[w.env or '']}" if w.runtime else "outside"

    groups = ["A/dev", "A/prod", "B/dev", "B/prod"]
    counts: dict[tuple[str, str], list[int]] = {}
    for (src, t), v in truth.table.items():
        if t.workload is None or not t.workload.runtime:
            continue
        key = (src.label if not src.runtime else group(src), group(t.workload))
        cell = counts.setdefault(key, [0, 0])
        cell[0] += int(v)
        cell[1] += 1
    sources = groups + [w.label for w in truth.rows if not w.runtime]
    lines += [
        "",
        "| source \\ destination (all component ports) | " + " | ".join(groups) + " |",
        "|---|" + "---|" * len(groups),
    ]
    for src_label in sources:
        cells = []
        for g in groups:
            a, n = counts.get((src_label, g), [0, 0])
            cells.append(f"{a}/{n}")
        lines.append(f"| {src_label} | " + " | ".join(cells) + " |")
    cross = [
        v
        for (src, t), v in truth.table.items()
        if src.runtime and t.workload and t.workload.runtime and src.org != t.workload.org
    ]
    allowed = sum(1 for v in truth.table.values() if v)
    into, before = into_the_cluster(truth), without_excepts(truth.cluster)
    summary = {
        "sources (workloads)": len(truth.rows),
        "destinations (workload ports and external addresses)": len(truth.targets),
        "cells evaluated": len(truth.table),
        "cells allowed": allowed,
        "cross-organization cells allowed": f"{sum(cross)} of {len(cross)}",
        "allowlist cells into the cluster networks allowed (any, vpc)": (
            f"{sum(truth.cell(s, t) for s, t in into)} of {len(into)}"
        ),
        "the same without except entries": (
            f"{sum(evaluate(before, truth, s, t) for s, t in into)} of {len(into)}"
        ),
        "pods": sum(len(p) for p in truth.pods.values()),
        "network policies": len(truth.cluster.policies),
    }
    return "\n".join(lines) + "\n\n" + json.dumps(summary, indent=1)
