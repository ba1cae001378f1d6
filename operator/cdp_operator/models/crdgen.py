"""Generate the CustomResourceDefinitions from the pydantic models.

    python -m cdp_operator.models.crdgen --out crds      # write crds/cdp.dev_<plural>.yaml
    python -m cdp_operator.models.crdgen --check crds    # exit 1 with a diff when they differ

The models are the single source of truth: pydantic's JSON schema is turned
into a structural OpenAPI v3 schema (refs inlined, Optional unwrapped,
`additionalProperties: false` dropped since the apiserver prunes unknown
fields), and the schema extras the models carry (CEL rules, list types,
defaults) pass through. Output is deterministic: same models, same bytes.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from .labels import GROUP, VERSION
from .resources import SPEC_MODELS, name_description, name_rules
from .status import STATUS_MODELS, UNOBSERVED_STATUS

Schema = dict[str, Any]

CATEGORY = "cdp"
COMMAND = "python -m cdp_operator.models.crdgen"
HEADER = f"# Generated from the models by `{COMMAND} --out crds`. Do not edit.\n"


def _ready_columns() -> list[Schema]:
    return [
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
            "description": "Ready condition status.",
        },
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
            "description": "Ready condition reason.",
        },
        {
            "name": "Message",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
            "description": "Ready condition message.",
            "priority": 1,
        },
    ]


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    scope: str
    description: str
    columns: list[Schema] = field(default_factory=list)
    subresources: Schema = field(default_factory=lambda: {"status": {}})

    @property
    def singular(self) -> str:
        return self.kind.lower()


KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        "DataPlane",
        "dataplanes",
        ("dp",),
        "Cluster",
        "DataPlane is a compute environment in a region: the egress CIDRs third parties must "
        "allowlist, the cluster's own networks (which egress allowlists never open), ingress "
        "settings and request limits.",
        [{"name": "Region", "type": "string", "jsonPath": ".spec.region"}],
    ),
    KindInfo(
        "Organization",
        "organizations",
        ("org",),
        "Cluster",
        "Organization is a tenant: its tier and default DataPlane. Its Projects, Environments "
        "and Components live in a namespace of its own, created by the operator.",
        [
            {"name": "Tier", "type": "string", "jsonPath": ".spec.tier"},
            {"name": "DataPlane", "type": "string", "jsonPath": ".spec.defaultDataPlane"},
            {"name": "Namespace", "type": "string", "jsonPath": ".status.namespace"},
            {"name": "AllowPaid", "type": "boolean", "jsonPath": ".spec.allowPaidComponents"},
            {"name": "Free", "type": "integer", "jsonPath": ".status.freeComponents"},
            {"name": "Paid", "type": "integer", "jsonPath": ".status.paidComponents"},
        ],
    ),
    KindInfo(
        "Environment",
        "environments",
        ("env",),
        "Namespaced",
        "Environment is a deployment stage (e.g. development, production) bound to one DataPlane.",
        [
            {"name": "DataPlane", "type": "string", "jsonPath": ".spec.dataPlane"},
            {"name": "Production", "type": "boolean", "jsonPath": ".spec.production"},
        ],
    ),
    KindInfo(
        "Project",
        "projects",
        ("proj",),
        "Namespaced",
        "Project is a group of components in one DataPlane; it gets one runtime namespace per "
        "environment of that DataPlane.",
        [{"name": "DataPlane", "type": "string", "jsonPath": ".status.dataPlane"}],
    ),
    KindInfo(
        "Component",
        "components",
        ("comp",),
        "Namespaced",
        "Component is a workload of a project: a service, web-app, webhook, scheduled-task or "
        "manual-task, deployed to each environment of its project's DataPlane.",
        [
            {"name": "Project", "type": "string", "jsonPath": ".spec.project"},
            {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
            {"name": "Billing", "type": "string", "jsonPath": ".status.billing"},
            {
                "name": "URL",
                "type": "string",
                "jsonPath": ".status.url",
                "description": "Public URL in a production environment.",
                "priority": 1,
            },
        ],
        # `kubectl scale component NAME --replicas N` sets spec.replicas (environments
        # without a replicas override); status.replicas: see ComponentStatus.
        {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
            },
        },
    ),
)


# ------------------------------------------------------- JSON schema -> CRD
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
                _ordered_rule(r) for r in out["x-kubernetes-validations"]
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


def _ordered_rule(rule: Schema) -> Schema:
    """A CEL rule with its keys in a fixed, readable order (rule first)."""
    unknown = set(rule) - set(_RULE_KEYS)
    if unknown:
        raise ValueError(f"unknown keys in a validation rule: {sorted(unknown)}")
    return {k: rule[k] for k in _RULE_KEYS if k in rule}


def model_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of a model (as used under spec or status)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _Converter(raw).convert(raw)


_STANDARD_PROPERTIES: Schema = {
    "apiVersion": {
        "description": "Versioned schema of this representation of an object.",
        "type": "string",
    },
    "kind": {
        "description": "The REST resource this object represents.",
        "type": "string",
    },
}


def crd(info: KindInfo) -> Schema:
    spec_model = SPEC_MODELS[info.kind]
    spec = model_schema(spec_model)
    spec_required = any(f.is_required() for f in spec_model.model_fields.values())
    if not spec_required:
        # Every field is optional: let users omit spec entirely.
        spec["default"] = {}
    status = model_schema(STATUS_MODELS[info.kind])
    # Not yet observed until the operator's first status write (see UNOBSERVED_STATUS).
    status["default"] = copy.deepcopy(UNOBSERVED_STATUS)

    root: Schema = {
        "description": f"{info.description} {name_description(info.kind)}",
        "type": "object",
        "properties": {
            **copy.deepcopy(_STANDARD_PROPERTIES),
            # The apiserver allows nothing here but metadata.name and generateName;
            # name is declared so the root rules' fieldPath can point at it.
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {"description": name_description(info.kind), "type": "string"}
                },
            },
            "spec": spec,
            "status": status,
        },
        "x-kubernetes-validations": [_ordered_rule(r.schema()) for r in name_rules(info.kind)],
    }
    if spec_required:
        root["required"] = ["spec"]

    columns = [*info.columns, *_ready_columns(), _AGE]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{GROUP}",
            # Lets tools select all of them: kubectl wait crd -l app.kubernetes.io/part-of=...
            "labels": {"app.kubernetes.io/part-of": "cdp-operator"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "scope": info.scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": info.subresources,
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def file_name(info: KindInfo) -> str:
    return f"{GROUP}_{info.plural}.yaml"


def render_all() -> dict[str, str]:
    """File name -> YAML text for every CRD."""
    return {
        file_name(info): HEADER
        + yaml.safe_dump(crd(info), sort_keys=False, width=1_000_000, allow_unicode=True)
        for info in KINDS
    }


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = out / name
        path.write_text(text)
        written.append(path)
    return written


def check(directory: Path) -> list[str]:
    """Differences between `directory` and the generator's output, as unified diffs."""
    wanted = render_all()
    problems = []
    for name, text in wanted.items():
        path = directory / name
        have = path.read_text() if path.exists() else ""
        if have != text:
            problems.append(
                "".join(
                    difflib.unified_diff(
                        have.splitlines(keepends=True),
                        text.splitlines(keepends=True),
                        fromfile=str(path),
                        tofile=f"{path} (generated)",
                    )
                )
                or f"{path}: missing\n"
            )
    for stray in sorted(directory.glob(f"{GROUP}_*.yaml")):
        if stray.name not in wanted:
            problems.append(f"{stray}: not generated by any model (remove it)\n")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the CRDs into this directory")
    group.add_argument(
        "--check", type=Path, help="exit 1 when this directory differs from the models"
    )
    args = parser.parse_args(argv)
    if args.out is not None:
        for path in write(args.out):
            print(path)
        return 0
    problems = check(args.check)
    for problem in problems:
        sys.stdout.write(problem)
    if problems:
        print(
            f"{args.check}: out of date; run `{COMMAND} --out {args.check}`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
