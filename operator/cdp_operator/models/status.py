"""Status of the custom resources: what the reconciler writes and the CRDs declare.

Follows the Kubernetes API conventions and kstatus: `observedGeneration` and
the conditions `Ready`, `Reconciling` and `Stalled`, plus conditions on one
aspect of a kind (`EgressAllowlistEffective` on Components). The helpers are pure, so
an unchanged status compares equal and the reconciler can skip the write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .labels import RUN_TOKEN_MAX
from .rules import list_field

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
#: Components with an egress allowlist: False when an entry opens nothing because it
#: lies inside the DataPlane's clusterNetworks. Ready does not depend on it.
EGRESS_ALLOWLIST_EFFECTIVE = "EgressAllowlistEffective"
#: Conditions the operator sets only when they apply, and removes otherwise.
OPTIONAL_CONDITIONS = frozenset({EGRESS_ALLOWLIST_EFFECTIVE})

ConditionStatus = Literal["True", "False", "Unknown"]

#: metav1.Condition's reason: CamelCase, starts with a letter.
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
NAME = Annotated[str, Field(max_length=253)]


def _reported(key: str, max_length: int, description: str) -> Any:
    """A list the operator reports, one item per `key`; None until it does."""
    return list_field(description, max_length=max_length, key=key, optional=True)


class StatusModel(BaseModel):
    # Frozen like the specs. Unknown fields are ignored (not rejected): status
    # written by another operator version must still parse.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Condition(StatusModel):
    """One aspect of the object's state (metav1.Condition)."""

    type: str = Field(
        ...,
        min_length=1,
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Condition type: Ready, Reconciling, Stalled or (Components) "
        "EgressAllowlistEffective.",
    )
    status: ConditionStatus = Field(..., description="True, False or Unknown.")
    reason: str = Field(
        ...,
        min_length=1,
        max_length=1024,
        pattern=REASON_PATTERN,
        description="Why the condition has its status, in CamelCase (e.g. ComponentLimitExceeded).",
    )
    message: str = Field("", max_length=32768, description="Details for humans.")
    last_transition_time: str = Field(
        ...,
        alias="lastTransitionTime",
        description="When the status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        None,
        alias="observedGeneration",
        ge=0,
        description="metadata.generation the condition was computed from.",
    )


