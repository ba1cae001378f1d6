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
import copy
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "bench-request-costs"
NOCEL_GROUP = "bench-nocel.cdp.dev"
IN_FLIGHT = 16

Obj = dict[str, Any]


class Api:
    def __init__(self, kubeconfig: str) -> None:
        configuration = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
        configuration.connection_pool_maxsize = IN_FLIGHT
        self.api = client.ApiClient(configuration)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
        ok: tuple[int, ...] = (),
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        m, url, hdrs, data, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(m, url, header_params=hdrs, body=data)
        raw = response.read()  # type: ignore[no-untyped-call]
        if response.status >= 300 and response.status not in ok:
            raise RuntimeError(f"{method} {path}: {response.status} {raw[:300]!r}")
        return json.loads(raw) if raw else None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def requests(api: Api, n: int) -> dict[str, Callable[[int, str], Any]]:
    ns = f"/api/v1/namespaces/{NAMESPACE}"
    comps = f"/apis/cdp.dev/v1alpha1/namespaces/{NAMESPACE}/components"
    nocel = f"/apis/{NOCEL_GROUP}/v1alpha1/namespaces/{NAMESPACE}/components"
    merge = "application/merge-patch+json"
    manager = [("fieldManager", "cdp-operator")]
    return {
        "create ConfigMap": lambda i, r: api.call(
            "POST", f"{ns}/configmaps", {"metadata": {"name": f"m{r}{i}"}, "data": {"a": "b"}}
        ),
        "create Event": lambda i, r: api.call(
            "POST", f"/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events", event(f"c{r}{i}")
        ),
        "create NetworkPolicy": lambda i, r: api.call(
            "POST",
            f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies",
            {
                "metadata": {"name": f"n{r}{i}"},
                "spec": {"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Ingress"]},
            },
        ),
        "create Deployment": lambda i, r: api.call(
            "POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment(f"d{r}{i}")
        ),
        "create Service": lambda i, r: api.call(
            "POST",
            f"{ns}/services",
            {
                "metadata": {"name": f"s{r}{i}"},
                "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 8080}]},
            },
        ),
        "create Component": lambda i, r: api.call("POST", comps, component("cdp.dev", f"c{r}{i}")),
        "patch Component status": lambda i, r: api.call(
            "PATCH", f"{comps}/c{r}{i}/status", STATUS, merge, manager
        ),
        "get Component": lambda i, r: api.call("GET", f"{comps}/c{r}{i}"),
        "create Component (no CEL)": lambda i, r: api.call(
            "POST", nocel, component(NOCEL_GROUP, f"c{r}{i}")
        ),
        "patch Component status (no CEL)": lambda i, r: api.call(
            "PATCH", f"{nocel}/c{r}{i}/status", STATUS, merge, manager
        ),
    }


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
    api = Api(args.kubeconfig)
    api.call("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}}, ok=(409,))
    api.call(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        nocel_crd(),
        ok=(409,),
    )
    time.sleep(5)  # the new CRD's endpoints are served a moment after it is created
    per_type: dict[str, list[float]] = {}
    try:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            for r in range(args.rounds):
                for name, send in requests(api, args.n).items():
                    before = cpu_seconds(pid)
                    list(pool.map(lambda i, s=send, rr=f"r{r}x": s(i, rr), range(args.n)))
                    ms = (cpu_seconds(pid) - before) * 1000 / args.n
                    per_type.setdefault(name, []).append(ms)
                    print(f"round {r}: {name:34s} {ms:6.2f} ms", file=sys.stderr)
    finally:
        api.call("DELETE", f"/api/v1/namespaces/{NAMESPACE}", ok=(404,))
        api.call(
            "DELETE",
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/components.{NOCEL_GROUP}",
            ok=(404,),
        )
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
