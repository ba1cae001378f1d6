"""What the render functions are given: one Project x Environment on one DataPlane."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdp_operator.models import labels as lbl
from cdp_operator.models.naming import runtime_namespace_name
from cdp_operator.models.resources import DataPlaneSpec, EnvironmentSpec
from cdp_operator.models.tiers import Tier, limits_for

#: A Kubernetes object as a plain dict, ready for server-side apply.
Manifest = dict[str, Any]

APP_NAME = "app.kubernetes.io/name"
APP_PART_OF = "app.kubernetes.io/part-of"


@dataclass(frozen=True)
class Runtime:
    """One Project x Environment on one DataPlane: one runtime namespace."""

    organization: str
    tier: Tier
    data_plane_name: str
    data_plane: DataPlaneSpec
    project: str
    environment: str
    environment_spec: EnvironmentSpec

    @property
    def namespace(self) -> str:
        return runtime_namespace_name(self.organization, self.project, self.environment)

    @property
    def build_retention(self) -> int:
        return limits_for(self.tier).build_retention

    @property
    def production(self) -> bool:
        return self.environment_spec.production

    @property
    def egress_cidrs(self) -> str:
        """The DataPlane's egress CIDRs as the annotation value (comma separated)."""
        return ",".join(self.data_plane.egress_cidrs)

    def labels(self, component: str | None = None) -> dict[str, str]:
        """Managed labels of an object in this runtime (with the component when given)."""
        return lbl.managed_labels(
            self.organization,
            project=self.project,
            environment=self.environment,
            data_plane=self.data_plane_name,
            component=component,
        )

    def component_labels(self, component: str) -> dict[str, str]:
        """Labels of every object rendered for a component (and of its pods)."""
        return {
            **self.labels(component),
            APP_NAME: component,
            APP_PART_OF: self.project,
        }

    def tier_annotations(self) -> dict[str, str]:
        """Annotations that move with the tier or the DataPlane: never on a pod template."""
        return {
            lbl.EGRESS_CIDRS: self.egress_cidrs,
            lbl.BUILD_RETENTION: str(self.build_retention),
        }
