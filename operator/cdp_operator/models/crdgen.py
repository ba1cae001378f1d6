"""Generate the CustomResourceDefinitions from the pydantic models.

    python -m cdp_operator.models.crdgen --out crds      # write crds/cdp.dev_<plural>.yaml
    python -m cdp_operator.models.crdgen --check crds    # exit 1 with a diff when they differ

The models are the single source of truth: pydantic's JSON schema is turned
into a structural OpenAPI v3 schema (openapi.py: refs inlined, Optional
unwrapped, `additionalProperties: false` dropped since the apiserver prunes
unknown fields), and the schema extras the models carry (CEL rules, list types,
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

from .labels import GROUP, VERSION
from .openapi import Schema, model_schema, ordered_rule
from .resources import SPEC_MODELS, name_description, name_rules
from .status import STATUS_MODELS, UNOBSERVED_STATUS

CATEGORY = "cdp"
COMMAND = "python -m cdp_operator.models.crdgen"
HEADER = f"# Generated from the models by `{COMMAND} --out crds`. Do not edit.\n"


def _column(name: str, json_path: str, type_: str = "string", **more: Any) -> Schema:
    """An additionalPrinterColumn (`more`: description, priority)."""
    return {"name": name, "type": type_, "jsonPath": json_path, **more}


def _ready_columns() -> list[Schema]:
    """The Ready condition's status, reason and (in -o wide) message."""
    columns = [
        _column(
            name,
            f'.status.conditions[?(@.type=="Ready")].{field}',
            description=f"Ready condition {field}.",
        )
        for name, field in (("Ready", "status"), ("Reason", "reason"), ("Message", "message"))
    ]
    columns[-1]["priority"] = 1
    return columns


_AGE = _column("Age", ".metadata.creationTimestamp", "date")


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
        [_column("Region", ".spec.region")],
    ),
    KindInfo(
        "Organization",
        "organizations",
        ("org",),
        "Cluster",
        "Organization is a tenant: its tier and default DataPlane. Its Projects, Environments "
        "and Components live in a namespace of its own, created by the operator.",
        [
            _column("Tier", ".spec.tier"),
            _column("DataPlane", ".spec.defaultDataPlane"),
            _column("Namespace", ".status.namespace"),
            _column("AllowPaid", ".spec.allowPaidComponents", "boolean"),
            _column("Free", ".status.freeComponents", "integer"),
            _column("Paid", ".status.paidComponents", "integer"),
        ],
    ),
    KindInfo(
        "Environment",
        "environments",
        ("env",),
        "Namespaced",
        "Environment is a deployment stage (e.g. development, production) bound to one DataPlane.",
        [
            _column("DataPlane", ".spec.dataPlane"),
            _column("Production", ".spec.production", "boolean"),
        ],
    ),
    KindInfo(
        "Project",
        "projects",
        ("proj",),
        "Namespaced",
        "Project is a group of components in one DataPlane; it gets one runtime namespace per "
        "environment of that DataPlane.",
        [_column("DataPlane", ".status.dataPlane")],
    ),
    KindInfo(
        "Component",
        "components",
        ("comp",),
        "Namespaced",
        "Component is a workload of a project: a service, web-app, webhook, scheduled-task or "
        "manual-task, deployed to each environment of its project's DataPlane.",
        [
            _column("Project", ".spec.project"),
            _column("Type", ".spec.type"),
            _column("Billing", ".status.billing"),
            _column(
                "URL",
                ".status.url",
                description="Public URL in a production environment.",
                priority=1,
            ),
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


def openapi_schema(info: KindInfo) -> Schema:
    """The kind's openAPIV3Schema: spec and status from the models, the name rules at the root."""
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
        "x-kubernetes-validations": [ordered_rule(r.schema()) for r in name_rules(info.kind)],
    }
    if spec_required:
        root["required"] = ["spec"]
    return root


def crd(info: KindInfo) -> Schema:
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
                    "schema": {"openAPIV3Schema": openapi_schema(info)},
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
