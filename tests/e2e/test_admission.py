"""The CRDs against the real apiserver: rules compile, bad input is rejected at
admission with the field named, good input is accepted and defaulted.

Cluster-scoped objects (DataPlane, Organization) are only created with a
server-side dry run, so nothing here leaks into other tests; namespaced ones
live in the per-test namespace.
"""

from __future__ import annotations

import json
import secrets
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from build_cases import configs_for
from cdp_operator.models import crdgen, cron
from cdp_operator.models.buildconfigs import (
    REQUIRED_BUILD_CONFIGS,
    Buildpack,
    ComponentType,
    build_config_errors,
)
from cdp_operator.models.resources import (
    ComponentSpec,
    DataPlaneSpec,
    ProjectSpec,
    name_errors,
    transition_errors,
)
from cdp_operator.models.status import ComponentEnvironment, ComponentStatus, set_condition
from cron_cases import INVALID, STRICTER, VALID, generated, k8s_accepts
from doc_examples import CLI_DOC, doc_examples

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
GROUP, VERSION = "cdp.dev", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


def text(value: str | bytes | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


@pytest.fixture(scope="module")
def crd_cluster(cluster: Any) -> Any:
    """Install the committed CRDs; the apiserver compiles and cost-checks every rule here."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *[f"crd/{info.plural}.{GROUP}" for info in crdgen.KINDS],
    )
    return cluster


def suffix() -> str:
    return secrets.token_hex(3)


def obj(kind: str, name: str, spec: dict[str, Any] | None, namespace: str | None = None) -> Any:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    out: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, "metadata": meta}
    if spec is not None:
        out["spec"] = spec
    return out


def component(name: str, namespace: str, **spec: Any) -> Any:
    return obj(
        "Component",
        name,
        {"project": "shop", "type": "service", "image": "nginx:1.27", **spec},
        namespace,
    )


def create(
    cluster: Any, body: Any, *, dry_run: bool = False, check: bool = True
) -> subprocess.CompletedProcess[Any]:
    args = ["create", "-f", "-", "-o", "json"]
    if dry_run:
        args.append("--dry-run=server")
    return cluster.kubectl(*args, input=json.dumps(body), check=check)  # type: ignore[no-any-return]


def assert_rejected(cluster: Any, body: Any, *fragments: str) -> str:
    proc = create(cluster, body, dry_run=True, check=False)
    err = text(proc.stderr)
    assert proc.returncode != 0, f"accepted: {json.dumps(body)}"
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in: {err}"
    return err


# --------------------------------------------------------------- good input
def test_crds_are_established_with_names_and_category(crd_cluster: Any) -> None:
    out = text(crd_cluster.kubectl("api-resources", f"--api-group={GROUP}", "-o", "wide").stdout)
    for info in crdgen.KINDS:
        line = next(ln for ln in out.splitlines() if ln.startswith(info.plural + " "))
        assert info.short_names[0] in line.split()
        assert "cdp" in line
        assert ("true" in line.split()) is (info.scope == "Namespaced")


def test_samples_of_every_kind_are_accepted_and_defaulted(crd_cluster: Any, namespace: str) -> None:
    s = suffix()
    for dp, cidr in (("us", "20.22.170.144/28"), ("eu", "20.166.183.112/28")):
        networks = ["10.244.0.0/16", "10.96.0.0/12", "fd00:10:244::/56", "fd00:10:96::/112"]
        spec = {
            "region": "US East 2",
            "egressCIDRs": [cidr],
            "clusterNetworks": networks,
            "ingress": {"baseDomain": f"{dp}.example.com"},
        }
        DataPlaneSpec.model_validate(spec)  # the models accept it too
        out = json.loads(
            create(crd_cluster, obj("DataPlane", f"{dp}-{s}", spec), dry_run=True).stdout
        )
        assert out["spec"]["clusterNetworks"] == networks
        assert out["spec"]["maxRequestBodySize"] == "10m"
        assert out["spec"]["ingress"]["className"] == "nginx"
    for tier in ("developer", "payg", "enterprise"):
        create(
            crd_cluster,
            obj("Organization", f"o-{tier}-{s}", {"defaultDataPlane": "us", "tier": tier}),
            dry_run=True,
        )
    out = json.loads(
        create(
            crd_cluster, obj("Organization", f"o-{s}", {"defaultDataPlane": "us"}), dry_run=True
        ).stdout
    )
    assert out["spec"]["tier"] == "developer"

    create(crd_cluster, obj("Environment", "staging", {"dataPlane": "us"}, namespace))
    out = json.loads(create(crd_cluster, obj("Project", "shop", None, namespace)).stdout)
    assert out["spec"] == {}

    samples = [
        component("api", namespace, endpoints=[{"name": "http", "port": 8080}]),
        component(
            "web",
            namespace,
            type="web-app",
            build={
                "buildpack": "react",
                "configs": configs_for(
                    REQUIRED_BUILD_CONFIGS[(ComponentType.WEB_APP, Buildpack.REACT)]
                ),
            },
            endpoints=[{"name": "http", "port": 3000, "visibility": "public", "path": "/app"}],
            egress=[{"cidr": "203.0.113.0/24", "ports": [443]}, {"cidr": "2001:db8::/32"}],
        ),
        component("hook", namespace, type="webhook", build={"buildpack": "ballerina"}),
        component("nightly", namespace, type="scheduled-task", schedule="0 3 * * *"),
        component("hourly", namespace, type="scheduled-task", schedule="@hourly"),
        component(
            "once",
            namespace,
            type="manual-task",
            build={"buildpack": "docker", "configs": {"dockerFilePath": "Dockerfile"}},
            env=[{"name": "A", "value": "1"}, {"name": "B"}],
            overrides=[{"environment": "production", "replicas": 2}],
        ),
    ]
    for sample in samples:
        ComponentSpec.model_validate(sample["spec"])  # the models accept them too
        create(crd_cluster, sample)
    api = json.loads(
        crd_cluster.kubectl("get", "component", "api", "-n", namespace, "-o", "json").stdout
    )
    spec = api["spec"]
    assert spec["replicas"] == 1
    assert spec["resources"] == {"cpu": "100m", "memory": "128Mi"}
    assert spec["endpoints"][0] == {
        "name": "http",
        "port": 8080,
        "protocol": "TCP",
        "visibility": "project",
        "path": "/",
    }
    listing = text(crd_cluster.kubectl("get", "cdp", "-n", namespace).stdout)
    for name in ("api", "web", "hook", "nightly", "once", "staging", "shop"):
        assert name in listing
    header = text(crd_cluster.kubectl("get", "components", "-n", namespace).stdout).splitlines()[0]
    for column in ("PROJECT", "TYPE", "READY", "REASON", "AGE"):
        assert column in header


def test_explain_describes_the_fields(crd_cluster: Any) -> None:
    out = text(crd_cluster.kubectl("explain", "component.spec.build").stdout)
    assert "buildPackLangVersion" in out and "buildpack" in out
    out = text(crd_cluster.kubectl("explain", "dataplane.spec.egressCIDRs").stdout)
    assert "allowlist" in out
    out = text(crd_cluster.kubectl("explain", "dataplane.spec.clusterNetworks").stdout)
    assert "pod and service CIDRs" in out and "EgressAllowlistEffective" in out


def test_status_subresource_accepts_what_the_models_write(crd_cluster: Any, namespace: str) -> None:
    create(crd_cluster, component("api", namespace))
    conditions = set_condition(
        [], "Ready", False, "Reconciling", "rolling out", 1, "2025-01-01T00:00:00Z"
    )
    conditions = set_condition(
        conditions,
        "EgressAllowlistEffective",
        False,
        "InsideClusterNetwork",
        "egress 10.1.0.0/16 lies inside the cluster network 10.0.0.0/8 of DataPlane us and "
        "opens nothing",
        1,
        "2025-01-01T00:00:00Z",
    )
    status = ComponentStatus(
        observed_generation=1,
        conditions=conditions,
        environments=[
            ComponentEnvironment(
                name="development",
                namespace="acme-shop-development",
                workload_kind="Deployment",
                workload_name="api",
                ready=False,
                replicas=1,
                ready_replicas=0,
            )
        ],
    )
    crd_cluster.kubectl(
        "patch",
        "component",
        "api",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status.to_dict()}),
    )
    got = json.loads(
        crd_cluster.kubectl("get", "component", "api", "-n", namespace, "-o", "json").stdout
    )
    assert ComponentStatus.model_validate(got["status"]) == status
    assert got["metadata"]["generation"] == 1
    ready = text(
        crd_cluster.kubectl(
            "get",
            "component",
            "api",
            "-n",
            namespace,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].reason}',
        ).stdout
    )
    assert ready == "Reconciling"


# --------------------------------------------------------------- bad input
BAD_COMPONENTS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "missing-build-config",
        {
            "type": "web-app",
            "build": {"buildpack": "python", "configs": {"buildPackLangVersion": "3.12"}},
        },
        (
            "spec.build.configs[port]",
            "build config 'port' (Port) is required for type 'web-app' with buildpack 'python'",
        ),
    ),
    (
        "unsupported-buildpack",
        {"type": "web-app", "build": {"buildpack": "java"}},
        ("spec.build.buildpack", "buildpack 'java' is not supported for type 'web-app'"),
    ),
    (
        "schedule-missing",
        {"type": "scheduled-task"},
        ("spec.schedule", "schedule is required for type scheduled-task"),
    ),
    (
        "schedule-forbidden",
        {"type": "service", "schedule": "@daily"},
        ("spec.schedule", "schedule is only allowed for type scheduled-task"),
    ),
    ("bad-cron", {"type": "scheduled-task", "schedule": "every day"}, ("spec.schedule",)),
    (
        "invalid-cidr",
        {"egress": [{"cidr": "10.0.0.300/24"}]},
        ("spec.egress[0].cidr", "must be a CIDR"),
    ),
    (
        "non-canonical-cidr",
        {"egress": [{"cidr": "10.0.0.1/8"}]},
        (
            "spec.egress[0].cidr",
            "10.0.0.1/8 has bits set after the prefix length: write the network address",
        ),
    ),
    ("bad-type-enum", {"type": "lambda"}, ("spec.type", "Unsupported value")),
    (
        "bad-visibility-enum",
        {"endpoints": [{"name": "http", "port": 80, "visibility": "world"}]},
        ("spec.endpoints[0].visibility", "Unsupported value"),
    ),
    (
        "duplicate-endpoint-names",
        {"endpoints": [{"name": "http", "port": 80}, {"name": "http", "port": 81}]},
        ("spec.endpoints[1]", "Duplicate value"),
    ),
    (
        "shared-endpoint-port",
        {"endpoints": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]},
        ("spec.endpoints", "endpoints must not share a port and protocol"),
    ),
    (
        "endpoint-port-range",
        {"endpoints": [{"name": "http", "port": 70000}]},
        ("spec.endpoints[0].port",),
    ),
    (
        "port-config-not-a-number",
        {
            "type": "web-app",
            "build": {
                "buildpack": "go",
                "configs": {"buildPackLangVersion": "1.22", "port": "http"},
            },
        },
        ("spec.build.configs[port]", "build config 'port' must be a number from 1 to 65535"),
    ),
    (
        "unknown-build-config",
        {"build": {"buildpack": "docker", "configs": {"dockerfilePath": "Dockerfile"}}},
        (
            "spec.build.configs",
            "build config 'dockerfilePath' is unknown: type 'service' with buildpack 'docker' "
            "takes dockerFilePath",
        ),
    ),
    (
        "endpoints-on-a-task",
        {"type": "manual-task", "endpoints": [{"name": "http", "port": 80}]},
        ("spec.endpoints", "endpoints are not allowed"),
    ),
    (
        "duplicate-env",
        {"env": [{"name": "A"}, {"name": "A"}]},
        ("spec.env[1]", "Duplicate value"),
    ),
]


@pytest.mark.parametrize(
    ("case", "spec", "fragments"), BAD_COMPONENTS, ids=[c[0] for c in BAD_COMPONENTS]
)
def test_bad_component_is_rejected_naming_the_field(
    crd_cluster: Any, namespace: str, case: str, spec: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    assert_rejected(crd_cluster, component("bad", namespace, **spec), *fragments)
    # The models reject the same input.
    with pytest.raises(ValueError):
        ComponentSpec.model_validate(component("bad", namespace, **spec)["spec"])


def test_bad_cluster_scoped_objects(crd_cluster: Any) -> None:
    s = suffix()
    ingress = {"baseDomain": "example.com"}
    assert_rejected(
        crd_cluster,
        obj(
            "DataPlane",
            f"dp-{s}",
            {"region": "x", "egressCIDRs": ["20.22.170.145/28"], "ingress": ingress},
        ),
        "spec.egressCIDRs[0]",
        "20.22.170.145/28 has bits set after the prefix length: write the network address",
    )
    assert_rejected(
        crd_cluster,
        obj(
            "DataPlane",
            f"dp-{s}",
            {"region": "x", "egressCIDRs": ["not-a-cidr"], "ingress": ingress},
        ),
        "spec.egressCIDRs[0]",
        "must be a CIDR",
    )
    assert_rejected(
        crd_cluster,
        obj("Organization", f"o-{s}", {"defaultDataPlane": "us", "tier": "free"}),
        "spec.tier",
        "Unsupported value",
    )
    assert_rejected(
        crd_cluster,
        obj("Organization", "o" * 31, {"defaultDataPlane": "us"}),
        "metadata.name",
        "at most 30 characters",
    )
    assert_rejected(
        crd_cluster,
        obj("DataPlane", "d" * 29, {"region": "x", "ingress": ingress}),
        "metadata.name",
        "at most 28 characters",
    )
    # Hosts are <label (63)>.<organization (30)>.<baseDomain>: at most 253 in all.
    longest = ".".join(["d" * 49] * 3 + ["d" * 8])
    for base_domain in (longest + "d", "d" * 64 + ".example.com", "a..b", "-a.example.com"):
        assert_rejected(
            crd_cluster,
            obj("DataPlane", f"dp-{s}", {"region": "x", "ingress": {"baseDomain": base_domain}}),
            "spec.ingress.baseDomain",
        )
    create(
        crd_cluster,
        obj("DataPlane", f"dp-{s}", {"region": "x", "ingress": {"baseDomain": longest}}),
        dry_run=True,
    )


def test_organization_names_cdp_are_reserved(crd_cluster: Any) -> None:
    """No organization may be named so that its runtime namespaces, <org>-…, could be
    named like an organization namespace, cdp-org-<org> (finding T1)."""
    s = suffix()
    for name in ("cdp", "cdp-org", f"cdp-{s}", f"cdp-org-{s}", "cdpx", f"x-cdp-{s}", "cd"):
        proc = create(
            crd_cluster,
            obj("Organization", name, {"defaultDataPlane": "us"}),
            dry_run=True,
            check=False,
        )
        errors = name_errors("Organization", name)
        assert (proc.returncode == 0) == (not errors), (name, text(proc.stderr))
        if errors:
            err = text(proc.stderr)
            assert "metadata.name" in err and errors[0] in err, err


def test_too_long_and_malformed_names(crd_cluster: Any, namespace: str) -> None:
    assert_rejected(
        crd_cluster, component("c" * 41, namespace), "metadata.name", "at most 40 characters"
    )
    assert_rejected(
        crd_cluster, component("1api", namespace), "metadata.name", "start with a letter"
    )
    assert_rejected(
        crd_cluster,
        obj("Project", "p" * 31, {}, namespace),
        "metadata.name",
        "at most 30 characters",
    )


def test_changed_dataplane_is_rejected(crd_cluster: Any, namespace: str) -> None:
    create(crd_cluster, obj("Environment", "staging", {"dataPlane": "us"}, namespace))

    def patch(spec: dict[str, Any]) -> subprocess.CompletedProcess[Any]:
        args = ["patch", "environment", "staging", "-n", namespace, "--type=merge"]
        args += ["-p", json.dumps({"spec": spec})]
        return crd_cluster.kubectl(*args, check=False)  # type: ignore[no-any-return]

    proc = patch({"dataPlane": "eu"})
    assert proc.returncode != 0
    assert "spec.dataPlane" in text(proc.stderr) and "immutable" in text(proc.stderr)
    # Other fields stay editable.
    proc = patch({"production": True})
    assert proc.returncode == 0, text(proc.stderr)


def patch_project(
    crd_cluster: Any, name: str, namespace: str, spec: dict[str, Any], *, dry_run: bool = False
) -> subprocess.CompletedProcess[Any]:
    args = ["patch", "project", name, "-n", namespace, "--type=merge"]
    args += ["-p", json.dumps({"spec": spec}), *(["--dry-run=server"] if dry_run else [])]
    return crd_cluster.kubectl(*args, check=False)  # type: ignore[no-any-return]


def get_project(crd_cluster: Any, name: str, namespace: str) -> Any:
    return json.loads(
        crd_cluster.kubectl("get", "project", name, "-n", namespace, "-o", "json").stdout
    )


def test_a_projects_dataplane_is_fixed_from_creation(crd_cluster: Any, namespace: str) -> None:
    """Created without dataPlane (the organization's defaultDataPlane), a Project may
    not be given one later: that would move it. Set at creation, it may not change nor
    go. Either way the object is unchanged and other fields stay editable."""
    fixed = "dataPlane is fixed when the project is created"
    create(crd_cluster, obj("Project", "web", {}, namespace))
    before = get_project(crd_cluster, "web", namespace)
    proc = patch_project(crd_cluster, "web", namespace, {"dataPlane": "eu"})
    err = text(proc.stderr)
    assert proc.returncode != 0, text(proc.stdout)
    assert "spec.dataPlane" in err and fixed in err, err
    assert "create a new project to use another data plane" in err, err
    after = get_project(crd_cluster, "web", namespace)
    assert after["spec"] == before["spec"] == {}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    # A server-side apply that adds it (what a newer manifest would send) is refused too.
    applied = obj("Project", "web", {"dataPlane": "us"}, namespace)
    proc = crd_cluster.kubectl(
        *["apply", "--server-side", "--field-manager=e2e", "-f", "-"],
        input=json.dumps(applied),
        check=False,
    )
    assert proc.returncode != 0 and fixed in text(proc.stderr), text(proc.stderr)
    assert get_project(crd_cluster, "web", namespace)["spec"] == {}
    # Other fields stay editable.
    assert patch_project(crd_cluster, "web", namespace, {"displayName": "Web"}).returncode == 0
    assert get_project(crd_cluster, "web", namespace)["spec"] == {"displayName": "Web"}

    # Set at creation: changing or removing it is refused, and it stays.
    create(crd_cluster, obj("Project", "shop", {"dataPlane": "us"}, namespace))
    for change in ({"dataPlane": "eu"}, {"dataPlane": None}):
        proc = patch_project(crd_cluster, "shop", namespace, change)
        assert proc.returncode != 0, change
        assert "spec.dataPlane" in text(proc.stderr) and fixed in text(proc.stderr), change
        assert get_project(crd_cluster, "shop", namespace)["spec"] == {"dataPlane": "us"}


def test_project_dataplane_transitions_agree_with_the_models(
    crd_cluster: Any, namespace: str
) -> None:
    """Every transition among absent, us and eu: the apiserver's CEL rule and the
    models' transition_errors refuse the same ones with the same message."""
    values = (None, "us", "eu")
    for old in values:
        name = f"p-{old or 'none'}"
        create(crd_cluster, obj("Project", name, {"dataPlane": old} if old else {}, namespace))
        for new in values:
            errors = transition_errors(
                "Project", ProjectSpec(data_plane=old), ProjectSpec(data_plane=new)
            )
            proc = patch_project(crd_cluster, name, namespace, {"dataPlane": new}, dry_run=True)
            assert (proc.returncode == 0) == (not errors), (old, new, text(proc.stderr))
            assert all(e in text(proc.stderr) for e in errors), (old, new, text(proc.stderr))
            assert (errors == []) == (old == new), (old, new)


# ------------------------------------------------ the whole table, CEL == Python
def dry_run_error(create: Callable[..., Any], *args: Any) -> str | None:
    """``create(*args)`` as a server-side dry run: the apiserver's message, or None when
    it accepts."""
    try:
        create(*args, dry_run="All")
    except ApiException as e:
        return str(json.loads(e.body or "{}").get("message", e.body))
    return None


def api_error(crd_cluster: Any, body: Any, namespace: str) -> str | None:
    """A Component created with a server-side dry run: the apiserver's message, or None."""
    api = client.CustomObjectsApi(crd_cluster.api_client)
    return dry_run_error(
        api.create_namespaced_custom_object, GROUP, VERSION, namespace, "components", body
    )


def test_every_table_row_matches_the_models(crd_cluster: Any, namespace: str) -> None:
    """Each (type, buildpack) row: all keys accepted; each key missing rejected with the
    message build_config_errors gives; every pair outside the table rejected."""
    for t in ComponentType:
        schedule = {"schedule": "@daily"} if t is ComponentType.SCHEDULED_TASK else {}
        for b in Buildpack:
            required = REQUIRED_BUILD_CONFIGS.get((t, b))
            configs = configs_for(required or ())
            # A web-app serves its build config port.
            endpoints = [{"name": "http", "port": 8080}] if "port" in configs else []
            body = component(
                "row",
                namespace,
                type=t.value,
                build={"buildpack": b.value, "configs": configs},
                endpoints=endpoints,
                **schedule,
            )
            error = api_error(crd_cluster, body, namespace)
            if required is None:
                (expected,) = build_config_errors(t, b, configs)
                assert error is not None and expected in error and "spec.build.buildpack" in error
                continue
            assert error is None, (t, b, error)
            for key in required:
                partial = {k: v for k, v in configs.items() if k != key}
                body["spec"]["build"]["configs"] = partial
                error = api_error(crd_cluster, body, namespace)
                (expected,) = build_config_errors(t, b, partial)
                assert error is not None, (t, b, key)
                assert expected in error and f"spec.build.configs[{key}]" in error, error


# ------------------------------------------- schedules: CronJob == reference, CEL == Python
def _cronjob_error(crd_cluster: Any, namespace: str, schedule: str) -> str | None:
    body = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "probe"},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "x:1"}],
                        }
                    }
                }
            },
        },
    }
    api = client.BatchV1Api(crd_cluster.api_client)
    return dry_run_error(api.create_namespaced_cron_job, namespace, body)


