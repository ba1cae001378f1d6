"""The benchmark's input and the floor's output, for two shapes.

Shape "single" (Workload): one payg Organization on the `us` DataPlane, P Projects (default 20),
the two default Environments (development, production), and N Components
spread round-robin over the projects: 8 in 10 are `service`s with an
organization endpoint, 1 in 10 a `web-app` with a public endpoint (so an
Ingress), 1 in 10 a `scheduled-task` (a CronJob, no pods). Small resource
requests so that thousands of fake pods fit on the kwok nodes.

Shape "shared" (SharedWorkload): a shared regional data plane, many
Organizations of every tier on both DataPlanes (generated from a seed; see
SharedWorkload for the mix).

Floor: exactly the objects the operator would create for that input, rendered
by the operator's own pure render layer (`render.plan`), plus the
ownerReferences the apply layer adds to namespaces.
"""

from __future__ import annotations

import random
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
    EnvironmentSpec,
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
    """Shape "single": the user's resources for one run, one Organization."""

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

    # The interface both shapes share (run.py uses only this).
    @property
    def org_objs(self) -> list[Obj]:
        return [self.org_obj]

    @property
    def environment_objs(self) -> list[Obj]:
        return []

    @property
    def namespaced_objs(self) -> list[Obj]:
        """Environments, Projects and Components: created once the org namespaces exist."""
        return self.project_objs + self.component_objs

    @property
    def user_resources(self) -> int:
        """Every user resource whose status the operator writes (default Environments included)."""
        return 1 + len(self.project_objs) + len(ENVIRONMENTS) + self.n

    def render(self, uids: dict[str, str]) -> Rendered:
        return render(self, uids.get(self.org, ""))

    def latency_probe(self) -> Probe:
        """Where the latency samples go: a service in project p00 (one Deployment per
        environment)."""
        spec = component_spec(0, self.projects)
        return Probe(
            org=self.org,
            namespace=self.namespace,
            spec=spec,
            deployment_namespaces=[
                naming.runtime_namespace_name(self.org, spec["project"], e) for e in ENVIRONMENTS
            ],
        )


@dataclass(frozen=True)
class Probe:
    """The Component the latency samples create copies of, and where its Deployments go."""

    org: str
    namespace: str
    spec: Obj
    deployment_namespaces: list[str]


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

    def deployments(self) -> set[tuple[str, str]]:
        return {
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in self.others
            if o["kind"] == "Deployment"
        }


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


def _render_org(
    org_obj: Obj,
    environment_objs: list[Obj],
    project_objs: list[Obj],
    component_objs: list[Obj],
    org_uid: str,
) -> tuple[list[Obj], int]:
    """One organization's desired objects and how many of them are org-level."""
    data_planes = {
        dp["metadata"]["name"]: DataPlaneSpec.model_validate(dp["spec"]) for dp in DATA_PLANES
    }
    org = _resource(org_obj, OrganizationSpec.model_validate(org_obj["spec"]), org_uid)
    envs = [_resource(e, EnvironmentSpec.model_validate(e["spec"])) for e in environment_objs]
    projects = [_resource(p, ProjectSpec.model_validate(p["spec"])) for p in project_objs]
    plan = plan_organization(org, data_planes, envs, projects)
    for key, verdict in plan.verdicts.items():
        assert verdict.ready, (key, verdict)  # every resource of the input is valid
    desired = list(plan.desired)
    org_level = len(desired)
    for obj in component_objs:
        comp = _resource(obj, ComponentSpec.model_validate(obj["spec"]))
        cplan = plan_component(plan, comp, admitted=True)
        assert cplan.verdict is None, cplan.verdict
        desired.extend(cplan.desired)
    owner = {
        "apiVersion": L.API_VERSION,
        "kind": "Organization",
        "name": org.name,
        "uid": org_uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }
    for obj in desired:  # as the apply layer does (apply.organization.own_namespaces)
        if obj["kind"] == "Namespace":
            obj["metadata"]["ownerReferences"] = [dict(owner)]
    return desired, org_level


def _rendered(per_org: list[tuple[list[Obj], int]]) -> Rendered:
    namespaces: list[Obj] = []
    others: list[Obj] = []
    component_objects = 0
    for desired, org_level in per_org:
        namespaces += [o for o in desired if o["kind"] == "Namespace"]
        others += [o for o in desired if o["kind"] != "Namespace"]
        component_objects += len(desired) - org_level
    pods = sum(int(o["spec"].get("replicas", 1)) for o in others if o["kind"] == "Deployment")
    return Rendered(namespaces, others, component_objects, pods)


