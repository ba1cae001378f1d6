"""Helpers for test_resilience.py: a workload catalogue, the desired state computed
independently of the operator, snapshots and their comparison, per-instance
identities, Kopf peering, and control-plane faults (the audit log is read with
``kit.AuditLog``).

The expectation here is written from docs/design.md and domain.md (names, labels,
which objects a Component of a given type gets), never from the operator's render
code, so a bug there cannot hide itself.
"""

from __future__ import annotations

import base64
import datetime
import json
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kit import service_account_token, token_kubeconfig

API = "cdp.dev/v1alpha1"
MANAGED_BY = "app.kubernetes.io/managed-by"
ORG_LABEL = "cdp.dev/organization"
COMPONENT_LABEL = "cdp.dev/component"
DEFAULT_ENVIRONMENTS = {"development": False, "production": True}  # name -> production
#: design.md: organization namespaces hold resources, not workloads: default deny + DNS.
ORG_NAMESPACE_POLICIES = ("cdp-default-deny", "cdp-allow-dns")
RUNTIME_POLICIES = (
    "cdp-default-deny",
    "cdp-allow-dns",
    "cdp-allow-same-project",
    "cdp-allow-egress-to-organization",
)
#: Kinds the operator creates; snapshots list every object of these kinds.
SNAPSHOT_KINDS = (
    "namespaces",
    "deployments.apps",
    "services",
    "ingresses.networking.k8s.io",
    "networkpolicies.networking.k8s.io",
    "poddisruptionbudgets.policy",
    "cronjobs.batch",
    "jobs.batch",
    "environments.cdp.dev",
)
KIND_OF = {
    "namespaces": "Namespace",
    "deployments.apps": "Deployment",
    "services": "Service",
    "ingresses.networking.k8s.io": "Ingress",
    "networkpolicies.networking.k8s.io": "NetworkPolicy",
    "poddisruptionbudgets.policy": "PodDisruptionBudget",
    "cronjobs.batch": "CronJob",
    "jobs.batch": "Job",
    "environments.cdp.dev": "Environment",
}
PRODUCTION_MIN_REPLICAS = 2
#: Once a year: no CronJob fires (and creates Jobs) while a test runs.
YEARLY = "0 0 1 1 *"

Key = tuple[str, str, str]  # (Kind, namespace or "", name)


