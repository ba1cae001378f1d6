"""Specs of the custom resources: the single source of truth for the CRD schemas.

Models are frozen and use the camelCase field names users write in YAML.
Descriptions become `kubectl explain` text. CEL rules and other schema
extras live beside the fields (see crdgen.py for how they are emitted).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .buildconfigs import Buildpack, ComponentType
from .tiers import Tier

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNSLabel = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
CIDR = Annotated[str, StringConstraints(min_length=9, max_length=43)]


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# ----------------------------------------------------------------- DataPlane
class IngressSettings(Spec):
    class_name: str = Field("nginx", alias="className", description="IngressClass used for public endpoints.")
    base_domain: str = Field(
        ..., alias="baseDomain", description="Public endpoints get hosts under this domain."
    )
    gateway_namespace: DNSLabel = Field(
        "ingress-nginx",
        alias="gatewayNamespace",
        description="Namespace of the ingress gateway: the only source allowed to reach public endpoints.",
    )


class DataPlaneSpec(Spec):
    region: str = Field(..., min_length=1, max_length=63, description="Human-readable region, e.g. 'US East 2'.")
    egress_cidrs: list[CIDR] = Field(
        default_factory=list,
        alias="egressCIDRs",
        max_length=32,
        description="Source CIDRs of traffic leaving this data plane: what third parties must allowlist.",
    )
    ingress: IngressSettings
    max_request_body_size: str = Field(
        "10m",
        alias="maxRequestBodySize",
        pattern=r"^[0-9]+[kmg]?$",
        description="Largest request body public endpoints accept (nginx size syntax, e.g. 10m).",
    )


# -------------------------------------------------------------- Organization
class OrganizationSpec(Spec):
    tier: Tier = Field(Tier.DEVELOPER, description="Subscription tier: developer (free), payg or enterprise.")
    default_data_plane: DNSLabel = Field(
        ..., alias="defaultDataPlane", description="DataPlane chosen at onboarding; the only one the free tier may use."
    )
    display_name: str | None = Field(None, alias="displayName", max_length=256)


# --------------------------------------------------------------- Environment
class EnvironmentSpec(Spec):
    data_plane: DNSLabel = Field(..., alias="dataPlane", description="DataPlane this environment runs on. Immutable.")
    production: bool = Field(
        False, description="Production environments run long-lived workloads highly available (>= 2 replicas, PDB)."
    )
    display_name: str | None = Field(None, alias="displayName", max_length=256)


# ------------------------------------------------------------------- Project
class ProjectSpec(Spec):
    data_plane: DNSLabel | None = Field(
        None,
        alias="dataPlane",
        description="DataPlane (region) of the project. Defaults to the organization's; immutable once set.",
    )
    display_name: str | None = Field(None, alias="displayName", max_length=256)


# ----------------------------------------------------------------- Component
class Visibility(StrEnum):
    PROJECT = "project"
    ORGANIZATION = "organization"
    PUBLIC = "public"


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"


Port = Annotated[int, Field(ge=1, le=65535)]


class Endpoint(Spec):
    name: DNSLabel = Field(..., max_length=15, description="Endpoint name; also the Service port name.")
    port: Port = Field(..., description="Container port.")
    protocol: Protocol = Protocol.TCP
    visibility: Visibility = Field(
        Visibility.PROJECT,
        description="project: same project and environment; organization: the org's internal API; "
        "public: external API through the ingress gateway.",
    )
    path: str = Field("/", pattern=r"^/", max_length=256, description="HTTP path prefix for public endpoints.")


class Build(Spec):
    buildpack: Buildpack
    configs: dict[str, str] = Field(
        default_factory=dict,
        description="Build configurations; required keys depend on type and buildpack (see the seed's table).",
    )


class EnvVar(Spec):
    name: str = Field(..., min_length=1, max_length=253, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    value: str = Field("", max_length=32768)


class Resources(Spec):
    cpu: str = Field("100m", pattern=r"^[0-9]+(\.[0-9]+)?m?$", description="CPU request and limit.")
    memory: str = Field("128Mi", pattern=r"^[0-9]+(Ki|Mi|Gi)?$", description="Memory request and limit.")


class EgressRule(Spec):
    cidr: CIDR = Field(..., description="Destination CIDR this component may reach.")
    ports: list[Port] = Field(default_factory=list, max_length=16, description="Destination ports; empty means all.")
    protocol: Protocol = Protocol.TCP


class Override(Spec):
    environment: DNSLabel
    replicas: int | None = Field(None, ge=0, le=100)
    image: str | None = Field(None, min_length=1, max_length=512)
    env: list[EnvVar] | None = Field(None, max_length=128)
    resources: Resources | None = None


class ComponentSpec(Spec):
    project: DNSLabel = Field(..., description="Project (in the same namespace) this component belongs to.")
    type: ComponentType
    image: str = Field(..., min_length=1, max_length=512, description="Container image to run.")
    build: Build | None = Field(None, description="How the image is built (validated against the seed's table).")
    endpoints: list[Endpoint] = Field(default_factory=list, max_length=16)
    schedule: str | None = Field(
        None, max_length=128, description="Cron schedule; required for scheduled-task, forbidden otherwise."
    )
    replicas: int = Field(1, ge=0, le=100, description="Replicas of long-running components.")
    resources: Resources = Field(default_factory=Resources)  # type: ignore[arg-type]
    env: list[EnvVar] = Field(default_factory=list, max_length=128)
    egress: list[EgressRule] = Field(
        default_factory=list, max_length=32, description="Destinations outside the cluster this component may reach."
    )
    environments: list[DNSLabel] | None = Field(
        None, max_length=32, description="Restrict deployment to these environments (default: all of the data plane)."
    )
    overrides: list[Override] = Field(default_factory=list, max_length=32, description="Per-environment settings.")


SPEC_MODELS: dict[str, type[Spec]] = {
    "DataPlane": DataPlaneSpec,
    "Organization": OrganizationSpec,
    "Environment": EnvironmentSpec,
    "Project": ProjectSpec,
    "Component": ComponentSpec,
}


def parse_spec(kind: str, spec: dict[str, Any] | None) -> Spec:
    return SPEC_MODELS[kind].model_validate(spec or {})
