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
  freely) or the endpoint's visibility is ``organization``;
* a ``public`` endpoint is reachable from the DataPlane's ingress gateway
  namespace, and (like every port) from its own project and environment;
  nothing else: not from other projects of the organization (they go through
  the gateway like everyone else), not from anywhere else in the cluster;
* egress of a runtime pod: DNS (53/UDP and 53/TCP to kube-dns pods only), the
  pods of its own organization and environment (whose ingress then decides),
  and its component's allowlist (203.0.113.10/32 port 5432 for ``api``);
  nothing else (not :5433, not 198.51.100.1, not the gateway, not bystanders);
* namespaces the operator does not manage have no policies: what they may do is
  outside the operator's promise, and is shown as such.

``CDP_ISOLATION_REPORT=path`` writes the truth table as Markdown (docs/isolation.md
was produced that way).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from isolation.netpol_eval import Cluster, External, Pod

from .conftest import Kube, manifest
from .operator_harness import OperatorProcess

pytestmark = pytest.mark.e2e

GATEWAY_NS = "ingress-nginx"
DNS_NS = "kube-system"
ENVS = {"development": "dev", "production": "prod"}
PROJECTS = ("p1", "p2")
PORTS = {"proj": 8080, "org": 8081, "pub": 8082}
VISIBILITY = {"proj": "project", "org": "organization", "pub": "public"}
ALLOWED_DB = ("203.0.113.10", 5432)
EXTERNALS = [("203.0.113.10", 5432), ("203.0.113.10", 5433), ("198.51.100.1", 5432)]
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
                kube.apply(
                    manifest(
                        "Component",
                        f"{project}-api",
                        ns,
                        project=project,
                        type="service",
                        image="registry.example.com/api:1",
                        endpoints=[
                            {"name": n, "port": p, "visibility": VISIBILITY[n]}
                            for n, p in PORTS.items()
                        ],
                        egress=[{"cidr": "203.0.113.10/32", "ports": [5432]}],
                    )
                )
                kube.apply(
                    manifest(
                        "Component",
                        f"{project}-worker",
                        ns,
                        project=project,
                        type="service",
                        image="registry.example.com/worker:1",
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
                for comp in ("api", "worker"):
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
            # p1, p2 x development (1 replica), production (2) x api, worker
            if len(pods) != 2 * (1 + 2) * 2 or not all(
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
    return Truth(cluster, (short[orgs[0]], short[orgs[1]]), by_workload, rows, targets, table)


# ------------------------------------------------------- the expectation (domain.md)
def _in_org_namespace(w: Workload) -> bool:
    return w.label.startswith("tenant pod")


def expected(src: Workload, t: Target) -> bool:
    # The organization namespace holds resources, not workloads: default deny in
    # both directions, DNS only (docs/design.md, Ownership).
    if t.external:
        if _in_org_namespace(src):
            return False
        if not src.runtime:
            return True  # unmanaged namespaces have no egress policy
        return src.component == "api" and (t.external, t.port) == ALLOWED_DB
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
        return t.endpoint == "org"
    return src.label.startswith("ingress gateway") and t.endpoint == "pub"


def expected_egress(src: Workload, t: Target) -> bool:
    """The egress side alone, for runtime sources."""
    assert src.runtime
    if t.external:
        return src.component == "api" and (t.external, t.port) == ALLOWED_DB
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


def test_public_endpoint_from_the_gateway_and_its_own_namespace_only(truth: Truth) -> None:
    for src, t, ok in truth.cells("pub"):
        dst = t.workload
        assert dst is not None
        gateway = src.label.startswith("ingress gateway")
        same_ns = src.runtime and (src.org, src.project, src.env) == (
            dst.org,
            dst.project,
            dst.env,
        )
        assert ok == (gateway or same_ns), (src.label, t.label)


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
    endpoints, DNS and the external destinations; plus totals of the full table."""
    focus = [
        t
        for t in truth.targets
        if (t.workload and t.workload.label in ("A/p1/dev/api",) and t.endpoint)
        or (t.workload and t.workload.label == "kube-dns (kube-system)" and t.port == 53)
        or t.external
    ]
    heads = []
    for t in focus:
        if t.endpoint:
            heads.append(f"{VISIBILITY[t.endpoint]} :{t.port}")
        elif t.external:
            heads.append(t.label)
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
    summary = {
        "sources (workloads)": len(truth.rows),
        "destinations (workload ports and external addresses)": len(truth.targets),
        "cells evaluated": len(truth.table),
        "cells allowed": allowed,
        "cross-organization cells allowed": f"{sum(cross)} of {len(cross)}",
        "pods": sum(len(p) for p in truth.pods.values()),
        "network policies": len(truth.cluster.policies),
    }
    return "\n".join(lines) + "\n\n" + json.dumps(summary, indent=1)
