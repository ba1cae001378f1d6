"""Options several commands share, as argparse parent parsers (each prints as its own group)."""

from __future__ import annotations

import argparse

from .wait import WAIT_DEFAULT

#: Every command's help keeps its own line breaks (examples, tables).
FORMATTER = argparse.RawDescriptionHelpFormatter


def connection_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("cluster connection")
    g.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    g.add_argument("--context", help="kubeconfig context to use (default: the current one)")
    return p


def namespace_options(all_namespaces: bool = False) -> argparse.ArgumentParser:
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


def apply_options() -> argparse.ArgumentParser:
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
        f"(default {WAIT_DEFAULT:g}); exit 1 if it is Stalled or still in progress",
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
