"""GitOps rules: every cluster gets every resource (fan-out), so a resource of
a data plane no operator of this cluster serves is NotServedHere; and a
sync may deliver a Component's Project or Environment a moment after it, so
those references get a grace. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from .verdict import (
    Verdict,
)

#: Ready reason of a resource whose data plane no operator of this cluster serves.
NOT_SERVED_HERE = "NotServedHere"
#: Ready reason of a DataPlane an operator of this cluster serves.
DATA_PLANE_AVAILABLE = "Available"
#: Component references that a GitOps sync may deliver a moment later than the
#: Component: reported as Reconciling (kstatus InProgress) with the reason they
#: map to for REFERENCE_GRACE seconds after the Component's spec last changed,
#: as Stalled (Failed) with their own reason after.
AWAITED_REASONS = {
    "ProjectNotFound": "WaitingForProject",
    "EnvironmentNotFound": "WaitingForEnvironment",
    # An Organization's defaultDataPlane or a Project's dataPlane, when the
    # DataPlane comes in the same commit.
    "DataPlaneNotFound": "WaitingForDataPlane",
}
REFERENCE_GRACE = 10.0


def served_in_cluster(data_plane: Mapping[str, Any] | None) -> bool:
    """Whether an operator of this cluster serves this DataPlane: its status is
    `Ready=True, Available` for its current generation (only a serving operator
    writes that). A stale or missing status, or NotServedHere, means none does."""
    if not data_plane:
        return False
    meta = data_plane.get("metadata") or {}
    status = data_plane.get("status") or {}
    if status.get("observedGeneration") != meta.get("generation"):
        return False
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    return ready.get("status") == "True" and ready.get("reason") == DATA_PLANE_AVAILABLE


def not_served_verdict(verdict: Verdict | None, data_plane: str) -> Verdict:
    """What an operator writes on a resource of a data plane that no operator of
    its cluster serves (every cluster gets every resource under GitOps fan-out).

    Nothing is owed in this cluster, so it is Ready (kstatus Current, Argo CD
    Healthy) with reason NotServedHere. A Stalled verdict is kept: errors in the
    manifests themselves (unknown data plane, over a tier limit, a namespace
    conflict) are the same in every cluster and must fail every cluster's sync.
    """
    if verdict is not None and verdict.stalled:
        return verdict
    return Verdict(
        True,
        NOT_SERVED_HERE,
        f"data plane {data_plane} is not served in this cluster: the operator of "
        f"{data_plane}'s cluster materialises it; nothing is made here",
        extra=verdict.extra if verdict is not None else {},
    )


def awaiting_reference(
    verdict: Verdict, age: float | None, kind: str = "Component"
) -> tuple[Verdict, float | None]:
    """A missing Project, Environment or DataPlane, `age` seconds after the spec
    last changed: within REFERENCE_GRACE it is a reference on its way (Reconciling,
    WaitingForProject or WaitingForEnvironment; recheck after the returned
    seconds), after it an error (Stalled, ProjectNotFound or EnvironmentNotFound)."""
    if not verdict.stalled or verdict.reason not in AWAITED_REASONS or age is None:
        return verdict, None
    if age >= REFERENCE_GRACE:
        return verdict, None
    waiting = replace(
        verdict,
        reason=AWAITED_REASONS[verdict.reason],
        stalled=False,
        message=f"{verdict.message}; waiting up to {REFERENCE_GRACE:.0f}s after the last "
        f"change of this {kind} for it to appear",
    )
    return waiting, max(REFERENCE_GRACE - age, 0.5)


def spec_age(obj: Mapping[str, Any], now: datetime, *, own_manager: str) -> float | None:
    """Seconds since someone other than the operator last wrote the object (not its
    status): the newest `metadata.managedFields` time of another manager, or
    `creationTimestamp`. None when neither can be read."""
    meta = obj.get("metadata") or {}
    stamps = [
        str(entry.get("time"))
        for entry in meta.get("managedFields") or []
        if entry.get("time")
        and entry.get("manager") != own_manager
        and entry.get("subresource") != "status"
    ]
    if meta.get("creationTimestamp"):
        stamps.append(str(meta["creationTimestamp"]))
    times = []
    for stamp in stamps:
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            continue
        times.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    if not times:
        return None
    return (now - max(times)).total_seconds()
