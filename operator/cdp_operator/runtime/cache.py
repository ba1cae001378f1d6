"""An in-memory view of the cluster, fed by watch events and by our own writes.

Reconciles read only from here, so a reconcile of converged objects costs no
API requests at all. Objects are kept per kind and, through the `index`
function the controller passes in, under any keys it derives from them (the
operator's: the organization and component labels; see apply/binding.py).

Versions only move forward: an object is replaced only by a newer
resourceVersion, so a late watch event never undoes what a write answered,
and an object removed at some version is not brought back by an answer of
an older one (a write answered just before somebody deleted the object).
"""

from __future__ import annotations

import sys
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

from .objects import Key, Obj, key_of, resource_version

_intern = sys.intern
_INTERN_MAX = 64

#: kubectl apply's copy of the whole object: never read, as large as the spec.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

#: Distinct managedFields summaries shared between objects (see slim()); a
#: handful in practice, bounded so that a cluster of odd managers cannot grow it.
_SUMMARIES: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], ...]] = {}
_SUMMARIES_MAX = 256

#: Deletions remembered (key -> the version it was removed at), oldest
#: forgotten first: enough for the answers still in flight when one is seen.
TOMBSTONES_MAX = 4096


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


def is_entry(entry: Any, manager: str, operation: str) -> bool:
    """A managedFields entry of `manager` for the object itself (not a
    subresource), written by that operation: "Update" (a create or update) or "Apply"."""
    return (
        isinstance(entry, dict)
        and entry.get("manager") == manager
        and entry.get("operation") == operation
        and not entry.get("subresource")
    )


def created_not_applied(obj: Obj, manager: str) -> bool:
    """True when fields of `manager` on obj are owned by its create (an
    "Update" entry), not yet by its server-side apply (full or slimmed object)."""
    fields = (obj.get("metadata") or {}).get("managedFields") or ()
    return any(is_entry(e, manager, "Update") for e in fields)


def _summary(fields: Any) -> tuple[dict[str, str], ...]:
    """Who wrote the object itself, and how: one {manager, operation} per
    managedFields entry that is not a subresource's, without the field sets.
    Equal summaries are one shared tuple (compact() leaves tuples alone)."""
    pairs: list[tuple[str, str]] = []
    for entry in fields if isinstance(fields, list) else ():
        if isinstance(entry, dict) and not entry.get("subresource"):
            pair = (str(entry.get("manager") or ""), str(entry.get("operation") or ""))
            if pair not in pairs:
                pairs.append(pair)
    key = tuple(pairs)
    shared = _SUMMARIES.get(key)
    if shared is None:
        shared = tuple({"manager": _intern(m), "operation": _intern(op)} for m, op in key)
        if len(_SUMMARIES) < _SUMMARIES_MAX:
            _SUMMARIES[key] = shared
    return shared


def slim(obj: Obj) -> Obj:
    """obj without kubectl's last-applied annotation, and with metadata.managedFields
    cut to who wrote the object and how (a shallow copy when there is
    something to drop; obj is not changed).

    The field sets are often the largest part of an object and are never read;
    what a controller reads of them (created_not_applied) stays.
    """
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    annotations = meta.get("annotations") or {}
    fields = meta.get("managedFields")
    if (fields is None or isinstance(fields, tuple)) and LAST_APPLIED not in annotations:
        return obj
    trimmed = {k: v for k, v in meta.items() if k != "managedFields"}
    summary = fields if isinstance(fields, tuple) else _summary(fields)
    if summary:
        trimmed["managedFields"] = summary
    if LAST_APPLIED in annotations:
        trimmed["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**obj, "metadata": trimmed}


class Cache:
    def __init__(self, index: Callable[[Obj], Iterable[Hashable]] | None = None) -> None:
        """`index`: the keys an object is found under by indexed() (none by default)."""
        self._by_kind: dict[str, dict[Key, Obj]] = defaultdict(dict)
        #: (kind, namespace) -> its keys, in the order of _by_kind (a dict as an
        #: ordered set): in_namespace() reads one namespace, not every object of
        #: the kind (10,000 Components in 500 namespaces).
        self._by_namespace: dict[tuple[str, str], dict[Key, None]] = defaultdict(dict)
        self._index_of = index or (lambda _obj: ())
        self._by_index: dict[Hashable, set[Key]] = defaultdict(set)
        self._removed: OrderedDict[Key, int] = OrderedDict()

    def get(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        return self._by_kind[kind].get((kind, namespace or "", name))

    def all(self, kind: str) -> Iterator[Obj]:
        return iter(list(self._by_kind[kind].values()))

    def in_namespace(self, kind: str, namespace: str) -> list[Obj]:
        objects = self._by_kind[kind]
        return [objects[k] for k in self._by_namespace.get((kind, namespace), ())]

    def indexed(self, value: Hashable) -> list[Obj]:
        """The objects that `index` files under `value`."""
        keys = self._by_index.get(value, set())
        return [o for k in list(keys) if (o := self._by_kind[k[0]].get(k)) is not None]

    def count(self, kind: str, predicate: Callable[[Obj], bool]) -> int:
        # Called from the metrics server's thread while the event loop changes the
        # cache: iterate over a snapshot (list() of a dict view does not release the GIL).
        objects = list(self._by_kind.get(kind, {}).values())
        return sum(1 for o in objects if predicate(o))

    def upsert(self, obj: Obj) -> bool:
        """Store obj unless we already hold this version or a newer one. True when stored.

        Stored slim(): without the field sets of metadata.managedFields and
        kubectl's last-applied annotation, which are often the largest part of
        an object (a shallow copy; obj is not changed).
        """
        key = key_of(obj)
        current = self._by_kind[key[0]].get(key)
        version = resource_version(obj)
        if current is not None and resource_version(current) >= version > 0:
            return False
        if current is None and 0 < version <= self._removed.get(key, 0):
            return False  # deleted at that version or later: not news, a ghost
        self._removed.pop(key, None)
        obj = slim(obj)
        if current is not None:
            self._unindex(key, current)
        else:
            self._by_namespace[key[0], key[1]][key] = None
        self._by_kind[key[0]][key] = obj
        self._index(key, obj)
        return True

    def missing_from(self, kind: str, listed: set[Key], version: str) -> list[Obj]:
        """Cached objects of `kind` absent from a complete list taken at
        `version`: deleted meanwhile. What we stored from a write
        answered after the list was taken is not among them."""
        at = resource_version({"metadata": {"resourceVersion": version}})
        return [
            obj
            for key, obj in list(self._by_kind[kind].items())
            if key not in listed and (at == 0 or resource_version(obj) <= at)
        ]

    def remove(self, obj: Obj) -> None:
        """Forget obj; what is stored later must be newer than obj's version."""
        key = key_of(obj)
        current = self._by_kind[key[0]].pop(key, None)
        if current is not None:
            self._unindex(key, current)
            keys = self._by_namespace[key[0], key[1]]
            del keys[key]
            if not keys:
                del self._by_namespace[key[0], key[1]]
        version = max(resource_version(obj), resource_version(current or obj))
        if version > 0:
            self._removed[key] = max(version, self._removed.pop(key, 0))
            if len(self._removed) > TOMBSTONES_MAX:
                self._removed.popitem(last=False)

    def _index(self, key: Key, obj: Obj) -> None:
        for value in self._index_of(obj):
            self._by_index[value].add(key)

    def _unindex(self, key: Key, obj: Obj) -> None:
        for value in self._index_of(obj):
            bucket = self._by_index.get(value)
            if bucket is not None:
                bucket.discard(key)
                if not bucket:
                    del self._by_index[value]