def render(workload: Workload, org_uid: str) -> Rendered:
    """The operator's desired objects, from the operator's own render functions."""
    return _rendered(
        [_render_org(workload.org_obj, [], workload.project_objs, workload.component_objs, org_uid)]
    )


def expected_pods(n: int, projects: int = 20) -> int:
    """Pods the workload runs (for sizing the fake nodes); no API needed."""
    return render(Workload("sizing", n, projects), "00000000-0000-0000-0000-000000000000").pods


# ---------------------------------------------------------------- shape "shared"
#: The tier mix of a shared data plane: most organizations are on the free plan.
DEVELOPER_SHARE, PAYG_SHARE = 0.80, 0.18  # the rest (at least one) enterprise
#: Components per organization: developer 1..5 (all free, the tier's limit),
#: payg PAYG_COMPONENTS, enterprise the rest of N split among them (hundreds).
PAYG_COMPONENTS = (5, 40)
#: Organizations per component: about 500 at N=10,000.
COMPONENTS_PER_ORG = 20
#: Extra Environments a tier may add (payg: at most 5 in total, defaults included).
EXTRA_ENVIRONMENTS = ("staging", "qa", "uat")


@dataclass
class SharedOrg:
    """One organization of the shared shape and its resources."""

    name: str
    tier: str
    org_obj: Obj
    environment_objs: list[Obj]
    project_objs: list[Obj]
    component_objs: list[Obj]

    @property
    def namespace(self) -> str:
        return naming.organization_namespace_name(self.name)

    @property
    def default_environments(self) -> int:
        planes = {self.org_obj["spec"]["defaultDataPlane"]}
        planes |= {
            p["spec"].get("dataPlane") or self.org_obj["spec"]["defaultDataPlane"]
            for p in self.project_objs
        }
        return 2 * len(planes)


def _shared_component(org: str, index: int, project_name: str, rng: random.Random) -> Obj:
    """A component of the shared shape: mostly services, some web apps (public, so
    an Ingress) and scheduled tasks (a yearly CronJob)."""
    spec = component_spec(rng.randrange(10), 1)
    spec["project"] = project_name
    spec["image"] = spec["image"].replace("/bench/", f"/{org}/")
    return {
        "apiVersion": API,
        "kind": "Component",
        "metadata": {
            "name": component_name(index),
            "namespace": naming.organization_namespace_name(org),
        },
        "spec": spec,
    }


