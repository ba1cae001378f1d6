"""The parts of a Component spec: endpoints, build, env vars, resources, egress rules
and per-environment overrides."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from . import imageref
from .buildconfigs import (
    CONFIG_KEY_DESCRIPTIONS,
    Buildpack,
)
from .fields import CIDR, Port, Replicas, Spec
from .messages import fail
from .name_rules import EnvironmentName
from .rules import (
    Rule,
    cel_validations,
    checked,
    duplicates,
    list_field,
    matching,
    not_empty_rule,
    pattern_rule,
    raise_if,
    rule_errors,
    rules_hold,
)


class Visibility(StrEnum):
    PROJECT = "project"
    ORGANIZATION = "organization"
    PUBLIC = "public"


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"


#: A path segment: letters, digits, '.', '_', '-', but not '.' nor '..'.
_PATH_SEGMENT = "([A-Za-z0-9_-]|[.][A-Za-z0-9_-]|[.][.][A-Za-z0-9._-])[A-Za-z0-9._-]*"
#: What an Ingress with pathType Prefix accepts (the apiserver: absolute, no '//',
#: '/./', '/../', '%2f', no trailing '/.' or '/..'), narrowed to what ingress-nginx's
#: strict path validation accepts (letters, digits, '.', '_', '-' and '/').
PATH_PATTERN = f"^/({_PATH_SEGMENT}(/{_PATH_SEGMENT})*/?)?$"
#: Substrings ingress-nginx's admission refuses in any Ingress path (its inspector rules).
PATH_FORBIDDEN = "/etc/(passwd|shadow|group|nginx|ingress-controller)|/var/run/secrets|_by_lua"

_PATH_RULES = (
    Rule(
        cel=f"self.matches('{PATH_PATTERN}')",
        message="path must be '/' or '/'-separated segments of letters, digits, '.', '_' and "
        "'-' (no '.' or '..' segment, no '//', no percent-encoding), as an Ingress path of "
        "type Prefix",
        holds=matching(PATH_PATTERN),
    ),
    Rule(
        cel=f"!self.matches('{PATH_FORBIDDEN}')",
        message="path must not contain /etc/passwd, /etc/shadow, /etc/group, /etc/nginx, "
        "/etc/ingress-controller, /var/run/secrets or _by_lua (ingress-nginx rejects them)",
        holds=lambda value: re.search(PATH_FORBIDDEN, value) is None,
    ),
)


IngressPath = Annotated[str, AfterValidator(rules_hold(_PATH_RULES))]

#: IANA service name (a Service port name): at most 15 characters, starts with a
#: letter, no '--'.
ENDPOINT_NAME_PATTERN = "^[a-z](-?[a-z0-9])*$"
EndpointName = Annotated[
    str,
    *checked(
        pattern_rule(
            ENDPOINT_NAME_PATTERN,
            "lower-case letters, digits and single '-', starting with a letter (a Service port "
            "name), e.g. http",
        )
    ),
]


class Endpoint(Spec):
    """A port the component serves, and who may reach it."""

    name: EndpointName = Field(
        ...,
        max_length=15,
        description="Endpoint name, unique in the component; also the Service port name "
        "(at most 15 characters, lower case, starts with a letter).",
    )
    port: Port = Field(..., description="Container port (1-65535).")
    protocol: Protocol = Field(Protocol.TCP, description="TCP or UDP.")
    visibility: Visibility = Field(
        Visibility.PROJECT,
        description="project: same project and environment only; organization: the "
        "organization's internal API (same organization and environment); public: external "
        "API through the DataPlane's ingress gateway.",
    )
    path: IngressPath = Field(
        "/",
        max_length=256,
        description="HTTP path prefix of public endpoints on the Ingress (pathType Prefix): "
        "'/' or '/'-separated segments of letters, digits, '.', '_' and '-' (no '.' or '..' "
        "segments, no empty ones but a trailing '/', no percent-encoding).",
        json_schema_extra=cel_validations(*_PATH_RULES),
    )


PORT_CONFIG_MESSAGE = "build config 'port' must be a number from 1 to 65535"


def port_config_ok(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 5 and 1 <= int(value) <= 65535


_BUILD_RULES = (
    Rule(
        cel="!has(self.configs) || !('port' in self.configs) "
        "|| (self.configs['port'].matches('^[0-9]{1,5}$') "
        "&& int(self.configs['port']) >= 1 && int(self.configs['port']) <= 65535)",
        message=PORT_CONFIG_MESSAGE,
        holds=lambda b: "port" not in b.configs or port_config_ok(b.configs["port"]),
        field_path=".configs['port']",
    ),
)

ConfigValue = Annotated[
    str,
    StringConstraints(max_length=1024),
    *checked(not_empty_rule("give the build config a value, or leave it out")),
]


class Build(Spec):
    """How the component's image is built (the seed's build configurations)."""

    model_config = ConfigDict(json_schema_extra=cel_validations(*_BUILD_RULES))

    buildpack: Buildpack = Field(
        ..., description="Buildpack; which ones a component type supports is the seed's table."
    )
    configs: dict[str, ConfigValue] = Field(
        default_factory=dict,
        max_length=len(CONFIG_KEY_DESCRIPTIONS),
        description="Build configurations. Required keys depend on type and buildpack: "
        + "; ".join(f"{k}: {d}" for k, d in CONFIG_KEY_DESCRIPTIONS.items())
        + ". Ballerina, WSO2 MI and static websites need none.",
    )

    @model_validator(mode="after")
    def _rules(self) -> Build:
        raise_if(rule_errors(self, _BUILD_RULES))
        return self


EnvVarName = Annotated[
    str,
    *checked(
        pattern_rule(
            "^[-._a-zA-Z][-._a-zA-Z0-9]*$",
            "letters, digits, '-', '.' and '_', not starting with a digit, e.g. LOG_LEVEL",
        )
    ),
]
CPU = Annotated[
    str,
    *checked(
        pattern_rule(
            "^[0-9]+([.][0-9]+)?m?$",
            "a CPU quantity: cores (e.g. 1 or 0.5) or millicores (e.g. 100m)",
        )
    ),
]
Memory = Annotated[
    str,
    *checked(
        pattern_rule(
            "^[0-9]+(Ki|Mi|Gi)?$",
            "a memory quantity: bytes or a number with Ki, Mi or Gi, e.g. 128Mi",
        )
    ),
]


class EnvVar(Spec):
    """An environment variable of the container."""

    name: EnvVarName = Field(
        ...,
        max_length=253,
        description="Variable name, unique in the list.",
    )
    value: str = Field("", max_length=32768, description="Variable value.")


class Resources(Spec):
    """Compute resources of each container (request = limit)."""

    cpu: CPU = Field(
        "100m",
        max_length=16,
        description="CPU request and limit, e.g. 100m or 1.",
    )
    memory: Memory = Field(
        "128Mi",
        max_length=16,
        description="Memory request and limit, e.g. 128Mi.",
    )


class EgressRule(Spec):
    """A destination outside the cluster the component may reach."""

    cidr: CIDR = Field(
        ...,
        description="Destination CIDR, e.g. 203.0.113.0/24. The DataPlane's clusterNetworks "
        "are taken out of it: an entry inside them opens nothing.",
    )
    ports: list[Port] = list_field(
        "Destination ports; empty means all.",
        max_length=16,
    )
    protocol: Protocol = Field(Protocol.TCP, description="TCP or UDP.")


def _unique_env_names(env: Sequence[EnvVar] | None) -> bool:
    return not duplicates(e.name for e in env or ())


#: An image reference as container runtimes parse it (models/imageref.py).
IMAGE_RULE = Rule(cel=imageref.CEL, message=imageref.MESSAGE, holds=imageref.is_valid_reference)
ImageReference = Annotated[
    str,
    StringConstraints(max_length=512),
    AfterValidator(rules_hold([IMAGE_RULE])),
]


class Override(Spec):
    """Settings for one environment that replace the component's own."""

    environment: EnvironmentName = Field(..., description="Environment these settings apply to.")
    replicas: Replicas | None = Field(None, description="Replicas in this environment.")
    image: ImageReference | None = Field(
        None,
        description="Image in this environment (e.g. a promoted build): " + imageref.SHAPE + ".",
        json_schema_extra=cel_validations(IMAGE_RULE),
    )
    env: list[EnvVar] | None = list_field(
        "Environment variables in this environment; replaces the component's list.",
        max_length=128,
        key="name",
        optional=True,
    )
    resources: Resources | None = Field(None, description="Compute resources in this environment.")

    @model_validator(mode="after")
    def _rules(self) -> Override:
        if not _unique_env_names(self.env):
            raise fail("overrides[].env names must be unique")
        return self
