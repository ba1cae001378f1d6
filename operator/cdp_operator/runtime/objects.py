"""What the runtime handles: Kubernetes objects as plain JSON dicts, and their keys."""

from __future__ import annotations

from typing import Any

#: A Kubernetes object as the API server sends it (parsed JSON).
Obj = dict[str, Any]

#: (kind, namespace or "", name): one object of the cluster.
Key = tuple[str, str, str]


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (str(obj["kind"]), meta.get("namespace") or "", meta["name"])


def resource_version(obj: Obj) -> int:
    """metadata.resourceVersion as a number; 0 when absent or not a number.

    Kubernetes calls resourceVersions opaque, but etcd's are its revision
    numbers, and the cache needs an order: the same comparison client-go's
    watch cache makes. Anything that is not a number compares as unknown (0).
    """
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except (ValueError, TypeError):
        return 0
