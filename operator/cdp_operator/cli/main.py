"""`cdp`: create, list and run the platform's resources (also `kubectl cdp`).

Exit codes: 0 success; 1 the API server refused or could not be reached, or
what `--apply` applied is Stalled or got no verdict in time; 2 invalid input
(bad flags, a missing build configuration, an unsupported buildpack, a spec the
models reject, a project with components to delete without --cascade).

This module is the entry point: the top-level parser, and the seams tests
replace (the API client, the clock, sleep, the run token), which `main` hands to
the command in a `Session`. Each command group lives in a module of its own
(`create` with `create_parser`, `get`, `component_commands`, `delete`,
`buildpacks`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TextIO

from .. import __version__
from . import buildpacks, create_parser, delete, get
from .component_commands import (
    RUN_ENVIRONMENTS,
    add_run_parser,
    add_scale_parser,
    new_run_token,
)
from .kube import ApiKube, Kube
from .manifests import CliError
from .options import FORMATTER
from .session import KubeFactory, Session

__all__ = ["RUN_ENVIRONMENTS", "CliError", "build_parser", "main", "new_run_token"]


def _default_kube(args: argparse.Namespace) -> Kube:
    return ApiKube(kubeconfig=args.kubeconfig, context=args.context)


#: Builds the API client; tests replace it with an in-memory one.
kube_factory: KubeFactory = _default_kube


def _now() -> datetime:
    return datetime.now(UTC)


#: How `--apply` waits; tests replace them to not sleep.
_sleep: Callable[[float], None] = time.sleep
_monotonic: Callable[[], float] = time.monotonic

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


def build_parser(prog: str = "cdp") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Create, list and run the resources of the cdp.dev platform "
        "(Projects, Environments, Components) on the data-plane cluster.",
        epilog=_EPILOG_MAIN,
        formatter_class=FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    create_parser.add_parser(sub)
    get.add_parser(sub)
    add_run_parser(sub)
    add_scale_parser(sub)
    delete.add_parser(sub)
    buildpacks.add_parser(sub)
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
    # The seams are read now, not at import, so that a test's replacement counts.
    session = Session(
        out=out,
        err=err,
        kube_factory=kube_factory,
        now=_now,
        sleep=_sleep,
        monotonic=_monotonic,
        new_run_token=new_run_token,
    )
    try:
        code: int = args.handler(args, session)
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
