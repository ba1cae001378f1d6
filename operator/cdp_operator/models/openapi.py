"""pydantic's JSON schema -> the structural OpenAPI v3 schema a CRD takes.

Refs are inlined, Optional unwrapped, `additionalProperties: false` dropped
(the apiserver prunes unknown fields), and the schema extras the models carry
(CEL rules, list types, defaults) pass through.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

Schema = dict[str, Any]


class _Converter:
    """pydantic JSON schema (with $defs) -> structural OpenAPI v3 schema."""

    def __init__(self, root: Schema) -> None:
        self.defs: dict[str, Schema] = root.get("$defs", {})

    def convert(self, node: Schema) -> Schema:
        node = self._resolve(node)
        out: Schema = {}
        if "description" in node:
            out["description"] = node["description"]
        kind = node.get("type")
        if "enum" in node:
            out["type"] = kind or "string"
            out["enum"] = list(node["enum"])
        elif kind == "object" or "properties" in node:
            out["type"] = "object"
            props = node.get("properties", {})
            if props:
                out["properties"] = {k: self.convert(v) for k, v in props.items()}
            if node.get("required"):
                out["required"] = list(node["required"])
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                out["additionalProperties"] = self.convert(extra)
        elif kind == "array":
            out["type"] = "array"
            out["items"] = self.convert(node["items"])
        elif kind is not None:
            out["type"] = kind
        else:
            raise ValueError(f"cannot express in a structural schema: {node}")
        for key in (
            "format",
            "minimum",
            "maximum",
            "minLength",
            "maxLength",
            "pattern",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
        ):
            if key in node:
                out[key] = node[key]
        if node.get("default") is not None:
            out["default"] = node["default"]
        for key in sorted(k for k in node if k.startswith("x-kubernetes-")):
            out[key] = copy.deepcopy(node[key])
        if "x-kubernetes-validations" in out:
            out["x-kubernetes-validations"] = [
                ordered_rule(r) for r in out["x-kubernetes-validations"]
            ]
        return out

    def _resolve(self, node: Schema) -> Schema:
        """Inline $ref / allOf and unwrap Optional; the outer node's keys win."""
        node = dict(node)
        if "anyOf" in node:
            branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
            if len(branches) != 1:
                raise ValueError(f"unions are not structural: {branches}")
            node = {**self._resolve(branches[0]), **node}
        if "allOf" in node:
            (only,) = node.pop("allOf")
            node = {**self._resolve(only), **node}
        if "$ref" in node:
            name = node.pop("$ref").rsplit("/", 1)[-1]
            target = self._resolve(self.defs[name])
            merged = {**target, **node}
            # Rules of the referenced model and of the field both apply.
            rules = target.get("x-kubernetes-validations", []) + node.get(
                "x-kubernetes-validations", []
            )
            if rules:
                merged["x-kubernetes-validations"] = rules
            node = merged
        node.pop("title", None)
        return node


_RULE_KEYS = ("rule", "message", "messageExpression", "fieldPath", "reason", "optionalOldSelf")


def ordered_rule(rule: Schema) -> Schema:
    """A CEL rule with its keys in a fixed, readable order (rule first)."""
    unknown = set(rule) - set(_RULE_KEYS)
    if unknown:
        raise ValueError(f"unknown keys in a validation rule: {sorted(unknown)}")
    return {k: rule[k] for k in _RULE_KEYS if k in rule}


def model_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of a model (as used under spec or status)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _Converter(raw).convert(raw)
