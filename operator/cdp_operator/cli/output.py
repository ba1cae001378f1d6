"""What the CLI prints: YAML/JSON documents and kubectl-style tables of the platform's objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

import yaml

from ..models.naming import organization_namespace_name
from .kstatus import compute
from .kube import KindInfo


def _dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


def dump(obj: Any, output: str) -> str:
    if output == "json":
        return json.dumps(obj, indent=2) + "\n"
    return _dump_yaml(obj)


def table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        out.write("   ".join(cells).rstrip() + "\n")


def age(timestamp: str | None, now: datetime) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = int((now - then).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 120 * 60:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def ready_condition(obj: dict[str, Any]) -> tuple[str, str]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return str(cond.get("status", "Unknown")), str(cond.get("reason", ""))
    return "Unknown", ""


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _org_namespace(obj: dict[str, Any]) -> str:
    status = obj.get("status")
    if not isinstance(status, dict):
        status = {}
    return str(status.get("namespace") or organization_namespace_name(obj["metadata"]["name"]))


#: Key fields shown in tables, per kind: (header, getter).
_COLUMNS: dict[str, list[tuple[str, Callable[[dict[str, Any]], str]]]] = {
    "DataPlane": [
        ("REGION", lambda o: str(spec_of(o).get("region", ""))),
        ("EGRESS CIDRS", lambda o: ",".join(spec_of(o).get("egressCIDRs") or []) or "-"),
        ("CLUSTER NETWORKS", lambda o: ",".join(spec_of(o).get("clusterNetworks") or []) or "-"),
    ],
    "Organization": [
        ("TIER", lambda o: str(spec_of(o).get("tier", "developer"))),
        ("DATA PLANE", lambda o: str(spec_of(o).get("defaultDataPlane", ""))),
        ("NAMESPACE", _org_namespace),
        ("ALLOW PAID", lambda o: str(bool(spec_of(o).get("allowPaidComponents", False))).lower()),
        ("FREE", lambda o: str((o.get("status") or {}).get("freeComponents", "-"))),
        ("PAID", lambda o: str((o.get("status") or {}).get("paidComponents", "-"))),
    ],
    "Environment": [
        ("DATA PLANE", lambda o: str(spec_of(o).get("dataPlane", ""))),
        ("PRODUCTION", lambda o: str(bool(spec_of(o).get("production", False))).lower()),
    ],
    "Project": [
        ("DATA PLANE", lambda o: _project_data_plane_in_use(o)),
    ],
    "Component": [
        ("PROJECT", lambda o: str(spec_of(o).get("project", ""))),
        ("TYPE", lambda o: str(spec_of(o).get("type", ""))),
        ("BUILDPACK", lambda o: str((spec_of(o).get("build") or {}).get("buildpack", "-"))),
        ("BILLING", lambda o: str((o.get("status") or {}).get("billing") or "-")),
    ],
}


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def _project_data_plane_in_use(obj: dict[str, Any]) -> str:
    """The data plane the operator resolved, else the one the spec names, else '-'."""
    return str(status_of(obj).get("dataPlane") or spec_of(obj).get("dataPlane") or "-")


def entries(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _component_namespaces(obj: dict[str, Any]) -> str:
    envs = entries(status_of(obj).get("environments"))
    return ",".join(f"{e.get('name')}={e.get('namespace')}" for e in envs) or "-"


def _component_endpoints(obj: dict[str, Any]) -> str:
    """Per environment, each endpoint's public URL, else its in-cluster address."""
    out = []
    for env in entries(status_of(obj).get("environments")):
        for ep in entries(env.get("endpoints")):
            where = ep.get("url") or ep.get("address")
            if where:
                out.append(f"{env.get('name')}/{ep.get('name')}={where}")
    return ",".join(out) or "-"


def _project_namespaces(obj: dict[str, Any]) -> str:
    namespaces = entries(status_of(obj).get("namespaces"))
    return ",".join(f"{e.get('environment')}={e.get('namespace')}" for e in namespaces) or "-"


#: Columns `-o wide` adds, per kind: where things run and how to reach them.
_WIDE_COLUMNS: dict[str, list[tuple[str, Callable[[dict[str, Any]], str]]]] = {
    "Project": [("NAMESPACES", _project_namespaces)],
    "Component": [
        ("URL", lambda o: str(status_of(o).get("url") or "-")),
        ("NAMESPACES", _component_namespaces),
        ("ENDPOINTS", _component_endpoints),
    ],
}


def print_table(
    kind: KindInfo,
    items: list[dict[str, Any]],
    all_ns: bool,
    out: TextIO,
    *,
    now: datetime,
    wide: bool = False,
) -> None:
    extra = _COLUMNS[kind.kind] + (_WIDE_COLUMNS.get(kind.kind, []) if wide else [])
    header = (["NAMESPACE"] if all_ns else []) + ["NAME"] + [h for h, _ in extra]
    header += ["READY", "REASON", "STATUS", "AGE"]
    rows = [header]
    for obj in items:
        meta = obj.get("metadata") or {}
        ready, reason = ready_condition(obj)
        row = ([str(meta.get("namespace", ""))] if all_ns else []) + [str(meta.get("name", ""))]
        row += [get(obj) for _, get in extra]
        row += [
            ready,
            reason or "-",
            compute(obj).status.value,
            age(meta.get("creationTimestamp"), now),
        ]
        rows.append(row)
    table(rows, out)


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop managedFields, as kubectl does unless asked."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))
