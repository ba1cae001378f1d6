"""Specs of the custom resources: the single source of truth for the CRD schemas.

Models are frozen and use the camelCase field names users write in YAML.
Descriptions become `kubectl explain` text. Rules that span fields are declared
once as `Rule`s beside the model: each carries the CEL the apiserver runs
(emitted into the CRD by crdgen.py) and the Python check the operator and the
CLI run, with one message, so every layer rejects the same input the same way.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from . import cron, imageref
from .buildconfigs import (
    CONFIG_KEY_DESCRIPTIONS,
    Buildpack,
    ComponentType,
    build_config_cel_rules,
    build_config_errors,
)
from .messages import fail, humanize
from .tiers import Tier

# --------------------------------------------------------------------- rules
#: The reasons a CEL rule may give (apiextensions.k8s.io/v1 ValidationRule.reason).
Reason = Literal[
    "FieldValueInvalid", "FieldValueRequired", "FieldValueForbidden", "FieldValueDuplicate"
]


@dataclass(frozen=True)
class Rule:
    """A validation rule with two implementations that must agree.

    `cel` runs in the apiserver (`self` is the object the rule sits on;
    `field_path` is relative to it and names the field in the error); `holds`
    runs in Python on the validated model. `message` is the same for both and
    names the field in the words users write in YAML.
    """

    cel: str
    message: str
    holds: Callable[[Any], bool]
    field_path: str | None = None
    reason: Reason = "FieldValueInvalid"
    #: CEL computing a more precise message at admission (`message` is the fallback).
    message_expression: str | None = None
    #: The Python twin of message_expression: the precise message for a failing value.
    explain: Callable[[Any], str] | None = None

    def schema(self) -> dict[str, str]:
        out = {"rule": self.cel, "message": self.message}
        if self.message_expression:
            out["messageExpression"] = self.message_expression
        if self.field_path:
            out["fieldPath"] = self.field_path
        if self.reason != "FieldValueInvalid":
            out["reason"] = self.reason
        return out


def cel_validations(*rules: Rule, extra: Iterable[dict[str, str]] = ()) -> dict[str, Any]:
    """Schema extras that put rules into the CRD (x-kubernetes-validations)."""
    return {"x-kubernetes-validations": [r.schema() for r in rules] + list(extra)}


def rule_errors(model: Any, rules: Sequence[Rule]) -> list[str]:
    return [r.explain(model) if r.explain else r.message for r in rules if not r.holds(model)]


def _raise_if(errors: list[str]) -> None:
    if errors:
        raise fail("; ".join(errors))


def _loc(field_path: str) -> tuple[str, ...]:
    """A rule's fieldPath as a pydantic location: ".build.configs['port']" -> build, configs."""
    return tuple(p for p in re.split(r"[.\[]", field_path) if p and not p.startswith("'"))


def _raise_located(errors: list[tuple[tuple[str, ...], str]]) -> None:
    """Raise `errors` (location, message) each at its field, as the apiserver names them."""
    if errors:
        raise ValidationError.from_exception_data(
            "spec",
            [InitErrorDetails(type=fail(message), loc=loc, input=None) for loc, message in errors],
        )


# ------------------------------------------------------- checks on one field
# Patterns, ranges and "not empty" are CEL rules with a message, not OpenAPI
# `pattern`/`minimum`/`maximum`/`minLength`: the apiserver reports a failing OpenAPI
# check in its own words ("should match '^[a-z]...$'", "should be less than or equal
# to 65535"), which no schema can change. A rule's message is ours, and the models
# raise the same message at the same field. What stays in OpenAPI: types, `required`,
# `enum` (its message lists the allowed values; kubectl explain and editors read it)
# and maxLength/maxItems/maxProperties (the bounds the CEL cost estimator needs).


def _matching(pattern: str) -> Callable[[str], bool]:
    return lambda value: re.fullmatch(pattern, value) is not None


def _rules_hold(rules: Sequence[Rule]) -> Callable[[Any], Any]:
    """An AfterValidator running `rules` on a value (the Python side of field-level CEL)."""

    def check(value: Any) -> Any:
        _raise_if(rule_errors(value, rules))
        return value

    return check


