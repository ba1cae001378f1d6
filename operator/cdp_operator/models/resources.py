"""Specs of the custom resources: the single source of truth for the CRD schemas.

Models are frozen and use the camelCase field names users write in YAML.
Descriptions become `kubectl explain` text. Rules that span fields are declared
once as `Rule`s beside the model: each carries the CEL the apiserver runs
(emitted into the CRD by crdgen.py) and the Python check the operator and the
CLI run, with one message, so every layer rejects the same input the same way.

The models live in a module per subject: `rules` (Rule and the one-field
checks), `name_rules` (metadata.name bounds and references by name), `fields`
(shared field types and the Spec base), `dataplane`, `tenancy` (Organization,
Environment, Project and their immutable fields), `component_parts` and
`component`. This module is the registry of kinds and re-exports their public
names, so `from cdp_operator.models.resources import ...` keeps working.
"""

from __future__ import annotations

from typing import Any

from .component import ComponentSpec, Schedule
from .component_parts import (
    CPU,
    ENDPOINT_NAME_PATTERN,
    PATH_FORBIDDEN,
    PATH_PATTERN,
    PORT_CONFIG_MESSAGE,
    Build,
    ConfigValue,
    EgressRule,
    Endpoint,
    EndpointName,
    EnvVar,
    EnvVarName,
    ImageReference,
    IngressPath,
    Memory,
    Override,
    Protocol,
    Resources,
    Visibility,
)
from .dataplane import (
    BASE_DOMAIN_MAX,
    CLUSTER_NETWORKS_MAX,
    DNS_NAME_MAX,
    DNS_SUBDOMAIN_PATTERN,
    BaseDomain,
    BodySize,
    DataPlaneSpec,
    IngressClassName,
    IngressSettings,
    Region,
)
from .fields import CIDR, CIDR_MESSAGE, Boolean, Port, Replicas, Spec
from .name_rules import (
    DNS_1035_LABEL_PATTERN,
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    DNS_LABEL_WORDS,
    NAME_RULES,
    RESERVED_ORGANIZATION_PREFIX,
    DataPlaneName,
    DNSLabel,
    EnvironmentName,
    NameRule,
    ProjectName,
    name_description,
    name_errors,
    name_ref_rule,
    name_rules,
)
from .rules import (
    Reason,
    Rule,
    cel_validations,
    checked,
    not_empty_rule,
    pattern_rule,
    range_rule,
    rule_errors,
)
from .tenancy import (
    IMMUTABLE_FIELDS,
    EnvironmentSpec,
    Immutable,
    OrganizationSpec,
    ProjectSpec,
    immutable_rules,
    transition_errors,
)

__all__ = [
    "BASE_DOMAIN_MAX",
    "CIDR",
    "CIDR_MESSAGE",
    "CLUSTER_NETWORKS_MAX",
    "CPU",
    "DNS_1035_LABEL_PATTERN",
    "DNS_LABEL_MAX",
    "DNS_LABEL_PATTERN",
    "DNS_LABEL_WORDS",
    "DNS_NAME_MAX",
    "DNS_SUBDOMAIN_PATTERN",
    "ENDPOINT_NAME_PATTERN",
    "IMMUTABLE_FIELDS",
    "NAME_RULES",
    "PATH_FORBIDDEN",
    "PATH_PATTERN",
    "PORT_CONFIG_MESSAGE",
    "RESERVED_ORGANIZATION_PREFIX",
    "SPEC_MODELS",
    "BaseDomain",
    "BodySize",
    "Boolean",
    "Build",
    "ComponentSpec",
    "ConfigValue",
    "DNSLabel",
    "DataPlaneName",
    "DataPlaneSpec",
    "EgressRule",
    "Endpoint",
    "EndpointName",
    "EnvVar",
    "EnvVarName",
    "EnvironmentName",
    "EnvironmentSpec",
    "ImageReference",
    "Immutable",
    "IngressClassName",
    "IngressPath",
    "IngressSettings",
    "Memory",
    "NameRule",
    "OrganizationSpec",
    "Override",
    "Port",
    "ProjectName",
    "ProjectSpec",
    "Protocol",
    "Reason",
    "Region",
    "Replicas",
    "Resources",
    "Rule",
    "Schedule",
    "Spec",
    "Visibility",
    "cel_validations",
    "checked",
    "immutable_rules",
    "name_description",
    "name_errors",
    "name_ref_rule",
    "name_rules",
    "not_empty_rule",
    "parse_spec",
    "pattern_rule",
    "range_rule",
    "rule_errors",
    "transition_errors",
]

SPEC_MODELS: dict[str, type[Spec]] = {
    "DataPlane": DataPlaneSpec,
    "Organization": OrganizationSpec,
    "Environment": EnvironmentSpec,
    "Project": ProjectSpec,
    "Component": ComponentSpec,
}


def parse_spec(kind: str, spec: dict[str, Any] | None) -> Spec:
    return SPEC_MODELS[kind].model_validate(spec or {})
