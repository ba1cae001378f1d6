"""`cdp`: create, list and run the platform's resources (also `kubectl cdp`).

Exit codes: 0 success; 1 the API server refused or could not be reached, or
what `--apply` applied is Stalled or got no verdict in time; 2 invalid input
(bad flags, a missing build configuration, an unsupported buildpack, a spec the
models reject, a project with components to delete without --cascade).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from .. import __version__
from ..models import labels
from ..models.buildconfigs import (
    CONFIG_KEY_DESCRIPTIONS,
    REQUIRED_BUILD_CONFIGS,
    ComponentType,
)
from ..models.labels import RUN_REQUEST
from ..models.naming import organization_namespace_name, organization_of_namespace
from ..models.resources import ComponentSpec, ProjectSpec, name_errors, transition_errors
from ..models.tiers import Tier
from . import manifests, spelling
from .kstatus import Status, compute
from .kube import BY_KIND, KINDS, ApiKube, KindInfo, Kube, resolve_kind
from .manifests import CliError, InputError

#: Builds the API client; tests replace it with an in-memory one.
KubeFactory = Callable[[argparse.Namespace], Kube]


def _default_kube(args: argparse.Namespace) -> Kube:
    return ApiKube(kubeconfig=args.kubeconfig, context=args.context)


kube_factory: KubeFactory = _default_kube

#: The annotation naming the environments a run request is for (comma separated).
RUN_ENVIRONMENTS = labels.RUN_ENVIRONMENTS


def _now() -> datetime:
    return datetime.now(UTC)


#: How `--apply` waits; tests replace them to not sleep.
_sleep: Callable[[float], None] = time.sleep
_monotonic: Callable[[], float] = time.monotonic
POLL_SECONDS = 1.0


# ------------------------------------------------------------------ output
def _dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


def _dump(obj: Any, output: str) -> str:
    if output == "json":
        return json.dumps(obj, indent=2) + "\n"
    return _dump_yaml(obj)


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        out.write("   ".join(cells).rstrip() + "\n")


def _age(timestamp: str | None, now: datetime | None = None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = int(((now or _now()) - then).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 120 * 60:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _ready(obj: dict[str, Any]) -> tuple[str, str]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return str(cond.get("status", "Unknown")), str(cond.get("reason", ""))
    return "Unknown", ""


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
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
        ("REGION", lambda o: str(_spec(o).get("region", ""))),
        ("EGRESS CIDRS", lambda o: ",".join(_spec(o).get("egressCIDRs") or []) or "-"),
        ("CLUSTER NETWORKS", lambda o: ",".join(_spec(o).get("clusterNetworks") or []) or "-"),
    ],
    "Organization": [
        ("TIER", lambda o: str(_spec(o).get("tier", "developer"))),
        ("DATA PLANE", lambda o: str(_spec(o).get("defaultDataPlane", ""))),
        ("NAMESPACE", _org_namespace),
        ("ALLOW PAID", lambda o: str(bool(_spec(o).get("allowPaidComponents", False))).lower()),
        ("FREE", lambda o: str((o.get("status") or {}).get("freeComponents", "-"))),
        ("PAID", lambda o: str((o.get("status") or {}).get("paidComponents", "-"))),
    ],
    "Environment": [
        ("DATA PLANE", lambda o: str(_spec(o).get("dataPlane", ""))),
        ("PRODUCTION", lambda o: str(bool(_spec(o).get("production", False))).lower()),
    ],
    "Project": [
        ("DATA PLANE", lambda o: _project_data_plane_in_use(o)),
    ],
    "Component": [
        ("PROJECT", lambda o: str(_spec(o).get("project", ""))),
        ("TYPE", lambda o: str(_spec(o).get("type", ""))),
        ("BUILDPACK", lambda o: str((_spec(o).get("build") or {}).get("buildpack", "-"))),
        ("BILLING", lambda o: str((o.get("status") or {}).get("billing") or "-")),
    ],
}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def _project_data_plane_in_use(obj: dict[str, Any]) -> str:
    """The data plane the operator resolved, else the one the spec names, else '-'."""
    return str(_status(obj).get("dataPlane") or _spec(obj).get("dataPlane") or "-")


def _entries(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _component_namespaces(obj: dict[str, Any]) -> str:
    envs = _entries(_status(obj).get("environments"))
    return ",".join(f"{e.get('name')}={e.get('namespace')}" for e in envs) or "-"


def _component_endpoints(obj: dict[str, Any]) -> str:
    """Per environment, each endpoint's public URL, else its in-cluster address."""
    out = []
    for env in _entries(_status(obj).get("environments")):
        for ep in _entries(env.get("endpoints")):
            where = ep.get("url") or ep.get("address")
            if where:
                out.append(f"{env.get('name')}/{ep.get('name')}={where}")
    return ",".join(out) or "-"


