"""The chart's identity in a test cluster: its RBAC, a ServiceAccount token, a kubeconfig.

Used to run the real operator exactly as the chart would (same ServiceAccount,
ClusterRole and binding), and to attribute every API write in the audit log to
one operator instance by its user name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .operator_harness import REPO
from .operator_harness import audit_events as harness_audit_events

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


def service_account_token(cluster: Any, namespace: str, name: str, seconds: int = 3600) -> str:
    """A token for the ServiceAccount from the TokenRequest API (what the kubelet mounts)."""
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client)
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
    )
    response = core.create_namespaced_service_account_token(name, namespace, request)
    token: str = response.status.token
    return token


def token_kubeconfig(cluster: Any, token: str, path: Path, user: str) -> Path:
    """A kubeconfig with the admin kubeconfig's server and CA, authenticating with token."""
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    current = admin.get("current-context") or admin["contexts"][0]["name"]
    context = next(c["context"] for c in admin["contexts"] if c["name"] == current)
    cluster_entry = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster_entry["cluster"]}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "test", "user": user}}],
        "current-context": user,
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def audit_events(
    audit_log: Path, *, since_line: int = 0, username: str | None = None
) -> Iterator[dict[str, Any]]:
    """Completed requests in the audit log after a line number, optionally by one user."""
    for ev in harness_audit_events(audit_log, since_line=since_line):
        if username is None or (ev.get("user") or {}).get("username") == username:
            yield ev


def describe(ev: dict[str, Any]) -> str:
    ref = ev.get("objectRef") or {}
    resource = ref.get("resource", "?") + (
        f"/{ref['subresource']}" if ref.get("subresource") else ""
    )
    where = f"{ref.get('namespace')}/" if ref.get("namespace") else ""
    code = (ev.get("responseStatus") or {}).get("code")
    return f"{ev.get('verb')} {resource} {where}{ref.get('name', '')} -> {code}"


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
