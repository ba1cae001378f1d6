"""The kinds the operator reads or writes, and how to address them."""

from __future__ import annotations

from dataclasses import dataclass

from ..models.labels import GROUP, VERSION


@dataclass(frozen=True)
class Kind:
    kind: str
    group: str
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def _api_root(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def collection_path(self) -> str:
        """Every object of the kind, in all namespaces."""
        return f"{self._api_root}/{self.plural}"

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = self._api_root
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.kind} is namespaced: a namespace is required")
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


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

# Read only, never written: the pods of the Deployments above, summarised (apply/pods.py)
# to tell why a component does not run.
POD = Kind("Pod", "", "v1", "pods", True)
#: The same API resource watched a second time, with another label selector: the
#: pods of manual runs (a Job's pods carry the run-token label; a CronJob's do not).
#: `kind` names this informer (wait-for-sync, metrics), the objects stay Pods.
RUN_POD = Kind("ManualRunPod", "", "v1", "pods", True)

# Kopf's peering object: the replicas' priorities and keep-alives (high availability).
CLUSTER_PEERING = Kind("ClusterKopfPeering", "kopf.dev", "v1", "clusterkopfpeerings", False)

BY_KIND: dict[str, Kind] = {k.kind: k for k in (*CUSTOM_KINDS, *CHILD_KINDS)}


def kind_of(obj: dict[str, object]) -> Kind:
    return BY_KIND[str(obj["kind"])]
