"""Endpoint visibility levels nest (domain.md): what the rendered policies allow,
judged by the spec-based evaluator (tests/isolation/netpol_eval.py).

``project`` < ``organization`` < ``public``: an ``organization`` endpoint is also
reachable wherever a ``project`` one is, and a ``public`` one wherever an
``organization`` one is, plus from the DataPlane's ingress gateway namespace.
"""

from __future__ import annotations

import pytest
from test_render_golden import component, runtime

from cdp_operator.render.context import Runtime
from cdp_operator.render.namespaces import runtime_namespace
from cdp_operator.render.policies import component_policies, runtime_policies
from isolation.netpol_eval import Cluster, Namespace, Pod

PORTS = {"project": 9090, "organization": 8081, "public": 8080}
UNDECLARED = 7777
API = component(
    type="service",
    endpoints=[{"name": name, "port": port, "visibility": name} for name, port in PORTS.items()],
)
CLIENT = component(type="service")
GATEWAY_NS = "ingress-nginx"  # the default gatewayNamespace of the `us` DataPlane

#: Where a client sits, relative to acme/shop/development's `api`.
PLACES: dict[str, tuple[str, str, str]] = {
    "same project": ("acme", "shop", "development"),
    "other project, same organization and environment": ("acme", "billing", "development"),
    "same project, other environment": ("acme", "shop", "production"),
    "other organization, same environment": ("globex", "shop", "development"),
}
#: The places each visibility admits (the gateway namespace is handled apart).
REACHABLE_FROM = {
    "project": {"same project"},
    "organization": {"same project", "other project, same organization and environment"},
    "public": {"same project", "other project, same organization and environment"},
}


def _cluster() -> tuple[Cluster, Pod, dict[str, Pod]]:
    namespaces = [Namespace(GATEWAY_NS)]
    pods: list[Pod] = []
    policies: list[dict[str, object]] = []
    clients: dict[str, Pod] = {}
    api: Pod | None = None
    for i, (place, (org, project, env)) in enumerate(PLACES.items()):
        rt: Runtime = runtime(env, organization=org, project=project)
        ns = runtime_namespace(rt)
        namespaces.append(Namespace(rt.namespace, ns["metadata"]["labels"]))
        policies += runtime_policies(rt)
        for name, spec in (("api", API), ("client", CLIENT)):
            policies += component_policies(rt, name, spec)
        labels = dict(rt.component_labels("client"))
        clients[place] = Pod(rt.namespace, "client", labels, f"10.244.{i}.2")
        pods.append(clients[place])
        if place == "same project":
            api = Pod(rt.namespace, "api", dict(rt.component_labels("api")), f"10.244.{i}.3")
            pods.append(api)
    clients["ingress gateway"] = Pod(GATEWAY_NS, "controller", {"app": "gw"}, "10.244.99.2")
    pods.append(clients["ingress gateway"])
    assert api is not None
    return Cluster(namespaces, pods, policies), api, clients


@pytest.mark.parametrize("visibility", list(PORTS))
def test_each_visibility_reaches_exactly_its_places(visibility: str) -> None:
    cluster, api, clients = _cluster()
    port = PORTS[visibility]
    got = {place for place, pod in clients.items() if cluster.allowed(pod, api, port)}
    want = set(REACHABLE_FROM[visibility])
    if visibility == "public":
        want.add("ingress gateway")
    assert got == want


def test_levels_nest() -> None:
    cluster, api, clients = _cluster()
    reach = {
        v: {p for p, pod in clients.items() if cluster.allowed(pod, api, port)}
        for v, port in PORTS.items()
    }
    assert reach["project"] < reach["organization"] < reach["public"]


def test_an_undeclared_port_only_from_the_same_project() -> None:
    cluster, api, clients = _cluster()
    got = {p for p, pod in clients.items() if cluster.allowed(pod, api, UNDECLARED)}
    assert got == {"same project"}


def test_a_public_only_component_is_reachable_from_its_organization() -> None:
    """Without any organization endpoint, the public port still opens to the organization."""
    rt = runtime("development", organization="acme", project="shop")
    web = component(
        type="web-app", endpoints=[{"name": "http", "port": 8080, "visibility": "public"}]
    )
    [policy] = [
        p for p in component_policies(rt, "web", web) if "Ingress" in p["spec"]["policyTypes"]
    ]
    [from_organization] = [
        rule
        for rule in policy["spec"]["ingress"]
        if rule["from"][0]["namespaceSelector"]["matchLabels"].get("cdp.dev/organization")
    ]
    assert from_organization["ports"] == [{"protocol": "TCP", "port": 8080}]
