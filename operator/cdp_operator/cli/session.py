"""What a command runs with: its output streams, the cluster connection and the clock.

`main` builds one `Session` per invocation from its module-level seams (the kube
factory, the clock, sleep and the run-token source), which tests replace; the
commands take everything from the session, so none of them reads a global.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from ..models.naming import organization_namespace_name
from .kube import Kube
from .manifests import InputError

#: Builds the API client; tests replace it with an in-memory one.
KubeFactory = Callable[[argparse.Namespace], Kube]


@dataclass(frozen=True)
class Session:
    out: TextIO
    err: TextIO
    kube_factory: KubeFactory
    #: The time tables show ages against.
    now: Callable[[], datetime]
    #: How `--apply` waits.
    sleep: Callable[[float], None]
    monotonic: Callable[[], float]
    #: A fresh token for `cdp run`.
    new_run_token: Callable[[], str]

    def kube(self, args: argparse.Namespace) -> Kube:
        return self.kube_factory(args)


#: A command: the parsed arguments and the session in, the exit code out.
Handler = Callable[[argparse.Namespace, Session], int]


def flag_namespace(args: argparse.Namespace) -> str | None:
    if getattr(args, "namespace", None):
        return str(args.namespace)
    if getattr(args, "organization", None):
        return organization_namespace_name(args.organization)
    return None


def required_namespace(args: argparse.Namespace, kube: Kube) -> str:
    namespace = flag_namespace(args) or kube.context_namespace()
    if not namespace:
        raise InputError(
            "no namespace: pass --organization ORG (or -n NAMESPACE), "
            "or set a namespace on the kubeconfig context"
        )
    return namespace
