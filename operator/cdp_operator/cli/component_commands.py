"""`cdp run` and `cdp scale`: act on an existing Component (a run request, its replicas)."""

from __future__ import annotations

import argparse
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..models import labels
from ..models.buildconfigs import ComponentType
from ..models.labels import RUN_REQUEST
from ..models.resources import ComponentSpec, name_errors
from .kube import BY_KIND, KindInfo, Kube
from .manifests import CliError, InputError
from .options import FORMATTER, connection_options, namespace_options
from .output import entries, spec_of, status_of
from .session import Session, required_namespace

#: The annotation naming the environments a run request is for (comma separated).
RUN_ENVIRONMENTS = labels.RUN_ENVIRONMENTS


# ------------------------------------------------------------------ parsers
def add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        parents=[namespace_options(), connection_options()],
        help="run a manual-task component once",
        description=f"Request a run of a manual-task Component: sets the annotation "
        f"{RUN_REQUEST} to a fresh token (a merge patch of metadata only; the spec is "
        "untouched) and prints the token. The operator starts one Job per token.",
        formatter_class=FORMATTER,
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
    run.set_defaults(handler=cmd_run)


def add_scale_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scale = sub.add_parser(
        "scale",
        parents=[namespace_options(), connection_options()],
        help="set the replicas of a long-running component",
        description="Set spec.replicas of a Component, or with --environment the replicas "
        "of that environment's override (spec.overrides), with a merge patch of the spec "
        "conditional on the version read. Production environments run at least 2.",
        formatter_class=FORMATTER,
    )
    scale.add_argument("component", metavar="COMPONENT")
    scale.add_argument(
        "--replicas", type=int, required=True, metavar="N", help="replicas, 0 to 100"
    )
    scale.add_argument("--environment", "-e", metavar="ENV", help="only in this environment")
    scale.set_defaults(handler=cmd_scale)


# ------------------------------------------------------------------ shared
def deployed_environments(obj: dict[str, Any]) -> list[str]:
    """The environments the operator reports the component in (status.environments)."""
    return [str(e["name"]) for e in entries(status_of(obj).get("environments")) if e.get("name")]


def check_environment_names(names: list[str]) -> None:
    errors = [f"--environment {n!r}: {e}" for n in names for e in name_errors("Environment", n)]
    if errors:
        raise InputError(*errors)


def get_component(kube: Kube, name: str, namespace: str) -> dict[str, Any]:
    kind = BY_KIND["Component"]
    obj = kube.get(kind, name, namespace)
    if obj is None:
        raise CliError(f"{kind.ref(name)} not found in namespace {namespace}")
    return obj


# --------------------------------------------------------------------- run
def new_run_token(now: datetime | None = None) -> str:
    """A fresh, sortable run token: UTC time plus randomness (never repeats)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(4)}"


def cmd_run(args: argparse.Namespace, session: Session) -> int:
    wanted = list(dict.fromkeys(args.environment))
    check_environment_names(wanted)
    kube = session.kube(args)
    namespace = required_namespace(args, kube)
    kind = BY_KIND["Component"]
    obj = get_component(kube, args.component, namespace)
    ctype = spec_of(obj).get("type")
    if ctype != ComponentType.MANUAL_TASK.value:
        raise InputError(
            f"{kind.ref(args.component)} is a {ctype!r}, not a 'manual-task': only manual tasks "
            "run on request (scheduled tasks run on their schedule)"
        )
    deployed = deployed_environments(obj)
    missing = [e for e in wanted if deployed and e not in deployed]
    if missing:
        raise InputError(
            f"{kind.ref(args.component)} does not run in environment(s) {', '.join(missing)} "
            f"(it runs in: {', '.join(deployed)})"
        )
    token = session.new_run_token()
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
    session.err.write(
        f"run requested: {kind.ref(args.component)} in namespace {namespace}, {where} "
        f"({RUN_REQUEST}={token})\n"
    )
    session.out.write(token + "\n")
    return 0


# ------------------------------------------------------------------- scale
_LONG_RUNNING = {
    ComponentType.SERVICE.value,
    ComponentType.WEB_APP.value,
    ComponentType.WEBHOOK.value,
}


def cmd_scale(args: argparse.Namespace, session: Session) -> int:
    if args.environment:
        check_environment_names([args.environment])
    kube = session.kube(args)
    namespace = required_namespace(args, kube)
    kind = BY_KIND["Component"]
    obj = get_component(kube, args.component, namespace)
    spec = spec_of(obj)
    if spec.get("type") not in _LONG_RUNNING:
        raise InputError(
            f"{kind.ref(args.component)} is a {spec.get('type')!r}: only long-running "
            f"components ({', '.join(sorted(_LONG_RUNNING))}) have replicas"
        )
    change = _replicas_change(args, kind, obj, session)
    _check_change(spec, change)
    _patch_spec(kube, kind, args.component, namespace, obj, change)
    where = f" in environment {args.environment}" if args.environment else ""
    session.out.write(
        f"{kind.ref(args.component)} scaled to {args.replicas} replicas{where} "
        f"in namespace {namespace}\n"
    )
    return 0


def _replicas_change(
    args: argparse.Namespace, kind: KindInfo, obj: dict[str, Any], session: Session
) -> dict[str, Any]:
    """The spec fields to change: replicas, or with --environment that environment's
    override (added when there is none)."""
    if not args.environment:
        return {"replicas": args.replicas}
    overrides = [dict(o) for o in entries(spec_of(obj).get("overrides"))]
    entry = next((o for o in overrides if o.get("environment") == args.environment), None)
    if entry is None:
        entry = {"environment": args.environment}
        overrides.append(entry)
    entry["replicas"] = args.replicas
    deployed = deployed_environments(obj)
    if deployed and args.environment not in deployed:
        session.err.write(
            f"warning: {kind.ref(args.component)} does not run in environment "
            f"{args.environment} now (it runs in: {', '.join(deployed)}); the override "
            "applies once it does\n"
        )
    return {"overrides": overrides}


def _check_change(spec: dict[str, Any], change: dict[str, Any]) -> None:
    """The same model as the CRD judges the changed fields (errors elsewhere in a spec
    stored earlier are the apiserver's to judge, as it does with unchanged fields)."""
    try:
        ComponentSpec.model_validate({**spec, **change})
    except ValidationError as exc:
        errors = [e for e in exc.errors() if e["loc"] and e["loc"][0] in change]
        if errors:
            raise InputError(
                *(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors),
                "hint: --replicas takes 0 to 100",
            ) from None


def _patch_spec(
    kube: Kube,
    kind: KindInfo,
    name: str,
    namespace: str,
    obj: dict[str, Any],
    change: dict[str, Any],
) -> None:
    """A merge patch of the spec, conditional on the version read (overrides is a
    list: a merge patch replaces it whole, so nobody else's change may be lost)."""
    version = (obj.get("metadata") or {}).get("resourceVersion")
    body: dict[str, Any] = {"spec": change}
    if version:
        body["metadata"] = {"resourceVersion": version}
    try:
        kube.merge_patch(kind, name, namespace, body)
    except CliError as exc:
        if not any("(HTTP 409)" in m for m in exc.messages):
            raise
        raise CliError(
            *exc.messages,
            f"hint: {kind.ref(name)} changed since it was read; nothing was "
            "written: run the command again",
        ) from None
