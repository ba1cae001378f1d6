"""Identities for tests: a ServiceAccount's token and a kubeconfig that uses it.

One operator instance (or Flux controller) per identity makes every write in the
audit log attributable to it by user name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def kubeconfig_entries(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``cluster`` and ``user`` entries of a kubeconfig's current context."""
    cfg = yaml.safe_load(Path(path).read_text())
    current = cfg.get("current-context") or cfg["contexts"][0]["name"]
    context = next(c["context"] for c in cfg["contexts"] if c["name"] == current)
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == context["cluster"])
    users = [u["user"] for u in cfg.get("users") or [] if u["name"] == context.get("user")]
    return dict(cluster), dict(users[0] if users and users[0] else {})


def service_account_token(cluster: Any, namespace: str, name: str, seconds: int = 3600) -> str:
    """A token for the ServiceAccount from the TokenRequest API (what the kubelet mounts)."""
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
    )
    response = client.CoreV1Api(cluster.api_client).create_namespaced_service_account_token(
        name, namespace, request
    )
    assert response.status is not None and response.status.token, "TokenRequest gave no token"
    return str(response.status.token)


def token_kubeconfig(cluster: Any, token: str, path: str | Path, user: str = "token") -> Path:
    """A kubeconfig with the admin kubeconfig's server and CA, authenticating with ``token``
    (for kubectl, the operator or a controller). Written owner-only."""
    server, _ = kubeconfig_entries(cluster.kubeconfig)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": server}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "test", "user": user}}],
        "current-context": user,
    }
    path = Path(path)
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def token_api_client(cluster: Any, token: str, user_agent: str | None = None) -> Any:
    """A kubernetes ApiClient like the admin one, authenticating with a bearer token only."""
    from kubernetes import client

    base = cluster.api_client.configuration
    cfg = client.Configuration()
    cfg.host = base.host
    cfg.ssl_ca_cert = base.ssl_ca_cert
    cfg.verify_ssl = base.verify_ssl
    cfg.api_key = {"authorization": token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    api = client.ApiClient(cfg)
    if user_agent:
        api.user_agent = user_agent
    return api
