"""Where a component answers: in-cluster addresses and public URLs (for status)."""

from __future__ import annotations

from typing import Any

from ..models.resources import ComponentSpec
from .context import Runtime
from .workloads import LONG_RUNNING, _public_http_endpoints, ingress_host


def endpoint_addresses(rt: Runtime, component: str, spec: ComponentSpec) -> list[dict[str, Any]]:
    """Each endpoint of a long-running component in `rt`: its Service address
    (`SERVICE.NAMESPACE.svc:PORT`, independent of the cluster's DNS domain) and,
    for public HTTP endpoints, the URL the DataPlane's ingress serves (no TLS is
    configured on the rendered Ingress, hence http)."""
    if spec.type not in LONG_RUNNING:
        return []
    public = {e.name for e in _public_http_endpoints(spec)}
    result = []
    for e in spec.endpoints:
        entry: dict[str, Any] = {
            "name": e.name,
            "port": e.port,
            "visibility": e.visibility.value,
            "address": f"{component}.{rt.namespace}.svc:{e.port}",
        }
        if e.name in public:
            entry["url"] = f"http://{ingress_host(rt, component)}{e.path}"
        result.append(entry)
    return result
