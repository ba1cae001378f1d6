"""The Component spec: a workload of a project, with the rules that span its fields."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    model_validator,
)

from . import cron, imageref
from .buildconfigs import (
    ComponentType,
    build_config_cel_rules,
    build_config_errors,
)
from .component_parts import (
    IMAGE_RULE,
    Build,
    EgressRule,
    Endpoint,
    EnvVar,
    ImageReference,
    Override,
    Resources,
    port_config_ok,
)
from .fields import Replicas, Spec
from .name_rules import EnvironmentName, ProjectName
from .rules import (
    Rule,
    cel_validations,
    duplicates,
    field_loc,
    list_field,
    raise_located,
    rules_hold,
    uniqueness_errors,
)

#: A schedule a CronJob accepts (models/cron.py): five fields or an @ descriptor.
_SCHEDULE_RULE = Rule(
    cel=cron.CEL,
    message=cron.MESSAGE,
    holds=cron.is_valid_schedule,
    message_expression=cron.MESSAGE_CEL,
    explain=lambda schedule: cron.problem(schedule) or cron.MESSAGE,
)
Schedule = Annotated[str, AfterValidator(rules_hold([_SCHEDULE_RULE]))]
_SCHEDULED = ComponentType.SCHEDULED_TASK.value
_TASKS = (ComponentType.SCHEDULED_TASK.value, ComponentType.MANUAL_TASK.value)

_WEB_APP = ComponentType.WEB_APP.value
#: The build config port of a web-app, when it is one (its format is Build's to check).
_PORT_CEL = "self.build.configs['port']"
_HAS_PORT_CEL = (
    f"self.type == '{_WEB_APP}' && has(self.build) && has(self.build.configs) "
    f"&& 'port' in self.build.configs && {_PORT_CEL}.matches('^[0-9]{{1,5}}$') "
    f"&& int({_PORT_CEL}) >= 1 && int({_PORT_CEL}) <= 65535"
)


def _web_app_port(c: Any) -> int | None:
    if c.type != _WEB_APP or c.build is None:
        return None
    port = c.build.configs.get("port", "")
    return int(port) if port_config_ok(port) else None


def _web_app_serves_port(c: Any) -> bool:
    port = _web_app_port(c)
    return port is None or any(e.port == port for e in c.endpoints)


def _web_app_endpoint_problem(c: Any) -> str:
    port = _web_app_port(c)
    if not c.endpoints:
        return (
            f"a web-app needs an endpoint on its build config port {port}: add "
            f"endpoints: [{{name: http, port: {port}, visibility: public}}]"
        )
    return (
        f"no endpoint is on the build config port {port}: set an endpoint's port to {port} or "
        "change build config 'port'"
    )


_WEB_APP_ENDPOINT_RULE = Rule(
    cel=f"!({_HAS_PORT_CEL}) || (has(self.endpoints) "
    f"&& self.endpoints.exists(e, e.port == int({_PORT_CEL})))",
    message="a web-app needs an endpoint on its build config port (endpoints[].port)",
    holds=_web_app_serves_port,
    field_path=".endpoints",
    message_expression=f"!has(self.endpoints) || size(self.endpoints) == 0 ? "
    f"'a web-app needs an endpoint on its build config port ' + {_PORT_CEL} + ': add "
    f"endpoints: [{{name: http, port: ' + {_PORT_CEL} + ', visibility: public}}]' : "
    f"'no endpoint is on the build config port ' + {_PORT_CEL} + "
    f'": set an endpoint\'s port to " + {_PORT_CEL} + " or change build config \'port\'"',
    explain=_web_app_endpoint_problem,
)

_COMPONENT_RULES = (
    Rule(
        cel=f"self.type != '{_SCHEDULED}' || has(self.schedule)",
        message=f"schedule is required for type {_SCHEDULED}",
        holds=lambda c: c.type != _SCHEDULED or c.schedule is not None,
        field_path=".schedule",
        reason="FieldValueRequired",
    ),
    Rule(
        cel=f"self.type == '{_SCHEDULED}' || !has(self.schedule)",
        message=f"schedule is only allowed for type {_SCHEDULED}",
        holds=lambda c: c.type == _SCHEDULED or c.schedule is None,
        field_path=".schedule",
        reason="FieldValueForbidden",
    ),
    Rule(
        cel="!(self.type in ["
        + ", ".join(f"'{t}'" for t in _TASKS)
        + "]) || !has(self.endpoints) || size(self.endpoints) == 0",
        message="endpoints are not allowed for types " + " and ".join(_TASKS),
        holds=lambda c: c.type not in _TASKS or not c.endpoints,
        field_path=".endpoints",
        reason="FieldValueForbidden",
    ),
    Rule(
        cel="!has(self.endpoints) || self.endpoints.all(e, "
        "self.endpoints.exists_one(f, f.port == e.port && f.protocol == e.protocol))",
        message="endpoints must not share a port and protocol",
        holds=lambda c: not duplicates((e.port, e.protocol) for e in c.endpoints),
        field_path=".endpoints",
        # Not FieldValueDuplicate: the apiserver drops the message for that reason.
    ),
    _WEB_APP_ENDPOINT_RULE,
)


class ComponentSpec(Spec):
    """A workload of a project: what runs, how it is reached and what it may reach."""

    model_config = ConfigDict(
        json_schema_extra=cel_validations(*_COMPONENT_RULES, extra=build_config_cel_rules())
    )

    project: ProjectName = Field(
        ..., description="Project (in the same namespace) this component belongs to."
    )
    type: ComponentType = Field(
        ...,
        description="service, web-app and webhook run as Deployments; scheduled-task as a "
        "CronJob; manual-task as a Job per run request.",
    )
    image: ImageReference = Field(
        ...,
        description="Container image to run: " + imageref.SHAPE + ".",
        json_schema_extra=cel_validations(IMAGE_RULE),
    )
    build: Build | None = Field(
        None, description="How the image is built, validated against the seed's table."
    )
    endpoints: list[Endpoint] = list_field(
        "Ports the component serves; names are unique. Not allowed for tasks.",
        max_length=16,
        key="name",
    )
    schedule: Schedule | None = Field(
        None,
        max_length=128,
        description="Cron schedule as Kubernetes CronJobs take it: 5 fields (minute 0-59, "
        "hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week 0-6 or SUN-SAT) "
        "with *, ranges, lists and steps, or @hourly, @daily, @midnight, @weekly, @monthly, "
        "@yearly, @annually; no TZ= prefix. Required for scheduled-task, not allowed for "
        "other types.",
        json_schema_extra=cel_validations(_SCHEDULE_RULE),
    )
    replicas: Replicas = Field(
        1,
        description="Replicas of long-running components (production environments run at least 2).",
    )
    resources: Resources = Field(
        default_factory=Resources,
        description="Compute resources of the container.",
        # An empty object in the CRD, so the apiserver fills in the nested defaults.
        json_schema_extra={"default": {}},
    )
    env: list[EnvVar] = list_field(
        "Environment variables; names are unique.",
        max_length=128,
        key="name",
    )
    egress: list[EgressRule] = Field(
        default_factory=list,
        max_length=32,
        description="Destinations outside the cluster this component may reach (all other "
        "egress but DNS is denied). Never the DataPlane's clusterNetworks.",
    )
    environments: list[EnvironmentName] | None = list_field(
        "Restrict deployment to these environments (default: every environment of "
        "the project's data plane).",
        max_length=32,
        optional=True,
    )
    overrides: list[Override] = list_field(
        "Per-environment settings; one entry per environment.",
        max_length=32,
        key="environment",
    )

    @model_validator(mode="after")
    def _rules(self) -> ComponentSpec:
        located = [
            (field_loc(r.field_path or ""), r.explain(self) if r.explain else r.message)
            for r in _COMPONENT_RULES
            if not r.holds(self)
        ]
        if self.build is not None:
            located += [
                (("build", "configs"), message)
                for message in build_config_errors(
                    self.type, self.build.buildpack, self.build.configs
                )
            ]
        errors = uniqueness_errors(
            ("endpoints[].name", [e.name for e in self.endpoints]),
            ("env[].name", [e.name for e in self.env]),
            ("overrides[].environment", [o.environment for o in self.overrides]),
            ("environments", list(self.environments or ())),
            *((f"egress[{i}].ports", rule.ports) for i, rule in enumerate(self.egress)),
        )
        raise_located(located + [((), message) for message in errors])
        return self
