"""cdp_held_resources: what is held back ("only a deletion deletes"), and why."""

from __future__ import annotations

from ..render.verdict import OrgPlan
from .metrics import Metrics

#: (kind, namespace, name) of a held resource
HeldKey = tuple[str, str, str]


class HeldResources:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        #: key -> (kind, reason) of every resource held back
        self._held: dict[HeldKey, tuple[str, str]] = {}
        #: organization -> the Project and Environment keys it holds
        self._by_org: dict[str, set[HeldKey]] = {}

    def set(self, key: HeldKey, reason: str | None) -> None:
        """key is held for reason (None: no longer held)."""
        before = self._held.pop(key, None)
        if before is not None:
            self.metrics.held.labels(*before).dec()
        if reason is not None:
            self._held[key] = (key[0], reason)
            self.metrics.held.labels(key[0], reason).inc()

    def count_org(self, org: str, plan: OrgPlan) -> None:
        """The Projects and Environments one organization holds (Components are
        counted by their own reconcile)."""
        keys = set()
        for held in plan.held:
            if held.kind != "Component":
                key = (held.kind, plan.namespace, held.name)
                keys.add(key)
                self.set(key, held.reason)
        for gone in self._by_org.get(org, set()) - keys:
            self.set(gone, None)
        self._by_org[org] = keys

    def forget_org(self, org: str) -> None:
        for key in self._by_org.pop(org, set()):
            self.set(key, None)
