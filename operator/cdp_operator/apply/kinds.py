"""The kinds the operator reads or writes, and how to address them."""

from __future__ import annotations

from ..models.labels import GROUP, VERSION
from ..runtime.kind import Kind as Kind  # re-exported: K.Kind

# Custom resources users own (the operator writes only their status).
DATA_PLANE = Kind("DataPlane", GROUP, VERSION, "dataplanes", False)
ORGANIZATION = Kind("Organization", GROUP, VERSION, "organizations", False)
ENVIRONMENT = Kind("Environment", GROUP, VERSION, "environments", True)
PROJECT = Kind("Project", GROUP, VERSION, "projects", True)
COMPONENT = Kind("Component", GROUP, VERSION, "components", True)
CUSTOM_KINDS = (DATA_PLANE, ORGANIZATION, ENVIRONMENT, PROJECT, COMPONENT)

# Objects the operator materialises.
NAMESPACE = Kind("Namespace", "", "v1", "namespaces", False)
SERVICE = Kind("Service", "", "v1", "services", True)
DEPLOYMENT = Kind("Deployment", "apps", "v1", "deployments", True)
CRONJOB = Kind("CronJob", "batch", "v1", "cronjobs", True)
JOB = Kind("Job", "batch", "v1", "jobs", True)
INGRESS = Kind("Ingress", "networking.k8s.io", "v1", "ingresses", True)
NETWORK_POLICY = Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", True)
PDB = Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", True)
CHILD_KINDS = (NAMESPACE, SERVICE, DEPLOYMENT, CRONJOB, JOB, INGRESS, NETWORK_POLICY, PDB)

BY_KIND: dict[str, Kind] = {k.kind: k for k in (*CUSTOM_KINDS, *CHILD_KINDS)}


def kind_of(obj: dict[str, object]) -> Kind:
    return BY_KIND[str(obj["kind"])]
