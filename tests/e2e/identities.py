"""The chart's identity in a test cluster: its RBAC (tokens and kubeconfigs: ``kit.identity``).

Used to run the real operator exactly as the chart would (same ServiceAccount,
ClusterRole and binding), and to attribute every API write in the audit log to
one operator instance by its user name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kit import service_account_token, token_kubeconfig

from .operator_harness import REPO, OperatorProcess

CHART = REPO / "charts" / "cdp-operator"
RBAC_TEMPLATES = (
    "templates/serviceaccount.yaml",
    "templates/clusterrole.yaml",
    "templates/clusterrolebinding.yaml",
)


def render_chart(
    cluster: Any,
    release: str,
    namespace: str,
    *helm_args: str,
    show_only: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """`helm template` of the chart, parsed (no cluster access)."""
    args = ["template", release, str(CHART), "--namespace", namespace, *helm_args]
    for template in show_only:
        args += ["--show-only", template]
    out = cluster.helm(*args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@dataclass
class ChartIdentity:
    """The chart's ServiceAccount and RBAC, applied to the cluster."""

    release: str
    namespace: str
    service_account: str
    cluster_role: str
    objects: list[dict[str, Any]]

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def kubeconfig(self, cluster: Any, path: Path) -> Path:
        """A kubeconfig at ``path`` with a fresh TokenRequest token of the ServiceAccount."""
        token = service_account_token(cluster, self.namespace, self.service_account)
        return token_kubeconfig(cluster, token, path, self.username)


def operator_as(
    cluster: Any, identity: ChartIdentity, workdir: Path, *extra_args: str, name: str = "operator"
) -> OperatorProcess:
    """The real operator as the chart runs it: as ``identity`` (not started yet).

    Its kubeconfig and log are ``<name>.kubeconfig`` and ``<name>.log`` in ``workdir``.
    """
    kubeconfig = identity.kubeconfig(cluster, workdir / f"{name}.kubeconfig")
    return OperatorProcess(str(kubeconfig), workdir / f"{name}.log", extra_args=list(extra_args))


def apply_chart_rbac(cluster: Any, release: str, namespace: str, *helm_args: str) -> ChartIdentity:
    """Render only the chart's ServiceAccount, ClusterRole and binding, and apply them."""
    objects = render_chart(cluster, release, namespace, *helm_args, show_only=RBAC_TEMPLATES)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(objects))
    by_kind = {o["kind"]: o for o in objects}
    return ChartIdentity(
        release=release,
        namespace=namespace,
        service_account=by_kind["ServiceAccount"]["metadata"]["name"],
        cluster_role=by_kind["ClusterRole"]["metadata"]["name"],
        objects=objects,
    )


def delete_chart_rbac(cluster: Any, identity: ChartIdentity) -> None:
    for obj in identity.objects:
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            cluster.kubectl(
                "delete", obj["kind"].lower(), obj["metadata"]["name"], "--ignore-not-found"
            )


@contextmanager
def chart_rbac(
    cluster: Any, release: str, namespace: str, *helm_args: str
) -> Iterator[ChartIdentity]:
    """The chart's RBAC applied for the block; its cluster-scoped objects deleted after."""
    identity = apply_chart_rbac(cluster, release, namespace, *helm_args)
    try:
        yield identity
    finally:
        delete_chart_rbac(cluster, identity)


def operator_args(docs: list[dict[str, Any]]) -> list[str]:
    """The operator container's args in a rendering of the chart (``render_chart``)."""
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])


@contextmanager
def operator_stopped(operator: Any) -> Iterator[None]:
    """Stop the session's admin operator (an OperatorProcess) meanwhile; restart it after.

    It serves every data plane as cluster admin: it would reconcile a test's objects
    too, and its writes would hide a missing permission or blur who wrote what.
    """
    operator.stop()
    try:
        yield
    finally:
        operator.start()