def test_schedules_are_what_a_cronjob_accepts(crd_cluster: Any, namespace: str) -> None:
    """Every schedule of the table and a few hundred generated ones, three ways: the
    apiserver's CronJob validation agrees with the reference (cron_cases.k8s_accepts), the
    CRD's CEL rule agrees with the models, and what the models admit a CronJob accepts."""
    schedules = [
        *VALID,
        *INVALID,
        *STRICTER,
        *generated(250, seed=11, clean=True),
        *generated(250, seed=12, clean=False),
    ]
    wrong: list[str] = []
    for schedule in dict.fromkeys(schedules):
        cronjob_ok = _cronjob_error(crd_cluster, namespace, schedule) is None
        body = component("sched", namespace, type="scheduled-task", schedule=schedule)
        error = api_error(crd_cluster, body, namespace)
        models_ok = cron.is_valid_schedule(schedule)
        if cronjob_ok != k8s_accepts(schedule):
            wrong.append(f"{schedule!r}: CronJob {cronjob_ok}, reference {not cronjob_ok}")
        if (error is None) != models_ok:
            wrong.append(f"{schedule!r}: CRD {error is None}, models {models_ok}: {error}")
        if models_ok and not cronjob_ok:
            wrong.append(f"{schedule!r}: admitted, but a CronJob rejects it")
        if error is not None and "spec.schedule" not in error:
            wrong.append(f"{schedule!r}: field not named: {error}")
        # The message names the cron field and its range, as the models' does.
        problem = cron.problem(schedule)
        if error is not None and (
            problem is None or "spec.schedule: Invalid value: " not in error or problem not in error
        ):
            wrong.append(f"{schedule!r}: the models say {problem!r}, the apiserver {error}")
    assert not wrong, "\n".join(wrong[:30])


