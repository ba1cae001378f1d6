"""What the planners decide about one resource: its parsed form (Resource),
the verdict on it (Verdict, ExtraCondition), what is held back (Held), and
an organization's plan (OrgPlan), which its Components are judged against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from ..models.resources import EnvironmentSpec
from ..models.tiers import Tier
from ..runtime.objects import Obj
from .context import Runtime

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


@dataclass
class OrgPlan:
    organization: str
    namespace: str
    tier: Tier
    #: The Organization allows paid components beyond the tier's free ones.
    allow_paid: bool = False
    #: Objects that must exist (server-side applied when they differ).
    desired: list[Obj] = field(default_factory=list)
    #: (kind, namespace, name) -> verdict, for Organization, Environment, Project.
    verdicts: dict[tuple[str, str, str], Verdict] = field(default_factory=dict)
    #: Admitted projects -> their data plane.
    projects: dict[str, str] = field(default_factory=dict)
    #: Admitted environments -> (spec); only those on a data plane that exists.
    environments: dict[str, EnvironmentSpec] = field(default_factory=dict)
    #: (project, environment) -> Runtime for every runtime namespace.
    runtimes: dict[tuple[str, str], Runtime] = field(default_factory=dict)
    #: Data planes this organization uses.
    data_planes: list[str] = field(default_factory=list)
    #: The org cannot be materialised at all (e.g. its namespace is taken).
    blocked: bool = False
    #: Data planes this operator instance serves (None: all).
    scope: frozenset[str] | None = None
    #: Runtime namespaces that exist but are no longer desired while their Project
    #: and Environment still exist (over a limit, data plane gone): kept untouched.
    #: namespace -> why, for status messages.
    held_namespaces: dict[str, str] = field(default_factory=dict)
    #: Default Environments (operator-made) kept although their data plane is not in
    #: use by an admitted project: a Project still lives there.
    held_environments: set[str] = field(default_factory=set)
    #: Projects, Environments and Components held back, for the Organization's status.
    held: list[Held] = field(default_factory=list)

    def keeps(self, obj: Obj) -> bool:
        """Whether an org-level object that is not desired must stay as it is
        instead of being pruned: only the deletion of its Project or Environment
        (or of the Organization) removes it."""
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Namespace":
            return meta.get("name") in self.held_namespaces
        if obj.get("kind") == "Environment":
            return meta.get("name") in self.held_environments
        return meta.get("namespace") in self.held_namespaces

    def serves(self, data_plane: str) -> bool:
        return self.scope is None or data_plane in self.scope

    def runtimes_of(self, project: str) -> list[Runtime]:
        return [rt for (p, _), rt in sorted(self.runtimes.items()) if p == project]
