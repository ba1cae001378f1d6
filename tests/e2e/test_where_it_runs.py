"""Where a component runs and how to reach it (status), `kubectl scale`, and manual
runs in chosen environments, against the real control plane."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kit import Kube

from .conftest import MANAGED, manifest, manual_task, service_component
from .operator_harness import OperatorProcess

pytestmark = pytest.mark.e2e


def test_status_says_where_each_endpoint_answers(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    endpoints = [
        {"name": "web", "port": 8080, "visibility": "public", "path": "/api"},
        {"name": "grpc", "port": 9090, "visibility": "organization"},
    ]
    kube.apply(service_component(ns, "api", "p", endpoints=endpoints))
    api = kube.wait_condition("component", "api", ns)
    envs = {e["name"]: e for e in api["status"]["environments"]}
    assert set(envs) == {"development", "production"}
    for name, entry in envs.items():
        rt = entry["namespace"]
        by_name = {e["name"]: e for e in entry["endpoints"]}
        # The addresses are those of the real Service and Ingress.
        svc = kube.get("service", "api", rt)
        assert svc is not None
        ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
        for ep in ("web", "grpc"):
            assert by_name[ep]["address"] == f"api.{rt}.svc:{ports[ep]}"
        assert by_name["grpc"]["visibility"] == "organization" and "url" not in by_name["grpc"]
        ingress = kube.get("ingress", "api", rt)
        assert ingress is not None
        rule = ingress["spec"]["rules"][0]
        assert by_name["web"]["url"] == f"http://{rule['host']}{rule['http']['paths'][0]['path']}"
        assert name in rule["host"]
    assert api["status"]["url"] == envs["production"]["endpoints"][0]["url"]
    wide = kube.run("get", "component", "api", "-n", ns, "-o", "wide", "--no-headers").stdout
    assert api["status"]["url"] in wide.split()


def test_kubectl_scale_sets_the_replicas_of_every_environment_without_an_override(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    overrides = [{"environment": "development", "replicas": 1}]
    kube.apply(service_component(ns, "api", "p", overrides=overrides))
    kube.wait_condition("component", "api", ns)
    kube.run("scale", "component", "api", "-n", ns, "--replicas=3")
    assert kube.get("component", "api", ns)["spec"]["replicas"] == 3  # type: ignore[index]
    prod, dev = f"{org_name}-p-production", f"{org_name}-p-development"
    kube.wait_for(
        lambda: kube.get("deployment", "api", prod)["spec"]["replicas"] == 3,  # type: ignore[index]
        60,
        "production scaled",
    )
    assert kube.get("deployment", "api", dev)["spec"]["replicas"] == 1  # type: ignore[index]
    kube.wait_condition("component", "api", ns)
    scale = json.loads(
        kube.run("get", "component", "api", "-n", ns, "--subresource=scale", "-o", "json").stdout
    )
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 3
    kube.wait_for(
        lambda: (kube.get("component", "api", ns) or {}).get("status", {}).get("replicas") == 3,
        90,
        "status.replicas 3",
    )


def test_a_manual_run_starts_only_in_the_environments_asked_for(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    ns = make_org(org_name, tier="payg")
    kube.apply(manifest("Project", "p", ns))
    kube.apply(manual_task(ns, "job", "p", "registry.example.com/job:1"))
    kube.wait_condition("component", "job", ns)
    dev, prod = f"{org_name}-p-development", f"{org_name}-p-production"

    def annotate(token: str, environments: str) -> None:
        kube.run(
            "annotate",
            "component",
            "job",
            "-n",
            ns,
            "--overwrite",
            f"cdp.dev/run-request={token}",
            f"cdp.dev/run-environments={environments}",
        )

    annotate("one", "development")
    kube.wait_for(lambda: kube.list("jobs", dev, MANAGED), 60, "a Job in development")
    job = kube.wait_for(
        lambda: ((kube.get("component", "job", ns) or {}).get("status") or {}).get("lastRun"),
        60,
        "lastRun",
    )
    assert job["token"] == "one" and len(job["jobs"]) == 1 and job["jobs"][0].startswith(dev)
    assert not kube.list("jobs", prod, MANAGED)

    # A name that is not one of its environments: refused, nothing runs anywhere.
    annotate("two", "prodution")
    bad = kube.wait_condition("component", "job", ns, "False", "InvalidRunRequest")
    message = kube.condition(bad)["message"]  # type: ignore[index]
    assert "cdp.dev/run-environments" in message and "prodution" in message
    assert not kube.list("jobs", prod, MANAGED)
    assert len(kube.list("jobs", dev, MANAGED)) == 1

    annotate("two", "production")
    kube.wait_for(lambda: kube.list("jobs", prod, MANAGED), 60, "a Job in production")
    kube.wait_condition("component", "job", ns)
    assert len(kube.list("jobs", dev, MANAGED)) == 1