# ---------------------------------------------- endpoint paths: Ingress, CEL == Python
PATHS_OK = [
    "/",
    "/api",
    "/api/",
    "/api/v1/orders",
    "/.well-known/acme-challenge",
    "/a_b-c.d",
    "/...",
    "/a..b/.c/..d",
    "/V1/Upper",
    "/hooks/stripe",
]
PATHS_BAD = [
    "",
    "api",
    "//",
    "/a//b",
    "/./a",
    "/a/./b",
    "/a/.",
    "/a/..",
    "/api/../admin",
    "/..",
    "/a%2Fb",
    "/a%2fb",
    "/a%20b",
    "/a b",
    "/a?b",
    "/a#b",
    "/~user",
    "/a:b",
    "/caf\u00e9",
    "/\U0001f680",
    "/a\nb",
    "/etc/nginx",
    "/x/etc/passwd",
    "/var/run/secrets/kubernetes.io",
    "/content_by_lua",
]


def _ingress_error(crd_cluster: Any, namespace: str, path: str) -> str | None:
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "probe"},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "a.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "s", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    api = client.NetworkingV1Api(crd_cluster.api_client)
    return dry_run_error(api.create_namespaced_ingress, namespace, body)


@pytest.mark.parametrize("path", PATHS_OK + PATHS_BAD)
def test_endpoint_paths_are_what_an_ingress_accepts(
    crd_cluster: Any, namespace: str, path: str
) -> None:
    """The CRD admits a path exactly when the models do, and only paths the apiserver
    takes on an Ingress of pathType Prefix (ingress-nginx's stricter rules are the
    models' own: no webhook runs here)."""
    ok = path in PATHS_OK
    endpoint = {"name": "http", "port": 8080, "visibility": "public", "path": path}
    error = api_error(crd_cluster, component("web", namespace, endpoints=[endpoint]), namespace)
    assert (error is None) is ok, error
    if not ok:
        assert error is not None and "spec.endpoints[0].path" in error, error
        with pytest.raises(ValueError, match="path"):
            ComponentSpec.model_validate(component("web", namespace, endpoints=[endpoint])["spec"])
    else:
        ComponentSpec.model_validate(component("web", namespace, endpoints=[endpoint])["spec"])
        assert _ingress_error(crd_cluster, namespace, path) is None


