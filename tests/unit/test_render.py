"""Properties of the render layer that golden files alone would not pin down."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from test_render_golden import (
    MANUAL_TASK,
    SCHEDULED_TASK,
    SERVICE,
    WEB_APP,
    WEBHOOK,
    component,
    runtime,
)

from cdp_operator.models import labels as lbl
from cdp_operator.models.resources import ComponentSpec
from cdp_operator.models.tiers import Tier
from cdp_operator.render.context import Manifest, Runtime
from cdp_operator.render.namespaces import organization_namespace, runtime_namespace
from cdp_operator.render.policies import ALLOW_EGRESS_TO_ORGANIZATION, runtime_policies
from cdp_operator.render.quantity import canonical_quantity
from cdp_operator.render.workloads import (
    component_objects,
    component_workload_ref,
    effective_spec,
    ingress_host,
    manual_run_job,
)
from kit.processes import outputs_per_hash_seed

SPECS: dict[str, ComponentSpec] = {
    "orders": SERVICE,
    "storefront": WEB_APP,
    "github-hook": WEBHOOK,
    "nightly-report": SCHEDULED_TASK,
    "db-migrate": MANUAL_TASK,
}
ENVIRONMENTS = ("development", "production")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def everything(rt: Runtime) -> list[Manifest]:
    """Every object the render layer produces for one runtime."""
    objects = [runtime_namespace(rt), *runtime_policies(rt)]
    for name, spec in SPECS.items():
        objects += component_objects(rt, name, spec)
    objects.append(manual_run_job(rt, "db-migrate", MANUAL_TASK, "run-1"))
    return objects


def pod_templates(obj: Manifest) -> Iterator[dict[str, Any]]:
    spec = obj.get("spec", {})
    if obj["kind"] in ("Deployment", "Job"):
        yield spec["template"]
    if obj["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]


def without_tier_fields(obj: Manifest) -> Manifest:
    """The object minus what a tier may change: retention fields and the retention annotation."""
    obj = copy.deepcopy(obj)
    obj["metadata"].get("annotations", {}).pop(lbl.BUILD_RETENTION, None)
    for key in ("revisionHistoryLimit", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        obj.get("spec", {}).pop(key, None)
    return obj


# ------------------------------------------------------------------ tiers
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_tier_change_changes_no_pod_template(environment: str) -> None:
    by_tier = {tier: everything(runtime(environment, tier=tier)) for tier in Tier}
    base = by_tier[Tier.DEVELOPER]
    for tier, objects in by_tier.items():
        assert [o["metadata"]["name"] for o in objects] == [o["metadata"]["name"] for o in base]
        for old, new in zip(base, objects, strict=True):
            assert list(pod_templates(old)) == list(pod_templates(new)), (tier, old["kind"])
            if old["kind"] == "CronJob":  # the whole jobTemplate, not only its pod template
                assert old["spec"]["jobTemplate"] == new["spec"]["jobTemplate"]
            # Nothing else moves either.
            assert without_tier_fields(old) == without_tier_fields(new), (tier, old["kind"])


def test_a_tier_change_moves_retention() -> None:
    developer = {
        (o["kind"], o["metadata"]["name"]): o for o in everything(runtime(tier=Tier.DEVELOPER))
    }
    payg = {(o["kind"], o["metadata"]["name"]): o for o in everything(runtime(tier=Tier.PAYG))}
    enterprise = everything(runtime(tier=Tier.ENTERPRISE))

    deployment = ("Deployment", "orders")
    assert developer[deployment]["spec"]["revisionHistoryLimit"] == 1
    assert payg[deployment]["spec"]["revisionHistoryLimit"] == 5
    cronjob = ("CronJob", "nightly-report")
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        assert developer[cronjob]["spec"][key] == 1
        assert payg[cronjob]["spec"][key] == 5
    for key in (deployment, cronjob, ("Namespace", "acme-shop-development")):
        assert developer[key]["metadata"]["annotations"][lbl.BUILD_RETENTION] == "1"
        assert payg[key]["metadata"]["annotations"][lbl.BUILD_RETENTION] == "5"
    # payg and enterprise retain the same number of builds: nothing to change.
    assert list(payg.values()) == enterprise


def test_tier_annotations_never_reach_a_pod() -> None:
    for obj in everything(runtime("production")):
        for template in pod_templates(obj):
            assert "annotations" not in template["metadata"]
        if obj["kind"] == "CronJob":
            assert "annotations" not in obj["spec"]["jobTemplate"]["metadata"]


# ------------------------------------------------------------------ names
LONG = {
    "organization": "o" * 30,
    "project": "p-" * 14 + "pp",
    "environment": "e" * 40,
}


@pytest.mark.parametrize("component_name", ["c" * 40, "very-long-" * 6 + "abc"])
def test_names_are_bounded_dns_labels(component_name: str) -> None:
    rt = runtime(LONG["environment"], organization=LONG["organization"], project=LONG["project"])
    assert len(rt.namespace) <= 63
    for spec in SPECS.values():
        objects = component_objects(rt, component_name, spec)
        objects.append(manual_run_job(rt, component_name, spec, "x" * 200))
        for obj in objects:
            name = obj["metadata"]["name"]
            assert DNS_LABEL.match(name), name
            assert len(name) <= (52 if obj["kind"] == "CronJob" else 63), (obj["kind"], name)
            assert obj["metadata"]["namespace"] == rt.namespace
            for value in obj["metadata"]["labels"].values():
                assert len(value) <= 63
            if obj["kind"] == "Ingress":
                host = obj["spec"]["rules"][0]["host"]
                assert len(host.split(".")[0]) <= 63
                assert host == ingress_host(rt, component_name)
        ref = component_workload_ref(rt, component_name, spec)
        if ref is not None:
            assert ref in [(o["kind"], o["metadata"]["name"]) for o in objects]


def test_names_that_fit_are_readable() -> None:
    rt = runtime("production")
    assert rt.namespace == "acme-shop-production"
    names = {(o["kind"], o["metadata"]["name"]) for o in everything(rt)}
    assert ("Deployment", "orders") in names
    assert ("CronJob", "nightly-report") in names
    assert ("NetworkPolicy", "cdp-orders-ingress") in names
    assert ("NetworkPolicy", "cdp-orders-egress") in names
    assert ingress_host(rt, "orders") == "orders-production.acme.us.cdp.example.com"


def test_component_policies_never_collide_with_runtime_policies() -> None:
    # A component may be named after the middle of a runtime policy name.
    rt = runtime()
    spec = component(
        type="service",
        endpoints=[{"name": "http", "port": 80, "visibility": "organization"}],
        egress=[{"cidr": "192.0.2.0/24"}],
    )
    runtime_names = {p["metadata"]["name"] for p in runtime_policies(rt)}
    assert ALLOW_EGRESS_TO_ORGANIZATION in runtime_names
    for name in ("allow-organization", "allow-egress-to", "default", "allow", "allow-same-project"):
        policies = [o for o in component_objects(rt, name, spec) if o["kind"] == "NetworkPolicy"]
        assert len(policies) == 2
        assert not runtime_names & {p["metadata"]["name"] for p in policies}


def test_run_jobs_are_named_by_token() -> None:
    rt = runtime()
    first = manual_run_job(rt, "db-migrate", MANUAL_TASK, "2024-05-01T10:00:00Z")
    again = manual_run_job(rt, "db-migrate", MANUAL_TASK, "2024-05-01T10:00:00Z")
    other = manual_run_job(rt, "db-migrate", MANUAL_TASK, "2024-05-02T10:00:00Z")
    assert first == again
    assert first["metadata"]["name"] != other["metadata"]["name"]
    short = first["metadata"]["labels"][lbl.RUN_TOKEN]
    assert re.fullmatch(r"[0-9a-f]{8}", short)
    assert first["metadata"]["name"] == f"db-migrate-run-{short}"
    assert first["metadata"]["annotations"][lbl.RUN_TOKEN] == "2024-05-01T10:00:00Z"
    assert first["spec"]["template"]["metadata"]["labels"][lbl.RUN_TOKEN] == short
    assert "ttlSecondsAfterFinished" not in first["spec"]
    assert first["spec"]["template"]["spec"]["restartPolicy"] == "Never"


# ----------------------------------------------------------------- labels
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_object_is_labelled(environment: str) -> None:
    rt = runtime(environment)
    managed = rt.labels()
    for obj in everything(rt):
        labels = obj["metadata"]["labels"]
        assert managed.items() <= labels.items(), obj["metadata"]["name"]
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == rt.namespace
        if lbl.COMPONENT in labels:
            name = labels[lbl.COMPONENT]
            assert labels["app.kubernetes.io/name"] == name
            assert labels["app.kubernetes.io/part-of"] == "shop"
            for template in pod_templates(obj):
                assert labels.items() <= template["metadata"]["labels"].items()
        if obj["kind"] in ("Deployment", "CronJob", "Job", "Namespace"):
            annotations = obj["metadata"]["annotations"]
            assert annotations[lbl.EGRESS_CIDRS] == "20.22.170.144/28"
            assert annotations[lbl.BUILD_RETENTION] == "5"


def test_namespace_labels() -> None:
    org = organization_namespace("acme")
    assert org["metadata"]["name"] == "cdp-org-acme"
    assert org["metadata"]["labels"][lbl.ROLE] == "organization"
    rt_ns = runtime_namespace(runtime())
    for ns in (org, rt_ns):
        assert lbl.PSA_LABELS.items() <= ns["metadata"]["labels"].items()
    assert rt_ns["metadata"]["labels"][lbl.ROLE] == "runtime"
    assert rt_ns["metadata"]["annotations"][lbl.REGION] == "US East 2"


def test_egress_cidrs_are_comma_separated() -> None:
    rt = runtime()
    dp = rt.data_plane.model_copy(update={"egress_cidrs": ["20.22.170.144/28", "10.0.0.0/8"]})
    rt = Runtime(**{**rt.__dict__, "data_plane": dp})
    assert rt.egress_cidrs == "20.22.170.144/28,10.0.0.0/8"
    assert runtime_namespace(rt)["metadata"]["annotations"][lbl.EGRESS_CIDRS] == rt.egress_cidrs


# -------------------------------------------------------------- overrides
def test_overrides_apply_to_their_environment_only() -> None:
    dev = effective_spec(SERVICE, "development")
    prod = effective_spec(SERVICE, "production")
    staging = effective_spec(SERVICE, "staging")
    assert staging == SERVICE
    assert dev.image == "ghcr.io/acme/orders:1.5.0-rc1"
    # Merged by name: replaced in place, kept, then appended.
    assert [(v.name, v.value) for v in dev.env] == [
        ("LOG_LEVEL", "debug"),
        ("FEATURE_X", ""),
        ("TRACING", "on"),
    ]
    assert dev.replicas == 1
    assert prod.image == SERVICE.image
    assert prod.env == SERVICE.env
    assert prod.replicas == 4


def test_overrides_reach_the_rendered_workload() -> None:
    spec = component(
        type="service",
        replicas=3,
        resources={"cpu": "100m", "memory": "128Mi"},
        overrides=[
            {
                "environment": "production",
                "replicas": 6,
                "image": "ghcr.io/acme/app:2.0",
                "resources": {"cpu": "2", "memory": "2048Mi"},
            },
            {"environment": "staging", "replicas": 0},
        ],
    )

    def deployment(environment: str, production: bool) -> Manifest:
        rt = runtime(environment, production=production)
        objects = component_objects(rt, "app", spec)
        return next(o for o in objects if o["kind"] == "Deployment")

    dev = deployment("development", False)
    prod = deployment("production", True)
    staging = deployment("staging", True)
    assert dev["spec"]["replicas"] == 3
    assert prod["spec"]["replicas"] == 6
    assert staging["spec"]["replicas"] == 0  # scaled to zero stays at zero, even in production
    container = prod["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/acme/app:2.0"
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert dev["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/acme/app:1.0"


# -------------------------------------------------------------------- HA
@pytest.mark.parametrize("name", ["orders", "storefront", "github-hook"])
def test_production_is_highly_available(name: str) -> None:
    spec = SPECS[name].model_copy(update={"overrides": []})
    prod = component_objects(runtime("production"), name, spec)
    dev = component_objects(runtime("development"), name, spec)
    prod_deploy = next(o for o in prod if o["kind"] == "Deployment")
    dev_deploy = next(o for o in dev if o["kind"] == "Deployment")
    assert prod_deploy["spec"]["replicas"] == 2
    assert dev_deploy["spec"]["replicas"] == 1
    spread = prod_deploy["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {lbl.COMPONENT: name}},
        }
    ]
    assert "topologySpreadConstraints" not in dev_deploy["spec"]["template"]["spec"]
    pdbs = [o for o in prod if o["kind"] == "PodDisruptionBudget"]
    assert [p["metadata"]["name"] for p in pdbs] == [name]
    assert pdbs[0]["spec"]["minAvailable"] == 1
    assert not [o for o in dev if o["kind"] == "PodDisruptionBudget"]


def test_tasks_are_not_made_highly_available() -> None:
    for name in ("nightly-report", "db-migrate"):
        objects = component_objects(runtime("production"), name, SPECS[name])
        assert not [o for o in objects if o["kind"] in ("PodDisruptionBudget", "Deployment")]


# ------------------------------------------------------------- workloads
def test_what_each_type_becomes() -> None:
    rt = runtime()

    def kinds(name: str) -> list[str]:
        return [o["kind"] for o in component_objects(rt, name, SPECS[name])]

    assert kinds("orders") == ["Deployment", "Service", "Ingress", "NetworkPolicy", "NetworkPolicy"]
    assert kinds("storefront") == ["Deployment", "Service", "Ingress", "NetworkPolicy"]
    assert kinds("nightly-report") == ["CronJob", "NetworkPolicy"]
    assert kinds("db-migrate") == ["NetworkPolicy"]
    no_endpoints = component(type="service")
    assert [o["kind"] for o in component_objects(rt, "worker", no_endpoints)] == ["Deployment"]
    assert component_workload_ref(rt, "orders", SERVICE) == ("Deployment", "orders")
    assert component_workload_ref(rt, "nightly-report", SCHEDULED_TASK) == (
        "CronJob",
        "nightly-report",
    )
    assert component_workload_ref(rt, "db-migrate", MANUAL_TASK) is None


def test_project_only_endpoints_need_no_component_policy() -> None:
    spec = component(type="service", endpoints=[{"name": "http", "port": 80}])
    kinds = [o["kind"] for o in component_objects(runtime(), "api", spec)]
    assert kinds == ["Deployment", "Service"]


def test_cronjob() -> None:
    cron = component_objects(runtime(tier=Tier.DEVELOPER), "nightly-report", SCHEDULED_TASK)[0]
    assert cron["spec"]["schedule"] == "30 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"


# ------------------------------------------------- restricted and canonical
def _restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The restricted Pod Security Standard, as far as our pods could break it."""
    problems = []
    psc = pod.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(key)
    for volume in pod.get("volumes", []):
        allowed = {
            "emptyDir",
            "configMap",
            "secret",
            "projected",
            "downwardAPI",
            "csi",
            "ephemeral",
        }
        if not set(volume) - {"name"} <= allowed:
            problems.append(f"volume {volume['name']}")
    if psc.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("pod seccompProfile")
    for c in pod["containers"] + pod.get("initContainers", []):
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append("allowPrivilegeEscalation")
        if sc.get("privileged"):
            problems.append("privileged")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append("capabilities.drop ALL")
        if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append("capabilities.add")
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            problems.append("runAsNonRoot")
        if sc.get("runAsUser") == 0 or psc.get("runAsUser") == 0:
            problems.append("runAsUser 0")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            problems.append("hostPort")
    return problems


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_pods_pass_the_restricted_standard(environment: str) -> None:
    templates = [t for o in everything(runtime(environment)) for t in pod_templates(o)]
    assert len(templates) == 5  # 3 Deployments, 1 CronJob, 1 Job
    for template in templates:
        pod = template["spec"]
        assert _restricted_violations(pod) == []
        assert pod["automountServiceAccountToken"] is False
        container = pod["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["requests"] == container["resources"]["limits"]


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def test_output_is_in_stored_form() -> None:
    for obj in everything(runtime("production")):
        for path, value in _walk(obj):
            # Protocols are explicit wherever a port is.
            if isinstance(value, dict) and (
                isinstance(value.get("port"), int) or "containerPort" in value
            ):
                assert value.get("protocol") in ("TCP", "UDP"), (obj["kind"], path)
            # The server drops empty lists, maps and strings; we never send them
            # (the two empty selectors are the exception the server keeps).
            if value in ([], "") or (
                value == {} and not path.endswith(("podSelector", "emptyDir"))
            ):
                raise AssertionError(f"empty value at {obj['kind']} {path}")


def test_objects_share_no_sub_objects() -> None:
    # A caller may mutate one object (e.g. the apply layer adding fields); that
    # must never change another.
    seen: dict[int, str] = {}
    for obj in everything(runtime("production")):
        for path, value in _walk(obj):
            if isinstance(value, dict | list):
                where = f"{obj['kind']}/{obj['metadata']['name']}{path}"
                assert id(value) not in seen, f"{where} is the same object as {seen[id(value)]}"
                seen[id(value)] = where


def test_rendering_is_deterministic() -> None:
    """The same objects, in the same order, from interpreters with different hash seeds
    (two calls in one process would iterate a set of strings alike)."""
    code = "import json, test_render as t; print(json.dumps(t.everything(t.runtime('production'))))"
    outputs = outputs_per_hash_seed(code)
    assert len(set(outputs.values())) == 1, "rendering depends on the hash seed"
    assert json.loads(outputs[0]) == everything(runtime("production"))


# Each pair checked against a v1.36.3 kube-apiserver (a Deployment's pod template,
# read back after a server-side dry-run).
@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("100m", "100m"),
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1", "1"),
        ("1.5", "1500m"),
        ("2.50", "2500m"),
        ("11.644", "11.644"),  # canonical in value: the text is kept as given
        ("1.000", "1"),
        ("0100m", "0100m"),
        ("0.0001", "1m"),  # rounded up to milli
        ("3.14159", "3142m"),
        ("128Mi", "128Mi"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("3000Ki", "3000Ki"),
        ("01Mi", "01Mi"),
        ("0128Mi", "128Mi"),
        ("1.5Mi", "1536Ki"),
        ("1.0001Ki", "1024103m"),
        ("512", "512"),
        ("1000", "1k"),
        ("128000", "128k"),
        ("0", "0"),
        ("0Mi", "0"),
    ],
)
def test_quantities_are_canonical(given: str, stored: str) -> None:
    assert canonical_quantity(given) == stored


def test_quantity_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="quantity"):
        canonical_quantity("1.5 cores")