def checked(*rules: Rule) -> tuple[AfterValidator, Any]:
    """Annotated metadata for a field checked by `rules`: the models' check and the CRD's
    CEL, one message. Use as `Annotated[str, ..., *checked(rule)]`."""
    return AfterValidator(_rules_hold(rules)), Field(json_schema_extra=cel_validations(*rules))


def pattern_rule(pattern: str, words: str) -> Rule:
    """A value must match `pattern` (anchored; RE2 and Python `re` read it alike); the
    message is "must be <words>". No backslash or quote, so it embeds in a CEL string."""
    if "\\" in pattern or "'" in pattern or not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"pattern must be anchored, without backslashes or quotes: {pattern}")
    return Rule(
        cel=f"self.matches('{pattern}')", message=f"must be {words}", holds=_matching(pattern)
    )


def range_rule(low: int, high: int, what: str) -> Rule:
    """An integer from `low` to `high`: "must be <what> from <low> to <high>"."""
    return Rule(
        cel=f"self >= {low} && self <= {high}",
        message=f"must be {what} from {low} to {high}",
        holds=lambda value: low <= value <= high,
    )


def not_empty_rule(hint: str) -> Rule:
    """A string with at least one character: "must not be empty: <hint>"."""
    return Rule(cel="size(self) > 0", message=f"must not be empty: {hint}", holds=bool)


# ------------------------------------------------------------ names and types
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_WORDS = "lower-case letters, digits and '-', starting and ending with a letter or digit"
DNS_LABEL_MAX = 63
#: RFC 1035 label: starts with a letter (Service names must).
DNS_1035_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNSLabel = Annotated[
    str,
    StringConstraints(max_length=DNS_LABEL_MAX),
    *checked(pattern_rule(DNS_LABEL_PATTERN, f"a DNS label: {DNS_LABEL_WORDS}")),
]


@dataclass(frozen=True)
class NameRule:
    """Bounds on metadata.name of a kind, so every name derived from it fits."""

    max_length: int
    pattern: str
    why: str
    #: A word the name may not be nor start with followed by '-' (and why).
    reserved: tuple[str, str] | None = None


#: Organization names may not be `cdp` nor start with `cdp-`: a runtime namespace
#: `<org>-<project>-<environment>` can then never be named like an organization
#: namespace `cdp-org-<org>` (see naming.py).
RESERVED_ORGANIZATION_PREFIX = "cdp"

#: metadata.name bounds per kind. Derived names stay within Kubernetes limits:
#: `cdp-org-<org>` and `<org>-<project>-<environment>` (hashed when over 63),
#: `development-<dataplane>` (a valid Environment name), and the component's
#: Deployment, Service, CronJob (52) and Job names.
NAME_RULES: dict[str, NameRule] = {
    "DataPlane": NameRule(
        28, DNS_LABEL_PATTERN, "default environment names, development-<name>, must fit in 40"
    ),
    "Organization": NameRule(
        30,
        DNS_LABEL_PATTERN,
        "it is part of the organization and runtime namespace names",
        reserved=(
            RESERVED_ORGANIZATION_PREFIX,
            f"the operator's organization namespaces are named "
            f"{RESERVED_ORGANIZATION_PREFIX}-org-<organization>, and no runtime namespace "
            "may look like one",
        ),
    ),
    "Environment": NameRule(40, DNS_LABEL_PATTERN, "it is part of runtime namespace names"),
    "Project": NameRule(30, DNS_LABEL_PATTERN, "it is part of runtime namespace names"),
    "Component": NameRule(
        40,
        DNS_1035_LABEL_PATTERN,
        "it names the component's Service, Deployment, CronJob (at most 52) and Jobs",
    ),
}


def name_description(kind: str) -> str:
    r = NAME_RULES[kind]
    shape = (
        "an RFC 1035 label (starts with a letter)"
        if r.pattern == DNS_1035_LABEL_PATTERN
        else "a DNS label"
    )
    out = f"metadata.name must be {shape} of at most {r.max_length} characters: {r.why}."
    if r.reserved:
        word, why = r.reserved
        out += f" It must not be '{word}' nor start with '{word}-': {why}."
    return out


