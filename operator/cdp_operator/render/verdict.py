"""What the planners decide about one resource: its parsed form (Resource),
the verdict on it (Verdict, ExtraCondition), and what is held back (Held)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

S = TypeVar("S")


@dataclass(frozen=True)
class Resource(Generic[S]):
    """A user resource as the plan sees it: identity, ordering and a parsed spec."""

    name: str
    spec: S
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    created: str = ""  # RFC 3339; sorts chronologically as a string
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: It held a slot under its tier's limit when last reconciled (from its status).
    held_slot: bool = False

    @property
    def age_key(self) -> tuple[bool, str, str]:
        """The deterministic order for limits: what already holds a slot keeps it,
        then oldest first, name breaking ties. Timestamps have one-second
        resolution, so without the first key a newer object created in the same
        second could evict a working one just by its name."""
        return (not self.held_slot, self.created, self.name)


class ExtraCondition(NamedTuple):
    """A condition beside Ready, Reconciling and Stalled, on one aspect of a resource
    (models/status.py OPTIONAL_CONDITIONS: set when it applies, removed otherwise)."""

    type: str
    status: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Verdict:
    """The outcome for one resource, turned into kstatus conditions by the apply layer.

    ready: everything it asks for exists. stalled: it cannot progress until a
    user acts (bad reference, over a limit, conflict); reason and message say why.
    conditions: further conditions that do not decide readiness.
    """

    ready: bool
    reason: str
    message: str
    stalled: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    conditions: tuple[ExtraCondition, ...] = ()


ADMITTED = "Admitted"

#: Reasons that mean "over a tier's limit" (an Organization reports them as OverTierLimit).
TIER_LIMIT_REASONS = frozenset(
    {"ComponentLimitExceeded", "EnvironmentLimitExceeded", "DataPlaneNotAllowed"}
)
#: Held resources an Organization's Ready message names (status.held lists more).
HELD_LISTED = 20
#: What a held resource's message adds: what it keeps, and that nothing changes.
HELD_NOTE = "kept running as they are (not updated, never deleted by this)"


class Held(NamedTuple):
    """A user resource that cannot be materialised any more but already was: its
    objects stay as they are ("only a deletion deletes", domain.md)."""

    kind: str
    name: str
    reason: str
