"""The organization namespace and the runtime namespaces."""

from __future__ import annotations

from cdp_operator.models import labels as lbl
from cdp_operator.models.naming import organization_namespace_name

from .context import Manifest, Runtime

ROLE_ORGANIZATION = "organization"
ROLE_RUNTIME = "runtime"


def organization_namespace(organization: str) -> Manifest:
    """The namespace holding an organization's Environments, Projects and Components."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": organization_namespace_name(organization),
            "labels": {
                **lbl.managed_labels(organization),
                lbl.ROLE: ROLE_ORGANIZATION,
                **lbl.PSA_LABELS,
            },
        },
    }


def runtime_namespace(rt: Runtime) -> Manifest:
    """The namespace where one Project x Environment runs."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": rt.namespace,
            "labels": {**rt.labels(), lbl.ROLE: ROLE_RUNTIME, **lbl.PSA_LABELS},
            "annotations": {
                lbl.EGRESS_CIDRS: rt.egress_cidrs,
                lbl.REGION: rt.data_plane.region,
                lbl.BUILD_RETENTION: str(rt.build_retention),
            },
        },
    }