def name_rules(kind: str) -> list[Rule]:
    """CEL rules on the root of a kind's schema (where self.metadata.name is visible)."""
    r = NAME_RULES[kind]
    rules = [
        Rule(
            cel=f"size(self.metadata.name) <= {r.max_length}",
            message=f"metadata.name must be at most {r.max_length} characters: {r.why}",
            holds=_at_most(r.max_length),
            field_path=".metadata.name",
        ),
        Rule(
            cel=f"self.metadata.name.matches('{r.pattern}')",
            message=(
                "metadata.name must consist of lower case letters, digits and '-', "
                + (
                    "start with a letter"
                    if r.pattern == DNS_1035_LABEL_PATTERN
                    else "start with an alphanumeric"
                )
                + " and end with an alphanumeric"
            ),
            holds=_matching(r.pattern),
            field_path=".metadata.name",
        ),
    ]
    if r.reserved:
        word, why = r.reserved
        rules.append(
            Rule(
                cel=f"self.metadata.name != '{word}' && !self.metadata.name.startsWith('{word}-')",
                message=f"metadata.name must not be '{word}' nor start with '{word}-': {why}",
                holds=_not_reserved(word),
                field_path=".metadata.name",
            )
        )
    return rules


def name_errors(kind: str, name: str) -> list[str]:
    """The same checks the CRD makes on metadata.name, with the same messages."""
    return rule_errors(name, name_rules(kind))


def _at_most(limit: int) -> Callable[[str], bool]:
    return lambda value: len(value) <= limit


def _not_reserved(word: str) -> Callable[[str], bool]:
    return lambda value: value != word and not value.startswith(f"{word}-")


def name_ref_rule(kind: str) -> Rule:
    """A reference to a `kind` by name has the shape of that kind's names."""
    article = "an" if kind[0] in "AEIOU" else "a"
    r = NAME_RULES[kind]
    if r.pattern != DNS_LABEL_PATTERN:
        raise ValueError(f"{kind} names are not DNS labels: say what they are here")
    return pattern_rule(r.pattern, f"the name of {article} {kind}: {DNS_LABEL_WORDS}")


def _name_ref(kind: str) -> tuple[Any, ...]:
    """Constraints on a reference to a `kind` by name: the bounds of that kind's names."""
    return (
        StringConstraints(max_length=NAME_RULES[kind].max_length),
        *checked(name_ref_rule(kind)),
    )


DataPlaneName = Annotated[str, *_name_ref("DataPlane"), Field(description="Name of a DataPlane.")]
EnvironmentName = Annotated[
    str,
    *_name_ref("Environment"),
    Field(description="Name of an Environment in the same namespace."),
]
ProjectName = Annotated[
    str, *_name_ref("Project"), Field(description="Name of a Project in the same namespace.")
]


_HOST_BITS = " has bits set after the prefix length: write the network address (those bits cleared)"


def _cidr_fix(value: str) -> str | None:
    """The fix for an address without a prefix, or a CIDR with host bits set."""
    if "/" not in value:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
        if "%" in value or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped):
            return None
        return f"{value} has no prefix length: write {value}/{address.max_prefixlen}"
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        return None
    if network.network_address != ipaddress.ip_interface(value).ip:
        # The apiserver cannot name the network: string() of a CIDR is too costly for its
        # estimator. The models can.
        return f"{value}{_HOST_BITS}: {network}"
    return None


def _check_cidr(value: str) -> str:
    fix = _cidr_fix(value)
    if fix:
        raise ValueError(fix)
    if "/" not in value:
        raise ValueError(CIDR_MESSAGE)
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(CIDR_MESSAGE) from None
    # CEL's cidr() refuses IPv4-mapped IPv6 (::ffff:a.b.c.d), as NetworkPolicy ipBlock does.
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.network_address.ipv4_mapped is not None
    ):
        raise ValueError(CIDR_MESSAGE)
    return value


CIDR_MESSAGE = (
    "must be a CIDR in canonical form (network address/prefix length), e.g. 20.22.170.144/28"
)
_CIDR_RULE = {
    # isCIDR first: cidr() errors on anything else. masked() == self rejects host bits.
    "rule": "isCIDR(self) && cidr(self) == cidr(self).masked()",
    "message": CIDR_MESSAGE,
    # The same text as _cidr_fix, else the message.
    "messageExpression": "!self.contains('/') && isIP(self) ? self + ' has no prefix length: "
    "write ' + self + (ip(self).family() == 4 ? '/32' : '/128') : isCIDR(self) ? self + "
    f"'{_HOST_BITS}' : "
    f"'{CIDR_MESSAGE}'",
}
CIDR = Annotated[
    str,
    StringConstraints(max_length=43),
    AfterValidator(_check_cidr),
    Field(json_schema_extra={"x-kubernetes-validations": [_CIDR_RULE]}),
]


