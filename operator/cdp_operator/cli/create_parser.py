"""The parsers of `cdp create` and of each `cdp create RESOURCE`: flags, help and examples."""

from __future__ import annotations

import argparse
from typing import Any

from ..models.buildconfigs import CONFIG_KEY_DESCRIPTIONS, ComponentType
from ..models.tiers import Tier
from . import manifests
from .create import cmd_create
from .options import FORMATTER, apply_options, connection_options, namespace_options

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
