"""`cdp delete`: delete a Component, or a Project (refused while components belong to it,
unless --cascade, which deletes them first)."""

from __future__ import annotations

import argparse

from .kube import BY_KIND
from .manifests import CliError, InputError
from .options import FORMATTER, connection_options, namespace_options
from .output import spec_of
from .session import Session, required_namespace


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    delete = sub.add_parser(
        "delete",
        help="delete a component or a project",
        description="Delete a Component, or a Project. Deleting a project removes its "
        "runtime namespaces, and with them its components' workloads; the Components "
        "would stay, reporting ProjectNotFound. So `cdp delete project` refuses while "
        "components belong to it, unless --cascade, which deletes them first.",
        formatter_class=FORMATTER,
    )
    dsub = delete.add_subparsers(dest="resource", metavar="RESOURCE", required=True)
    dcomp = dsub.add_parser(
        "component",
        aliases=["comp"],
        parents=[namespace_options(), connection_options()],
        help="delete a component",
    )
    dcomp.add_argument("name", metavar="NAME")
    dcomp.set_defaults(handler=cmd_delete, resource="component")
    dproj = dsub.add_parser(
        "project",
        aliases=["proj"],
        parents=[namespace_options(), connection_options()],
        help="delete a project",
        description="Delete a Project: its runtime namespaces go, and with them the "
        "workloads of its components. Refused while components belong to it (they are "
        "listed), unless --cascade.",
    )
    dproj.add_argument("name", metavar="NAME")
    dproj.add_argument(
        "--cascade", action="store_true", help="delete the project's components first"
    )
    dproj.set_defaults(handler=cmd_delete, resource="project")


def cmd_delete(args: argparse.Namespace, session: Session) -> int:
    kube = session.kube(args)
    namespace = required_namespace(args, kube)
    kind = BY_KIND["Project" if args.resource == "project" else "Component"]
    if kube.get(kind, args.name, namespace) is None:
        raise CliError(f"{kind.ref(args.name)} not found in namespace {namespace}")
    if args.resource == "project":
        components = sorted(
            c["metadata"]["name"]
            for c in kube.list(BY_KIND["Component"], namespace)
            if spec_of(c).get("project") == args.name
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
                session.out.write(
                    f"{BY_KIND['Component'].ref(name)} deleted in namespace {namespace}\n"
                )
    if not kube.delete(kind, args.name, namespace):
        raise CliError(f"{kind.ref(args.name)} not found in namespace {namespace}")
    session.out.write(f"{kind.ref(args.name)} deleted in namespace {namespace}\n")
    return 0
