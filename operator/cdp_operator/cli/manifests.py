"""Build the custom resources the CLI creates, validated by the shared models.

Every check here is the models' own: the spelling of names goes through
`spelling`, build configurations through `models.buildconfigs` (the one table),
and the spec through the pydantic model of its kind, so the CLI rejects exactly
what the CRDs and the operator reject.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from ..models.buildconfigs import (
    CONFIG_KEY_DESCRIPTIONS,
    Buildpack,
    ComponentType,
    build_config_errors,
)
from ..models.labels import API_VERSION
from ..models.resources import (
    SPEC_MODELS,
    ComponentSpec,
    Spec,
    name_errors,
)
from . import spelling


class CliError(Exception):
    """A failure to report on stderr; exit_code 1 for runtime, 2 for bad input."""

    exit_code = 1

    def __init__(self, *messages: str) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)


class InputError(CliError):
    """The user's input is invalid (exit 2, like argparse's usage errors)."""

    exit_code = 2


@dataclass(frozen=True)
class Manifest:
    obj: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ parsing
# A comma separates two build configurations only when a `key=` follows it, so
# a value may itself contain commas ("buildCommand=npm run build,lint" stays one).
_CONFIG_SPLIT = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_.-]*=)")


def parse_build_configs(values: list[str]) -> dict[str, str]:
    """Merge `--build-configs` values ('k1=v1,k2=v2', repeatable); later ones win."""
    configs: dict[str, str] = {}
    for value in values:
        for item in _CONFIG_SPLIT.split(value):
            item = item.strip()
            if not item:
                continue
            key, sep, val = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise InputError(f"--build-configs: expected key=value, got {item!r}")
            configs[key] = val.strip()
    return configs


def parse_endpoint(text: str) -> dict[str, Any]:
    """`name:port[:visibility]` -> an endpoint dict (validated later by the model)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InputError(f"--endpoint: expected name:port[:visibility], got {text!r}")
    name, port = parts[0], parts[1]
    if not port.isdigit():
        raise InputError(f"--endpoint {text!r}: port {port!r} is not a number")
    endpoint: dict[str, Any] = {"name": name, "port": int(port)}
    if len(parts) == 3:
        try:
            endpoint["visibility"] = spelling.visibility(parts[2]).value
        except spelling.UnknownName as exc:
            raise InputError(f"--endpoint {text!r}: {exc}") from None
    return endpoint


def parse_env(values: list[str], flag: str = "--env") -> list[dict[str, str]]:
    env = []
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise InputError(f"{flag}: expected NAME=value, got {item!r}")
        env.append({"name": key, "value": val})
    return env


#: `CIDR[:PORT[,PORT...]]`: the prefix length ends the CIDR, so IPv6 colons are no problem.
_EGRESS = re.compile(r"^(?P<cidr>[^/]+/[0-9]+)(?::(?P<ports>[^:]*))?$")


def parse_egress(text: str) -> dict[str, Any]:
    """`CIDR[:PORT[,PORT]]` -> an egress rule dict (the CIDR is judged by the model)."""
    match = _EGRESS.match(text.strip())
    if match:
        cidr, ports_text = match["cidr"], match["ports"]
    elif text.count(":") == 1:  # an IPv4 address without a prefix length, with ports
        cidr, _, ports_text = text.strip().partition(":")
    else:
        cidr, ports_text = text.strip(), None
    rule: dict[str, Any] = {"cidr": cidr}
    if ports_text is not None:
        ports = [p.strip() for p in ports_text.split(",")]
        if not all(p.isdigit() for p in ports):
            raise InputError(
                f"--egress {text!r}: expected CIDR[:PORT[,PORT]], ports are numbers "
                "(e.g. 203.0.113.0/24:443,8443)"
            )
        rule["ports"] = [int(p) for p in ports]
    return rule


#: The keys `--override ENV:KEY=VALUE` takes, and what each sets in overrides[].
OVERRIDE_KEYS = {
    "replicas": "replicas (a whole number)",
    "image": "image",
    "env": "an environment variable, NAME=VALUE (repeatable; replaces the component's list)",
    "cpu": "resources.cpu, e.g. 500m",
    "memory": "resources.memory, e.g. 256Mi",
}


def parse_overrides(values: list[str]) -> list[dict[str, Any]]:
    """`ENV:KEY=VALUE` (repeatable) -> spec.overrides, one entry per environment."""
    by_env: dict[str, dict[str, Any]] = {}
    for text in values:
        env_name, sep, setting = text.partition(":")
        key, eq, value = setting.partition("=")
        key = key.strip()
        if not sep or not env_name or not eq or key not in OVERRIDE_KEYS:
            keys = ", ".join(OVERRIDE_KEYS)
            raise InputError(
                f"--override {text!r}: expected ENVIRONMENT:KEY=VALUE with KEY one of {keys} "
                "(e.g. production:replicas=3)"
            )
        entry = by_env.setdefault(env_name, {"environment": env_name})
        if key == "replicas":
            if not value.strip().isdigit():
                raise InputError(f"--override {text!r}: replicas must be a whole number")
            entry["replicas"] = int(value)
        elif key == "image":
            entry["image"] = value
        elif key == "env":
            entry.setdefault("env", []).extend(parse_env([value], flag=f"--override {text!r}"))
        else:
            entry.setdefault("resources", {})[key] = value
    return list(by_env.values())


