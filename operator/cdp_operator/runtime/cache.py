"""An in-memory view of the cluster, fed by watch events and by our own writes.

Reconciles read only from here, so a reconcile of converged objects costs no
API requests at all. Objects are indexed by kind and, for what the operator
created, by the organization and component labels they carry.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from ..models import labels as L

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (kind, namespace or "", name)

_intern = sys.intern
_INTERN_MAX = 64

#: kubectl apply's copy of the whole object: never read, as large as the spec.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

#: The operator's field manager, for server-side apply and for creates.
FIELD_MANAGER = "cdp-operator"

#: What a cached object keeps of metadata.managedFields when the operator's
#: fields are still owned by the create that made it (an "Update" entry), not
#: yet by its server-side apply: the one fact the reconciler reads from them
#: (Client.adopt_fields moves them before the first apply). Shared by every
#: such object, and a tuple, so that compact() leaves it as it is.
CREATED_NOT_APPLIED: tuple[dict[str, str], ...] = (
    {"manager": FIELD_MANAGER, "operation": "Update"},
)


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (str(obj["kind"]), meta.get("namespace") or "", meta["name"])


def _resource_version(obj: Obj) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


def compact(value: Any) -> Any:
    """The same JSON value with every key and every short string interned.

    json.loads makes new strings for every object, and a cached Deployment is
    mostly repeated keys and values (field names, label keys, names, "True"):
    sharing them halves its memory (13.4 -> 6.3 KiB in tests/unit). Run where
    objects are parsed, off the event loop: the informers' and the client's
    threads.
    """
    if isinstance(value, dict):
        return {_intern(k): compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, str) and len(value) <= _INTERN_MAX:
        return _intern(value)
    return value


def is_our_entry(entry: Any, operation: str) -> bool:
    """A managedFields entry of ours for the object itself (not a subresource),
    written by that operation: "Update" (a create or update) or "Apply"."""
    return (
        isinstance(entry, dict)
        and entry.get("manager") == FIELD_MANAGER
        and entry.get("operation") == operation
        and not entry.get("subresource")
    )


def created_not_applied(obj: Obj) -> bool:
    """True when fields of ours on obj are owned by our create, not our apply
    (full or slimmed object)."""
    fields = (obj.get("metadata") or {}).get("managedFields") or ()
    return any(is_our_entry(e, "Update") for e in fields)


def slim(obj: Obj) -> Obj:
    """obj without metadata.managedFields and kubectl's last-applied annotation
    (a shallow copy when there is something to drop; obj is not changed).

    Of managedFields only CREATED_NOT_APPLIED stays, where it applies.
    """
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    annotations = meta.get("annotations") or {}
    fields = meta.get("managedFields")
    if (fields is None or fields is CREATED_NOT_APPLIED) and LAST_APPLIED not in annotations:
        return obj
    trimmed = {k: v for k, v in meta.items() if k != "managedFields"}
    if fields and created_not_applied(obj):
        trimmed["managedFields"] = CREATED_NOT_APPLIED
    if LAST_APPLIED in annotations:
        trimmed["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**obj, "metadata": trimmed}


class Cache:
    def __init__(self) -> None:
        self._by_kind: dict[str, dict[Key, Obj]] = defaultdict(dict)
        # (organization, component or "") -> keys of managed objects labelled so
        self._by_owner: dict[tuple[str, str], set[Key]] = defaultdict(set)

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        return self._by_kind[kind].get((kind, namespace or "", name))

    def all(self, kind: str) -> Iterator[Obj]:
        return iter(list(self._by_kind[kind].values()))

    def in_namespace(self, kind: str, namespace: str) -> list[Obj]:
        return [o for k, o in self._by_kind[kind].items() if k[1] == namespace]

    def owned_by(self, organization: str, component: str | None = None) -> list[Obj]:
        """Managed objects labelled with this organization (and component, when given)."""
        keys = self._by_owner.get((organization, component or ""), set())
        return [o for k in list(keys) if (o := self._by_kind[k[0]].get(k)) is not None]

    def count_managed(self, kind: str) -> int:
        # Called from the metrics server's thread while the event loop changes the
        # cache: iterate over a snapshot (list() of a dict view does not release the GIL).
        objects = list(self._by_kind.get(kind, {}).values())
        return sum(
            1
            for o in objects
            if (o["metadata"].get("labels") or {}).get(L.MANAGED_BY) == L.MANAGED_BY_VALUE
        )

    def upsert(self, obj: Obj) -> bool:
        """Store obj unless we already hold this version or a newer one. True when stored.

        Stored slim(): without metadata.managedFields (but for the one fact
        the reconciler reads) and kubectl's last-applied annotation, which are
        often the largest part of an object (a shallow copy; obj is not changed).
        """
        key = key_of(obj)
        current = self._by_kind[key[0]].get(key)
        if current is not None and _resource_version(current) >= _resource_version(obj) > 0:
            return False
        obj = slim(obj)
        if current is not None:
            self._unindex(key, current)
        self._by_kind[key[0]][key] = obj
        self._index(key, obj)
        return True

    def missing_from(self, kind: str, listed: set[Key], resource_version: str) -> list[Obj]:
        """Cached objects of `kind` absent from a complete list taken at
        `resource_version`: deleted meanwhile. What we stored from a write
        answered after the list was taken is not among them."""
        at = _resource_version({"metadata": {"resourceVersion": resource_version}})
        return [
            obj
            for key, obj in list(self._by_kind[kind].items())
            if key not in listed and (at == 0 or _resource_version(obj) <= at)
        ]

    def remove(self, obj: Obj) -> None:
        key = key_of(obj)
        current = self._by_kind[key[0]].pop(key, None)
        if current is not None:
            self._unindex(key, current)

    def _owner_keys(self, obj: Obj) -> list[tuple[str, str]]:
        labels = obj["metadata"].get("labels") or {}
        if labels.get(L.MANAGED_BY) != L.MANAGED_BY_VALUE or L.ORGANIZATION not in labels:
            return []
        org = labels[L.ORGANIZATION]
        keys = [(org, "")]
        if L.COMPONENT in labels:
            keys.append((org, labels[L.COMPONENT]))
        return keys

    def _index(self, key: Key, obj: Obj) -> None:
        for owner in self._owner_keys(obj):
            self._by_owner[owner].add(key)

    def _unindex(self, key: Key, obj: Obj) -> None:
        for owner in self._owner_keys(obj):
            bucket = self._by_owner.get(owner)
            if bucket is not None:
                bucket.discard(key)
                if not bucket:
                    del self._by_owner[owner]
