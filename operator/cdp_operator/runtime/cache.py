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

import pickle
import sys
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

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
    """value with every short string in it interned, in place: its dicts and
    lists are changed, so pass only what was just parsed (and nothing else holds).

    A parser makes new strings for every object, and a cached Deployment is
    mostly repeated keys and values (field names, label keys, names, "True"):
    sharing them halves its memory (13.4 -> 6.3 KiB in tests/unit). The keys
    are shared by the parser already (msgspec's key cache, runtime/decode.py),
    so only the values are replaced, which needs no new dict or list: a third
    of the time of building interned copies. Run where objects are parsed, off
    the event loop: the informers' and the client's threads.
    """
    t = type(value)
    if t is dict:
        _compact_dict(value)
    elif t is list:
        _compact_list(value)
    elif t is str and len(value) <= _INTERN_MAX:
        return _intern(value)
    return value


def _compact_dict(value: dict[str, Any]) -> None:
    for k, v in value.items():
        t = type(v)
        if t is str:
            if len(v) <= _INTERN_MAX:
                value[k] = _intern(v)  # a value replaced: the dict does not change size
        elif t is dict:
            _compact_dict(v)
        elif t is list:
            _compact_list(v)


def _compact_list(value: list[Any]) -> None:
    for i, v in enumerate(value):
        t = type(v)
        if t is str:
            if len(v) <= _INTERN_MAX:
                value[i] = _intern(v)
        elif t is dict:
            _compact_dict(v)
        elif t is list:
            _compact_list(v)


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


class Packed(NamedTuple):
    """A cached object of a packed kind: its pickle, and what the cache itself
    reads of it without unpacking (its version, index keys, and whether it counts)."""

    version: int
    keys: tuple[Hashable, ...]
    counted: bool
    blob: bytes


