"""A verdict as kstatus: the status to write, whether it is only a rollout's
progress, and the Events a change deserves. Pure: apply/status.py writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from pydantic import ValidationError

from ..models.status import OPTIONAL_CONDITIONS, Condition, set_condition
from ..models.tiers import Billing
from ..runtime.objects import Obj
from .verdict import Verdict


def parse_conditions(raw: Any) -> list[Condition]:
    result = []
    for item in raw or []:
        try:
            result.append(Condition.model_validate(item))
        except ValidationError:
            continue  # not ours to keep (malformed): rewritten
    return result


def reconciling(verdict: Verdict) -> bool:
    return not verdict.ready and not verdict.stalled


def status_of(current: Mapping[str, Any], verdict: Verdict, generation: int, now: str) -> Obj:
    """The status that says `verdict`: Ready, Reconciling, Stalled and the
    verdict's further conditions (transition times kept where nothing changed)."""
    conditions = parse_conditions(current.get("conditions"))
    busy = reconciling(verdict)
    for ctype, value, reason, message in (
        ("Ready", verdict.ready, verdict.reason, verdict.message),
        ("Reconciling", busy, verdict.reason if busy else "Done", verdict.message if busy else ""),
        (
            "Stalled",
            verdict.stalled,
            verdict.reason if verdict.stalled else "Done",
            verdict.message if verdict.stalled else "",
        ),
        *verdict.conditions,
    ):
        conditions = set_condition(conditions, ctype, value, reason, message, generation, now)
    carried = {c.type for c in verdict.conditions}
    conditions = [c for c in conditions if c.type not in OPTIONAL_CONDITIONS or c.type in carried]
    status: Obj = {
        "observedGeneration": generation,
        "conditions": [c.model_dump(by_alias=True, exclude_none=True) for c in conditions],
    }
    status.update(verdict.extra)
    return status


def _ready_of(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((c for c in current.get("conditions") or [] if c.get("type") == "Ready"), None)


def only_progress(current: Mapping[str, Any], verdict: Verdict, generation: int) -> bool:
    """The change is only a rollout's progress: the same not-ready reason at the
    same generation (other replica counts), which may wait a few seconds."""
    before = _ready_of(current)
    return (
        reconciling(verdict)
        and before is not None
        and before.get("status") == "False"
        and before.get("reason") == verdict.reason
        and current.get("observedGeneration") == generation
    )


class Event(NamedTuple):
    warning: bool
    reason: str
    message: str


def events_for(current: Mapping[str, Any], verdict: Verdict) -> list[Event]:
    """Events for a status change: Ready turning True (Normal) or Stalled
    (Warning) with a new reason, and any further condition turning False (an
    egress entry that opens nothing, say), which needs a person whatever Ready says."""
    events = []
    before = _ready_of(current)
    if (
        before is None
        or before.get("status") != ("True" if verdict.ready else "False")
        or before.get("reason") != verdict.reason
    ):
        if verdict.ready:
            events.append(Event(False, verdict.reason, verdict.message))
        elif verdict.stalled:
            events.append(Event(True, verdict.reason, verdict.message))
    previous = {c.get("type"): c for c in current.get("conditions") or []}
    for extra in verdict.conditions:
        was = previous.get(extra.type) or {}
        if not extra.status and (was.get("status") != "False" or was.get("reason") != extra.reason):
            events.append(Event(True, extra.reason, f"{extra.type}: {extra.message}"))
    return events


def billed(verdict: Verdict, billing: Billing | None) -> Verdict:
    """The verdict with status.billing; none when over the limit (a held component
    keeps the class it ran with: the status patch leaves the field as it is)."""
    if billing is None:
        return verdict
    return replace(verdict, extra={**verdict.extra, "billing": billing.value})


def not_in_org_namespace(namespace: str) -> Verdict:
    return Verdict(
        False,
        "NotInOrganizationNamespace",
        f"namespace {namespace!r} is not the namespace of any Organization; create Projects, "
        "Environments and Components in the namespace cdp-operator created for their "
        "organization (cdp-org-<organization>)",
        stalled=True,
    )


def invalid_spec(exc: ValidationError) -> Verdict:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"spec.{loc}: {err['msg']}" if loc else err["msg"])
    return Verdict(False, "InvalidSpec", "; ".join(parts), stalled=True)
