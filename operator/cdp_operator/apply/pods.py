"""What the operator knows of its Deployments' pods: one small summary per pod.

The Pod informer (label selector: the operator's managed-by label, no Job's
pods) feeds this index instead of the cache: a pod object is several KiB, a
summary (render/pod_health.py) a few hundred bytes, and only the summary is
kept. An event that leaves a pod's summary as it was (the kubelet rewrites
status for probe times and the like) changes nothing and queues nothing; one
that changes it queues the pod's Component.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterable
from dataclasses import fields, replace
from typing import Any

from ..models import labels as L
from ..models import naming
from ..render.pod_health import PodSummary, summarize_pod
from ..runtime.objects import Obj

#: (runtime namespace, component): the pods of one component's Deployment there.
Workload = tuple[str, str]

_STRING_FIELDS = tuple(f.name for f in fields(PodSummary) if f.type == "str")


def _interned(summary: PodSummary) -> PodSummary:
    """Pods of one Deployment share their image and their messages."""
    interned: dict[str, Any] = {f: sys.intern(getattr(summary, f)) for f in _STRING_FIELDS}
    return replace(summary, **interned)


class PodIndex:
    def __init__(self) -> None:
        self._by_workload: dict[Workload, dict[str, PodSummary]] = {}
        #: (namespace, pod) -> (its workload, its Component's key), to find a pod
        #: again when it is deleted or no longer carries our labels.
        self._where: dict[tuple[str, str], tuple[Workload, Hashable]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def pods_of(self, namespace: str, component: str) -> list[PodSummary]:
        """In pod name order: the same pods give the same diagnosis after a restart."""
        pods = self._by_workload.get((namespace, component)) or {}
        return [pods[name] for name in sorted(pods)]

    def update(self, event_type: str | None, pod: Obj) -> Hashable | None:
        """Apply one watch event; the key of the Component whose pods changed, if any."""
        meta = pod.get("metadata") or {}
        at = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        placed = None if event_type == "DELETED" else _placement(pod)
        summary = summarize_pod(pod) if placed is not None else None
        if summary is None:
            return self._forget(at)
        workload, key = placed  # type: ignore[misc]
        before = self._where.get(at)
        if before is not None and before[0] != workload:
            self._forget(at)
        pods = self._by_workload.setdefault(workload, {})
        if pods.get(at[1]) == summary:
            return None
        pods[at[1]] = _interned(summary)
        self._where[at] = (workload, key)
        return key

    def replace_all(self, items: Iterable[Obj]) -> set[Hashable]:
        """A complete list: the index becomes exactly it; the keys of the Components
        whose pods changed (pods gone meanwhile included)."""
        changed: set[Hashable] = set()
        seen: set[tuple[str, str]] = set()
        for pod in items:
            meta = pod.get("metadata") or {}
            seen.add((str(meta.get("namespace") or ""), str(meta.get("name") or "")))
            key = self.update(None, pod)
            if key is not None:
                changed.add(key)
        for at in [at for at in self._where if at not in seen]:
            key = self._forget(at)
            if key is not None:
                changed.add(key)
        return changed

    def _forget(self, at: tuple[str, str]) -> Hashable | None:
        where = self._where.pop(at, None)
        if where is None:
            return None
        workload, key = where
        pods = self._by_workload.get(workload)
        if pods is not None:
            pods.pop(at[1], None)
            if not pods:
                del self._by_workload[workload]
        return key


def _placement(pod: Obj) -> tuple[Workload, Hashable] | None:
    """(workload, Component key) from the pod's labels; None when it is not ours."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(L.MANAGED_BY) != L.MANAGED_BY_VALUE:
        return None
    org, component = labels.get(L.ORGANIZATION), labels.get(L.COMPONENT)
    if not org or not component:
        return None
    namespace = str(meta.get("namespace") or "")
    workload = (sys.intern(namespace), sys.intern(component))
    return workload, ("component", naming.organization_namespace_name(org), component)
