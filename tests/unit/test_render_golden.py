"""Golden files: what each kind of input renders to, reviewed as YAML in tests/golden/.

Regenerate after an intended change with
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render_golden.py
and review the diff. Each file is a multi-document manifest, so it can also be
checked with `kubectl apply --dry-run=server -f`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp_operator.models.resources import ComponentSpec, DataPlaneSpec, EnvironmentSpec
from cdp_operator.models.tiers import Tier
from cdp_operator.render.context import Manifest, Runtime
from cdp_operator.render.environments import default_environment
from cdp_operator.render.namespaces import organization_namespace, runtime_namespace
from cdp_operator.render.policies import component_policies, runtime_policies
from cdp_operator.render.workloads import component_objects, manual_run_job

GOLDEN = Path(__file__).resolve().parent.parent / "golden"

# The seed's data planes; us is dual-stack (kubeadm's pod and service CIDRs, and IPv6 ones).
US = DataPlaneSpec.model_validate(
    {
        "region": "US East 2",
        "egressCIDRs": ["20.22.170.144/28"],
        "clusterNetworks": [
            "10.244.0.0/16",
            "10.96.0.0/12",
            "fd00:10:244::/56",
            "fd00:10:96::/112",
        ],
        "ingress": {"className": "nginx", "baseDomain": "us.cdp.example.com"},
    }
)
EU = DataPlaneSpec.model_validate(
    {
        "region": "North Europe",
        "egressCIDRs": ["20.166.183.112/28"],
        "ingress": {
            "className": "nginx",
            "baseDomain": "eu.cdp.example.com",
            "gatewayNamespace": "gateway",
        },
        "maxRequestBodySize": "25m",
    }
)
DATA_PLANES = {"us": US, "eu": EU}


def runtime(
    environment: str = "development",
    *,
    tier: Tier = Tier.PAYG,
    organization: str = "acme",
    project: str = "shop",
    data_plane: str = "us",
    production: bool | None = None,
) -> Runtime:
    if production is None:
        production = environment.startswith("production")
    return Runtime(
        organization=organization,
        tier=tier,
        data_plane_name=data_plane,
        data_plane=DATA_PLANES[data_plane],
        project=project,
        environment=environment,
        environment_spec=EnvironmentSpec.model_validate(
            {"dataPlane": data_plane, "production": production}
        ),
    )


def component(**spec: Any) -> ComponentSpec:
    return ComponentSpec.model_validate(
        {"project": "shop", "image": "ghcr.io/acme/app:1.0", **spec}
    )


SERVICE = component(
    type="service",
    image="ghcr.io/acme/orders:1.4.2",
    build={"buildpack": "go", "configs": {"buildPackLangVersion": "1.22"}},
    endpoints=[
        {"name": "grpc", "port": 9090, "visibility": "project"},
        {"name": "internal", "port": 8081, "visibility": "organization"},
        {"name": "api", "port": 8080, "visibility": "public", "path": "/orders"},
    ],
    resources={"cpu": "0.5", "memory": "256Mi"},
    env=[{"name": "LOG_LEVEL", "value": "info"}, {"name": "FEATURE_X", "value": ""}],
    egress=[
        {"cidr": "203.0.113.0/24", "ports": [443]},
        {"cidr": "198.51.100.7/32", "ports": [5432, 5433]},
        {"cidr": "192.0.2.0/24"},
    ],
    overrides=[
        {
            "environment": "development",
            "image": "ghcr.io/acme/orders:1.5.0-rc1",
            "env": [{"name": "LOG_LEVEL", "value": "debug"}, {"name": "TRACING", "value": "on"}],
        },
        {"environment": "production", "replicas": 4},
    ],
)

WEB_APP = component(
    type="web-app",
    image="ghcr.io/acme/storefront:2.0.0",
    build={
        "buildpack": "react",
        "configs": {
            "buildCommand": "npm run build",
            "outputDirectory": "build",
            "nodeVersion": "20",
        },
    },
    endpoints=[{"name": "http", "port": 8080, "visibility": "public"}],
    resources={"cpu": "250m", "memory": "1024Mi"},
)

WEBHOOK = component(
    type="webhook",
    image="ghcr.io/acme/github-hook:0.3.1",
    endpoints=[{"name": "hook", "port": 3000, "visibility": "public", "path": "/hooks/github"}],
)

SCHEDULED_TASK = component(
    type="scheduled-task",
    image="ghcr.io/acme/nightly-report:1.0.0",
    schedule="30 2 * * *",
    resources={"cpu": "1", "memory": "512Mi"},
    env=[{"name": "REPORT_BUCKET", "value": "s3://acme-reports"}],
    egress=[{"cidr": "52.95.0.0/16", "ports": [443]}],
)

MANUAL_TASK = component(
    type="manual-task",
    image="ghcr.io/acme/db-migrate:5.1.0",
    env=[{"name": "DATABASE_HOST", "value": "orders-db.internal"}],
    egress=[{"cidr": "10.20.0.0/16", "ports": [5432]}],
)


# Allowlist entries that meet the cluster networks: everything (IPv4 and IPv6), a VPC
# around the cluster, and one inside the pod network (left out: it opens nothing).
CRAWLER = component(
    type="service",
    image="ghcr.io/acme/crawler:3.0.0",
    egress=[
        {"cidr": "0.0.0.0/0", "ports": [80, 443]},
        {"cidr": "::/0", "ports": [443]},
        {"cidr": "10.0.0.0/8", "ports": [5432]},
        {"cidr": "10.244.0.0/16", "ports": [9090]},
        {"cidr": "203.0.113.0/24"},
    ],
)


def _namespaces() -> list[Manifest]:
    return [
        organization_namespace("acme"),
        runtime_namespace(runtime("development", tier=Tier.DEVELOPER)),
        runtime_namespace(runtime("production-eu", tier=Tier.ENTERPRISE, data_plane="eu")),
    ]


def _default_environments() -> list[Manifest]:
    uid = "0b8e5d4e-6f55-4c1e-9d6a-3f0e7c2a1b90"
    return [
        default_environment("acme", uid, "cdp-org-acme", "development", "us", False),
        default_environment("acme", uid, "cdp-org-acme", "production", "us", True),
        default_environment("acme", uid, "cdp-org-acme", "development-eu", "eu", False),
        default_environment("acme", uid, "cdp-org-acme", "production-eu", "eu", True),
    ]


CASES: dict[str, Callable[[], list[Manifest]]] = {
    "namespaces": _namespaces,
    "default-environments": _default_environments,
    "runtime-policies": lambda: runtime_policies(runtime("development")),
    "service": lambda: component_objects(runtime("development"), "orders", SERVICE),
    "web-app-production": lambda: component_objects(
        runtime("production-eu", data_plane="eu", tier=Tier.ENTERPRISE), "storefront", WEB_APP
    ),
    "webhook": lambda: component_objects(runtime("development"), "github-hook", WEBHOOK),
    "egress-cluster-networks": lambda: component_policies(
        runtime("development"), "crawler", CRAWLER
    ),
    "scheduled-task": lambda: component_objects(
        runtime("production", tier=Tier.DEVELOPER), "nightly-report", SCHEDULED_TASK
    ),
    "manual-task": lambda: [
        *component_objects(runtime("development"), "db-migrate", MANUAL_TASK),
        manual_run_job(runtime("development"), "db-migrate", MANUAL_TASK, "2024-05-01T10:00:00Z"),
    ],
}


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(objects: list[Manifest]) -> str:
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    rendered = CASES[case]()
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(rendered))
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 to create it"
    expected = list(yaml.safe_load_all(path.read_text()))
    assert rendered == expected, (
        f"{case} differs from {path.name}; if intended, regenerate with UPDATE_GOLDEN=1 "
        "and review the diff"
    )


def test_no_stale_golden_files() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.yaml")) == sorted(CASES)
