"""What a Component becomes in one runtime namespace.

Tier-dependent values (retention, the egress-CIDR annotation) live only on a
workload's own metadata and spec, never in a pod template: a tier change then
updates objects in place and rolls no pod.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cdp_operator.models import labels as lbl
from cdp_operator.models.buildconfigs import ComponentType
from cdp_operator.models.naming import bounded_name
from cdp_operator.models.resources import ComponentSpec, Endpoint, EnvVar, Protocol, Visibility

from .context import Manifest, Runtime
from .policies import component_pods, component_policies
from .quantity import canonical_quantity

LONG_RUNNING = frozenset({ComponentType.SERVICE, ComponentType.WEB_APP, ComponentType.WEBHOOK})

#: A CronJob's name leaves room for the 11 characters its Jobs append.
CRONJOB_NAME_MAX = 52
#: Production workloads run at least this many replicas (seed: two workload nodes).
PRODUCTION_MIN_REPLICAS = 2
#: Retries of a task run before its Job fails.
JOB_BACKOFF_LIMIT = 2
#: The only writable path in a container (its root filesystem is read-only).
TMP_VOLUME = "tmp"
TMP_PATH = "/tmp"

HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"
PROXY_BODY_SIZE = "nginx.ingress.kubernetes.io/proxy-body-size"


# ------------------------------------------------------------------ the spec
def effective_spec(spec: ComponentSpec, environment: str) -> ComponentSpec:
    """The spec with the overrides for `environment` applied (later overrides win).

    env is merged by name: an override replaces a variable in place and
    appends new ones in its own order.
    """
    result = spec
    for override in spec.overrides:
        if override.environment != environment:
            continue
        update: dict[str, Any] = {}
        if override.replicas is not None:
            update["replicas"] = override.replicas
        if override.image is not None:
            update["image"] = override.image
        if override.resources is not None:
            update["resources"] = override.resources
        if override.env is not None:
            update["env"] = _merge_env(result.env, override.env)
        result = result.model_copy(update=update)
    return result


def _merge_env(base: list[EnvVar], override: list[EnvVar]) -> list[EnvVar]:
    replaced = {v.name: v for v in override}
    merged = [replaced.pop(v.name, v) for v in base]
    return merged + [v for v in override if v.name in replaced]


def production_replicas(replicas: int) -> int:
    """At least two replicas in production, unless the component is scaled to zero."""
    return replicas if replicas == 0 else max(PRODUCTION_MIN_REPLICAS, replicas)


# ------------------------------------------------------------------- names
def cronjob_name(component: str) -> str:
    return bounded_name(component, limit=CRONJOB_NAME_MAX)


def run_token_hash(token: str) -> str:
    """The short, label-safe form of a manual run's token."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def manual_run_job_name(component: str, token: str) -> str:
    return bounded_name(f"{component}-run-{run_token_hash(token)}")


def ingress_host(rt: Runtime, component: str) -> str:
    """<component>-<environment>.<organization>.<baseDomain>, as the DataPlane CRD documents.

    Component names are unique in an organization, and the organization label
    keeps two tenants from ever claiming the same host.
    """
    label = bounded_name(component, rt.environment)
    return f"{label}.{rt.organization}.{rt.data_plane.ingress.base_domain}"


def component_workload_ref(
    rt: Runtime, component: str, spec: ComponentSpec
) -> tuple[str, str] | None:
    """(kind, name) of the workload whose status tells readiness; None for manual tasks."""
    if spec.type in LONG_RUNNING:
        return ("Deployment", component)
    if spec.type == ComponentType.SCHEDULED_TASK:
        return ("CronJob", cronjob_name(component))
    return None


# ------------------------------------------------------------------ objects
def component_objects(rt: Runtime, component: str, spec: ComponentSpec) -> list[Manifest]:
    """The long-lived objects of a component in `rt`: workload, Service, Ingress, PDB, policies."""
    spec = effective_spec(spec, rt.environment)
    objects: list[Manifest] = []
    if spec.type in LONG_RUNNING:
        objects.append(deployment(rt, component, spec))
        if spec.endpoints:
            objects.append(service(rt, component, spec))
        if _public_http_endpoints(spec):
            objects.append(ingress(rt, component, spec))
        if rt.production:
            objects.append(pod_disruption_budget(rt, component))
    elif spec.type == ComponentType.SCHEDULED_TASK:
        objects.append(cronjob(rt, component, spec))
    objects.extend(component_policies(rt, component, spec))
    return objects


def _metadata(
    rt: Runtime,
    name: str,
    component: str,
    *,
    workload: bool = False,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Metadata of a component's object; a workload also gets the tier annotations."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": rt.namespace,
        "labels": {**rt.component_labels(component), **(labels or {})},
    }
    merged = {**(rt.tier_annotations() if workload else {}), **(annotations or {})}
    if merged:
        meta["annotations"] = merged
    return meta


