"""Health of cdp.dev resources: kstatus' rules, and the Argo CD health checks.

`compute` is a faithful port of kstatus' `status.Compute`
(sigs.k8s.io/cli-utils/pkg/kstatus/status) for resources without built-in
rules, which is every custom resource:

1. `metadata.deletionTimestamp` set -> Terminating.
2. `metadata.generation` and `status.observedGeneration` both present and
   different -> InProgress (reason LatestGenerationNotObserved).
3. The first condition in `status.conditions` that is `Reconciling=True`
   -> InProgress, or `Stalled=True` -> Failed, with that condition's message.
4. Otherwise -> Current. kstatus does not read `Ready` at all.

`argocd_health` is the Python twin of the Lua scripts in
charts/cdp-operator/argocd/ (tests run both on the same samples). It follows
kstatus and is stricter in one way: Healthy needs `Ready=True`, because
Argo CD should not call a resource healthy before the operator has said so.

- deletionTimestamp -> Progressing;
- no `status` yet -> Progressing;
- observedGeneration != generation -> Progressing (kstatus' message);
- `Stalled=True` -> Degraded with its message (checked before Reconciling);
- `Reconciling=True` -> Progressing;
- `Ready=True` -> Healthy; Ready missing, False or Unknown -> Progressing.

So for a status that follows this operator's contract (observedGeneration set,
Ready/Reconciling/Stalled all present and consistent) both give the same
answer; they differ only on statuses the operator never writes (no status,
no Ready, Ready=False without Stalled or Reconciling, both Stalled and
Reconciling True), and there the Lua is the more cautious.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    CURRENT = "Current"
    TERMINATING = "Terminating"
    UNKNOWN = "Unknown"


class Health(StrEnum):
    """Argo CD's health statuses."""

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Result:
    status: Status
    message: str
    reason: str = ""


@dataclass(frozen=True)
class HealthResult:
    status: Health
    message: str


#: How Argo CD would show each kstatus result.
KSTATUS_TO_HEALTH: dict[Status, Health] = {
    Status.CURRENT: Health.HEALTHY,
    Status.IN_PROGRESS: Health.PROGRESSING,
    Status.FAILED: Health.DEGRADED,
    Status.TERMINATING: Health.PROGRESSING,
    Status.UNKNOWN: Health.UNKNOWN,
}

WAITING_FOR_STATUS = "Waiting for the cdp-operator to report status"
WAITING_FOR_READY = "Waiting for the Ready condition"
TERMINATING_MESSAGE = "Resource scheduled for deletion"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    conditions = _mapping(obj.get("status")).get("conditions")
    if not isinstance(conditions, list):
        return []
    return [c for c in conditions if isinstance(c, dict)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _generation_message(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    """(message, error): a message when the latest generation is not observed."""
    generation = _mapping(obj.get("metadata")).get("generation")
    if generation is None:
        return None, None
    if not _is_int(generation):
        return None, "metadata.generation is not an integer"
    observed = _mapping(obj.get("status")).get("observedGeneration")
    if observed is None:
        return None, None
    if not _is_int(observed):
        return None, "status.observedGeneration is not an integer"
    if observed != generation:
        kind = obj.get("kind", "")
        return (
            f"{kind} generation is {generation}, but latest observed generation is {observed}",
            None,
        )
    return None, None


def compute(obj: dict[str, Any]) -> Result:
    """kstatus' status of a custom resource (see the module docstring)."""
    if _mapping(obj.get("metadata")).get("deletionTimestamp"):
        return Result(Status.TERMINATING, TERMINATING_MESSAGE)
    message, error = _generation_message(obj)
    if error:
        return Result(Status.UNKNOWN, error)
    if message:
        return Result(Status.IN_PROGRESS, message, "LatestGenerationNotObserved")
    for cond in _conditions(obj):
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Reconciling":
            return Result(Status.IN_PROGRESS, str(cond.get("message", "")), "Reconciling")
        if cond.get("type") == "Stalled":
            return Result(Status.FAILED, str(cond.get("message", "")), "Stalled")
    return Result(Status.CURRENT, "Resource is current")


def _find(conditions: list[dict[str, Any]], ctype: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


def _text(cond: dict[str, Any], fallback: str) -> str:
    for key in ("message", "reason"):
        value = cond.get(key)
        if isinstance(value, str) and value:
            return value
    return fallback


def argocd_health(obj: dict[str, Any]) -> HealthResult:
    """What the Argo CD Lua health check returns for obj (the Lua's twin)."""
    if _mapping(obj.get("metadata")).get("deletionTimestamp"):
        return HealthResult(Health.PROGRESSING, TERMINATING_MESSAGE)
    if not isinstance(obj.get("status"), dict):
        return HealthResult(Health.PROGRESSING, WAITING_FOR_STATUS)
    message, error = _generation_message(obj)
    if error:
        return HealthResult(Health.UNKNOWN, error)
    if message:
        return HealthResult(Health.PROGRESSING, message)
    conditions = _conditions(obj)
    stalled = _find(conditions, "Stalled")
    if stalled is not None and stalled.get("status") == "True":
        return HealthResult(Health.DEGRADED, _text(stalled, "Stalled"))
    reconciling = _find(conditions, "Reconciling")
    if reconciling is not None and reconciling.get("status") == "True":
        return HealthResult(Health.PROGRESSING, _text(reconciling, "Reconciling"))
    ready = _find(conditions, "Ready")
    if ready is None:
        return HealthResult(Health.PROGRESSING, WAITING_FOR_READY)
    if ready.get("status") == "True":
        return HealthResult(Health.HEALTHY, _text(ready, "Ready"))
    return HealthResult(Health.PROGRESSING, _text(ready, "Not ready"))
