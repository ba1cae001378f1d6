"""Default Environments, which the operator creates and the Organization owns."""

from __future__ import annotations

from cdp_operator.models import labels as lbl

from .context import Manifest


def default_environment(
    organization: str,
    organization_uid: str,
    namespace: str,
    name: str,
    data_plane: str,
    production: bool,
) -> Manifest:
    """A default Environment (Development or Production) of a data plane in use.

    Owned by the cluster-scoped Organization, so garbage collection removes it
    with the organization. blockOwnerDeletion is false: the owner's deletion
    must never wait on it.
    """
    return {
        "apiVersion": lbl.API_VERSION,
        "kind": "Environment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                **lbl.managed_labels(organization, data_plane=data_plane),
                lbl.DEFAULT_ENVIRONMENT: "true",
            },
            "ownerReferences": [
                {
                    "apiVersion": lbl.API_VERSION,
                    "kind": "Organization",
                    "name": organization,
                    "uid": organization_uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {"dataPlane": data_plane, "production": production},
    }
