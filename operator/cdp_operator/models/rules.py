"""Validation rules with two implementations that agree: the CEL the apiserver runs
(emitted into the CRD by crdgen.py) and the Python check the operator and the CLI run,
with one message, so every layer rejects the same input the same way."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
)
from pydantic_core import InitErrorDetails

from .messages import fail

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


def raise_if(errors: list[str]) -> None:
    if errors:
        raise fail("; ".join(errors))


def field_loc(field_path: str) -> tuple[str, ...]:
    """A rule's fieldPath as a pydantic location: ".build.configs['port']" -> build, configs."""
    return tuple(p for p in re.split(r"[.\[]", field_path) if p and not p.startswith("'"))


def raise_located(errors: list[tuple[tuple[str, ...], str]]) -> None:
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


def matching(pattern: str) -> Callable[[str], bool]:
    return lambda value: re.fullmatch(pattern, value) is not None


def rules_hold(rules: Sequence[Rule]) -> Callable[[Any], Any]:
    """An AfterValidator running `rules` on a value (the Python side of field-level CEL)."""

    def check(value: Any) -> Any:
        raise_if(rule_errors(value, rules))
        return value

    return check


def checked(*rules: Rule) -> tuple[AfterValidator, Any]:
    """Annotated metadata for a field checked by `rules`: the models' check and the CRD's
    CEL, one message. Use as `Annotated[str, ..., *checked(rule)]`."""
    return AfterValidator(rules_hold(rules)), Field(json_schema_extra=cel_validations(*rules))


def pattern_rule(pattern: str, words: str) -> Rule:
    """A value must match `pattern` (anchored; RE2 and Python `re` read it alike); the
    message is "must be <words>". No backslash or quote, so it embeds in a CEL string."""
    if "\\" in pattern or "'" in pattern or not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"pattern must be anchored, without backslashes or quotes: {pattern}")
    return Rule(
        cel=f"self.matches('{pattern}')", message=f"must be {words}", holds=matching(pattern)
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


# ---------------------------------------------------------------- list types
def map_list(key: str) -> dict[str, Any]:
    # A list of objects keyed by `key`: the apiserver rejects duplicate keys
    # (naming the item) and server-side apply merges items by key.
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]}


def duplicates(values: Iterable[Any]) -> list[Any]:
    seen: set[Any] = set()
    dups = []
    for v in values:
        if v in seen and v not in dups:
            dups.append(v)
        seen.add(v)
    return dups


def uniqueness_errors(*lists: tuple[str, Iterable[Any]]) -> list[str]:
    """What the list-type set and map markers make the apiserver reject: the same item
    (or key) twice in one list. `lists`: (the list's name in YAML, its items or keys)."""
    return [
        f"{what} must be unique: {dup!r} appears more than once"
        for what, values in lists
        for dup in duplicates(values)
    ]


def list_field(
    description: str, *, max_length: int, key: str | None = None, optional: bool = False, **kw: Any
) -> Any:
    """A list field that says how the apiserver merges it: a map keyed by `key`
    (duplicate keys refused, items merged by key) or, without a key, a set.
    Empty by default; `optional` makes it None until set."""
    extra: dict[str, Any] = map_list(key) if key else {"x-kubernetes-list-type": "set"}
    default: dict[str, Any] = {"default": None} if optional else {"default_factory": list}
    return Field(
        **default, max_length=max_length, description=description, json_schema_extra=extra, **kw
    )