# ------------------------- issue 17: refusals that name the field and the fix (kubectl apply)
def _apply_refused(cluster: Any, body: Any) -> str:
    """kubectl apply (server-side dry run) of `body`: it must be refused; kubectl's stderr."""
    proc = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=json.dumps(body), check=False
    )
    assert proc.returncode != 0, f"accepted: {json.dumps(body)}"
    return text(proc.stderr)


def _model_messages(model: Any, spec: dict[str, Any]) -> list[str]:
    """The models' messages as the CLI and the operator's status show them."""
    try:
        model.model_validate(spec)
    except ValidationError as exc:
        return [f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return []


_WEB_APP_BUILD = {
    "buildpack": "python",
    "configs": {"buildPackLangVersion": "3.12", "port": "8080"},
}
#: (id, spec, the field kubectl names, the message the apiserver gives, the models' message)
REFUSALS = [
    (
        "image-grammar",
        {"image": "UPPER/Case::1"},
        "spec.image",
        "must be an image reference such as registry.example.com/team/app:1.2.0",
        "spec.image: must be an image reference such as registry.example.com/team/app:1.2.0",
    ),
    (
        "override-image-grammar",
        {"overrides": [{"environment": "development", "image": "UPPER/Case::1"}]},
        "spec.overrides[0].image",
        "must be an image reference",
        "spec.overrides.0.image: must be an image reference",
    ),
    (
        "web-app-without-endpoint",
        {"type": "web-app", "build": _WEB_APP_BUILD},
        "spec.endpoints",
        "a web-app needs an endpoint on its build config port 8080: add endpoints: "
        "[{name: http, port: 8080, visibility: public}]",
        "spec.endpoints: a web-app needs an endpoint on its build config port 8080",
    ),
    (
        "web-app-endpoint-on-another-port",
        {"type": "web-app", "build": _WEB_APP_BUILD, "endpoints": [{"name": "w", "port": 3000}]},
        "spec.endpoints",
        "no endpoint is on the build config port 8080: set an endpoint's port to 8080 or "
        "change build config 'port'",
        "spec.endpoints: no endpoint is on the build config port 8080",
    ),
    (
        "cron-hour-25",
        {"type": "scheduled-task", "schedule": "0 25 * * *"},
        "spec.schedule",
        'spec.schedule: Invalid value: "0 25 * * *": hour 25 is out of range 0-23',
        "spec.schedule: hour 25 is out of range 0-23",
    ),
    (
        "unknown-build-config-key",
        {
            "type": "web-app",
            "build": {
                "buildpack": "python",
                "configs": {"buildPackLangVerison": "3.12", "port": "8080"},
            },
            "endpoints": [{"name": "http", "port": 8080}],
        },
        "spec.build.configs",
        "build config 'buildPackLangVerison' is unknown: type 'web-app' with buildpack "
        "'python' takes buildPackLangVersion, port",
        "spec.build.configs: build config 'buildPackLangVerison' is unknown (did you mean "
        "'buildPackLangVersion'?): type 'web-app' with buildpack 'python' takes "
        "buildPackLangVersion, port",
    ),
    (
        "egress-cidr-without-prefix",
        {"egress": [{"cidr": "203.0.113.10"}]},
        "spec.egress[0].cidr",
        "203.0.113.10 has no prefix length: write 203.0.113.10/32",
        "spec.egress.0.cidr: 203.0.113.10 has no prefix length: write 203.0.113.10/32",
    ),
]


@pytest.mark.parametrize(
    ("case", "spec", "field", "apiserver_says", "models_say"),
    REFUSALS,
    ids=[r[0] for r in REFUSALS],
)
def test_refusals_name_the_field_and_the_fix(
    crd_cluster: Any,
    namespace: str,
    case: str,
    spec: dict[str, Any],
    field: str,
    apiserver_says: str,
    models_say: str,
) -> None:
    body = component("bad", namespace, **spec)
    err = _apply_refused(crd_cluster, body)
    assert f"{field}: Invalid value" in err, err
    assert apiserver_says in err, err
    shown = _model_messages(ComponentSpec, body["spec"])
    assert any(models_say in m for m in shown), shown
    for message in shown:
        assert "should" not in message and "Value error" not in message, message


@pytest.mark.parametrize("field", ["egressCIDRs", "clusterNetworks"])
def test_dataplane_cidrs_without_a_prefix_get_the_32_hint(crd_cluster: Any, field: str) -> None:
    spec = {"region": "x", "ingress": {"baseDomain": "example.com"}, field: ["192.0.2.10"]}
    err = _apply_refused(crd_cluster, obj("DataPlane", f"dp-{suffix()}", spec))
    assert f"spec.{field}[0]: Invalid value" in err, err
    assert "192.0.2.10 has no prefix length: write 192.0.2.10/32" in err, err
    assert f"spec.{field}.0: 192.0.2.10 has no prefix length: write 192.0.2.10/32" in (
        _model_messages(DataPlaneSpec, spec)
    )


def test_a_web_app_on_its_port_and_a_valid_reference_are_admitted(
    crd_cluster: Any, namespace: str
) -> None:
    """The refusals above are not blanket: the fixed input is admitted."""
    body = component(
        "ok",
        namespace,
        type="web-app",
        image="localhost:5000/team/web.app_v2:1.0-rc1@sha256:" + "a" * 64,
        build=_WEB_APP_BUILD,
        endpoints=[
            {"name": "http", "port": 8080, "visibility": "public"},
            {"name": "metrics", "port": 9090},
        ],
        egress=[{"cidr": "203.0.113.10/32"}],
    )
    create(crd_cluster, body, dry_run=True)
    ComponentSpec.model_validate(body["spec"])


# ------------------------------------------- docs/cli.md shows what the API server says
def test_the_docs_kubectl_examples_show_what_the_api_server_says(crd_cluster: Any) -> None:
    """Each `$ kubectl` example of docs/cli.md, run against the real API server on a
    Component api in cdp-org-acme, prints exactly what the page shows."""
    examples = doc_examples(CLI_DOC.read_text(), "kubectl")
    assert len(examples) >= 4
    ns = "cdp-org-acme"
    crd_cluster.kubectl("create", "namespace", ns)
    try:
        create(crd_cluster, component("api", ns, image="ghcr.io/acme/api:1.0"))
        for line, command, expected in examples:
            proc = crd_cluster.kubectl(*shlex.split(command)[1:], check=False)
            shown = (text(proc.stdout) + text(proc.stderr)).rstrip("\n")
            assert shown == expected, f"docs/cli.md:{line}: the API server says\n{shown}"
            # ... and the models say the same at the same field.
            argv = shlex.split(command)
            patch = (
                {"replicas": int(argv[-1])}
                if "scale" in argv
                else json.loads(argv[argv.index("-p") + 1])["spec"]
            )
            messages = _model_messages(ComponentSpec, {**component("api", ns)["spec"], **patch})
            assert any(m.split(": ", 1)[1] in expected for m in messages), (messages, expected)
    finally:
        crd_cluster.kubectl("delete", "namespace", ns, "--timeout=60s", check=False)
