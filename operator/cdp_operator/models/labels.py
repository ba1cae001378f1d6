"""Label and annotation keys, and the label sets the operator stamps on what it creates."""

from __future__ import annotations

PREFIX = "cdp.dev/"
GROUP = "cdp.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "cdp-operator"
ORGANIZATION = "cdp.dev/organization"
PROJECT = "cdp.dev/project"
ENVIRONMENT = "cdp.dev/environment"
DATA_PLANE = "cdp.dev/data-plane"
COMPONENT = "cdp.dev/component"
DEFAULT_ENVIRONMENT = "cdp.dev/default-environment"
#: What a managed object is for: org-namespace, runtime-namespace, workload, policy...
ROLE = "cdp.dev/role"

EGRESS_CIDRS = "cdp.dev/egress-cidrs"
REGION = "cdp.dev/region"
BUILD_RETENTION = "cdp.dev/build-retention"
TIER = "cdp.dev/tier"
#: Set by a user on a manual-task Component to request a run (any new value runs once).
RUN_REQUEST = "cdp.dev/run-request"
#: Longest run-request token status.lastRun.token holds (its CRD maxLength). Annotation
#: values may be longer: the operator must not write a longer token into status.
RUN_TOKEN_MAX = 253
#: Set with RUN_REQUEST: the environments (comma separated) the run starts in; absent: all.
RUN_ENVIRONMENTS = "cdp.dev/run-environments"
#: Set by the operator on a manual-task Job: the run request it serves.
RUN_TOKEN = "cdp.dev/run-token"

PSA_LEVEL = "restricted"
PSA_LABELS = {
    "pod-security.kubernetes.io/enforce": PSA_LEVEL,
    "pod-security.kubernetes.io/audit": PSA_LEVEL,
    "pod-security.kubernetes.io/warn": PSA_LEVEL,
}


def managed_labels(
    organization: str,
    *,
    project: str | None = None,
    environment: str | None = None,
    data_plane: str | None = None,
    component: str | None = None,
) -> dict[str, str]:
    labels = {MANAGED_BY: MANAGED_BY_VALUE, ORGANIZATION: organization}
    for key, value in (
        (PROJECT, project),
        (ENVIRONMENT, environment),
        (DATA_PLANE, data_plane),
        (COMPONENT, component),
    ):
        if value is not None:
            labels[key] = value
    return labels


def is_managed(metadata: dict[str, object]) -> bool:
    labels = metadata.get("labels") or {}
    return isinstance(labels, dict) and labels.get(MANAGED_BY) == MANAGED_BY_VALUE
