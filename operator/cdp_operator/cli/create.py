"""`cdp create`: build a Component, Project, Organization or Environment, validated by the
models, and print it or server-side apply it (`--apply`, then wait for the verdict)."""

from __future__ import annotations

import argparse
from typing import Any

from ..models.buildconfigs import CONFIG_KEY_DESCRIPTIONS, ComponentType
from ..models.naming import organization_of_namespace
from ..models.resources import ProjectSpec, transition_errors
from ..models.tiers import Tier
from . import manifests
from .kube import BY_KIND, Kube, resolve_kind
from .manifests import CliError, InputError, Manifest
from .options import FORMATTER, apply_options, connection_options, namespace_options
from .output import dump, spec_of
from .session import Session, flag_namespace, required_namespace
from .wait import WAIT_DEFAULT, wait_for_verdict

_CONFIG_HELP = "\n".join(f"  {k:<22} {v}" for k, v in CONFIG_KEY_DESCRIPTIONS.items())

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


# ------------------------------------------------------------------ parser
#: `cdp create` and each `cdp create RESOURCE`: (its line in the parent's --help, its
#: description).
_TEXTS = {
    "create": (
        "create a component, project, environment or organization (prints YAML, or --apply)",
        "Build a resource, validate it with the same models as the CRDs, "
        "and print it as YAML or server-side apply it with --apply.",
    ),
    "component": ("a workload of a project", "Create a Component: a workload of a project."),
    "project": (
        "a group of components in one data plane",
        "Create a Project: a logical group of components, placed in one DataPlane.",
    ),
    "organization": (
        "a tenant (cluster admins)",
        "Create an Organization: a tenant with a tier and the DataPlane chosen at "
        "onboarding. Organizations are cluster-scoped: creating one takes a cluster admin.",
    ),
    "environment": (
        "a deployment stage on one data plane",
        "Create an Environment: a deployment stage bound to one DataPlane.",
    ),
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_, description = _TEXTS["create"]
    create = sub.add_parser(
        "create", help=help_, description=description, formatter_class=FORMATTER
    )
    resources = create.add_subparsers(dest="resource", metavar="RESOURCE", required=True)
    _add_component(resources)
    _add_project(resources)
    _add_organization(resources)
    _add_environment(resources)


def _resource_parser(
    resources: argparse._SubParsersAction[argparse.ArgumentParser],
    resource: str,
    *,
    namespaced: bool = True,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """`cdp create RESOURCE NAME`, with the namespace (unless cluster-scoped), apply and
    connection options every resource takes."""
    parents = [namespace_options()] if namespaced else []
    parents += [apply_options(), connection_options()]
    help_, description = _TEXTS[resource]
    parser = resources.add_parser(
        resource,
        parents=parents,
        help=help_,
        description=description,
        formatter_class=FORMATTER,
        **kwargs,
    )
    parser.add_argument("name", metavar="NAME")
    # An alias (`org`, `env`) still names the resource by its full name.
    parser.set_defaults(handler=cmd_create, resource=resource)
    return parser


def _add_component(resources: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    comp = _resource_parser(resources, "component", epilog=_EPILOG_COMPONENT)
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


def _add_project(resources: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    proj = _resource_parser(resources, "project", epilog=_EPILOG_PROJECT)
    proj.add_argument(
        "--data-plane",
        metavar="DP",
        help="DataPlane (region) of the project, fixed for its lifetime. Default: with --apply, "
        "the organization's defaultDataPlane, read from the cluster and written into "
        "spec.dataPlane; without --apply, the YAML has no dataPlane and the project stays on "
        "the organization's defaultDataPlane forever",
    )
    proj.add_argument("--display-name", help="human-readable name")


def _add_organization(resources: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    org = _resource_parser(
        resources,
        "organization",
        namespaced=False,
        aliases=["org"],
        epilog="examples:\n  cdp create organization acme --tier payg --data-plane us --apply\n"
        "  cdp create organization labs --data-plane eu --allow-paid-components --apply",
    )
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


def _add_environment(resources: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    env = _resource_parser(resources, "environment", aliases=["env"])
    env.add_argument("--data-plane", required=True, help="DataPlane this environment runs on")
    env.add_argument(
        "--production",
        action="store_true",
        help="production: long-running workloads run highly available",
    )
    env.add_argument("--display-name", help="human-readable name")


# ----------------------------------------------------------------- command
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
    """What the apply did, as kubectl says it."""
    if before is None:
        return "created"
    version = (before.get("metadata") or {}).get("resourceVersion")
    if version == (after.get("metadata") or {}).get("resourceVersion"):
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
