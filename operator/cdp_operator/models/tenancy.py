"""The Organization, Environment and Project specs, and the fields updates may not change."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import (
    ConfigDict,
    Field,
)

from .fields import Boolean, Spec
from .name_rules import DataPlaneName
from .rules import Rule, cel_validations
from .tiers import Tier


# -------------------------------------------------------- immutable references
@dataclass(frozen=True)
class Immutable:
    """A spec field that updates may not change.

    Fixed once set (the default): it may be added to an object that lacks it,
    never changed nor removed. `from_creation`: what the object was created
    with, value or absence, is final; adding it later is refused too (an absent
    Project dataPlane means the organization's defaultDataPlane, so adding one
    would move the project).
    """

    field: str
    message: str
    from_creation: bool = False

    @property
    def cel(self) -> str:
        f = self.field
        if self.from_creation:
            # Present in both or in neither, and equal when present.
            return (
                f"has(self.{f}) == has(oldSelf.{f}) && (!has(self.{f}) || self.{f} == oldSelf.{f})"
            )
        return f"!has(oldSelf.{f}) || (has(self.{f}) && self.{f} == oldSelf.{f})"

    def refuses(self, before: object, after: object) -> bool:
        """The Python twin of `cel` (None is absent: the apiserver prunes nulls)."""
        if self.from_creation:
            return after != before
        return before is not None and after != before


#: kind -> spec fields that updates may not change.
IMMUTABLE_FIELDS: dict[str, tuple[Immutable, ...]] = {
    "Organization": (Immutable("defaultDataPlane", "defaultDataPlane is immutable once set"),),
    "Environment": (Immutable("dataPlane", "dataPlane is immutable once set"),),
    "Project": (
        Immutable(
            "dataPlane",
            "dataPlane is fixed when the project is created (absent means the organization's "
            "defaultDataPlane); create a new project to use another data plane",
            from_creation=True,
        ),
    ),
}


def immutable_rules(kind: str) -> list[Rule]:
    """Transition rules (they see oldSelf, so the apiserver runs them on update only)."""
    return [
        Rule(
            cel=i.cel,
            message=i.message,
            # Checked by transition_errors, which sees both versions.
            holds=lambda _: True,
            field_path=f".{i.field}",
        )
        for i in IMMUTABLE_FIELDS.get(kind, ())
    ]


def transition_errors(kind: str, old: Spec, new: Spec) -> list[str]:
    """What the CRD's transition rules reject when `old` is updated to `new`."""
    before, after = old.model_dump(by_alias=True), new.model_dump(by_alias=True)
    return [
        i.message
        for i in IMMUTABLE_FIELDS.get(kind, ())
        if i.refuses(before.get(i.field), after.get(i.field))
    ]


# -------------------------------------------------------------- Organization
class OrganizationSpec(Spec):
    """A tenant: its tier and the DataPlane chosen at onboarding."""

    model_config = ConfigDict(json_schema_extra=cel_validations(*immutable_rules("Organization")))

    tier: Tier = Field(
        Tier.DEVELOPER,
        description="Subscription tier: developer (the free plan), payg or enterprise. Changing it "
        "moves limits and retention only; running workloads are not restarted.",
    )
    default_data_plane: DataPlaneName = Field(
        ...,
        alias="defaultDataPlane",
        description="DataPlane chosen at onboarding; the only one the developer tier may use. "
        "Immutable.",
    )
    allow_paid_components: Boolean = Field(
        False,
        alias="allowPaidComponents",
        description="Developer tier: run components beyond the five free ones as paid "
        "components (billed per component). Off (the default), they are over the limit and "
        "not materialised. On payg and enterprise every component is paid anyway. Turning it "
        "off never stops running paid components: they are held and reported.",
    )
    display_name: str | None = Field(
        None, alias="displayName", max_length=256, description="Human-readable name."
    )


# --------------------------------------------------------------- Environment
class EnvironmentSpec(Spec):
    """A deployment stage bound to one DataPlane."""

    model_config = ConfigDict(json_schema_extra=cel_validations(*immutable_rules("Environment")))

    data_plane: DataPlaneName = Field(
        ..., alias="dataPlane", description="DataPlane this environment runs on. Immutable."
    )
    production: Boolean = Field(
        False,
        description="Production environments run long-lived workloads highly available "
        "(at least 2 replicas spread across nodes, with a PodDisruptionBudget).",
    )
    display_name: str | None = Field(
        None, alias="displayName", max_length=256, description="Human-readable name."
    )


# ------------------------------------------------------------------- Project
class ProjectSpec(Spec):
    """A logical group of components, placed in one DataPlane (region)."""

    model_config = ConfigDict(json_schema_extra=cel_validations(*immutable_rules("Project")))

    data_plane: DataPlaneName | None = Field(
        None,
        alias="dataPlane",
        description="DataPlane (region) of the project, fixed when the project is created. "
        "When absent, the project stays on the organization's defaultDataPlane; it cannot be "
        "set, changed or removed later.",
    )
    display_name: str | None = Field(
        None, alias="displayName", max_length=256, description="Human-readable name."
    )
