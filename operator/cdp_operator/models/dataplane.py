"""The DataPlane spec: a compute environment in a region."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    model_validator,
)

from .fields import CIDR, Spec
from .name_rules import DNS_LABEL_MAX, NAME_RULES, DNSLabel
from .rules import checked, list_field, not_empty_rule, pattern_rule, raise_if, uniqueness_errors

#: A DNS subdomain: lower-case labels of at most 63 characters, separated by dots.
DNS_SUBDOMAIN_PATTERN = (
    "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)
BaseDomain = Annotated[
    str,
    *checked(
        pattern_rule(
            DNS_SUBDOMAIN_PATTERN,
            "a lower-case DNS name: labels of letters, digits and '-' (at most 63 characters, "
            "starting and ending with a letter or digit) separated by dots, e.g. apps.example.com",
        )
    ),
]
IngressClassName = Annotated[
    str,
    *checked(
        pattern_rule(
            "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
            "the name of an IngressClass: lower-case letters, digits, '-' and '.', starting and "
            "ending with a letter or digit, e.g. nginx",
        )
    ),
]
Region = Annotated[str, *checked(not_empty_rule("a human-readable region, e.g. US East 2"))]
BodySize = Annotated[
    str,
    *checked(
        pattern_rule("^[0-9]+[kmg]?$", "a size in nginx syntax: a number with k, m or g, e.g. 10m")
    ),
]
#: Longest DNS name (an Ingress host).
DNS_NAME_MAX = 253
#: Public hosts are <label>.<organization>.<baseDomain>, the label a bounded name
#: (at most 63): baseDomain gets what is left of 253 (158).
BASE_DOMAIN_MAX = DNS_NAME_MAX - DNS_LABEL_MAX - 1 - NAME_RULES["Organization"].max_length - 1


class IngressSettings(Spec):
    """How public endpoints are exposed on this data plane."""

    class_name: IngressClassName = Field(
        "nginx",
        alias="className",
        max_length=253,
        description="IngressClass used for public endpoints.",
    )
    base_domain: BaseDomain = Field(
        ...,
        alias="baseDomain",
        max_length=BASE_DOMAIN_MAX,
        description="DNS domain of public endpoints: each gets the host "
        "<component>-<environment>.<organization>.<baseDomain>. Lower-case DNS labels "
        f"of at most 63 characters separated by dots, at most {BASE_DOMAIN_MAX} characters "
        f"in all, so every host fits in {DNS_NAME_MAX}.",
    )
    gateway_namespace: DNSLabel = Field(
        "ingress-nginx",
        alias="gatewayNamespace",
        description="Namespace of the ingress gateway: the only source allowed to reach "
        "public endpoints.",
    )


#: Pod, service and node networks, per IP family: a handful in practice.
CLUSTER_NETWORKS_MAX = 16


class DataPlaneSpec(Spec):
    """A compute environment in a region: egress CIDRs, cluster networks, ingress, limits."""

    region: Region = Field(
        ..., max_length=63, description="Human-readable region, e.g. 'US East 2'."
    )
    egress_cidrs: list[CIDR] = list_field(
        "Source CIDRs of traffic leaving this data plane: what third parties must "
        "allowlist. Canonical CIDR notation, e.g. 20.22.170.144/28.",
        max_length=32,
        alias="egressCIDRs",
    )
    cluster_networks: list[CIDR] = Field(
        default_factory=list,
        alias="clusterNetworks",
        max_length=CLUSTER_NETWORKS_MAX,
        description="The cluster's own networks: its pod and service CIDRs (e.g. "
        "10.244.0.0/16 and 10.96.0.0/12), and node or other internal ranges pods must not "
        "reach through an egress allowlist. Component egress allowlists never open them: an "
        "allowlist entry that contains one gets it as an ipBlock except, and an entry inside "
        "them opens nothing and is reported in the Component's status (condition "
        "EgressAllowlistEffective). Left empty, allowlists apply as written, and where the "
        "network plugin applies ipBlock to pod IPs (Calico, Cilium) an entry such as "
        "0.0.0.0/0 also reaches pods in namespaces without ingress policies. Canonical CIDR "
        "notation, IPv4 or IPv6.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    ingress: IngressSettings = Field(..., description="How public endpoints are exposed.")
    max_request_body_size: BodySize = Field(
        "10m",
        alias="maxRequestBodySize",
        max_length=16,
        description="Largest request body public endpoints accept (nginx size syntax, e.g. 10m).",
    )

    @model_validator(mode="after")
    def _rules(self) -> DataPlaneSpec:
        raise_if(
            uniqueness_errors(
                ("egressCIDRs", self.egress_cidrs), ("clusterNetworks", self.cluster_networks)
            )
        )
        return self
