"""`cdp buildpacks`: the seed's table of component type x buildpack -> required build
configurations (the same table the CRDs and the operator enforce)."""

from __future__ import annotations

import argparse

from ..models.buildconfigs import CONFIG_KEY_DESCRIPTIONS, REQUIRED_BUILD_CONFIGS
from . import spelling
from .manifests import InputError
from .options import FORMATTER
from .output import dump, table
from .session import Session


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bp = sub.add_parser(
        "buildpacks",
        help="the buildpacks of each component type and their required build configs",
        description="The seed's table: component type x buildpack -> required build "
        "configurations (the same table the CRDs and the operator enforce).",
        formatter_class=FORMATTER,
    )
    bp.add_argument("--type", "-t", help="only this component type")
    bp.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    bp.set_defaults(handler=cmd_buildpacks)


def cmd_buildpacks(args: argparse.Namespace, session: Session) -> int:
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
        session.out.write(dump(doc, args.output))
        return 0
    out = session.out
    lines = [["TYPE", "BUILDPACK", "SEED NAME", "REQUIRED BUILD CONFIGS"]]
    for t, b, keys in rows:
        lines.append([t.value, b.value, spelling.BUILDPACK_DISPLAY[b], ",".join(keys) or "-"])
    table(lines, out)
    out.write("\nbuild config keys:\n")
    used = {k for _, _, keys in rows for k in keys}
    for key, meaning in CONFIG_KEY_DESCRIPTIONS.items():
        if key in used:
            out.write(f"  {key:<22} {meaning}\n")
    return 0
