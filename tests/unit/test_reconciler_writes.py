"""What the reconciler refrains from writing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cdp_operator.apply import kinds as K
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
    assert asyncio.run(reconciler.writer.ensure_all([environment])) == []


def _component(generation: int, created_ago: float, rv: str) -> dict[str, Any]:
    created = time.time() - created_ago
    return {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": "api",
            "namespace": "cdp-org-acme",
            "generation": generation,
            "resourceVersion": rv,
            "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        },
        "spec": {},
    }


def test_a_components_spec_age_restarts_at_an_update_seen_live_not_at_creation() -> None:
    """The grace for a Project on its way (GitOps applies a Component and its new
    Project together) counts from the spec's last change. The cache keeps no
    managedFields times, so an update is timed when its watch event arrives."""
    reconciler = Reconciler(_NoWrites())  # type: ignore[arg-type]
    reconciler.event(K.COMPONENT, "ADDED", _component(1, 600, "1"))
    age = reconciler.spec_changes.age(_component(1, 600, "1"))
    assert age is not None and 599 <= age <= 602, "never changed: its age is since creation"
    reconciler.event(K.COMPONENT, "MODIFIED", _component(2, 600, "2"))
    age = reconciler.spec_changes.age(_component(2, 600, "2"))
    assert age is not None and age < 1, "an update seen live restarts the clock"
    reconciler.event(K.COMPONENT, "MODIFIED", _component(2, 600, "3"))  # status only
    later = reconciler.spec_changes.age(_component(2, 600, "3"))
    assert later is not None and later < 1 and later >= age, "a status write is no change"
    restarted = Reconciler(_NoWrites())  # type: ignore[arg-type]
    restarted.listed(K.COMPONENT, [_component(2, 600, "3")], "3")
    assert restarted.spec_changes.age(_component(2, 600, "3")) is None, (
        "changed before this operator watched: no grace (it is not on its way)"
    )
    reconciler.event(K.COMPONENT, "DELETED", _component(2, 600, "4"))
    assert reconciler.spec_changes.changed == {}
