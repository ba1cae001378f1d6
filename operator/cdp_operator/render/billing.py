"""Billing classes and limits as seen from stored objects. Pure."""

from __future__ import annotations

from typing import Any

from ..models.tiers import Billing, Tier, limits_for
from ..runtime.objects import Obj
from .verdict import Resource

#: Reasons that mean "not admitted under the tier's limits".
LIMIT_REASONS = frozenset({"ComponentLimitExceeded", "EnvironmentLimitExceeded"})


def all_paid(tier: Tier) -> bool:
    """Every component is paid: no free ones, no limit (payg, enterprise)."""
    limits = limits_for(tier)
    return limits.free_components == 0 and limits.max_components is None


def held_slot(obj: Obj) -> bool:
    """For the age order of limits: a Component holds a free slot (status.billing), an
    Environment an admitted one (its Ready reason is not a limit)."""
    billing = (obj.get("status") or {}).get("billing")
    if billing is not None:
        return bool(billing == Billing.FREE)
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("reason") not in LIMIT_REASONS
    return False


def resource_of(obj: Obj, spec: Any) -> Resource[Any]:
    """A stored object with its parsed spec, as the planners take it."""
    meta = obj["metadata"]
    return Resource(
        held_slot=held_slot(obj),
        name=meta["name"],
        namespace=meta.get("namespace") or "",
        uid=meta.get("uid") or "",
        generation=int(meta.get("generation") or 0),
        created=meta.get("creationTimestamp") or "",
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        spec=spec,
    )
