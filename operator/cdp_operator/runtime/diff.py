"""Decide whether a live object already has the desired state (so no write is needed)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from kubernetes.utils import parse_quantity

#: Keys under requests/limits whose values are resource quantities.
_QUANTITY_KEYS = frozenset({"cpu", "memory", "ephemeral-storage", "storage"})


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


def _quantity_equal(a: Any, b: Any) -> bool:
    try:
        return bool(Decimal(parse_quantity(a)) == Decimal(parse_quantity(b)))  # type: ignore[no-untyped-call]
    except (ValueError, InvalidOperation, TypeError):
        return False


def is_subset(desired: Any, live: Any, parent: str = "") -> bool:
    """True when every field of `desired` has the same value in `live`.

    Fields the server or other controllers add to `live` are ignored. An empty
    desired value matches an absent one (the API server drops empty fields).
    Resource quantities compare by value ("1024Mi" == "1Gi"), since the API
    server stores them in canonical form.
    """
    if isinstance(desired, dict):
        if desired == live:  # most subtrees are equal: one comparison in C, no walk
            return True
        if not isinstance(live, dict):
            return _empty(desired) and _empty(live)
        for key, value in desired.items():
            if key not in live:
                if _empty(value):
                    continue
                return False
            if not is_subset(value, live[key], key):
                return False
        return True
    if isinstance(desired, list):
        if desired == live:
            return True
        if not isinstance(live, list):
            return _empty(desired) and _empty(live)
        if len(desired) != len(live):
            return False
        return all(is_subset(d, v, parent) for d, v in zip(desired, live, strict=True))
    if parent in _QUANTITY_KEYS and isinstance(desired, str):
        return desired == live or _quantity_equal(desired, live)
    return bool(desired == live)
