"""What the reconciler refrains from writing."""

from __future__ import annotations

import asyncio
from typing import Any

from cdp_operator.apply.reconciler import Reconciler


class _NoWrites:
    async def create_object(self, obj: Any) -> Any:
        raise AssertionError(f"created {obj['kind']} {obj['metadata']['name']}")


def test_nothing_is_created_in_a_namespace_being_deleted() -> None:
    """An Organization's deletion can reach the cache on its namespace (GC) before on
    itself; the org reconcile must not try to re-create what the API server refuses
    there (403 NamespaceTerminating)."""
    reconciler = Reconciler(_NoWrites())  # type: ignore[arg-type]
    reconciler.cache.upsert(
        {
            "kind": "Namespace",
            "metadata": {
                "name": "cdp-org-acme",
                "resourceVersion": "5",
                "deletionTimestamp": "2026-01-01T00:00:00Z",
            },
        }
    )
    environment = {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": "development", "namespace": "cdp-org-acme"},
        "spec": {"dataPlane": "us"},
    }
    assert asyncio.run(reconciler._ensure_all([environment])) == []