def format_time(now: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(conditions: Sequence[Condition], type: str) -> Condition | None:
    return next((c for c in conditions if c.type == type), None)


def set_condition(
    conditions: Sequence[Condition],
    type: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime | str,
) -> list[Condition]:
    """A new list with condition `type` set; the others and their order are kept.

    lastTransitionTime moves only when the status changes, so re-setting the
    same condition yields an equal list (and no status write).
    """
    value: ConditionStatus = ("True" if status else "False") if isinstance(status, bool) else status
    stamp = now if isinstance(now, str) else format_time(now)
    old = find_condition(conditions, type)
    new = Condition(
        type=type,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=old.last_transition_time if old and old.status == value else stamp,
        observed_generation=generation,
    )
    if old is None:
        return [*conditions, new]
    return [new if c.type == type else c for c in conditions]


def is_true(conditions: Sequence[Condition], type: str) -> bool:
    c = find_condition(conditions, type)
    return c is not None and c.status == "True"


#: The status every new object has until the operator writes its first verdict: the
#: CRDs declare it as the default of `status`, which the apiserver applies whenever
#: the object has none (create drops a submitted status; reads default it back).
#: kstatus, which Flux's health checks use, reads an object with no status as
#: Current, and one whose observedGeneration differs from metadata.generation as
#: InProgress: with this default a GitOps wait cannot pass before the operator has
#: looked at the object, and a real error (a typo in a reference) fails the first
#: sync instead of a later one. The operator's first write replaces it.
UNOBSERVED_STATUS: dict[str, Any] = {"observedGeneration": 0}


# -------------------------------------------------------------------- kinds
class Status(StatusModel):
    """Observed state, written by the operator."""

    observed_generation: int | None = Field(
        None,
        alias="observedGeneration",
        ge=0,
        description="metadata.generation of the spec this status describes.",
    )
    conditions: list[Condition] = list_field(
        "Ready, Reconciling and Stalled (kstatus); Components with an egress "
        "allowlist also EgressAllowlistEffective.",
        max_length=16,
        key="type",
    )

    def to_dict(self) -> dict[str, Any]:
        """The status as written to the API (camelCase, unset fields omitted)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class DataPlaneStatus(Status):
    """Observed state of a DataPlane."""


#: Most held resources an Organization's status lists (the condition message says
#: how many more there are).
HELD_MAX = 500


class HeldResource(StatusModel):
    """A resource held as it is (domain.md: only a deletion deletes)."""

    kind: Literal["Project", "Environment", "Component"] = Field(..., description="Its kind.")
    name: NAME = Field(..., description="Its name, in the organization's namespace.")
    reason: str = Field(
        ..., max_length=1024, pattern=REASON_PATTERN, description="Why it is held (its reason)."
    )


class OrganizationStatus(Status):
    """Observed state of an Organization."""

    namespace: NAME | None = Field(
        None, description="The organization's namespace (where its resources live)."
    )
    data_planes: list[NAME] | None = Field(
        None,
        alias="dataPlanes",
        max_length=64,
        description="DataPlanes the organization's projects use.",
    )
    components: int | None = Field(None, ge=0, description="Components in the organization.")
    free_components: int | None = Field(
        None,
        alias="freeComponents",
        ge=0,
        description="Components that run as free components (developer tier: the five oldest).",
    )
    paid_components: int | None = Field(
        None,
        alias="paidComponents",
        ge=0,
        description="Components that run as paid components, held ones included (the number "
        "a billing system reads).",
    )
    environments: int | None = Field(None, ge=0, description="Environments in the organization.")
    held: list[HeldResource] | None = Field(
        None,
        max_length=HELD_MAX,
        description="Projects, Environments and Components that already run but cannot be "
        "materialised now (over the tier's limits, a data plane missing): kept running as "
        "they are, not updated, until they are deleted or the cause is gone.",
    )


class ProjectNamespace(StatusModel):
    """A runtime namespace of the project."""

    environment: NAME = Field(..., description="Environment name.")
    namespace: NAME = Field(
        ..., description="Runtime namespace of the project in that environment."
    )


class ProjectStatus(Status):
    """Observed state of a Project."""

    data_plane: NAME | None = Field(
        None, alias="dataPlane", description="DataPlane the project runs on (resolved default)."
    )
    namespaces: list[ProjectNamespace] | None = _reported(
        "environment", 256, "Runtime namespaces, one per environment of the data plane."
    )


class EnvironmentStatus(Status):
    """Observed state of an Environment."""

    namespaces: int | None = Field(
        None, ge=0, description="Runtime namespaces of this environment (one per project)."
    )


class EndpointAddress(StatusModel):
    """Where one endpoint answers."""

    name: NAME = Field(..., description="Endpoint name.")
    port: int = Field(..., ge=1, le=65535, description="Port.")
    visibility: Literal["project", "organization", "public"] = Field(
        ..., description="Who may reach it (domain.md: the levels nest)."
    )
    address: str = Field(
        ...,
        max_length=512,
        description="In-cluster address: SERVICE.NAMESPACE.svc:PORT.",
    )
    url: str | None = Field(
        None, max_length=2048, description="Public endpoints: the URL through the ingress gateway."
    )


class ComponentEnvironment(StatusModel):
    """The component in one environment, as its workload reports it."""

    name: NAME = Field(..., description="Environment name.")
    namespace: NAME = Field(..., description="Runtime namespace.")
    endpoints: list[EndpointAddress] | None = _reported(
        "name", 64, "Each endpoint's in-cluster address and, for public ones, its URL."
    )
    workload_kind: str | None = Field(
        None, alias="workloadKind", max_length=63, description="Deployment, CronJob or Job."
    )
    workload_name: NAME | None = Field(None, alias="workloadName", description="Workload name.")
    ready: bool = Field(False, description="Whether the workload is ready.")
    replicas: int | None = Field(None, ge=0, description="Desired replicas.")
    ready_replicas: int | None = Field(
        None, alias="readyReplicas", ge=0, description="Ready replicas."
    )
    message: str | None = Field(
        None, max_length=32768, description="What the workload is waiting for."
    )
    reason: str | None = Field(
        None,
        max_length=1024,
        pattern=REASON_PATTERN,
        description="Why its pods do not run, when the kubelet or the scheduler says so "
        "(ImagePullFailed, ImageRunsAsRoot, CrashLoopBackOff, ...; see the Ready reasons).",
    )


class LastRun(StatusModel):
    """The latest run request of a manual task."""

    token: str = Field(
        ...,
        max_length=RUN_TOKEN_MAX,
        description="Value of the cdp.dev/run-request annotation served.",
    )
    jobs: list[NAME] = Field(
        default_factory=list, max_length=256, description="Jobs created for it."
    )


class ComponentStatus(Status):
    """Observed state of a Component."""

    url: str | None = Field(
        None,
        max_length=2048,
        description="The public URL of the component in a production environment (its first "
        "public endpoint), when it has one.",
    )
    replicas: int | None = Field(
        None,
        ge=0,
        description="For the scale subresource: the fewest ready replicas among the "
        "environments that run spec.replicas (no replicas override).",
    )
    billing: Literal["free", "paid"] | None = Field(
        None,
        description="free: one of the tier's free components (developer tier, the oldest "
        "five); paid: billed per component. Unset while it is not materialised.",
    )

    environments: list[ComponentEnvironment] | None = _reported(
        "name", 256, "Per environment: namespace, workload and readiness."
    )
    last_run: LastRun | None = Field(
        None, alias="lastRun", description="Manual tasks: the latest run."
    )


STATUS_MODELS: dict[str, type[Status]] = {
    "DataPlane": DataPlaneStatus,
    "Organization": OrganizationStatus,
    "Environment": EnvironmentStatus,
    "Project": ProjectStatus,
    "Component": ComponentStatus,
}
