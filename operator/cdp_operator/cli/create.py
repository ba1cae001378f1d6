"""`cdp create`: build a Component, Project, Organization or Environment, validated by the
models, and print it or server-side apply it (`--apply`, then wait for the verdict).
Its flags are declared in create_parser.py."""

from __future__ import annotations

import argparse
from typing import Any

from ..models.naming import organization_of_namespace
from ..models.resources import ProjectSpec, transition_errors
from . import manifests
from .kube import BY_KIND, Kube, resolve_kind
from .manifests import CliError, InputError, Manifest
from .output import dump, spec_of
from .session import Session, flag_namespace, required_namespace
from .wait import WAIT_DEFAULT, wait_for_verdict


def cmd_create(args: argparse.Namespace, session: Session) -> int:
    cluster_scoped = args.resource == "organization"
    namespace = None if cluster_scoped else flag_namespace(args)
    kube: Kube | None = None
    if args.apply and not namespace and not cluster_scoped:
        kube = session.kube(args)
        namespace = required_namespace(args, kube)
    manifest = _build(args, namespace)
    for warning in manifest.warnings:
        session.err.write(f"warning: {warning}\n")
    if not args.apply:
        return _print(args, manifest.obj, session)
    return _apply(args, manifest.obj, namespace, kube, session)


#: `cdp create project|environment|organization`: spec field -> the flag (argparse dest)
#: that sets it.
_SPEC_FLAGS = {
    "project": {"dataPlane": "data_plane", "displayName": "display_name"},
    "environment": {
        "dataPlane": "data_plane",
        "production": "production",
        "displayName": "display_name",
    },
    "organization": {
        "defaultDataPlane": "data_plane",
        "tier": "tier",
        "allowPaidComponents": "allow_paid_components",
        "displayName": "display_name",
    },
}


def _build(args: argparse.Namespace, namespace: str | None) -> Manifest:
    if args.resource == "component":
        return manifests.component(
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
    fields = {field: getattr(args, dest) for field, dest in _SPEC_FLAGS[args.resource].items()}
    return manifests.resource(resolve_kind(args.resource).kind, args.name, namespace, fields)


#: Printed (not applied) without --data-plane: no cluster to ask for the default.
_NO_DATA_PLANE = (
    "no --data-plane: the project is printed without spec.dataPlane and, once created, stays "
    "on its organization's defaultDataPlane for good (a data plane cannot be set later); "
    "pass --data-plane DP to write it explicitly"
)


def _print(args: argparse.Namespace, obj: dict[str, Any], session: Session) -> int:
    if args.dry_run or args.force_conflicts or args.no_wait or args.wait_timeout is not None:
        raise InputError(
            "--dry-run, --force-conflicts, --no-wait and --wait-timeout only make sense "
            "with --apply"
        )
    if args.resource == "project" and args.data_plane is None:
        session.err.write(f"note: {_NO_DATA_PLANE}\n")
    session.out.write(dump(obj, args.output))
    return 0


def _apply(
    args: argparse.Namespace,
    obj: dict[str, Any],
    namespace: str | None,
    kube: Kube | None,
    session: Session,
) -> int:
    timeout = WAIT_DEFAULT if args.wait_timeout is None else args.wait_timeout
    if timeout < 0:
        raise InputError("--wait-timeout must be 0 or more seconds")
    kube = kube or session.kube(args)
    if args.resource != "organization":
        namespace = namespace or required_namespace(args, kube)
    kind = BY_KIND[obj["kind"]]
    before = kube.get(kind, args.name, namespace)
    if args.resource == "project":
        assert namespace is not None
        data_plane, note = _project_data_plane(args, kube, namespace, before)
        fields = {"dataPlane": data_plane, "displayName": args.display_name}
        obj = manifests.resource("Project", args.name, namespace, fields).obj
        if note:
            session.err.write(f"{note}\n")
    after = kube.apply(obj, force=args.force_conflicts, dry_run=args.dry_run)
    where = f" in namespace {namespace}" if namespace else ""
    suffix = " (server dry run)" if args.dry_run else ""
    session.out.write(f"{kind.ref(args.name)} {_verb(before, after)}{where}{suffix}\n")
    if args.dry_run or args.no_wait:
        return 0
    session.out.flush()
    return wait_for_verdict(session, kube, kind, args.name, namespace, after, timeout)


def _verb(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """What the apply did, as kubectl says it.

    Unchanged when the apply left the spec (same generation), labels and
    annotations as they were. The resourceVersion alone would say configured
    once after a create: the first update also stores the status the CRD
    defaults (``observedGeneration: 0``), which the object only showed until
    then.
    """
    if before is None:
        return "created"
    old, new = before.get("metadata") or {}, after.get("metadata") or {}
    if old.get("resourceVersion") == new.get("resourceVersion"):
        return "unchanged"
    if all(old.get(k) == new.get(k) for k in ("generation", "labels", "annotations")):
        return "unchanged"
    return "configured"


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
        current = spec_of(before).get("dataPlane")
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
    default = spec_of(org).get("defaultDataPlane")
    if not default:
        raise CliError(
            f"{org_kind.ref(organization)} has no spec.defaultDataPlane: pass --data-plane DP"
        )
    return str(default), f"dataPlane {default}: organization {organization}'s defaultDataPlane"
