"""Parsing the API server's JSON into the dicts the cache keeps, without
building what it would drop at once.

`json.loads` makes a Python object of every value of a list page, and most of
a page is what the cache throws away straight after: every object's
managedFields field sets (`slim`), and of a pod all but a few fields
(`pod_fields`). At a restart of a shared data plane of 10,000 Components the
lists are 450 MB of JSON, and building then dropping those values was most of
their cost (docs/benchmarks.md, finding 17).

A `Shape` is a msgspec decoder typed with what is kept: the ObjectMeta fields,
with managedFields entries cut to who wrote them and how, and the rest of an
object (spec, status) generic. msgspec skips a key the type does not name
while it parses, so the field sets are never made into objects. A kind whose
informer keeps less (pods) gives its own item type, a TypedDict, and the
decoded objects are plain dicts either way: nothing downstream changes.

What a typed decode cannot take (a value of another type than the API
documents) falls back to the generic decoder, so an odd object is kept whole,
never lost.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

import msgspec


class ManagedFieldsEntry(TypedDict, total=False):
    """Who wrote an object, and how; the field sets (`fieldsV1`) are skipped."""

    manager: str
    operation: str
    subresource: str


class ObjectMeta(TypedDict, total=False):
    """Every field of metav1.ObjectMeta, managedFields cut to its entries' writers."""

    name: str
    generateName: str
    namespace: str
    selfLink: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    deletionGracePeriodSeconds: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[Any]
    finalizers: list[str]
    managedFields: list[ManagedFieldsEntry]


class SpecStatusObject(TypedDict, total=False):
    """An object whose content is its spec and status: every kind the operator
    watches (custom resources, workloads, Services, policies, namespaces). Any
    other top-level field is skipped: do not use it for ConfigMaps or Secrets."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: Any
    status: Any


_ListMeta = TypedDict(
    "_ListMeta", {"resourceVersion": str, "continue": str, "remainingItemCount": int}, total=False
)

_generic = msgspec.json.Decoder()
#: TypedDict made at run time, around the item type a Shape is given.
_typed_dict = cast(Any, TypedDict)


class Shape:
    """Decoders of a kind's list pages and watch events, typed with `item`."""

    def __init__(self, item: Any = Any) -> None:
        page = _typed_dict("Page", {"metadata": _ListMeta, "items": list[item]}, total=False)
        event = _typed_dict("Event", {"type": str, "object": item}, total=False)
        self._page = msgspec.json.Decoder(page)
        self._event = msgspec.json.Decoder(event)

    def page(self, data: bytes) -> dict[str, Any]:
        """A list page: {"metadata": {...}, "items": [...]}."""
        try:
            page: dict[str, Any] = self._page.decode(data)
        except msgspec.ValidationError:
            page = _generic.decode(data)
        return page

    def event(self, line: bytes) -> dict[str, Any]:
        """A watch event: {"type": ..., "object": {...}}. An ERROR event's object
        is a Status, not an item: it is decoded whole."""
        try:
            event: dict[str, Any] = self._event.decode(line)
        except msgspec.ValidationError:
            return _as_dict(_generic.decode(line))
        if event.get("type") == "ERROR":
            return _as_dict(_generic.decode(line))
        return event


#: Every object whole (the runtime's default: it knows no kind).
WHOLE = Shape()
#: Objects of spec and status, without the managedFields field sets.
SPEC_STATUS = Shape(SpecStatusObject)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def decode_object(data: bytes) -> Any:
    """One JSON value, whole (a request's answer): its keys shared like those
    of the informers' objects (msgspec's key cache)."""
    return _generic.decode(data)
