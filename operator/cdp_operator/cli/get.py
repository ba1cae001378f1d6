"""`cdp get`: list platform resources with their Ready condition and kstatus status."""

from __future__ import annotations

import argparse
from typing import Any

from .kube import KINDS, KindInfo, Kube, resolve_kind
from .manifests import CliError, InputError
from .options import FORMATTER, connection_options, namespace_options
from .output import dump, print_table, sort_key, strip_managed_fields
from .session import Session, flag_namespace


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kinds = "|".join(k.plural for k in KINDS)
    get = sub.add_parser(
        "get",
        parents=[namespace_options(all_namespaces=True), connection_options()],
        help="list resources with their Ready condition",
        description="List platform resources: name, key fields, the Ready condition and its "
        "reason, and the kstatus status (Current, InProgress, Failed). Without a namespace "
        "flag, namespaced kinds are listed in the kubeconfig context's namespace, or in all "
        "namespaces when the context has none.",
        epilog=f"resource types: {kinds} (also singular, or dp, org, env, proj, comp)",
        formatter_class=FORMATTER,
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
    get.set_defaults(handler=cmd_get)


def cmd_get(args: argparse.Namespace, session: Session) -> int:
    kinds = [resolve_kind(args.kind)] if args.kind else list(KINDS)
    if args.name and not args.kind:
        raise InputError("a NAME needs a resource type: cdp get components NAME")
    kube = session.kube(args)
    namespace = None if args.all_namespaces else (flag_namespace(args) or kube.context_namespace())
    results = [(kind, _fetch(args, kube, kind, namespace)) for kind in kinds]
    if args.output in ("yaml", "json"):
        objs = [strip_managed_fields(o) for _, items in results for o in items]
        doc: Any = objs[0] if args.name else {"apiVersion": "v1", "kind": "List", "items": objs}
        session.out.write(dump(doc, args.output))
    elif args.output == "name":
        for kind, items in results:
            for obj in items:
                session.out.write(kind.ref(obj["metadata"]["name"]) + "\n")
    else:
        _print_tables(args, results, namespace, session)
    return 0


def _fetch(
    args: argparse.Namespace, kube: Kube, kind: KindInfo, namespace: str | None
) -> list[dict[str, Any]]:
    """The one object NAME names (an error when it is not there), else the kind's objects."""
    if not args.name:
        return sorted(kube.list(kind, namespace if kind.namespaced else None), key=sort_key)
    if kind.namespaced and not namespace:
        raise InputError(f"{kind.plural} are namespaced: pass --organization ORG or -n NAMESPACE")
    obj = kube.get(kind, args.name, namespace)
    if obj is None:
        where = f" in namespace {namespace}" if kind.namespaced else ""
        raise CliError(f"{kind.ref(args.name)} not found{where}")
    return [obj]


def _print_tables(
    args: argparse.Namespace,
    results: list[tuple[KindInfo, list[dict[str, Any]]]],
    namespace: str | None,
    session: Session,
) -> None:
    out, err = session.out, session.err
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
        all_ns = kind.namespaced and namespace is None
        print_table(kind, items, all_ns, out, now=session.now(), wide=args.output == "wide")
        printed = True
    if not printed and not args.kind:
        err.write("No resources found.\n")
