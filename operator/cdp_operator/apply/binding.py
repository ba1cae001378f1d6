"""The generic runtime (runtime/), bound to this operator: its field manager,
user agent, kinds, Event source, and the label index its reconciles read."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from kubernetes.client import Configuration

from .. import USER_AGENT
from ..models import labels as L
from ..runtime import cache as runtime_cache
from ..runtime import client as runtime_client
from ..runtime import events as runtime_events
from ..runtime.objects import Obj
from . import kinds as K
from .metrics import Metrics

#: The operator's field manager, for server-side apply and for creates.
FIELD_MANAGER = "cdp-operator"

#: The reportingController of the operator's Events.
REPORTING_CONTROLLER = "cdp.dev/cdp-operator"


def created_not_applied(obj: Obj) -> bool:
    """True when the operator's fields on obj are owned by its create, not yet
    by its apply (Client.adopt_fields moves them before the first apply)."""
    return runtime_cache.created_not_applied(obj, FIELD_MANAGER)


def is_managed(obj: Obj) -> bool:
    return bool((obj["metadata"].get("labels") or {}).get(L.MANAGED_BY) == L.MANAGED_BY_VALUE)


def owner_keys(obj: Obj) -> list[Hashable]:
    """(organization, "") and (organization, component) of a managed object; for
    one no component is labelled on (the organization reconcile's own, among a
    few thousand of its components'), (organization, None) instead."""
    labels = obj["metadata"].get("labels") or {}
    if labels.get(L.MANAGED_BY) != L.MANAGED_BY_VALUE or L.ORGANIZATION not in labels:
        return []
    org = labels[L.ORGANIZATION]
    return [(org, ""), (org, labels.get(L.COMPONENT))]


#: Kinds kept packed in the cache (runtime/cache.py): the bulk of what the operator
#: makes, each read only by the reconcile of its owner. Namespaces and the users'
#: resources, read by many reconciles, stay parsed.
PACKED_KINDS = frozenset(
    k.kind for k in (K.DEPLOYMENT, K.SERVICE, K.NETWORK_POLICY, K.PDB, K.INGRESS, K.CRONJOB, K.JOB)
)


class Cache(runtime_cache.Cache):
    """The runtime's cache, indexed by the organization and component labels
    of what the operator made, counting the managed objects of each kind."""

    def __init__(self) -> None:
        super().__init__(index=owner_keys, counted=is_managed, packed=PACKED_KINDS)

    def owned_by(self, organization: str, component: str | None = None) -> list[Obj]:
        """Managed objects labelled with this organization (and component, when given)."""
        return self.indexed((organization, component or ""))

    def org_level(self, organization: str, kinds: frozenset[str] | None = None) -> list[Obj]:
        """Managed objects labelled with this organization and no component (of
        these kinds, when given)."""
        return self.indexed((organization, None), kinds)

    def count_managed(self, kind: str) -> int:
        return self.counted_total(kind)


class Client(runtime_client.Client):
    """The runtime's client, as cdp-operator: its user agent, field manager and kinds."""

    def __init__(self, configuration: Configuration, concurrency: int = 32, **kwargs: Any) -> None:
        super().__init__(
            configuration,
            concurrency,
            user_agent=USER_AGENT,
            field_manager=FIELD_MANAGER,
            kinds=K.BY_KIND,
            **kwargs,
        )


class EventRecorder(runtime_events.EventRecorder):
    """The runtime's Event recorder, reporting as cdp-operator."""

    def __init__(
        self,
        client: runtime_events.Poster,
        instance: str = "cdp-operator",
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(
            client,
            controller=REPORTING_CONTROLLER,
            instance=instance,
            dropped=metrics.events_dropped if metrics else None,
        )