# ------------------------------------------------------------------ manifests
def cr(kind: str, name: str, namespace: str | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": API, "kind": kind, "metadata": meta, "spec": spec}


def component(
    namespace: str, name: str, project: str, variant: int, tag: str = "1", replicas: int = 1
) -> dict[str, Any]:
    """One of five shapes, so a run covers every object kind a Component can get."""
    image = f"registry.example.com/{name}:{tag}"
    shape = variant % 5
    spec: dict[str, Any] = {"project": project, "image": image, "replicas": replicas}
    if shape == 0:  # web-app, public endpoint: Deployment, Service, Ingress, ingress policy
        spec.update(
            type="web-app",
            build={
                "buildpack": "docker",
                "configs": {"dockerFilePath": "Dockerfile", "port": "8080"},
            },
            endpoints=[{"name": "web", "port": 8080, "visibility": "public", "path": "/"}],
        )
    elif shape == 1:  # organization endpoint and an egress allowlist: both policies
        spec.update(
            type="service",
            build={"buildpack": "python", "configs": {"buildPackLangVersion": "3.11"}},
            endpoints=[{"name": "api", "port": 8080, "visibility": "organization"}],
            egress=[{"cidr": "203.0.113.0/24", "ports": [443]}],
        )
    elif shape == 2:  # project endpoint only: Deployment and Service, no own policy
        spec.update(
            type="service",
            build={"buildpack": "go", "configs": {"buildPackLangVersion": "1.22"}},
            endpoints=[{"name": "grpc", "port": 9090, "visibility": "project"}],
        )
    elif shape == 3:  # scheduled task: a CronJob
        spec.update(type="scheduled-task", schedule=YEARLY)
        spec.pop("replicas")
    else:  # webhook, development only, no endpoints: a Deployment there and nothing else
        spec.update(
            type="webhook",
            build={"buildpack": "nodejs", "configs": {"buildPackLangVersion": "20"}},
            environments=["development"],
        )
    return {
        "apiVersion": API,
        "kind": "Component",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def dump(docs: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(docs))


# ------------------------------------------------------------ the expectation
def runtime_namespace(org: str, project: str, environment: str) -> str:
    """design.md: `<org>-<project>-<environment>`; the tests use names that need no hash."""
    name = f"{org}-{project}-{environment}"
    assert len(name) <= 63 and "-" not in org + project, "test names must not need hashing"
    return name


@dataclass
class Expectation:
    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    #: Runtime namespaces of deleted projects: must be gone.
    gone_namespaces: set[str] = field(default_factory=set)


def expected_state(
    org: str, projects: Iterable[str], components: Iterable[dict[str, Any]]
) -> Expectation:
    """What must exist for `org` (default data plane, default environments only).

    Value dicts hold the fields worth checking: workload image and replicas.
    """
    exp = Expectation()
    org_ns = f"cdp-org-{org}"
    exp.objects[("Namespace", "", org_ns)] = {}
    for env in DEFAULT_ENVIRONMENTS:
        exp.objects[("Environment", org_ns, env)] = {}
    for policy in ORG_NAMESPACE_POLICIES:
        exp.objects[("NetworkPolicy", org_ns, policy)] = {}
    projects = set(projects)
    for project in projects:
        for env in DEFAULT_ENVIRONMENTS:
            ns = runtime_namespace(org, project, env)
            exp.objects[("Namespace", "", ns)] = {}
            for policy in RUNTIME_POLICIES:
                exp.objects[("NetworkPolicy", ns, policy)] = {}
    for comp in components:
        name = comp["metadata"]["name"]
        spec = comp["spec"]
        if spec["project"] not in projects:
            continue
        for env, production in DEFAULT_ENVIRONMENTS.items():
            if spec.get("environments") is not None and env not in spec["environments"]:
                continue
            ns = runtime_namespace(org, spec["project"], env)
            endpoints = spec.get("endpoints") or []
            if spec["type"] in ("service", "web-app", "webhook"):
                replicas = int(spec.get("replicas", 1))
                if production and replicas:
                    replicas = max(PRODUCTION_MIN_REPLICAS, replicas)
                exp.objects[("Deployment", ns, name)] = {
                    "image": spec["image"],
                    "replicas": replicas,
                }
                if endpoints:
                    exp.objects[("Service", ns, name)] = {}
                if any(
                    e["visibility"] == "public" and e.get("protocol", "TCP") == "TCP"
                    for e in endpoints
                ):
                    exp.objects[("Ingress", ns, name)] = {}
                if production:
                    exp.objects[("PodDisruptionBudget", ns, name)] = {}
            elif spec["type"] == "scheduled-task":
                exp.objects[("CronJob", ns, name)] = {"image": spec["image"]}
            if any(e["visibility"] in ("organization", "public") for e in endpoints):
                exp.objects[("NetworkPolicy", ns, f"cdp-{name}-ingress")] = {}
            if spec.get("egress"):
                exp.objects[("NetworkPolicy", ns, f"cdp-{name}-egress")] = {}
    return exp


# --------------------------------------------------------------- the snapshot
def key_of(obj: dict[str, Any], kind: str) -> Key:
    meta = obj["metadata"]
    return (kind, meta.get("namespace") or "", meta["name"])


def snapshot(kube: Any, org: str) -> dict[Key, dict[str, Any]]:
    """Every object of the operator's kinds that belongs to `org`: labelled with it, or
    living in its namespaces (labelled or not, so unlabelled leftovers count too)."""
    result: dict[Key, dict[str, Any]] = {}
    prefix = f"{org}-"
    org_ns = f"cdp-org-{org}"
    for plural in SNAPSHOT_KINDS:
        kind = KIND_OF[plural]
        for obj in kube.list(plural):
            meta = obj["metadata"]
            labels = meta.get("labels") or {}
            ns = meta.get("namespace") or ""
            if kind == "Namespace":
                mine = meta["name"] == org_ns or meta["name"].startswith(prefix)
            else:
                mine = ns == org_ns or ns.startswith(prefix)
            if mine or labels.get(ORG_LABEL) == org:
                result[key_of(obj, kind)] = obj
    return result


def _workload_fields(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if kind == "Deployment":
        containers = spec["template"]["spec"]["containers"]
        return {"image": containers[0]["image"], "replicas": spec.get("replicas")}
    if kind == "CronJob":
        containers = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        return {"image": containers[0]["image"]}
    return {}


@dataclass
class Comparison:
    lost: list[Key] = field(default_factory=list)
    orphans: list[Key] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    finalizers: list[str] = field(default_factory=list)
    terminating: list[Key] = field(default_factory=list)
    not_ours: list[Key] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    not_gone: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(vars(self).values())

    def summary(self) -> str:
        return "; ".join(
            f"{k}: {v[:10]}{'...' if len(v) > 10 else ''}" for k, v in vars(self).items() if v
        )


def compare(exp: Expectation, actual: dict[Key, dict[str, Any]]) -> Comparison:
    result = Comparison()
    result.lost = sorted(set(exp.objects) - set(actual))
    result.orphans = sorted(set(actual) - set(exp.objects))
    per_component: dict[tuple[str, str, str], int] = {}
    for key, obj in actual.items():
        meta = obj["metadata"]
        if meta.get("finalizers"):
            result.finalizers.append(f"{key}: {meta['finalizers']}")
        if meta.get("deletionTimestamp"):
            result.terminating.append(key)
        if (meta.get("labels") or {}).get(MANAGED_BY) != "cdp-operator":
            result.not_ours.append(key)
        comp = (meta.get("labels") or {}).get(COMPONENT_LABEL)
        if comp and key[0] in ("Deployment", "CronJob"):
            slot = (key[0], key[1], comp)
            per_component[slot] = per_component.get(slot, 0) + 1
        want = exp.objects.get(key)
        if want:
            have = _workload_fields(key[0], obj)
            for f, v in want.items():
                if have.get(f) != v:
                    result.stale.append(f"{key} {f}={have.get(f)!r}, want {v!r}")
    result.duplicates = [f"{s}: {n}" for s, n in per_component.items() if n > 1]
    result.not_gone = sorted(ns for ns in exp.gone_namespaces if ("Namespace", "", ns) in actual)
    return result


def not_ready(kube: Any, kind: str, namespace: str | None) -> list[str]:
    """Names of `kind` whose Ready is not True for their current generation."""
    bad = []
    for obj in kube.list(kind, namespace):
        ready = next(
            (c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"),
            None,
        )
        gen = obj["metadata"].get("generation")
        if (
            ready is None
            or ready["status"] != "True"
            or (obj.get("status") or {}).get("observedGeneration") != gen
        ):
            why = ready["reason"] if ready else "no Ready"
            bad.append(f"{obj['metadata']['name']} ({why})")
    return bad


# ------------------------------------------------------------------ the audit
def parse_time(value: str) -> float:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def is_peering_write(ev: dict[str, Any]) -> bool:
    """Kopf's keep-alives in the peering object: bookkeeping, not acting on the cluster."""
    return (ev.get("objectRef") or {}).get("apiGroup") == "kopf.dev"


# -------------------------------------------------------------- identities
@dataclass
class Identity:
    name: str
    username: str
    kubeconfig: Path


def make_identity(cluster: Any, kube: Any, namespace: str, name: str, tmp: Path) -> Identity:
    """A ServiceAccount bound to cluster-admin, and a kubeconfig with its token: one
    operator instance's own user name in the audit log."""
    kube.apply(
        dump(
            [
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace},
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {
                        "name": f"{namespace}-{name}",
                        "labels": {"e2e.cdp.dev/resilience": "true"},
                    },
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
                },
            ]
        )
    )
    token = service_account_token(cluster, namespace, name, seconds=3 * 3600)
    path = token_kubeconfig(cluster, token, tmp / f"{name}.kubeconfig", name)
    return Identity(name, f"system:serviceaccount:{namespace}:{name}", path)


# ------------------------------------------------------------------- peering
#: Kopf's cluster-scoped peering resource, as Kopf documents it.
PEERING_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: clusterkopfpeerings.kopf.dev}
spec:
  scope: Cluster
  group: kopf.dev
  names: {kind: ClusterKopfPeering, plural: clusterkopfpeerings, singular: clusterkopfpeering}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def ensure_peering(kube: Any, name: str) -> None:
    kube.run(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=e2e-resilience",
        "-f",
        "-",
        input=PEERING_CRD,
    )
    kube.run(
        "wait",
        "--for=condition=Established",
        "crd/clusterkopfpeerings.kopf.dev",
        "--timeout=60s",
    )
    kube.apply(
        json.dumps(
            {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
        )
    )


def peers(kube: Any, name: str) -> dict[str, dict[str, Any]]:
    """Kopf's peering status: identity -> {priority, lifetime, lastseen}."""
    obj = kube.get("clusterkopfpeering", name)
    return dict((obj or {}).get("status") or {})


# -------------------------------------------------------------------- faults
def etcd_call(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """etcd's JSON gateway (v3 API over HTTP on the client port)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


def etcd_compact(port: int) -> int:
    """Compact etcd's history up to its current revision (what the API server does
    every five minutes): any watch from an older resourceVersion gets 410 Gone."""
    key = base64.b64encode(b"/registry/").decode()
    rev = int(etcd_call(port, "/v3/kv/range", {"key": key, "limit": 1})["header"]["revision"])
    etcd_call(port, "/v3/kv/compaction", {"revision": str(rev), "physical": True})
    return rev


def wait_nodes_ready(kube: Any, timeout: float = 180) -> None:
    def ready() -> bool:
        nodes = kube.list("nodes")
        return bool(nodes) and all(
            any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
            for n in nodes
        )

    kube.wait_for(ready, timeout, "nodes Ready after the control-plane fault")


def heal_fake_pods(kube: Any, namespaces: Iterable[str], stuck_after: float = 30) -> int:
    """Replace pods the fake kubelet left behind after a fault (their ReplicaSets
    make new ones), so Component readiness measures the operator, not kwok.

    Two artefacts of kwok seen after control-plane faults: a pod marked NotReady
    by the node controller while the nodes' leases could not be renewed is never
    made Ready again; and a pod whose "ready" status patch failed (HTTP 500 while
    etcd was down) is retried only minutes later. A real kubelet reports both
    again within seconds. Pods not Ready `stuck_after` seconds after creation
    count as stuck (kwok readies a pod within about a second).
    """
    healed = 0
    now = time.time()
    for ns in namespaces:
        for pod in kube.list("pods", ns):
            meta = pod["metadata"]
            conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
            age = now - parse_time(meta["creationTimestamp"])
            if (
                conds.get("Ready") != "True"
                and age > stuck_after
                and meta.get("ownerReferences")
                and not meta.get("deletionTimestamp")
            ):
                kube.run("delete", "pod", meta["name"], "-n", ns, "--wait=false", check=False)
                healed += 1
    return healed


def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
