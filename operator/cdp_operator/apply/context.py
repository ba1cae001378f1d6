"""What every reconciler of the operator shares: the client, the cache and pod
indexes, the work queue, the latest organization plans, metrics and Events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..models import labels as L
from ..models import naming
from ..models.tiers import Billing, Tier
from ..render.billing import all_paid, resource_of
from ..render.component_plan import component_billing
from ..render.gitops import served_in_cluster
from ..render.verdict import OrgPlan
from ..runtime.client import Client
from ..runtime.events import EventRecorder
from ..runtime.queue import WorkQueue
from .binding import Cache
from .metrics import Metrics
from .pods import PodIndex


@dataclass
class Shared:
    client: Client
    scope: frozenset[str] | None
    metrics: Metrics
    events: EventRecorder | None
    cache: Cache = field(default_factory=Cache)
    #: Summaries of the pods of our Deployments and of manual runs (kept out of
    #: the cache: small), each fed by its own informer.
    pods: PodIndex = field(default_factory=PodIndex)
    run_pods: PodIndex = field(default_factory=PodIndex)
    queue: WorkQueue = field(default_factory=WorkQueue)
    #: organization -> its latest plan (what its components are judged against)
    plans: dict[str, OrgPlan] = field(default_factory=dict)
    #: namespace name -> organization that wants it (from the latest plans)
    wanted_namespaces: dict[str, str] = field(default_factory=dict)
    #: False while standing by (HA): the cache stays current, the work waits.
    queueing: bool = True

    @staticmethod
    def make(
        client: Client,
        scope: Iterable[str] | None,
        metrics: Metrics | None,
        events: EventRecorder | None,
    ) -> Shared:
        return Shared(
            client, None if scope is None else frozenset(scope), metrics or Metrics(), events
        )

    def component_billing(
        self, namespace: str, tier: Tier, allow_paid: bool
    ) -> dict[str, Billing | None]:
        """Every component's billing class (None: over the limit)."""
        components = self.cache.in_namespace("Component", namespace)
        if all_paid(tier):
            return {c["metadata"]["name"]: Billing.PAID for c in components}
        return component_billing(tier, allow_paid, [resource_of(c, None) for c in components])

    def org_of_namespace(self, namespace: str) -> str | None:
        """The Organization whose namespace this is, if any.

        By name first (one lookup: this runs for every Component event and
        reconcile, with hundreds of Organizations cached); a scan only for a
        name that could be a hashed organization namespace."""
        name = naming.organization_of_namespace(namespace)
        if name is not None and self.cache.get("Organization", None, name) is not None:
            return name
        if not namespace.startswith("cdp-org-"):  # naming.organization_namespace_name
            return None  # no organization's namespace has another prefix
        for org in self.cache.all("Organization"):
            name = str(org["metadata"]["name"])
            if naming.organization_namespace_name(name) == namespace:
                return name
        return None

    def namespace_labels(self, name: str) -> Mapping[str, str] | None:
        ns = self.cache.get("Namespace", None, name)
        return None if ns is None else (ns["metadata"].get("labels") or {})

    def serves(self, data_plane: str) -> bool:
        return self.scope is None or data_plane in self.scope

    def served_elsewhere(self, data_plane: str) -> bool:
        """Another operator of this cluster serves that data plane (and writes the
        status of its resources): see render.gitops.served_in_cluster."""
        return not self.serves(data_plane) and served_in_cluster(
            self.cache.get("DataPlane", None, data_plane)
        )

    def awaits_its_organization(self, namespace: str) -> bool:
        """A namespace of no Organization that is one of ours, or gone, or going:
        its organization is being deleted, and what is in it goes with it."""
        ns = self.cache.get("Namespace", None, namespace)
        if ns is None:
            return True
        meta = ns["metadata"]
        return bool(meta.get("deletionTimestamp")) or L.is_managed(meta)
