"""NetworkPolicies: default deny, then exactly what domain.md allows.

Namespaces are selected by operator-owned labels (tenants cannot label
namespaces) or by `kubernetes.io/metadata.name`, which the API server sets.
"""

from __future__ import annotations

from typing import Any

from cdp_operator.models import labels as lbl
from cdp_operator.models.naming import bounded_name
from cdp_operator.models.resources import ComponentSpec, Endpoint, Visibility

from .context import Manifest, Runtime
from .egress import allowlist_block

NAMESPACE_NAME = "kubernetes.io/metadata.name"
DEFAULT_DENY = "cdp-default-deny"
ALLOW_DNS = "cdp-allow-dns"
ALLOW_SAME_PROJECT = "cdp-allow-same-project"
# Not "cdp-allow-organization-egress": a component named "allow-organization"
# would get that name for its egress policy. Runtime policy names never end in
# "-ingress" or "-egress", so they cannot collide with component policies.
ALLOW_EGRESS_TO_ORGANIZATION = "cdp-allow-egress-to-organization"

_DNS_NAMESPACE = "kube-system"
_DNS_POD_LABELS = {"k8s-app": "kube-dns"}
_DNS_PORT = 53


def _policy(rt: Runtime, name: str, component: str | None, spec: dict[str, Any]) -> Manifest:
    labels = rt.labels() if component is None else rt.component_labels(component)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": rt.namespace, "labels": labels},
        "spec": spec,
    }


def organization_namespaces_selector(rt: Runtime) -> dict[str, Any]:
    """Runtime namespaces of the same organization and environment (this one included)."""
    return {
        "matchLabels": {
            lbl.MANAGED_BY: lbl.MANAGED_BY_VALUE,
            lbl.ORGANIZATION: rt.organization,
            lbl.ENVIRONMENT: rt.environment,
        }
    }


_DEFAULT_DENY_SPEC: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def _dns_spec() -> dict[str, Any]:
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME: _DNS_NAMESPACE}},
                        "podSelector": {"matchLabels": dict(_DNS_POD_LABELS)},
                    }
                ],
                "ports": [
                    {"protocol": "UDP", "port": _DNS_PORT},
                    {"protocol": "TCP", "port": _DNS_PORT},
                ],
            }
        ],
    }


def organization_policies(organization: str, namespace: str) -> list[Manifest]:
    """The organization namespace holds resources, not workloads: a pod a tenant
    starts there gets DNS and nothing else, so it cannot bypass the runtime
    namespaces' policies or egress allowlists."""
    labels = lbl.managed_labels(organization)
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": spec,
        }
        for name, spec in ((DEFAULT_DENY, dict(_DEFAULT_DENY_SPEC)), (ALLOW_DNS, _dns_spec()))
    ]


def runtime_policies(rt: Runtime) -> list[Manifest]:
    """The policies every runtime namespace has, whatever its components."""
    return [
        _policy(rt, DEFAULT_DENY, None, dict(_DEFAULT_DENY_SPEC)),
        _policy(rt, ALLOW_DNS, None, _dns_spec()),
        _policy(
            rt,
            ALLOW_SAME_PROJECT,
            None,
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
        # Egress only: what is reachable in the other namespaces is decided by
        # their ingress policies (default deny + the endpoints' visibility).
        _policy(
            rt,
            ALLOW_EGRESS_TO_ORGANIZATION,
            None,
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": organization_namespaces_selector(rt)}]}],
            },
        ),
    ]


def component_pods(component: str) -> dict[str, Any]:
    """The selector of a component's pods (also the Deployment's immutable selector)."""
    return {"matchLabels": {lbl.COMPONENT: component}}


def component_ingress_policy_name(component: str) -> str:
    return bounded_name(f"cdp-{component}-ingress")


def component_egress_policy_name(component: str) -> str:
    return bounded_name(f"cdp-{component}-egress")


def _ports(endpoints: list[Endpoint]) -> list[dict[str, Any]]:
    return [{"protocol": e.protocol.value, "port": e.port} for e in endpoints]


def component_policies(rt: Runtime, component: str, spec: ComponentSpec) -> list[Manifest]:
    """Ingress for the component's organization and public endpoints; its egress allowlist.

    Project visibility needs nothing here: cdp-allow-same-project covers it. The
    levels nest: organization and public ports are open to the namespaces of the
    same organization and environment, public ports also to the gateway namespace.
    """
    policies: list[Manifest] = []
    if ingress := _ingress_rules(rt, spec):
        pods = component_pods(component)
        body = {"podSelector": pods, "policyTypes": ["Ingress"], "ingress": ingress}
        policies.append(_policy(rt, component_ingress_policy_name(component), component, body))
    if egress := _egress_rules(rt, spec):
        pods = component_pods(component)  # a new object: manifests share no sub-objects
        body = {"podSelector": pods, "policyTypes": ["Egress"], "egress": egress}
        policies.append(_policy(rt, component_egress_policy_name(component), component, body))
    return policies


def _ingress_rules(rt: Runtime, spec: ComponentSpec) -> list[dict[str, Any]]:
    ingress: list[dict[str, Any]] = []
    # Visibility levels nest (domain.md): a public endpoint is also reachable
    # wherever an organization one is.
    organization = [
        e for e in spec.endpoints if e.visibility in (Visibility.ORGANIZATION, Visibility.PUBLIC)
    ]
    if organization:
        ingress.append(
            {
                "from": [{"namespaceSelector": organization_namespaces_selector(rt)}],
                "ports": _ports(organization),
            }
        )
    public = [e for e in spec.endpoints if e.visibility == Visibility.PUBLIC]
    if public:
        gateway = rt.data_plane.ingress.gateway_namespace
        ingress.append(
            {
                "from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: gateway}}}],
                "ports": _ports(public),
            }
        )
    return ingress


def _egress_rules(rt: Runtime, spec: ComponentSpec) -> list[dict[str, Any]]:
    egress: list[dict[str, Any]] = []
    for rule in spec.egress:
        # The DataPlane's cluster networks are never opened (render/egress.py); an
        # entry inside them opens nothing and is left out (component_plan.py reports it).
        block = allowlist_block(rule.cidr, rt.data_plane.cluster_networks)
        if block.opens_nothing:
            continue
        entry: dict[str, Any] = {"to": [{"ipBlock": block.ip_block()}]}
        if rule.ports:  # no ports: every port and protocol to that CIDR
            entry["ports"] = [{"protocol": rule.protocol.value, "port": p} for p in rule.ports]
        egress.append(entry)
    return egress
