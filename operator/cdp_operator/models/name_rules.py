"""metadata.name bounds per kind, and the types of references to other objects by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    Field,
    StringConstraints,
)

from .rules import Rule, checked, matching, pattern_rule, rule_errors

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
            holds=matching(r.pattern),
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