# --------------------------------------------------------------- validation
S = TypeVar("S", bound=Spec)

#: Spec field (alias) -> the flag that sets it, to point errors at the flag.
_FLAGS = {
    "project": "--project",
    "type": "--type",
    "image": "--image",
    "build": "--buildpack/--build-configs",
    "endpoints": "--endpoint",
    "schedule": "--schedule",
    "replicas": "--replicas",
    "env": "--env",
    "egress": "--egress",
    "overrides": "--override",
    "dataPlane": "--data-plane",
    "defaultDataPlane": "--data-plane",
    "tier": "--tier",
    "allowPaidComponents": "--allow-paid-components",
    "production": "--production",
    "displayName": "--display-name",
}


def validate_name(name: str, kind: str) -> None:
    """The CRD's own checks on metadata.name of `kind` (models.resources.name_errors)."""
    errors = name_errors(kind, name)
    if errors:
        raise InputError(*(f"invalid {kind} name {name!r}: {e}" for e in errors))


def _validate_spec(model: type[S], spec: dict[str, Any]) -> S:
    try:
        return model.model_validate(spec)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            where = "spec." + ".".join(loc) if loc else "spec"
            flag = _FLAGS.get(loc[0]) if loc else None
            hint = f" (set it with {flag})" if flag else ""
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            messages.append(f"{where}: {msg}{hint}")
        raise InputError(*messages) from None


def _manifest(kind: str, name: str, namespace: str | None, spec: Spec) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": spec.model_dump(by_alias=True, exclude_unset=True, mode="json"),
    }


# ---------------------------------------------------------------- builders
def _unknown_config_notes(configs: dict[str, str]) -> list[str]:
    """Notes on keys no buildpack uses, with the closest known key (typos)."""
    notes = []
    known = list(CONFIG_KEY_DESCRIPTIONS)
    for key in configs:
        if key in CONFIG_KEY_DESCRIPTIONS:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        notes.append(f"build config {key!r} is not one the buildpacks use{hint}")
    return notes


def component(
    name: str,
    namespace: str | None,
    *,
    project: str,
    type_: str,
    buildpack: str | None = None,
    build_configs: list[str] | None = None,
    image: str | None = None,
    endpoints: list[str] | None = None,
    schedule: str | None = None,
    replicas: int | None = None,
    env: list[str] | None = None,
    egress: list[str] | None = None,
    overrides: list[str] | None = None,
) -> Manifest:
    validate_name(name, "Component")
    try:
        ctype: ComponentType = spelling.component_type(type_)
        bpack: Buildpack | None = spelling.buildpack(buildpack) if buildpack else None
    except spelling.UnknownName as exc:
        raise InputError(str(exc)) from None

    configs = parse_build_configs(build_configs or [])
    spec: dict[str, Any] = {"project": project, "type": ctype.value}
    warnings: list[str] = []
    if bpack is None:
        if configs:
            raise InputError("--build-configs needs --buildpack (see `cdp buildpacks`)")
    else:
        errors = build_config_errors(ctype, bpack, configs)
        if errors:
            raise InputError(*errors)
        warnings = _unknown_config_notes(configs)
        spec["build"] = {"buildpack": bpack.value, "configs": configs}
    if image is not None:
        spec["image"] = image
    if endpoints:
        spec["endpoints"] = [parse_endpoint(e) for e in endpoints]
    if schedule is not None:
        spec["schedule"] = schedule
    if replicas is not None:
        spec["replicas"] = replicas
    if env:
        spec["env"] = parse_env(env)
    if egress:
        spec["egress"] = [parse_egress(e) for e in egress]
    if overrides:
        spec["overrides"] = parse_overrides(overrides)
    try:
        model = _validate_spec(ComponentSpec, spec)
    except InputError as exc:
        # The model decides whether unknown keys are errors; the notes help either way.
        raise InputError(*exc.messages, *(f"hint: {n}" for n in warnings)) from None
    return Manifest(_manifest("Component", name, namespace, model), warnings)


def resource(kind: str, name: str, namespace: str | None, fields: dict[str, Any]) -> Manifest:
    """A Project, Environment or Organization, whose flags each set one spec field.

    Unset flags (None, or False for a switch) are left out of the spec, so the
    CRD's defaults apply and the printed YAML shows only what was asked for.
    """
    validate_name(name, kind)
    spec = {k: v for k, v in fields.items() if v is not None and v is not False}
    model = _validate_spec(SPEC_MODELS[kind], spec)
    return Manifest(_manifest(kind, name, namespace, model))