def _project_namespaces(obj: dict[str, Any]) -> str:
    entries = _entries(_status(obj).get("namespaces"))
    return ",".join(f"{e.get('environment')}={e.get('namespace')}" for e in entries) or "-"


#: Columns `-o wide` adds, per kind: where things run and how to reach them.
_WIDE_COLUMNS: dict[str, list[tuple[str, Callable[[dict[str, Any]], str]]]] = {
    "Project": [("NAMESPACES", _project_namespaces)],
    "Component": [
        ("URL", lambda o: str(_status(o).get("url") or "-")),
        ("NAMESPACES", _component_namespaces),
        ("ENDPOINTS", _component_endpoints),
    ],
}


def _print_table(
    kind: KindInfo, items: list[dict[str, Any]], all_ns: bool, out: TextIO, wide: bool = False
) -> None:
    extra = _COLUMNS[kind.kind] + (_WIDE_COLUMNS.get(kind.kind, []) if wide else [])
    header = (["NAMESPACE"] if all_ns else []) + ["NAME"] + [h for h, _ in extra]
    header += ["READY", "REASON", "STATUS", "AGE"]
    rows = [header]
    for obj in items:
        meta = obj.get("metadata") or {}
        ready, reason = _ready(obj)
        row = ([str(meta.get("namespace", ""))] if all_ns else []) + [str(meta.get("name", ""))]
        row += [get(obj) for _, get in extra]
        row += [
            ready,
            reason or "-",
            compute(obj).status.value,
            _age(meta.get("creationTimestamp")),
        ]
        rows.append(row)
    _table(rows, out)


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop managedFields, as kubectl does unless asked."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


# --------------------------------------------------------------- namespaces
def _flag_namespace(args: argparse.Namespace) -> str | None:
    if getattr(args, "namespace", None):
        return str(args.namespace)
    if getattr(args, "organization", None):
        return organization_namespace_name(args.organization)
    return None


def _required_namespace(args: argparse.Namespace, kube: Kube) -> str:
    namespace = _flag_namespace(args) or kube.context_namespace()
    if not namespace:
        raise InputError(
            "no namespace: pass --organization ORG (or -n NAMESPACE), "
            "or set a namespace on the kubeconfig context"
        )
    return namespace


# ----------------------------------------------------------------- commands
def _project_data_plane(
    args: argparse.Namespace, kube: Kube, namespace: str, before: dict[str, Any] | None
) -> tuple[str | None, str | None]:
    """The data plane a Project applied now gets, and a note on where it came from.

    A Project's data plane is fixed when it is created (the CRD refuses adding,
    changing or removing spec.dataPlane later), so the CLI writes the one it
    resolves: --data-plane, else the organization's defaultDataPlane. An existing
    project keeps what it was created with, value or absence.
    """
    if before is not None:
        current = _spec(before).get("dataPlane")
        current = str(current) if current else None
        wanted = args.data_plane if args.data_plane is not None else current
        errors = transition_errors(
            "Project", ProjectSpec(data_plane=current), ProjectSpec(data_plane=wanted)
        )
        if errors:
            was = (
                f"with dataPlane {current!r}"
                if current
                else "without dataPlane: it stays on the organization's defaultDataPlane"
            )
            raise InputError(
                *(f"spec.dataPlane: {e}" for e in errors),
                f"hint: {BY_KIND['Project'].ref(args.name)} in namespace {namespace} "
                f"was created {was}",
            )
        return wanted, None
    if args.data_plane is not None:
        return str(args.data_plane), None
    organization = args.organization or organization_of_namespace(namespace)
    if not organization:
        raise InputError(
            f"namespace {namespace} is no organization's namespace (cdp-org-<organization>), "
            "so there is no defaultDataPlane to place the project in: pass --data-plane DP "
            "or --organization ORG"
        )
    org_kind = BY_KIND["Organization"]
    try:
        org = kube.get(org_kind, organization, None)
    except CliError as exc:  # e.g. no permission to read the cluster-scoped Organization
        raise CliError(
            *exc.messages,
            "hint: pass --data-plane DP to choose the project's data plane without reading "
            f"{org_kind.ref(organization)}",
        ) from None
    if org is None:
        raise CliError(
            f"{org_kind.ref(organization)} not found: the project goes to its "
            "defaultDataPlane; pass --data-plane DP or create the organization first"
        )
    default = _spec(org).get("defaultDataPlane")
    if not default:
        raise CliError(
            f"{org_kind.ref(organization)} has no spec.defaultDataPlane: pass --data-plane DP"
        )
    return str(default), f"dataPlane {default}: organization {organization}'s defaultDataPlane"


#: Printed (not applied) without --data-plane: no cluster to ask for the default.
_NO_DATA_PLANE = (
    "no --data-plane: the project is printed without spec.dataPlane and, once created, stays "
    "on its organization's defaultDataPlane for good (a data plane cannot be set later); "
    "pass --data-plane DP to write it explicitly"
)