def _integral_float(value: Any) -> Any:
    # The apiserver takes 3.0 (and 1e1) for an integer field; so do the models.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Integers as the apiserver's schema validation sees them: a JSON number with no
# fraction. Strict, so "3" and true are rejected as they are at admission (pydantic's
# lax mode would turn them into 3 and 1). The bounds are CEL rules (checked above).
Port = Annotated[
    int,
    Strict(),
    *checked(range_rule(1, 65535, "a port number")),
    BeforeValidator(_integral_float),
]
Replicas = Annotated[
    int,
    Strict(),
    *checked(range_rule(0, 100, "a number of replicas")),
    BeforeValidator(_integral_float),
]
#: A JSON boolean only: "yes", "true" and 1 are rejected, as at admission.
Boolean = StrictBool


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="wrap")
    @classmethod
    def _human_messages(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        # Every error in the project's words, whichever nested model raised it.
        try:
            return handler(data)
        except ValidationError as exc:
            raise humanize(exc) from None


# ----------------------------------------------------------------- DataPlane
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
    egress_cidrs: list[CIDR] = Field(
        default_factory=list,
        alias="egressCIDRs",
        max_length=32,
        description="Source CIDRs of traffic leaving this data plane: what third parties must "
        "allowlist. Canonical CIDR notation, e.g. 20.22.170.144/28.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
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
        # What the list-type set marker makes the apiserver reject.
        _raise_if(
            [
                f"{what} must be unique: {dup!r} appears more than once"
                for what, values in (
                    ("egressCIDRs", self.egress_cidrs),
                    ("clusterNetworks", self.cluster_networks),
                )
                for dup in _duplicates(values)
            ]
        )
        return self


# -------------------------------------------------------- immutable references
@dataclass(frozen=True)
class Immutable:
    """A spec field that updates may not change.

    Fixed once set (the default): it may be added to an object that lacks it,
    never changed nor removed. `from_creation`: what the object was created
    with, value or absence, is final; adding it later is refused too (an absent
    Project dataPlane means the organization's defaultDataPlane, so adding one
    would move the project).
    """

    field: str
    message: str
    from_creation: bool = False

    @property
    def cel(self) -> str:
        f = self.field
        if self.from_creation:
            # Present in both or in neither, and equal when present.
            return (
                f"has(self.{f}) == has(oldSelf.{f}) && (!has(self.{f}) || self.{f} == oldSelf.{f})"
            )
        return f"!has(oldSelf.{f}) || (has(self.{f}) && self.{f} == oldSelf.{f})"

    def refuses(self, before: object, after: object) -> bool:
        """The Python twin of `cel` (None is absent: the apiserver prunes nulls)."""
        if self.from_creation:
            return after != before
        return before is not None and after != before


#: kind -> spec fields that updates may not change.
IMMUTABLE_FIELDS: dict[str, tuple[Immutable, ...]] = {
    "Organization": (Immutable("defaultDataPlane", "defaultDataPlane is immutable once set"),),
    "Environment": (Immutable("dataPlane", "dataPlane is immutable once set"),),
    "Project": (
        Immutable(
            "dataPlane",
            "dataPlane is fixed when the project is created (absent means the organization's "
            "defaultDataPlane); create a new project to use another data plane",
            from_creation=True,
        ),
    ),
}


def immutable_rules(kind: str) -> list[Rule]:
    """Transition rules (they see oldSelf, so the apiserver runs them on update only)."""
    return [
        Rule(
            cel=i.cel,
            message=i.message,
            # Checked by transition_errors, which sees both versions.
            holds=lambda _: True,
            field_path=f".{i.field}",
        )
        for i in IMMUTABLE_FIELDS.get(kind, ())
    ]


def transition_errors(kind: str, old: Spec, new: Spec) -> list[str]:
    """What the CRD's transition rules reject when `old` is updated to `new`."""
    before, after = old.model_dump(by_alias=True), new.model_dump(by_alias=True)
    return [
        i.message
        for i in IMMUTABLE_FIELDS.get(kind, ())
        if i.refuses(before.get(i.field), after.get(i.field))
    ]


# -------------------------------------------------------------- Organization
class OrganizationSpec(Spec):
    """A tenant: its tier and the DataPlane chosen at onboarding."""

    model_config = ConfigDict(json_schema_extra=cel_validations(*immutable_rules("Organization")))

    tier: Tier = Field(
        Tier.DEVELOPER,
        description="Subscription tier: developer (the free plan), payg or enterprise. Changing it "
        "moves limits and retention only; running workloads are not restarted.",
    )
    default_data_plane: DataPlaneName = Field(
        ...,
        alias="defaultDataPlane",
        description="DataPlane chosen at onboarding; the only one the developer tier may use. "
        "Immutable.",
    )
    allow_paid_components: Boolean = Field(
        False,
        alias="allowPaidComponents",
        description="Developer tier: run components beyond the five free ones as paid "
        "components (billed per component). Off (the default), they are over the limit and "
        "not materialised. On payg and enterprise every component is paid anyway. Turning it "
        "off never stops running paid components: they are held and reported.",
    )
    display_name: str | None = Field(
        None, alias="displayName", max_length=256, description="Human-readable name."
    )


# --------------------------------------------------------------- Environment
class EnvironmentSpec(Spec):
    """A deployment stage bound to one DataPlane."""

    model_config = ConfigDict(json_schema_extra=cel_validations(*immutable_rules("Environment")))

    data_plane: DataPlaneName = Field(
        ..., alias="dataPlane", description="DataPlane this environment runs on. Immutable."
    )
    production: Boolean = Field(
        False,
        description="Production environments run long-lived workloads highly available "
        "(at least 2 replicas spread across nodes, with a PodDisruptionBudget).",
    )
    display_name: str | None = Field(
        None, alias="displayName", max_length=256, description="Human-readable name."
    )


# ------------------------------------------------------------------- Project
class ProjectSpec(Spec):
    """A logical group of components, placed in one DataPlane (region)."""

    model_config = ConfigDict(json_schema_extra=cel_validations(*immutable_rules("Project")))

    data_plane: DataPlaneName | None = Field(
        None,
        alias="dataPlane",
        description="DataPlane (region) of the project, fixed when the project is created. "
        "When absent, the project stays on the organization's defaultDataPlane; it cannot be "
        "set, changed or removed later.",
    )
    display_name: str | None = Field(
        None, alias="displayName", max_length=256, description="Human-readable name."
    )


# ----------------------------------------------------------------- Component
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
        holds=_matching(PATH_PATTERN),
    ),
    Rule(
        cel=f"!self.matches('{PATH_FORBIDDEN}')",
        message="path must not contain /etc/passwd, /etc/shadow, /etc/group, /etc/nginx, "
        "/etc/ingress-controller, /var/run/secrets or _by_lua (ingress-nginx rejects them)",
        holds=lambda value: re.search(PATH_FORBIDDEN, value) is None,
    ),
)


