"""The benchmark's input and the floor's output.

Input: one payg Organization on the `us` DataPlane, P Projects (default 20),
the two default Environments (development, production), and N Components
spread round-robin over the projects: 8 in 10 are `service`s with an
organization endpoint, 1 in 10 a `web-app` with a public endpoint (so an
Ingress), 1 in 10 a `scheduled-task` (a CronJob, no pods). Small resource
requests so that thousands of fake pods fit on the kwok nodes.

Floor: exactly the objects the operator would create for that input, rendered
by the operator's own pure render layer (`render.plan`), plus the
ownerReferences the apply layer adds to namespaces.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "operator"))

from cdp_operator.models import labels as L  # noqa: E402
from cdp_operator.models import naming  # noqa: E402
from cdp_operator.models.resources import (  # noqa: E402
    ComponentSpec,
    DataPlaneSpec,
    OrganizationSpec,
    ProjectSpec,
)
from cdp_operator.render.component_plan import plan_component  # noqa: E402
from cdp_operator.render.plan import plan_organization  # noqa: E402
from cdp_operator.render.verdict import Resource  # noqa: E402

Obj = dict[str, Any]
API = "cdp.dev/v1alpha1"
DATA_PLANE = "us"
ENVIRONMENTS = ("development", "production")

DATA_PLANES: list[Obj] = [
    {
        "apiVersion": API,
        "kind": "DataPlane",
        "metadata": {"name": "us"},
        "spec": {
            "region": "US East 2",
            "egressCIDRs": ["20.22.170.144/28"],
            "ingress": {
                "className": "nginx",
                "baseDomain": "us.apps.cdp.example.com",
                "gatewayNamespace": "ingress-nginx",
            },
            "maxRequestBodySize": "10m",
        },
    },
    {
        "apiVersion": API,
        "kind": "DataPlane",
        "metadata": {"name": "eu"},
        "spec": {
            "region": "North Europe",
            "egressCIDRs": ["20.166.183.112/28"],
            "ingress": {
                "className": "nginx",
                "baseDomain": "eu.apps.cdp.example.com",
                "gatewayNamespace": "ingress-nginx",
            },
            "maxRequestBodySize": "10m",
        },
    },
]

RESOURCES = {"cpu": "10m", "memory": "16Mi"}


def organization(name: str) -> Obj:
    return {
        "apiVersion": API,
        "kind": "Organization",
        "metadata": {"name": name},
        "spec": {"tier": "payg", "defaultDataPlane": DATA_PLANE, "displayName": "Benchmark"},
    }


def project(org: str, index: int) -> Obj:
    return {
        "apiVersion": API,
        "kind": "Project",
        "metadata": {"name": f"p{index:02d}", "namespace": naming.organization_namespace_name(org)},
        "spec": {},
    }


def component_spec(index: int, projects: int) -> Obj:
    project_name = f"p{index % projects:02d}"
    kind = index % 10
    if kind == 9:
        return {
            "project": project_name,
            "type": "web-app",
            "image": f"registry.example.com/bench/web-{index}:1.0.0",
            "build": {
                "buildpack": "nodejs",
                "configs": {"buildPackLangVersion": "20", "port": "3000"},
            },
            "endpoints": [{"name": "web", "port": 3000, "visibility": "public"}],
            "resources": dict(RESOURCES),
        }
    if kind == 8:
        return {
            "project": project_name,
            "type": "scheduled-task",
            "image": f"registry.example.com/bench/task-{index}:1.0.0",
            "build": {"buildpack": "docker", "configs": {"dockerFilePath": "./Dockerfile"}},
            # Once a year: the CronJob exists but starts no Job during a run.
            "schedule": "0 0 1 1 *",
            "resources": dict(RESOURCES),
        }
    return {
        "project": project_name,
        "type": "service",
        "image": f"registry.example.com/bench/svc-{index}:1.0.0",
        "build": {"buildpack": "python", "configs": {"buildPackLangVersion": "3.11"}},
        "endpoints": [{"name": "http", "port": 8080, "visibility": "organization"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}],
        "resources": dict(RESOURCES),
    }


def component(org: str, name: str, index: int, projects: int) -> Obj:
    return {
        "apiVersion": API,
        "kind": "Component",
        "metadata": {"name": name, "namespace": naming.organization_namespace_name(org)},
        "spec": component_spec(index, projects),
    }


def component_name(index: int) -> str:
    return f"c{index:04d}"


@dataclass
class Workload:
    """The user's resources for one run."""

    org: str
    n: int
    projects: int = 20
    org_obj: Obj = field(init=False)
    project_objs: list[Obj] = field(init=False)
    component_objs: list[Obj] = field(init=False)

    def __post_init__(self) -> None:
        self.org_obj = organization(self.org)
        self.project_objs = [project(self.org, i) for i in range(self.projects)]
        self.component_objs = [
            component(self.org, component_name(i), i, self.projects) for i in range(self.n)
        ]

    @property
    def namespace(self) -> str:
        return naming.organization_namespace_name(self.org)


@dataclass
class Rendered:
    """What the operator materialises for a Workload, split by creation phase."""

    namespaces: list[Obj]  # created first: everything else lives in them
    others: list[Obj]  # org-level (default environments, policies) and component objects
    component_objects: int  # how many of `others` belong to components
    pods: int  # replicas of all Deployments

    @property
    def total(self) -> int:
        return len(self.namespaces) + len(self.others)

    def count_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for obj in self.namespaces + self.others:
            counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
        return dict(sorted(counts.items()))


def _resource(obj: Obj, spec: Any, uid: str = "") -> Resource[Any]:
    meta = obj["metadata"]
    return Resource(
        name=meta["name"],
        namespace=meta.get("namespace") or "",
        uid=uid,
        generation=1,
        created="2026-01-01T00:00:00Z",
        labels=dict(meta.get("labels") or {}),
        spec=spec,
    )


def render(workload: Workload, org_uid: str) -> Rendered:
    """The operator's desired objects, from the operator's own render functions."""
    data_planes = {
        dp["metadata"]["name"]: DataPlaneSpec.model_validate(dp["spec"]) for dp in DATA_PLANES
    }
    org = _resource(
        workload.org_obj, OrganizationSpec.model_validate(workload.org_obj["spec"]), org_uid
    )
    projects = [_resource(p, ProjectSpec.model_validate(p["spec"])) for p in workload.project_objs]
    plan = plan_organization(org, data_planes, [], projects)
    desired = list(plan.desired)
    org_level = len(desired)
    for obj in workload.component_objs:
        comp = _resource(obj, ComponentSpec.model_validate(obj["spec"]))
        cplan = plan_component(plan, comp, admitted=True)
        assert cplan.verdict is None, cplan.verdict
        desired.extend(cplan.desired)
    owner = {
        "apiVersion": L.API_VERSION,
        "kind": "Organization",
        "name": workload.org,
        "uid": org_uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }
    namespaces = [o for o in desired if o["kind"] == "Namespace"]
    for ns in namespaces:  # as the apply layer does (apply.organization.own_namespaces)
        ns["metadata"]["ownerReferences"] = [owner]
    others = [o for o in desired if o["kind"] != "Namespace"]
    pods = sum(int(o["spec"].get("replicas", 1)) for o in desired if o["kind"] == "Deployment")
    return Rendered(namespaces, others, len(desired) - org_level, pods)


def expected_pods(n: int, projects: int = 20) -> int:
    """Pods the workload runs (for sizing the fake nodes); no API needed."""
    return render(Workload("sizing", n, projects), "00000000-0000-0000-0000-000000000000").pods