def _pack(obj: Obj, version: int, keys: tuple[Hashable, ...], counted: bool) -> Packed:
    return Packed(version, keys, counted, pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


def _unpack(entry: Obj | Packed) -> Obj:
    if isinstance(entry, Packed):
        obj: Obj = pickle.loads(entry.blob)
        return obj
    return entry


def _version(entry: Obj | Packed) -> int:
    return entry.version if isinstance(entry, Packed) else resource_version(entry)


class Cache:
    def __init__(
        self,
        index: Callable[[Obj], Iterable[Hashable]] | None = None,
        *,
        counted: Callable[[Obj], bool] | None = None,
        packed: Iterable[str] = (),
    ) -> None:
        """`index`: the keys an object is found under by indexed() (none by default).

        `counted`: the objects counted per kind by counted_total() (kept as they
        are stored and removed: a metrics scrape reads it without a pass over
        every object).

        `packed`: kinds kept pickled (a third of the memory of the parsed object,
        e.g. 2.2 against 7.3 KiB for a Deployment) and unpacked on every read, so
        each read returns a fresh copy: for the many objects that are read only
        by the reconcile of their owner (a shared data plane's 100,000 children).
        """
        self._packed = frozenset(packed)
        self._counts = counted or (lambda _obj: False)
        self._counted: dict[str, int] = defaultdict(int)
        self._by_kind: dict[str, dict[Key, Obj | Packed]] = defaultdict(dict)
        #: (kind, namespace) -> its keys, in the order of _by_kind (a dict as an
        #: ordered set): in_namespace() reads one namespace, not every object of
        #: the kind (10,000 Components in 500 namespaces).
        self._by_namespace: dict[tuple[str, str], dict[Key, None]] = defaultdict(dict)
        self._index_of = index or (lambda _obj: ())
        self._by_index: dict[Hashable, set[Key]] = defaultdict(set)
        self._removed: OrderedDict[Key, int] = OrderedDict()

    def get(
        self, kind: str, namespace: str | None, name: str, known: Mapping[Key, Obj] | None = None
    ) -> Obj | None:
        """The cached object. `known`: objects read earlier (by key); one of them is
        returned instead of unpacking the entry again while the cache still holds
        it at the same version (a reconcile reads its children once, then looks
        each up again to compare and to report)."""
        key = (kind, namespace or "", name)
        entry = self._by_kind[kind].get(key)
        if entry is None:
            return None
        if known is not None and (earlier := known.get(key)) is not None:
            version = _version(entry)
            if version > 0 and resource_version(earlier) == version:
                return earlier
        return _unpack(entry)

    def all(self, kind: str) -> Iterator[Obj]:
        return iter([_unpack(e) for e in list(self._by_kind[kind].values())])

    def in_namespace(self, kind: str, namespace: str) -> list[Obj]:
        objects = self._by_kind[kind]
        return [_unpack(objects[k]) for k in self._by_namespace.get((kind, namespace), ())]

    def indexed(self, value: Hashable, kinds: Iterable[str] | None = None) -> list[Obj]:
        """The objects that `index` files under `value` (of these kinds only, when
        given: others are not even unpacked)."""
        keys = list(self._by_index.get(value, ()))
        if kinds is not None:
            wanted = frozenset(kinds)
            keys = [k for k in keys if k[0] in wanted]
        return [_unpack(e) for k in keys if (e := self._by_kind[k[0]].get(k)) is not None]

    def counted_total(self, kind: str) -> int:
        """How many cached objects of `kind` the `counted` predicate holds for."""
        return self._counted.get(kind, 0)

    def _is_counted(self, entry: Obj | Packed) -> bool:
        return entry.counted if isinstance(entry, Packed) else self._counts(entry)

    def count(self, kind: str, predicate: Callable[[Obj], bool]) -> int:
        # Called from the metrics server's thread while the event loop changes the
        # cache: iterate over a snapshot (list() of a dict view does not release the GIL).
        entries = list(self._by_kind.get(kind, {}).values())
        return sum(1 for e in entries if predicate(_unpack(e)))

    def upsert(self, obj: Obj) -> bool:
        """Store obj unless we already hold this version or a newer one. True when stored.

        Stored slim(): without the field sets of metadata.managedFields and
        kubectl's last-applied annotation, which are often the largest part of
        an object (a shallow copy; obj is not changed).
        """
        key = key_of(obj)
        current = self._by_kind[key[0]].get(key)
        version = resource_version(obj)
        if current is not None and _version(current) >= version > 0:
            return False
        if current is None and 0 < version <= self._removed.get(key, 0):
            return False  # deleted at that version or later: not news, a ghost
        self._removed.pop(key, None)
        obj = slim(obj)
        if current is not None:
            self._unindex(key, current)
            self._counted[key[0]] -= self._is_counted(current)
        else:
            self._by_namespace[key[0], key[1]][key] = None
        index, counted = tuple(self._index_of(obj)), self._counts(obj)
        entry = _pack(obj, version, index, counted) if key[0] in self._packed else obj
        self._counted[key[0]] += counted
        self._by_kind[key[0]][key] = entry
        for value in index:
            self._by_index[value].add(key)
        return True

    def missing_from(self, kind: str, listed: set[Key], version: str) -> list[Obj]:
        """Cached objects of `kind` absent from a complete list taken at
        `version`: deleted meanwhile. What we stored from a write
        answered after the list was taken is not among them."""
        at = resource_version({"metadata": {"resourceVersion": version}})
        return [
            _unpack(entry)
            for key, entry in list(self._by_kind[kind].items())
            if key not in listed and (at == 0 or _version(entry) <= at)
        ]

    def remove(self, obj: Obj) -> None:
        """Forget obj; what is stored later must be newer than obj's version."""
        key = key_of(obj)
        current = self._by_kind[key[0]].pop(key, None)
        if current is not None:
            self._unindex(key, current)
            self._counted[key[0]] -= self._is_counted(current)
            keys = self._by_namespace[key[0], key[1]]
            del keys[key]
            if not keys:
                del self._by_namespace[key[0], key[1]]
        version = max(resource_version(obj), 0 if current is None else _version(current))
        if version > 0:
            self._removed[key] = max(version, self._removed.pop(key, 0))
            if len(self._removed) > TOMBSTONES_MAX:
                self._removed.popitem(last=False)

    def _unindex(self, key: Key, entry: Obj | Packed) -> None:
        keys = entry.keys if isinstance(entry, Packed) else self._index_of(entry)
        for value in keys:
            bucket = self._by_index.get(value)
            if bucket is not None:
                bucket.discard(key)
                if not bucket:
                    del self._by_index[value]