IngressPath = Annotated[str, AfterValidator(_rules_hold(_PATH_RULES))]

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


def _port_config_ok(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 5 and 1 <= int(value) <= 65535


_BUILD_RULES = (
    Rule(
        cel="!has(self.configs) || !('port' in self.configs) "
        "|| (self.configs['port'].matches('^[0-9]{1,5}$') "
        "&& int(self.configs['port']) >= 1 && int(self.configs['port']) <= 65535)",
        message=PORT_CONFIG_MESSAGE,
        holds=lambda b: "port" not in b.configs or _port_config_ok(b.configs["port"]),
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
        _raise_if(rule_errors(self, _BUILD_RULES))
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
    ports: list[Port] = Field(
        default_factory=list,
        max_length=16,
        description="Destination ports; empty means all.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    protocol: Protocol = Field(Protocol.TCP, description="TCP or UDP.")


def _map_list(key: str) -> dict[str, Any]:
    # A list of objects keyed by `key`: the apiserver rejects duplicate keys
    # (naming the item) and server-side apply merges items by key.
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]}


def _duplicates(values: Iterable[Any]) -> list[Any]:
    seen: set[Any] = set()
    dups = []
    for v in values:
        if v in seen and v not in dups:
            dups.append(v)
        seen.add(v)
    return dups


def _unique_env_names(env: Sequence[EnvVar] | None) -> bool:
    return not _duplicates(e.name for e in env or ())


#: An image reference as container runtimes parse it (models/imageref.py).
_IMAGE_RULE = Rule(cel=imageref.CEL, message=imageref.MESSAGE, holds=imageref.is_valid_reference)
ImageReference = Annotated[
    str,
    StringConstraints(max_length=512),
    AfterValidator(_rules_hold([_IMAGE_RULE])),
]


class Override(Spec):
    """Settings for one environment that replace the component's own."""

    environment: EnvironmentName = Field(..., description="Environment these settings apply to.")
    replicas: Replicas | None = Field(None, description="Replicas in this environment.")
    image: ImageReference | None = Field(
        None,
        description="Image in this environment (e.g. a promoted build): " + imageref.SHAPE + ".",
        json_schema_extra=cel_validations(_IMAGE_RULE),
    )
    env: list[EnvVar] | None = Field(
        None,
        max_length=128,
        description="Environment variables in this environment; replaces the component's list.",
        json_schema_extra=_map_list("name"),
    )
    resources: Resources | None = Field(None, description="Compute resources in this environment.")

    @model_validator(mode="after")
    def _rules(self) -> Override:
        if not _unique_env_names(self.env):
            raise fail("overrides[].env names must be unique")
        return self


#: A schedule a CronJob accepts (models/cron.py): five fields or an @ descriptor.
_SCHEDULE_RULE = Rule(
    cel=cron.CEL,
    message=cron.MESSAGE,
    holds=cron.is_valid_schedule,
    message_expression=cron.MESSAGE_CEL,
    explain=lambda schedule: cron.problem(schedule) or cron.MESSAGE,
)
Schedule = Annotated[str, AfterValidator(_rules_hold([_SCHEDULE_RULE]))]
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
    return int(port) if _port_config_ok(port) else None


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
        holds=lambda c: not _duplicates((e.port, e.protocol) for e in c.endpoints),
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
        json_schema_extra=cel_validations(_IMAGE_RULE),
    )
    build: Build | None = Field(
        None, description="How the image is built, validated against the seed's table."
    )
    endpoints: list[Endpoint] = Field(
        default_factory=list,
        max_length=16,
        description="Ports the component serves; names are unique. Not allowed for tasks.",
        json_schema_extra=_map_list("name"),
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
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=128,
        description="Environment variables; names are unique.",
        json_schema_extra=_map_list("name"),
    )
    egress: list[EgressRule] = Field(
        default_factory=list,
        max_length=32,
        description="Destinations outside the cluster this component may reach (all other "
        "egress but DNS is denied). Never the DataPlane's clusterNetworks.",
    )
    environments: list[EnvironmentName] | None = Field(
        None,
        max_length=32,
        description="Restrict deployment to these environments (default: every environment of "
        "the project's data plane).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    overrides: list[Override] = Field(
        default_factory=list,
        max_length=32,
        description="Per-environment settings; one entry per environment.",
        json_schema_extra=_map_list("environment"),
    )

    @model_validator(mode="after")
    def _rules(self) -> ComponentSpec:
        located = [
            (_loc(r.field_path or ""), r.explain(self) if r.explain else r.message)
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
        errors: list[str] = []
        # What the list-type map / set markers make the apiserver reject.
        for what, values in (
            ("endpoints[].name", [e.name for e in self.endpoints]),
            ("env[].name", [e.name for e in self.env]),
            ("overrides[].environment", [o.environment for o in self.overrides]),
            ("environments", list(self.environments or ())),
        ):
            for dup in _duplicates(values):
                errors.append(f"{what} must be unique: {dup!r} appears more than once")
        for i, rule in enumerate(self.egress):
            for dup in _duplicates(rule.ports):
                errors.append(f"egress[{i}].ports must be unique: {dup} appears more than once")
        _raise_located(located + [((), message) for message in errors])
        return self


SPEC_MODELS: dict[str, type[Spec]] = {
    "DataPlane": DataPlaneSpec,
    "Organization": OrganizationSpec,
    "Environment": EnvironmentSpec,
    "Project": ProjectSpec,
    "Component": ComponentSpec,
}


def parse_spec(kind: str, spec: dict[str, Any] | None) -> Spec:
    return SPEC_MODELS[kind].model_validate(spec or {})
