"""What the operator may prune: only what this instance made for this
organization, where it made it ("only a deletion deletes", domain.md).

Pure: the apply layer gives the candidates, what it still wants, and how to
look a namespace's labels up in its cache; it does the deletes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..models import labels as L
from ..runtime.objects import Obj, key_of

#: Managed kinds the org-level reconcile owns (everything else belongs to components).
ORG_LEVEL_KINDS = frozenset({"Namespace", "NetworkPolicy", "Environment"})

#: A namespace's labels by name (None when there is no such namespace).
NamespaceLabels = Callable[[str], Mapping[str, str] | None]


def owner_uids(obj: Obj) -> set[str]:
    refs = obj["metadata"].get("ownerReferences") or []
    return {str(r.get("uid")) for r in refs if r.get("uid")}


def controlling_org(obj: Obj) -> str | None:
    """Name of the Organization an object's controller reference points at, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "Organization" and ref.get("controller"):
            return str(ref.get("name"))
    return None


def served_by_another(obj: Obj, scope: frozenset[str] | None) -> bool:
    """Another instance serves the object's data plane (default Environments are
    shared by every instance, so they count as everybody's)."""
    dp = (obj["metadata"].get("labels") or {}).get(L.DATA_PLANE)
    return obj["kind"] != "Environment" and bool(dp) and scope is not None and dp not in scope


def is_org_level(obj: Obj, scope: frozenset[str] | None) -> bool:
    """Owned by the organization reconcile of this instance (not a component's)."""
    labels = obj["metadata"].get("labels") or {}
    return (
        obj["kind"] in ORG_LEVEL_KINDS
        and L.COMPONENT not in labels
        and not served_by_another(obj, scope)
    )


def may_prune(
    obj: Obj,
    *,
    org: str | None,
    owner_org: str | None,
    scope: frozenset[str] | None,
    namespace_labels: NamespaceLabels,
) -> bool:
    """Only what this instance made for this organization, where it made it.

    owner_org: the Organization being reconciled when the owner is one (None for
    a Component's objects).
    """
    # Labels can be edited; an owner reference to another Organization wins.
    if controlling_org(obj) not in (None, owner_org):
        return False
    if served_by_another(obj, scope):
        return False
    namespace = obj["metadata"].get("namespace")
    if namespace:
        # Namespaced objects only in namespaces we created for this organization:
        # labels on an object in somebody else's namespace prove nothing.
        ns_labels = namespace_labels(namespace) or {}
        if not (
            ns_labels.get(L.MANAGED_BY) == L.MANAGED_BY_VALUE
            and org is not None
            and ns_labels.get(L.ORGANIZATION) == org
        ):
            return False
    return True


def to_prune(
    candidates: Iterable[Obj],
    desired: Iterable[Obj],
    *,
    keep: Callable[[Obj], bool] | None,
    org: str | None,
    owner_org: str | None,
    scope: frozenset[str] | None,
    namespace_labels: NamespaceLabels,
) -> list[Obj]:
    """The managed candidates no longer desired that may go; what lives in a
    namespace that goes is left to go with it (one delete, not many)."""
    wanted = {key_of(o) for o in desired}
    doomed = [
        o
        for o in candidates
        if key_of(o) not in wanted
        and L.is_managed(o["metadata"])
        and not (keep and keep(o))
        and may_prune(
            o, org=org, owner_org=owner_org, scope=scope, namespace_labels=namespace_labels
        )
    ]
    doomed_ns = {o["metadata"]["name"] for o in doomed if o["kind"] == "Namespace"}
    return [o for o in doomed if o["metadata"].get("namespace") not in doomed_ns]


def namespace_owned_by(ns: Obj, org: str, org_uid: str) -> bool:
    """A namespace of this organization: labelled for it, or owned by this very
    Organization object (its uid) even if someone edited the labels (drift to
    repair, not a stranger's namespace)."""
    labels: Mapping[str, Any] = ns["metadata"].get("labels") or {}
    labelled = labels.get(L.MANAGED_BY) == L.MANAGED_BY_VALUE and labels.get(L.ORGANIZATION) == org
    return labelled or (bool(org_uid) and org_uid in owner_uids(ns))