def deployment(rt: Runtime, component: str, spec: ComponentSpec) -> Manifest:
    replicas = production_replicas(spec.replicas) if rt.production else spec.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(rt, component, component, workload=True),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": rt.build_retention,
            # Immutable once created: keep it to the one label that never changes.
            "selector": component_pods(component),
            "template": {
                "metadata": {"labels": rt.component_labels(component)},
                "spec": pod_spec(rt, component, spec, spread=rt.production),
            },
        },
    }


def service(rt: Runtime, component: str, spec: ComponentSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(rt, component, component),
        "spec": {
            "selector": component_pods(component)["matchLabels"],
            "ports": [
                {"name": e.name, "protocol": e.protocol.value, "port": e.port, "targetPort": e.port}
                for e in spec.endpoints
            ],
        },
    }


def _public_http_endpoints(spec: ComponentSpec) -> list[Endpoint]:
    # An Ingress carries HTTP only; a public UDP endpoint gets its NetworkPolicy but no path.
    return [
        e
        for e in spec.endpoints
        if e.visibility == Visibility.PUBLIC and e.protocol == Protocol.TCP
    ]


def ingress(rt: Runtime, component: str, spec: ComponentSpec) -> Manifest:
    settings = rt.data_plane.ingress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(
            rt,
            component,
            component,
            annotations={PROXY_BODY_SIZE: rt.data_plane.max_request_body_size},
        ),
        "spec": {
            "ingressClassName": settings.class_name,
            "rules": [
                {
                    "host": ingress_host(rt, component),
                    "http": {
                        "paths": [
                            {
                                "path": e.path,
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": component, "port": {"number": e.port}}
                                },
                            }
                            for e in _public_http_endpoints(spec)
                        ]
                    },
                }
            ],
        },
    }


def pod_disruption_budget(rt: Runtime, component: str) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(rt, component, component),
        "spec": {
            "minAvailable": 1,
            "selector": component_pods(component),
            # A crash-looping pod must not block node drains (failover on node loss).
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def cronjob(rt: Runtime, component: str, spec: ComponentSpec) -> Manifest:
    if not spec.schedule:
        raise ValueError(f"scheduled-task {component!r} has no schedule")
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata(rt, cronjob_name(component), component, workload=True),
        "spec": {
            "schedule": spec.schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": rt.build_retention,
            "failedJobsHistoryLimit": rt.build_retention,
            "jobTemplate": {
                "metadata": {"labels": rt.component_labels(component)},
                "spec": _job_spec(rt, component, spec, rt.component_labels(component)),
            },
        },
    }


def manual_run_job(rt: Runtime, component: str, spec: ComponentSpec, token: str) -> Manifest:
    """One run of a manual task, for the run request `token` (idempotent per token)."""
    spec = effective_spec(spec, rt.environment)
    run_label = {lbl.RUN_TOKEN: run_token_hash(token)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(
            rt,
            manual_run_job_name(component, token),
            component,
            workload=True,
            labels=run_label,
            annotations={lbl.RUN_TOKEN: token},
        ),
        "spec": _job_spec(rt, component, spec, {**rt.component_labels(component), **run_label}),
    }


def _job_spec(
    rt: Runtime, component: str, spec: ComponentSpec, pod_labels: dict[str, str]
) -> dict[str, Any]:
    pod = pod_spec(rt, component, spec, spread=False)
    pod["restartPolicy"] = "Never"
    return {
        "backoffLimit": JOB_BACKOFF_LIMIT,
        "template": {"metadata": {"labels": pod_labels}, "spec": pod},
    }


# --------------------------------------------------------------------- pods
def pod_spec(rt: Runtime, component: str, spec: ComponentSpec, *, spread: bool) -> dict[str, Any]:
    """A pod that passes the restricted Pod Security Standard.

    Depends only on the effective spec and the environment, never on the tier.
    """
    container: dict[str, Any] = {"name": component, "image": spec.image}
    if spec.endpoints:
        container["ports"] = [
            {"name": e.name, "containerPort": e.port, "protocol": e.protocol.value}
            for e in spec.endpoints
        ]
    if spec.env:
        container["env"] = [_env_var(v) for v in spec.env]
    container["resources"] = {"requests": _resources(spec), "limits": _resources(spec)}
    container["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }
    container["volumeMounts"] = [{"name": TMP_VOLUME, "mountPath": TMP_PATH}]
    pod: dict[str, Any] = {
        "containers": [container],
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {}}],
    }
    if spread:
        pod["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": HOSTNAME_TOPOLOGY_KEY,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": component_pods(component),
            }
        ]
    return pod


def _env_var(var: EnvVar) -> dict[str, str]:
    # The server drops an empty value (omitempty); so do we.
    return {"name": var.name, "value": var.value} if var.value else {"name": var.name}


def _resources(spec: ComponentSpec) -> dict[str, str]:
    return {
        "cpu": canonical_quantity(spec.resources.cpu),
        "memory": canonical_quantity(spec.resources.memory),
    }
