#!/usr/bin/env python3
"""What one request of each kind costs the API server, in CPU milliseconds.

The convergence benchmark (run.py) is bound by the API server's CPU on this
machine; this script says which requests are expensive. For each request type
it sends --n requests (16 in flight) and reads the kube-apiserver process's CPU
time (utime + stime of /proc/<pid>/stat) before and after; rounds alternate the
types, and the median per type is reported, with its ratio to a ConfigMap
create. The Component CRD is also installed a second time without its CEL
rules (group bench-nocel.cdp.dev), to tell CEL's share from the rest.

Needs a running cluster whose kube-apiserver runs on this machine, with the
CRDs installed (`make cluster-up install`):

    .venv/bin/python hack/bench/request_costs.py            # .localcluster/
    .venv/bin/python hack/bench/request_costs.py --kubeconfig K --apiserver-pid P

Everything it creates lives in the namespace `bench-request-costs` and the
extra CRD; both are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import yaml  # noqa: E402
from kapi import Kube  # noqa: E402
from observe import cpu_seconds  # noqa: E402

REPO = HERE.parents[1]
NAMESPACE = "bench-request-costs"
NOCEL_GROUP = "bench-nocel.cdp.dev"
IN_FLIGHT = 16

Obj = dict[str, Any]
Send = Callable[[int, str], Awaitable[Any]]


def component(group: str, name: str) -> Obj:
    return {
        "apiVersion": f"{group}/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "project": "p",
            "type": "service",
            "image": "registry.example.com/x:1",
            "build": {"buildpack": "python", "configs": {"buildPackLangVersion": "3.11"}},
            "endpoints": [{"name": "http", "port": 8080, "visibility": "organization"}],
        },
    }


#: The shape of status the operator writes for a component that is rolling out.
STATUS: Obj = {
    "status": {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Progressing",
                "message": "development: 0/1 available, rolling out",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Reconciling",
                "status": "True",
                "reason": "Progressing",
                "message": "development: 0/1 available, rolling out",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Stalled",
                "status": "False",
                "reason": "Done",
                "message": "",
                "lastTransitionTime": "2026-11-27T12:00:00Z",
                "observedGeneration": 1,
            },
        ],
        "environments": [
            {
                "name": "development",
                "namespace": "o-p-development",
                "workloadKind": "Deployment",
                "workloadName": "x",
                "ready": False,
                "message": "0/1 available, rolling out",
                "replicas": 1,
                "readyReplicas": 0,
            }
        ],
    }
}


def deployment(name: str) -> Obj:
    labels = {"app": name}
    container = {
        "name": "main",
        "image": "registry.example.com/x:1",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,  # no pods: only the API request is measured
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def event(name: str) -> Obj:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{uuid.uuid4().hex[:8]}"},
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
        "type": "Normal",
        "reason": "Available",
        "note": "ready in 2 environment(s)",
        "action": "Reconcile",
        "reportingController": "cdp.dev/cdp-operator",
        "reportingInstance": "bench",
        "regarding": {
            "apiVersion": "cdp.dev/v1alpha1",
            "kind": "Component",
            "name": name,
            "namespace": NAMESPACE,
        },
    }


def nocel_crd() -> Obj:
    crd: Obj = yaml.safe_load((REPO / "crds" / "cdp.dev_components.yaml").read_text())
    crd = copy.deepcopy(crd)
    crd["metadata"] = {"name": f"components.{NOCEL_GROUP}"}
    crd["spec"]["group"] = NOCEL_GROUP

    def strip(value: Any) -> None:
        if isinstance(value, dict):
            value.pop("x-kubernetes-validations", None)
            for v in value.values():
                strip(v)
        elif isinstance(value, list):
            for v in value:
                strip(v)

    strip(crd)
    return crd


def requests(kube: Kube) -> dict[str, Send]:
    """Request types by name; each takes (index, round tag), so names never repeat."""
    ns = f"/api/v1/namespaces/{NAMESPACE}"
    manager = {"fieldManager": "cdp-operator"}

    def post(path: str, make: Callable[[str], Obj]) -> Send:
        return lambda i, r: kube.request("POST", path, make(f"{r}{i}"))

    types: dict[str, Send] = {
        "create ConfigMap": post(
            f"{ns}/configmaps", lambda n: {"metadata": {"name": f"m{n}"}, "data": {"a": "b"}}
        ),
        "create Event": post(
            f"/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events", lambda n: event(f"c{n}")
        ),
        "create NetworkPolicy": post(
            f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies",
            lambda n: {
                "metadata": {"name": f"n{n}"},
                "spec": {"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Ingress"]},
            },
        ),
        "create Deployment": post(
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", lambda n: deployment(f"d{n}")
        ),
        "create Service": post(
            f"{ns}/services",
            lambda n: {
                "metadata": {"name": f"s{n}"},
                "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 8080}]},
            },
        ),
    }
    # The Component CRD as shipped, then the same schema without its CEL rules.
    for group, suffix in (("cdp.dev", ""), (NOCEL_GROUP, " (no CEL)")):
        comps = f"/apis/{group}/v1alpha1/namespaces/{NAMESPACE}/components"
        types[f"create Component{suffix}"] = post(comps, lambda n, g=group: component(g, f"c{n}"))
        types[f"patch Component status{suffix}"] = lambda i, r, c=comps: kube.request(
            "PATCH",
            f"{c}/c{r}{i}/status",
            STATUS,
            params=manager,
            content_type="application/merge-patch+json",
        )
        if not suffix:
            types["get Component"] = lambda i, r, c=comps: kube.request("GET", f"{c}/c{r}{i}")
    return types


async def measure(kube: Kube, pid: int, n: int, rounds: int) -> dict[str, list[float]]:
    for _ in range(120):  # a previous run's namespace may still be terminating
        status, _ = await kube.request(
            "POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}}, ok=(409,)
        )
        old = await kube.get(f"/api/v1/namespaces/{NAMESPACE}") if status == 409 else None
        if not (old and old["metadata"].get("deletionTimestamp")):
            break
        await asyncio.sleep(1)
    else:
        raise TimeoutError(f"namespace {NAMESPACE} is still terminating")
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    await kube.request("POST", crds, nocel_crd(), ok=(409,))
    await asyncio.sleep(5)  # the new CRD's endpoints are served a moment after it is created
    per_type: dict[str, list[float]] = {}
    try:
        for r in range(rounds):
            for name, send in requests(kube).items():
                before = cpu_seconds(pid)
                await asyncio.gather(*(send(i, f"r{r}x") for i in range(n)))
                ms = (cpu_seconds(pid) - before) * 1000 / n
                per_type.setdefault(name, []).append(ms)
                print(f"round {r}: {name:34s} {ms:6.2f} ms", file=sys.stderr)
    finally:
        await kube.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}", ok=(404,))
        await kube.request("DELETE", f"{crds}/components.{NOCEL_GROUP}", ok=(404,))
        await kube.close()
    return per_type


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", default=str(REPO / ".localcluster" / "kubeconfig"))
    parser.add_argument("--apiserver-pid", type=int, help="default: .localcluster's")
    parser.add_argument("--n", type=int, default=300, help="requests per type and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    pid = args.apiserver_pid or int(
        (REPO / ".localcluster" / "kube-apiserver.pid").read_text().strip()
    )
    kube = Kube(args.kubeconfig, concurrency=IN_FLIGHT)
    per_type = asyncio.run(measure(kube, pid, args.n, args.rounds))
    base = statistics.median(per_type["create ConfigMap"])
    print(f"API server CPU per request, median of {args.rounds} rounds of {args.n}:")
    print("| request | ms | x ConfigMap create |")
    print("|---|---|---|")
    for name, values in per_type.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / base:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