def _cmd_create(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    cluster_scoped = args.resource == "organization"
    namespace = None if cluster_scoped else _flag_namespace(args)
    kube: Kube | None = None
    if args.apply and not namespace and not cluster_scoped:
        kube = kube_factory(args)
        namespace = _required_namespace(args, kube)
    if args.resource == "component":
        manifest = manifests.component(
            args.name,
            namespace,
            project=args.project,
            type_=args.type,
            buildpack=args.buildpack,
            build_configs=args.build_configs,
            image=args.image,
            endpoints=args.endpoint,
            schedule=args.schedule,
            replicas=args.replicas,
            env=args.env,
            egress=args.egress,
            overrides=args.override,
        )
    elif args.resource == "project":
        manifest = manifests.project(
            args.name, namespace, data_plane=args.data_plane, display_name=args.display_name
        )
    elif args.resource == "organization":
        manifest = manifests.organization(
            args.name,
            default_data_plane=args.data_plane,
            tier=args.tier,
            allow_paid_components=args.allow_paid_components,
            display_name=args.display_name,
        )
    else:
        manifest = manifests.environment(
            args.name,
            namespace,
            data_plane=args.data_plane,
            production=args.production,
            display_name=args.display_name,
        )
    for warning in manifest.warnings:
        err.write(f"warning: {warning}\n")
    obj = manifest.obj
    if not args.apply:
        if args.dry_run or args.force_conflicts or args.no_wait or args.wait_timeout is not None:
            raise InputError(
                "--dry-run, --force-conflicts, --no-wait and --wait-timeout only make sense "
                "with --apply"
            )
        if args.resource == "project" and args.data_plane is None:
            err.write(f"note: {_NO_DATA_PLANE}\n")
        out.write(_dump(obj, args.output))
        return 0
    timeout = _WAIT_DEFAULT if args.wait_timeout is None else args.wait_timeout
    if timeout < 0:
        raise InputError("--wait-timeout must be 0 or more seconds")
    kube = kube or kube_factory(args)
    if not cluster_scoped:
        namespace = namespace or _required_namespace(args, kube)
    kind = BY_KIND[obj["kind"]]
    before = kube.get(kind, args.name, namespace)
    if args.resource == "project":
        assert namespace is not None
        data_plane, note = _project_data_plane(args, kube, namespace, before)
        obj = manifests.project(
            args.name, namespace, data_plane=data_plane, display_name=args.display_name
        ).obj
        if note:
            err.write(f"{note}\n")
    after = kube.apply(obj, force=args.force_conflicts, dry_run=args.dry_run)
    if before is None:
        verb = "created"
    elif (before.get("metadata") or {}).get("resourceVersion") == (after.get("metadata") or {}).get(
        "resourceVersion"
    ):
        verb = "unchanged"
    else:
        verb = "configured"
    where = f" in namespace {namespace}" if namespace else ""
    suffix = " (server dry run)" if args.dry_run else ""
    out.write(f"{kind.ref(args.name)} {verb}{where}{suffix}\n")
    if args.dry_run or args.no_wait:
        return 0
    out.flush()
    return _wait(kube, kind, args.name, namespace, after, timeout, out, err)


#: Seconds `--apply` waits for the operator's verdict unless --wait-timeout says otherwise.
_WAIT_DEFAULT = 60.0


def _observed(obj: dict[str, Any], generation: Any) -> bool:
    """Whether the operator has judged this generation (observedGeneration and Ready)."""
    status = _status(obj)
    if not isinstance(generation, int) or status.get("observedGeneration") != generation:
        return False
    return any(c.get("type") == "Ready" for c in _entries(status.get("conditions")))


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    conditions = _entries(_status(obj).get("conditions"))
    return next((c for c in conditions if c.get("type") == ctype), {})


def _state(obj: dict[str, Any]) -> str:
    """`Ready=True Available: ready in 2 environment(s)`: the Ready condition in one line."""
    ready = _condition(obj, "Ready")
    text = f"Ready={ready.get('status', 'Unknown')} {ready.get('reason') or '-'}"
    message = ready.get("message")
    return f"{text}: {message}" if message else text


def _wait(
    kube: Kube,
    kind: KindInfo,
    name: str,
    namespace: str | None,
    applied: dict[str, Any],
    timeout: float,
    out: TextIO,
    err: TextIO,
) -> int:
    """Wait until the operator has judged the applied generation: 0 when it is Current,
    1 when it is Stalled (kstatus Failed) or still in progress when time is up."""
    generation = (applied.get("metadata") or {}).get("generation")
    deadline = _monotonic() + timeout
    ref = kind.ref(name)
    obj: dict[str, Any] | None = applied
    while True:
        if obj is None:
            raise CliError(f"{ref} disappeared while waiting for its status")
        if _observed(obj, generation):
            result = compute(obj)
            if result.status is Status.CURRENT:
                out.write(f"{ref} is Current: {_state(obj)}\n")
                return 0
            if result.status is Status.FAILED:
                raise CliError(
                    f"{ref} is Stalled: {_state(obj)}",
                    f"hint: fix the cause and apply again; `cdp get {kind.plural} {name}"
                    + (f" -n {namespace}" if namespace else "")
                    + " -o yaml` shows the whole status",
                )
        if _monotonic() >= deadline:
            if _observed(obj, generation):
                why = f" is still {compute(obj).status.value} after {timeout:g}s: {_state(obj)}"
            else:
                why = (
                    f": no verdict after {timeout:g}s: the operator has not reported on "
                    f"generation {generation} yet"
                )
            raise CliError(
                f"{ref}{why}",
                "hint: it was applied; `cdp get` shows its progress, --wait-timeout SECONDS "
                "waits longer and --no-wait does not wait",
            )
        _sleep(min(POLL_SECONDS, max(deadline - _monotonic(), 0)))
        obj = kube.get(kind, name, namespace)


def _cmd_get(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    kinds = [resolve_kind(args.kind)] if args.kind else list(KINDS)
    if args.name and not args.kind:
        raise InputError("a NAME needs a resource type: cdp get components NAME")
    kube = kube_factory(args)
    namespace = None if args.all_namespaces else (_flag_namespace(args) or kube.context_namespace())
    results: list[tuple[KindInfo, list[dict[str, Any]]]] = []
    for kind in kinds:
        if args.name:
            if kind.namespaced and not namespace:
                raise InputError(
                    f"{kind.plural} are namespaced: pass --organization ORG or -n NAMESPACE"
                )
            obj = kube.get(kind, args.name, namespace)
            if obj is None:
                where = f" in namespace {namespace}" if kind.namespaced else ""
                raise CliError(f"{kind.ref(args.name)} not found{where}")
            results.append((kind, [obj]))
        else:
            items = kube.list(kind, namespace if kind.namespaced else None)
            results.append((kind, sorted(items, key=_sort_key)))

    if args.output in ("yaml", "json"):
        objs = [_strip(o) for _, items in results for o in items]
        doc: Any = objs[0] if args.name else {"apiVersion": "v1", "kind": "List", "items": objs}
        out.write(_dump(doc, args.output))
        return 0
    if args.output == "name":
        for kind, items in results:
            for obj in items:
                out.write(kind.ref(obj["metadata"]["name"]) + "\n")
        return 0
    printed = False
    for kind, items in results:
        if not items:
            if args.kind:
                where = f" in namespace {namespace}" if kind.namespaced and namespace else ""
                err.write(f"No {kind.plural} found{where}.\n")
            continue
        if printed:
            out.write("\n")
        if not args.kind:
            out.write(f"# {kind.resource}\n")
        _print_table(
            kind, items, kind.namespaced and namespace is None, out, wide=args.output == "wide"
        )
        printed = True
    if not printed and not args.kind:
        err.write("No resources found.\n")
    return 0


def _sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def new_run_token(now: datetime | None = None) -> str:
    """A fresh, sortable run token: UTC time plus randomness (never repeats)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(4)}"


def _deployed_environments(obj: dict[str, Any]) -> list[str]:
    """The environments the operator reports the component in (status.environments)."""
    return [str(e["name"]) for e in _entries(_status(obj).get("environments")) if e.get("name")]


def _check_environment_names(names: list[str]) -> None:
    errors = [f"--environment {n!r}: {e}" for n in names for e in name_errors("Environment", n)]
    if errors:
        raise InputError(*errors)


def _get_component(kube: Kube, name: str, namespace: str) -> dict[str, Any]:
    kind = BY_KIND["Component"]
    obj = kube.get(kind, name, namespace)
    if obj is None:
        raise CliError(f"{kind.ref(name)} not found in namespace {namespace}")
    return obj


def _cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    wanted = list(dict.fromkeys(args.environment))
    _check_environment_names(wanted)
    kube = kube_factory(args)
    namespace = _required_namespace(args, kube)
    kind = BY_KIND["Component"]
    obj = _get_component(kube, args.component, namespace)
    ctype = _spec(obj).get("type")
    if ctype != ComponentType.MANUAL_TASK.value:
        raise InputError(
            f"{kind.ref(args.component)} is a {ctype!r}, not a 'manual-task': only manual tasks "
            "run on request (scheduled tasks run on their schedule)"
        )
    deployed = _deployed_environments(obj)
    missing = [e for e in wanted if deployed and e not in deployed]
    if missing:
        raise InputError(
            f"{kind.ref(args.component)} does not run in environment(s) {', '.join(missing)} "
            f"(it runs in: {', '.join(deployed)})"
        )
    token = new_run_token()
    # One patch: the operator never sees the token without its environments. Without
    # --environment, a null removes the environments of an earlier request.
    annotations: dict[str, Any] = {
        RUN_REQUEST: token,
        RUN_ENVIRONMENTS: ",".join(wanted) if wanted else None,
    }
    kube.patch_metadata(kind, args.component, namespace, {"annotations": annotations})
    if wanted:
        where = f"environment(s) {', '.join(wanted)}"
    elif deployed:
        where = f"every environment: {', '.join(deployed)}"
    else:
        where = "every environment it is deployed in"
    err.write(
        f"run requested: {kind.ref(args.component)} in namespace {namespace}, {where} "
        f"({RUN_REQUEST}={token})\n"
    )
    out.write(token + "\n")
    return 0


_LONG_RUNNING = {
    ComponentType.SERVICE.value,
    ComponentType.WEB_APP.value,
    ComponentType.WEBHOOK.value,
}


def _cmd_scale(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.environment:
        _check_environment_names([args.environment])
    kube = kube_factory(args)
    namespace = _required_namespace(args, kube)
    kind = BY_KIND["Component"]
    obj = _get_component(kube, args.component, namespace)
    spec = _spec(obj)
    if spec.get("type") not in _LONG_RUNNING:
        raise InputError(
            f"{kind.ref(args.component)} is a {spec.get('type')!r}: only long-running "
            f"components ({', '.join(sorted(_LONG_RUNNING))}) have replicas"
        )
    change: dict[str, Any]
    if args.environment:
        overrides = [dict(o) for o in _entries(spec.get("overrides"))]
        entry = next((o for o in overrides if o.get("environment") == args.environment), None)
        if entry is None:
            entry = {"environment": args.environment}
            overrides.append(entry)
        entry["replicas"] = args.replicas
        change = {"overrides": overrides}
        deployed = _deployed_environments(obj)
        if deployed and args.environment not in deployed:
            err.write(
                f"warning: {kind.ref(args.component)} does not run in environment "
                f"{args.environment} now (it runs in: {', '.join(deployed)}); the override "
                "applies once it does\n"
            )
    else:
        change = {"replicas": args.replicas}
    # The same model as the CRD judges the changed fields (errors elsewhere in a spec
    # stored earlier are the apiserver's to judge, as it does with unchanged fields).
    try:
        ComponentSpec.model_validate({**spec, **change})
    except ValidationError as exc:
        errors = [e for e in exc.errors() if e["loc"] and e["loc"][0] in change]
        if errors:
            raise InputError(
                *(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors),
                "hint: --replicas takes 0 to 100",
            ) from None
    # A merge patch of the spec, conditional on the version read (overrides is a
    # list: a merge patch replaces it whole, so nobody else's change may be lost).
    version = (obj.get("metadata") or {}).get("resourceVersion")
    body: dict[str, Any] = {"spec": change}
    if version:
        body["metadata"] = {"resourceVersion": version}
    try:
        kube.merge_patch(kind, args.component, namespace, body)
    except CliError as exc:
        if not any("(HTTP 409)" in m for m in exc.messages):
            raise
        raise CliError(
            *exc.messages,
            f"hint: {kind.ref(args.component)} changed since it was read; nothing was "
            "written: run the command again",
        ) from None
    where = f" in environment {args.environment}" if args.environment else ""
    out.write(
        f"{kind.ref(args.component)} scaled to {args.replicas} replicas{where} "
        f"in namespace {namespace}\n"
    )
    return 0


def _cmd_delete(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    kube = kube_factory(args)
    namespace = _required_namespace(args, kube)
    kind = BY_KIND["Project" if args.resource == "project" else "Component"]
    if kube.get(kind, args.name, namespace) is None:
        raise CliError(f"{kind.ref(args.name)} not found in namespace {namespace}")
    if args.resource == "project":
        components = sorted(
            c["metadata"]["name"]
            for c in kube.list(BY_KIND["Component"], namespace)
            if _spec(c).get("project") == args.name
        )
        if components and not args.cascade:
            raise InputError(
                f"{kind.ref(args.name)} has {len(components)} component(s): "
                f"{', '.join(components)}",
                "hint: deleting a project removes its runtime namespaces and so the "
                "components' workloads; delete the components first, or pass --cascade to "
                "delete them and then the project",
            )
        for name in components:
            if kube.delete(BY_KIND["Component"], name, namespace):
                out.write(f"{BY_KIND['Component'].ref(name)} deleted in namespace {namespace}\n")
    if not kube.delete(kind, args.name, namespace):
        raise CliError(f"{kind.ref(args.name)} not found in namespace {namespace}")
    out.write(f"{kind.ref(args.name)} deleted in namespace {namespace}\n")
    return 0


def _cmd_buildpacks(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    wanted = None
    if args.type:
        try:
            wanted = spelling.component_type(args.type)
        except spelling.UnknownName as exc:
            raise InputError(str(exc)) from None
    rows = [(t, b, keys) for (t, b), keys in REQUIRED_BUILD_CONFIGS.items() if wanted in (None, t)]
    if args.output in ("yaml", "json"):
        doc = [
            {
                "type": t.value,
                "buildpack": b.value,
                "requiredConfigs": {k: CONFIG_KEY_DESCRIPTIONS[k] for k in keys},
            }
            for t, b, keys in rows
        ]
        out.write(_dump(doc, args.output))
        return 0
    table = [["TYPE", "BUILDPACK", "SEED NAME", "REQUIRED BUILD CONFIGS"]]
    for t, b, keys in rows:
        table.append([t.value, b.value, spelling.BUILDPACK_DISPLAY[b], ",".join(keys) or "-"])
    _table(table, out)
    out.write("\nbuild config keys:\n")
    used = {k for _, _, keys in rows for k in keys}
    for key, meaning in CONFIG_KEY_DESCRIPTIONS.items():
        if key in used:
            out.write(f"  {key:<22} {meaning}\n")
    return 0


# ------------------------------------------------------------------ parser
_CONFIG_HELP = "\n".join(f"  {k:<22} {v}" for k, v in CONFIG_KEY_DESCRIPTIONS.items())

_EPILOG_MAIN = """\
examples:
  cdp create organization acme --tier payg --data-plane us --apply
  cdp buildpacks --type web-app
  cdp create project shop --organization acme --apply
  cdp create component api --organization acme --project shop --type service \\
      --buildpack python --build-configs 'buildPackLangVersion=3.11' \\
      --image ghcr.io/acme/api:1.0 --endpoint http:8080:organization --apply
  cdp get components --organization acme -o wide
  cdp run nightly-report --organization acme --environment development
  cdp scale api --replicas 3 --environment production --organization acme
  cdp delete project shop --organization acme --cascade

Run `cdp <command> --help` for the options of a command.
"""

_EPILOG_COMPONENT = f"""\
Type and buildpack accept the seed's spellings too ("Web Application", "Webapp",
"Node.js", ".Net", "WSO2 MI", "Static website"). `cdp buildpacks` lists which
buildpacks each type supports and the build configurations each requires.

build config keys:
{_CONFIG_HELP}

examples:
  cdp create component web --project shop --type web-app --buildpack react \\
      --build-configs 'buildCommand=npm run build,outputDirectory=build' \\
      --build-configs 'nodeVersion=20' --image ghcr.io/acme/web:1.0 \\
      --endpoint http:8080:public --organization acme
  cdp create component report --project shop --type scheduled-task \\
      --buildpack go --build-configs buildPackLangVersion=1.22 \\
      --image ghcr.io/acme/report:1.0 --schedule '0 2 * * *' -n cdp-org-acme --apply
"""


_EPILOG_PROJECT = """\
A project's data plane is fixed when it is created: the cluster refuses setting,
changing or removing spec.dataPlane afterwards (to move, create a new project).
With --apply and no --data-plane, the organization's defaultDataPlane is read
from the cluster and written into spec.dataPlane. An existing project keeps the
data plane it was created with (or its absence).

examples:
  cdp create project shop --organization acme --apply
  cdp create project analytics --organization acme --data-plane eu --apply
  cdp create project shop --organization acme --data-plane us > shop.yaml
"""


def _connection_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("cluster connection")
    g.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    g.add_argument("--context", help="kubeconfig context to use (default: the current one)")
    return p


def _namespace_options(all_namespaces: bool = False) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("namespace")
    m = g.add_mutually_exclusive_group()
    m.add_argument("-n", "--namespace", help="namespace of the organization (e.g. cdp-org-acme)")
    m.add_argument(
        "--organization",
        "--org",
        metavar="ORG",
        help="organization; its namespace is derived (cdp-org-ORG)",
    )
    if all_namespaces:
        m.add_argument(
            "-A", "--all-namespaces", action="store_true", help="list across all namespaces"
        )
    return p


def _apply_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("output and apply")
    g.add_argument(
        "--apply",
        action="store_true",
        help="server-side apply it to the cluster (field manager cdp-cli) instead of printing it",
    )
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="with --apply: let the API server validate it (schema, CEL rules) without storing",
    )
    g.add_argument(
        "--force-conflicts",
        action="store_true",
        help="with --apply: take over fields another manager owns",
    )
    g.add_argument(
        "--wait-timeout",
        type=float,
        metavar="SECONDS",
        help=f"with --apply: wait at most this long for the operator's verdict "
        f"(default {_WAIT_DEFAULT:g}); exit 1 if it is Stalled or still in progress",
    )
    g.add_argument(
        "--no-wait",
        action="store_true",
        help="with --apply: do not wait for the operator's verdict",
    )
    g.add_argument(
        "-o", "--output", choices=("yaml", "json"), default="yaml", help="format when printing"
    )
    return p


def build_parser(prog: str = "cdp") -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Create, list and run the resources of the cdp.dev platform "
        "(Projects, Environments, Components) on the data-plane cluster.",
        epilog=_EPILOG_MAIN,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    conn, ns, apply_opts = _connection_options(), _namespace_options(), _apply_options()

    # create
    create = sub.add_parser(
        "create",
        help="create a component, project, environment or organization (prints YAML, or --apply)",
        description="Build a resource, validate it with the same models as the CRDs, "
        "and print it as YAML or server-side apply it with --apply.",
        formatter_class=fmt,
    )
    csub = create.add_subparsers(dest="resource", metavar="RESOURCE", required=True)

    comp = csub.add_parser(
        "component",
        parents=[ns, apply_opts, conn],
        help="a workload of a project",
        description="Create a Component: a workload of a project.",
        epilog=_EPILOG_COMPONENT,
        formatter_class=fmt,
    )
    comp.add_argument("name", metavar="NAME")
    comp.add_argument("--project", "-p", required=True, help="project the component belongs to")
    types = ", ".join(t.value for t in ComponentType)
    comp.add_argument("--type", "-t", required=True, help=f"component type: {types}")
    comp.add_argument("--buildpack", "-b", help="buildpack (see `cdp buildpacks`)")
    comp.add_argument(
        "--build-configs",
        action="append",
        default=[],
        metavar="K=V[,K=V]",
        help="build configurations, comma separated; repeatable (merged, later wins)",
    )
    comp.add_argument("--image", help="container image to run")
    comp.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="NAME:PORT[:VISIBILITY]",
        help="an endpoint; visibility project (default), organization (internal) or public "
        "(external); repeatable",
    )
    comp.add_argument("--schedule", metavar="CRON", help="cron schedule (scheduled-task)")
    comp.add_argument("--replicas", type=int, help="replicas of long-running components")
    comp.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="env var; repeatable"
    )
    comp.add_argument(
        "--egress",
        action="append",
        default=[],
        metavar="CIDR[:PORT[,PORT]]",
        help="a destination outside the cluster it may reach (all ports without :PORT); "
        "repeatable. Everything else but DNS stays denied",
    )
    comp.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="ENV:KEY=VALUE",
        help="a setting for one environment: "
        + "; ".join(f"{k}: {v}" for k, v in manifests.OVERRIDE_KEYS.items())
        + "; repeatable (e.g. production:replicas=3)",
    )
    comp.set_defaults(handler=_cmd_create)

    proj = csub.add_parser(
        "project",
        parents=[ns, apply_opts, conn],
        help="a group of components in one data plane",
        description="Create a Project: a logical group of components, placed in one DataPlane.",
        epilog=_EPILOG_PROJECT,
        formatter_class=fmt,
    )
    proj.add_argument("name", metavar="NAME")
    proj.add_argument(
        "--data-plane",
        metavar="DP",
        help="DataPlane (region) of the project, fixed for its lifetime. Default: with --apply, "
        "the organization's defaultDataPlane, read from the cluster and written into "
        "spec.dataPlane; without --apply, the YAML has no dataPlane and the project stays on "
        "the organization's defaultDataPlane forever",
    )
    proj.add_argument("--display-name", help="human-readable name")
    proj.set_defaults(handler=_cmd_create)

    org = csub.add_parser(
        "organization",
        aliases=["org"],
        parents=[apply_opts, conn],
        help="a tenant (cluster admins)",
        description="Create an Organization: a tenant with a tier and the DataPlane chosen at "
        "onboarding. Organizations are cluster-scoped: creating one takes a cluster admin.",
        epilog="examples:\n  cdp create organization acme --tier payg --data-plane us --apply\n"
        "  cdp create organization labs --data-plane eu --allow-paid-components --apply",
        formatter_class=fmt,
    )
    org.add_argument("name", metavar="NAME")
    org.add_argument(
        "--tier",
        choices=[t.value for t in Tier],
        help=f"subscription tier (default {Tier.DEVELOPER.value})",
    )
    org.add_argument(
        "--data-plane",
        required=True,
        metavar="DP",
        help="defaultDataPlane: the DataPlane chosen at onboarding (immutable)",
    )
    org.add_argument(
        "--allow-paid-components",
        action="store_true",
        help="developer tier: run components beyond the five free ones as paid ones",
    )
    org.add_argument("--display-name", help="human-readable name")
    org.set_defaults(handler=_cmd_create, resource="organization")

    env = csub.add_parser(
        "environment",
        aliases=["env"],
        parents=[ns, apply_opts, conn],
        help="a deployment stage on one data plane",
        description="Create an Environment: a deployment stage bound to one DataPlane.",
        formatter_class=fmt,
    )
    env.add_argument("name", metavar="NAME")
    env.add_argument("--data-plane", required=True, help="DataPlane this environment runs on")
    env.add_argument(
        "--production",
        action="store_true",
        help="production: long-running workloads run highly available",
    )
    env.add_argument("--display-name", help="human-readable name")
    env.set_defaults(handler=_cmd_create, resource="environment")

    # get
    kinds = "|".join(k.plural for k in KINDS)
    get = sub.add_parser(
        "get",
        parents=[_namespace_options(all_namespaces=True), conn],
        help="list resources with their Ready condition",
        description="List platform resources: name, key fields, the Ready condition and its "
        "reason, and the kstatus status (Current, InProgress, Failed). Without a namespace "
        "flag, namespaced kinds are listed in the kubeconfig context's namespace, or in all "
        "namespaces when the context has none.",
        epilog=f"resource types: {kinds} (also singular, or dp, org, env, proj, comp)",
        formatter_class=fmt,
    )
    get.add_argument("kind", nargs="?", metavar="TYPE", help="resource type; default: all")
    get.add_argument("name", nargs="?", metavar="NAME", help="one object")
    get.add_argument(
        "-o",
        "--output",
        choices=("table", "wide", "yaml", "json", "name"),
        default="table",
        help="wide adds where things run: project namespaces; component URL, namespaces "
        "and endpoint addresses per environment",
    )
    get.set_defaults(handler=_cmd_get)

    # run
    run = sub.add_parser(
        "run",
        parents=[ns, conn],
        help="run a manual-task component once",
        description=f"Request a run of a manual-task Component: sets the annotation "
        f"{RUN_REQUEST} to a fresh token (a merge patch of metadata only; the spec is "
        "untouched) and prints the token. The operator starts one Job per token.",
        formatter_class=fmt,
    )
    run.add_argument("component", metavar="COMPONENT")
    run.add_argument(
        "--environment",
        "-e",
        action="append",
        default=[],
        metavar="ENV",
        help=f"run only in this environment (repeatable; sets {RUN_ENVIRONMENTS}); "
        "default: every environment the component runs in",
    )
    run.set_defaults(handler=_cmd_run)

    # scale
    scale = sub.add_parser(
        "scale",
        parents=[ns, conn],
        help="set the replicas of a long-running component",
        description="Set spec.replicas of a Component, or with --environment the replicas "
        "of that environment's override (spec.overrides), with a merge patch of the spec "
        "conditional on the version read. Production environments run at least 2.",
        formatter_class=fmt,
    )
    scale.add_argument("component", metavar="COMPONENT")
    scale.add_argument(
        "--replicas", type=int, required=True, metavar="N", help="replicas, 0 to 100"
    )
    scale.add_argument("--environment", "-e", metavar="ENV", help="only in this environment")
    scale.set_defaults(handler=_cmd_scale)

    # delete
    delete = sub.add_parser(
        "delete",
        help="delete a component or a project",
        description="Delete a Component, or a Project. Deleting a project removes its "
        "runtime namespaces, and with them its components' workloads; the Components "
        "would stay, reporting ProjectNotFound. So `cdp delete project` refuses while "
        "components belong to it, unless --cascade, which deletes them first.",
        formatter_class=fmt,
    )
    dsub = delete.add_subparsers(dest="resource", metavar="RESOURCE", required=True)
    dcomp = dsub.add_parser(
        "component", aliases=["comp"], parents=[ns, conn], help="delete a component"
    )
    dcomp.add_argument("name", metavar="NAME")
    dcomp.set_defaults(handler=_cmd_delete, resource="component")
    dproj = dsub.add_parser(
        "project",
        aliases=["proj"],
        parents=[ns, conn],
        help="delete a project",
        description="Delete a Project: its runtime namespaces go, and with them the "
        "workloads of its components. Refused while components belong to it (they are "
        "listed), unless --cascade.",
    )
    dproj.add_argument("name", metavar="NAME")
    dproj.add_argument(
        "--cascade", action="store_true", help="delete the project's components first"
    )
    dproj.set_defaults(handler=_cmd_delete, resource="project")

    # buildpacks
    bp = sub.add_parser(
        "buildpacks",
        help="the buildpacks of each component type and their required build configs",
        description="The seed's table: component type x buildpack -> required build "
        "configurations (the same table the CRDs and the operator enforce).",
        formatter_class=fmt,
    )
    bp.add_argument("--type", "-t", help="only this component type")
    bp.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    bp.set_defaults(handler=_cmd_buildpacks)
    return parser


def _prog() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "cdp"
    return "kubectl cdp" if name.startswith("kubectl-") else "cdp"


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser(prog or _prog())
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        code: int = args.handler(args, out, err)
        return code
    except CliError as exc:
        for message in exc.messages:
            prefix = "" if message.startswith("hint: ") else "error: "
            err.write(f"{prefix}{message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