@dataclass
class SharedWorkload:
    """Shape "shared": a shared regional data plane, about N/20 Organizations
    (500 at N=10,000), generated from `seed` so that every run gets the same input.

    - 80 % `developer` (the free plan): 1 to 5 components (all free, the tier's
      limit), 1 to 3 projects, on its default DataPlane only (us or eu), the two
      default Environments only;
    - 18 % `payg`: 5 to 40 components, 1 to 5 projects, a third of them with a
      project on the other DataPlane too (so 4 default Environments), extra
      Environments up to the tier's 5 (staging, qa, uat);
    - the rest (at least one) `enterprise`: the remaining components split among
      them (hundreds each), 5 projects on both DataPlanes, a staging Environment.

    Every resource is valid and fits its tier (render() asserts it).
    """

    prefix: str
    n: int
    seed: int = 15
    orgs: list[SharedOrg] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(f"{self.seed}-{self.n}")
        count = max(3, round(self.n / COMPONENTS_PER_ORG))
        enterprise = max(1, round(count * (1 - DEVELOPER_SHARE - PAYG_SHARE)))
        payg = max(1, round(count * PAYG_SHARE))
        developer = count - enterprise - payg
        tiers = ["developer"] * developer + ["payg"] * payg + ["enterprise"] * enterprise
        sizes = [rng.randint(1, 5) if t == "developer" else 0 for t in tiers]
        budget = self.n - sum(sizes)
        for i, t in enumerate(tiers):
            if t == "payg":
                # Leave the enterprise organizations at least 100 components each.
                sizes[i] = max(1, min(rng.randint(*PAYG_COMPONENTS), budget - 100 * enterprise))
                budget -= sizes[i]
        per_enterprise, extra = divmod(max(budget, enterprise), enterprise)
        e = 0
        for i, t in enumerate(tiers):
            if t == "enterprise":
                sizes[i] = per_enterprise + (1 if e < extra else 0)
                e += 1
        order = list(range(count))
        rng.shuffle(order)  # tiers interleaved, as onboarding would be
        self.orgs = [self._org(k, tiers[i], sizes[i], rng) for k, i in enumerate(order)]

    def _org(self, index: int, tier: str, components: int, rng: random.Random) -> SharedOrg:
        name = f"{self.prefix}-{tier[0]}{index:03d}"
        ns = naming.organization_namespace_name(name)
        default_dp, other_dp = ("us", "eu") if rng.random() < 0.6 else ("eu", "us")
        org_obj = {
            "apiVersion": API,
            "kind": "Organization",
            "metadata": {"name": name},
            "spec": {"tier": tier, "defaultDataPlane": default_dp, "displayName": name},
        }
        if tier == "developer":
            projects = rng.randint(1, min(3, components))
        elif tier == "payg":
            projects = rng.randint(1, min(5, components))
        else:
            projects = 5
        both = tier == "enterprise" or (tier == "payg" and projects > 1 and rng.random() < 1 / 3)
        project_objs = []
        for p in range(projects):
            spec: Obj = {}
            if both and p % 2 == 1:
                spec["dataPlane"] = other_dp
            project_objs.append(
                {
                    "apiVersion": API,
                    "kind": "Project",
                    "metadata": {"name": f"p{p}", "namespace": ns},
                    "spec": spec,
                }
            )
        extras = 0
        if tier == "payg":
            extras = rng.randint(0, 5 - (4 if both else 2))
        elif tier == "enterprise":
            extras = 1
        environment_objs = [
            {
                "apiVersion": API,
                "kind": "Environment",
                "metadata": {"name": EXTRA_ENVIRONMENTS[x], "namespace": ns},
                "spec": {"dataPlane": default_dp, "production": False},
            }
            for x in range(extras)
        ]
        component_objs = [
            _shared_component(name, c, f"p{c % projects}", rng) for c in range(components)
        ]
        return SharedOrg(name, tier, org_obj, environment_objs, project_objs, component_objs)

    # The interface both shapes share (run.py uses only this).
    @property
    def org_objs(self) -> list[Obj]:
        return [o.org_obj for o in self.orgs]

    @property
    def environment_objs(self) -> list[Obj]:
        return [e for o in self.orgs for e in o.environment_objs]

    @property
    def namespaced_objs(self) -> list[Obj]:
        """Environments, Projects and Components: created once the org namespaces exist."""
        return [
            x for o in self.orgs for x in (*o.environment_objs, *o.project_objs, *o.component_objs)
        ]

    @property
    def component_objs(self) -> list[Obj]:
        return [c for o in self.orgs for c in o.component_objs]

    @property
    def user_resources(self) -> int:
        """Every user resource whose status the operator writes (default Environments included)."""
        return sum(
            1
            + len(o.environment_objs)
            + o.default_environments
            + len(o.project_objs)
            + len(o.component_objs)
            for o in self.orgs
        )

    def tiers(self) -> dict[str, dict[str, int]]:
        """Organizations and components per tier (for the report)."""
        result: dict[str, dict[str, int]] = {}
        for o in self.orgs:
            entry = result.setdefault(o.tier, {"organizations": 0, "components": 0})
            entry["organizations"] += 1
            entry["components"] += len(o.component_objs)
        return result

    def render(self, uids: dict[str, str]) -> Rendered:
        return _rendered(
            [
                _render_org(
                    o.org_obj,
                    o.environment_objs,
                    o.project_objs,
                    o.component_objs,
                    uids.get(o.name, ""),
                )
                for o in self.orgs
            ]
        )

    def latency_probe(self) -> Probe:
        """A service in the first project of the largest organization (on its default
        DataPlane: a Deployment in each of that DataPlane's environments)."""
        org = max(self.orgs, key=lambda o: len(o.component_objs))
        spec = component_spec(0, 1)
        spec["project"] = "p0"
        envs = ["development", "production"] + [e["metadata"]["name"] for e in org.environment_objs]
        return Probe(
            org=org.name,
            namespace=org.namespace,
            spec=spec,
            deployment_namespaces=[naming.runtime_namespace_name(org.name, "p0", e) for e in envs],
        )
