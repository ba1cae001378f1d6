"""Small helpers shared by the end-to-end tests (import as ``from kube import ...``).

Every wait is bounded and raises with a message naming what it waited for; none
of them asserts on speed.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class WaitTimeout(AssertionError):
    """A bounded wait ran out. An AssertionError, so pytest shows it as a test failure."""


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 60.0,
    interval: float = 0.5,
    message: str = "condition",
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Exceptions raised by the predicate count as "not yet" (the last one is shown
    when the wait runs out), so a predicate may simply index into an object that
    does not exist yet.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_error = None
        except Exception as exc:  # reported when the wait runs out
            last_error = exc
        if time.monotonic() >= deadline:
            detail = (
                f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            )
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {message}{detail}")
        time.sleep(interval)


def apply_yaml(
    cluster: Any,
    text: str,
    namespace: str | None = None,
    server_side: bool = True,
    field_manager: str = "e2e-tests",
) -> subprocess.CompletedProcess[str]:
    """``kubectl apply`` the YAML text (one or more documents) on the test cluster."""
    args = ["apply", "-f", "-"]
    if server_side:
        args += ["--server-side", f"--field-manager={field_manager}", "--force-conflicts"]
    if namespace:
        args += ["-n", namespace]
    result: subprocess.CompletedProcess[str] = cluster.kubectl(*args, input=text)
    return result


def get_json(cluster: Any, *args: str) -> Any:
    """``kubectl get ARGS -o json``, parsed; None when the object does not exist."""
    result = cluster.kubectl("get", *args, "-o", "json", check=False)
    if result.returncode != 0:
        if "NotFound" in result.stderr or "not found" in result.stderr:
            return None
        raise AssertionError(f"kubectl get {' '.join(args)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    """The condition of the given type in ``obj.status.conditions``, if any."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def has_condition(obj: dict[str, Any] | None, ctype: str, status: str = "True") -> bool:
    cond = condition(obj, ctype)
    return cond is not None and cond.get("status") == status


# --------------------------------------------------------------------------- audit log


@dataclass(frozen=True)
class AuditEvent:
    """The fields of one audit event that tests look at (``raw`` has the rest)."""

    verb: str
    username: str
    user_agent: str
    resource: str
    subresource: str
    namespace: str
    name: str
    api_group: str
    code: int
    timestamp: datetime.datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS


def _parse_time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_audit_event(raw: dict[str, Any]) -> AuditEvent:
    ref = raw.get("objectRef") or {}
    return AuditEvent(
        verb=str(raw.get("verb", "")),
        username=str((raw.get("user") or {}).get("username", "")),
        user_agent=str(raw.get("userAgent", "")),
        resource=str(ref.get("resource", "")),
        subresource=str(ref.get("subresource", "")),
        namespace=str(ref.get("namespace", "")),
        name=str(ref.get("name", "")),
        api_group=str(ref.get("apiGroup", "")),
        code=int((raw.get("responseStatus") or {}).get("code", 0)),
        timestamp=_parse_time(raw.get("requestReceivedTimestamp")),
        raw=raw,
    )


def audit_offset(path: str | Path) -> int:
    """The audit log's current end: pass it as ``offset`` to read only what follows."""
    try:
        return Path(path).stat().st_size
    except FileNotFoundError:
        return 0


def read_audit_events(
    path: str | Path,
    user_agent_prefix: str | None = None,
    since: datetime.datetime | None = None,
    verbs: Iterable[str] | None = None,
    offset: int = 0,
) -> list[AuditEvent]:
    """Parse the JSON-lines audit log (the local control plane logs writes only).

    ``since`` keeps events received at or after that time (timezone-aware, or
    naive meaning UTC); ``user_agent_prefix`` keeps one client's requests;
    ``offset`` (from ``audit_offset``) skips what was logged before it. Lines
    that are not complete JSON (a line being written) are skipped.
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=datetime.UTC)
    wanted = set(verbs) if verbs is not None else None
    events: list[AuditEvent] = []
    with open(path, "rb") as fh:
        fh.seek(offset)
        for raw_line in fh:
            line = raw_line.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            if raw.get("stage", "ResponseComplete") != "ResponseComplete":
                continue
            event = parse_audit_event(raw)
            if user_agent_prefix is not None and not event.user_agent.startswith(user_agent_prefix):
                continue
            if wanted is not None and event.verb not in wanted:
                continue
            if since is not None and (event.timestamp is None or event.timestamp < since):
                continue
            events.append(event)
    return events


def utcnow() -> datetime.datetime:
    """A timezone-aware 'now' to pass as ``since`` to read_audit_events."""
    return datetime.datetime.now(datetime.UTC)


# --------------------------------------------------------------------------- identities


def token_api_client(cluster: Any, token: str, user_agent: str | None = None) -> Any:
    """A kubernetes ApiClient that authenticates with a bearer token only."""
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


def service_account_token(
    cluster: Any, namespace: str, name: str, expiration_seconds: int = 3600
) -> str:
    """A token for the ServiceAccount from the TokenRequest API."""
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration_seconds)
    )
    response = client.CoreV1Api(cluster.api_client).create_namespaced_service_account_token(
        name, namespace, request
    )
    assert response.status is not None and response.status.token, "TokenRequest gave no token"
    return str(response.status.token)


def token_kubeconfig(cluster: Any, token: str, path: str | Path, user: str = "token") -> Path:
    """Write a kubeconfig that authenticates with ``token`` (for kubectl or the operator)."""
    import base64

    base = cluster.api_client.configuration
    cluster_entry: dict[str, Any] = {"server": base.host}
    if base.ssl_ca_cert:
        ca = Path(base.ssl_ca_cert).read_bytes()
        cluster_entry["certificate-authority-data"] = base64.b64encode(ca).decode()
    elif not base.verify_ssl:
        cluster_entry["insecure-skip-tls-verify"] = True
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster_entry}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "test", "user": user}}],
        "current-context": user,
    }
    path = Path(path)
    path.write_text(json.dumps(cfg, indent=2))
    path.chmod(0o600)
    return path
