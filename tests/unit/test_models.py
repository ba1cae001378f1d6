"""Pydantic validation of the specs: the same inputs the CRDs reject, with the same messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from build_cases import ROWS, UNSUPPORTED, configs_for
from cdp_operator.models.buildconfigs import (
    REQUIRED_BUILD_CONFIGS,
    Buildpack,
    ComponentType,
    build_config_errors,
)
from cdp_operator.models.resources import (
    NAME_RULES,
    ComponentSpec,
    DataPlaneSpec,
    EnvironmentSpec,
    OrganizationSpec,
    ProjectSpec,
    Protocol,
    Visibility,
    name_errors,
    parse_spec,
    transition_errors,
)
from cdp_operator.models.status import (
    ComponentStatus,
    Condition,
    OrganizationStatus,
    find_condition,
    set_condition,
)
from cdp_operator.models.tiers import Tier


def component(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"project": "shop", "type": "service", "image": "nginx:1.27"}
    spec.update(overrides)
    return spec


def task_extras(t: ComponentType) -> dict[str, Any]:
    return {"schedule": "*/5 * * * *"} if t is ComponentType.SCHEDULED_TASK else {}


def errors_of(model: type[Any], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return str(info.value)


# ------------------------------------------------------------ build table
def test_table_has_the_seed_rows() -> None:
    # 10 service + 11 web-app + 9 webhook + 10 scheduled + 10 manual rows in the seed.
    counts = {t: sum(1 for (ct, _) in REQUIRED_BUILD_CONFIGS if ct == t) for t in ComponentType}
    assert counts == {
        ComponentType.SERVICE: 10,
        ComponentType.WEB_APP: 11,
        ComponentType.WEBHOOK: 9,
        ComponentType.SCHEDULED_TASK: 10,
        ComponentType.MANUAL_TASK: 10,
    }


@pytest.mark.parametrize(("pair", "required"), ROWS, ids=lambda v: "-".join(map(str, v)))
def test_every_row_accepts_its_required_configs(
    pair: tuple[ComponentType, Buildpack], required: tuple[str, ...]
) -> None:
    t, b = pair
    configs = configs_for(required)
    extras = task_extras(t)
    if "port" in configs:
        extras["endpoints"] = [{"name": "http", "port": int(configs["port"])}]
    spec = ComponentSpec.model_validate(
        component(type=t.value, build={"buildpack": b.value, "configs": configs}, **extras)
    )
    assert spec.build is not None and dict(spec.build.configs) == configs


@pytest.mark.parametrize(
    ("pair", "key"),
    [(pair, key) for pair, required in ROWS for key in required],
    ids=lambda v: "-".join(map(str, v)) if isinstance(v, tuple) else v,
)
def test_every_row_rejects_each_missing_key(
    pair: tuple[ComponentType, Buildpack], key: str
) -> None:
    t, b = pair
    required = REQUIRED_BUILD_CONFIGS[pair]
    configs = configs_for(k for k in required if k != key)
    message = errors_of(
        ComponentSpec,
        component(type=t.value, build={"buildpack": b.value, "configs": configs}, **task_extras(t)),
    )
    expected = build_config_errors(t, b, configs)
    assert len(expected) == 1 and expected[0] in message
    assert f"build config '{key}'" in message


@pytest.mark.parametrize("pair", UNSUPPORTED, ids=lambda p: f"{p[0]}-{p[1]}")
def test_unsupported_pairs_are_rejected(pair: tuple[ComponentType, Buildpack]) -> None:
    t, b = pair
    message = errors_of(
        ComponentSpec,
        component(type=t.value, build={"buildpack": b.value, "configs": {}}, **task_extras(t)),
    )
    assert f"buildpack '{b.value}' is not supported for type '{t.value}'" in message


def test_rows_without_configs_need_none() -> None:
    for (t, b), required in REQUIRED_BUILD_CONFIGS.items():
        if b in (Buildpack.BALLERINA, Buildpack.WSO2_MI, Buildpack.STATIC_WEBSITE):
            assert required == (), (t, b)


def test_empty_config_value_is_rejected() -> None:
    message = errors_of(
        ComponentSpec,
        component(build={"buildpack": "python", "configs": {"buildPackLangVersion": ""}}),
    )
    assert "configs.buildPackLangVersion" in message


@pytest.mark.parametrize("port", ["0", "65536", "99999", "http", "80a", "-1", "\uff11"])
def test_port_config_must_be_a_port_number(port: str) -> None:
    configs = {"buildPackLangVersion": "3.12", "port": port}
    message = errors_of(
        ComponentSpec, component(type="web-app", build={"buildpack": "python", "configs": configs})
    )
    assert "build config 'port' must be a number from 1 to 65535" in message


def test_unknown_config_key_is_rejected() -> None:
    message = errors_of(
        ComponentSpec,
        component(build={"buildpack": "docker", "configs": {"dockerfilePath": "Dockerfile"}}),
    )
    assert "build config 'dockerfilePath' is unknown (did you mean 'dockerFilePath'?)" in message
    assert "type 'service' with buildpack 'docker' takes dockerFilePath" in message


def test_component_without_build_is_fine() -> None:
    assert ComponentSpec.model_validate(component()).build is None


# ------------------------------------------------------------ schedule
@pytest.mark.parametrize(
    "schedule", ["*/5 * * * *", "0 3 * * 1-5", "@daily", "@hourly", "0 0 1 JAN,JUL ?"]
)
def test_good_cron(schedule: str) -> None:
    spec = ComponentSpec.model_validate(component(type="scheduled-task", schedule=schedule))
    assert spec.schedule == schedule


@pytest.mark.parametrize("schedule", ["every day", "* * * *", "* * * * * *", "@often", ""])
def test_bad_cron(schedule: str) -> None:
    assert "schedule" in errors_of(
        ComponentSpec, component(type="scheduled-task", schedule=schedule)
    )


def test_schedule_required_for_scheduled_task() -> None:
    message = errors_of(ComponentSpec, component(type="scheduled-task"))
    assert "schedule is required for type scheduled-task" in message


@pytest.mark.parametrize("t", [t for t in ComponentType if t is not ComponentType.SCHEDULED_TASK])
def test_schedule_forbidden_for_other_types(t: ComponentType) -> None:
    message = errors_of(ComponentSpec, component(type=t.value, schedule="@daily"))
    assert "schedule is only allowed for type scheduled-task" in message


# ------------------------------------------------------------ endpoints, env, egress
def test_endpoint_defaults_and_port_bounds() -> None:
    spec = ComponentSpec.model_validate(component(endpoints=[{"name": "http", "port": 8080}]))
    (ep,) = spec.endpoints
    assert (ep.protocol, ep.visibility, ep.path) == (Protocol.TCP, Visibility.PROJECT, "/")
    for port in (0, 65536):
        assert "port" in errors_of(
            ComponentSpec, component(endpoints=[{"name": "http", "port": port}])
        )


def test_duplicate_endpoint_names_are_rejected() -> None:
    eps = [{"name": "http", "port": 80}, {"name": "http", "port": 81}]
    assert "endpoints[].name must be unique: 'http'" in errors_of(
        ComponentSpec, component(endpoints=eps)
    )


def test_endpoints_must_not_share_port_and_protocol() -> None:
    eps = [{"name": "a", "port": 80}, {"name": "b", "port": 80}]
    assert "endpoints must not share a port and protocol" in errors_of(
        ComponentSpec, component(endpoints=eps)
    )
    ok = [{"name": "a", "port": 53}, {"name": "b", "port": 53, "protocol": "UDP"}]
    assert len(ComponentSpec.model_validate(component(endpoints=ok)).endpoints) == 2


@pytest.mark.parametrize("t", ["scheduled-task", "manual-task"])
def test_tasks_have_no_endpoints(t: str) -> None:
    extra = {"schedule": "@daily"} if t == "scheduled-task" else {}
    message = errors_of(
        ComponentSpec, component(type=t, endpoints=[{"name": "http", "port": 80}], **extra)
    )
    assert "endpoints are not allowed" in message


@pytest.mark.parametrize("name", ["HTTP", "1http", "http--x", "a-very-long-endpoint-name", "x-"])
def test_bad_endpoint_names(name: str) -> None:
    assert "name" in errors_of(ComponentSpec, component(endpoints=[{"name": name, "port": 80}]))


def test_duplicate_env_names_are_rejected() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    assert "env[].name must be unique" in errors_of(ComponentSpec, component(env=env))
    override = {"environment": "production", "env": env}
    assert "overrides[].env names must be unique" in errors_of(
        ComponentSpec, component(overrides=[override])
    )


def test_duplicate_overrides_and_environments_are_rejected() -> None:
    assert "overrides[].environment must be unique" in errors_of(
        ComponentSpec,
        component(overrides=[{"environment": "production"}, {"environment": "production"}]),
    )
    assert "environments must be unique" in errors_of(
        ComponentSpec, component(environments=["development", "development"])
    )


@pytest.mark.parametrize("cidr", ["20.22.170.144/28", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32"])
def test_good_cidrs(cidr: str) -> None:
    spec = ComponentSpec.model_validate(component(egress=[{"cidr": cidr, "ports": [443]}]))
    assert spec.egress[0].cidr == cidr
    dp = DataPlaneSpec.model_validate(
        {
            "region": "x",
            "egressCIDRs": [cidr],
            "clusterNetworks": [cidr],
            "ingress": {"baseDomain": "example.com"},
        }
    )
    assert dp.egress_cidrs == [cidr]
    assert dp.cluster_networks == [cidr]


@pytest.mark.parametrize(
    ("cidr", "fix"),
    [
        (
            "20.22.170.145/28",
            "20.22.170.145/28 has bits set after the prefix length: write the network address "
            "(those bits cleared): 20.22.170.144/28",
        ),
        ("10.0.0.1", "10.0.0.1 has no prefix length: write 10.0.0.1/32"),
        ("203.0.113.10", "203.0.113.10 has no prefix length: write 203.0.113.10/32"),
        ("2001:db8::1", "2001:db8::1 has no prefix length: write 2001:db8::1/128"),
        (
            "2001:db8::1/32",
            "2001:db8::1/32 has bits set after the prefix length: write the network address "
            "(those bits cleared): 2001:db8::/32",
        ),
    ],
)
def test_cidrs_that_need_a_fix_get_it(cidr: str, fix: str) -> None:
    assert fix in errors_of(ComponentSpec, component(egress=[{"cidr": cidr}]))
    for field in ("egressCIDRs", "clusterNetworks"):
        assert fix in errors_of(
            DataPlaneSpec,
            {"region": "x", field: [cidr], "ingress": {"baseDomain": "example.com"}},
        )


@pytest.mark.parametrize(
    "cidr",
    [
        "hello",
        "10.0.0.0/33",
        "300.1.1.0/24",
        "010.0.0.0/8",
        "::ffff:10.244.0.0/112",  # IPv4-mapped IPv6: CEL's cidr() and ipBlock refuse it
        "::ffff:0:0/96",
    ],
)
def test_bad_cidrs(cidr: str) -> None:
    assert "must be a CIDR in canonical form" in errors_of(
        ComponentSpec, component(egress=[{"cidr": cidr}])
    )
    for field in ("egressCIDRs", "clusterNetworks"):
        assert "must be a CIDR in canonical form" in errors_of(
            DataPlaneSpec,
            {"region": "x", field: [cidr], "ingress": {"baseDomain": "example.com"}},
        )


def test_duplicate_egress_cidrs_and_ports() -> None:
    assert "egressCIDRs must be unique" in errors_of(
        DataPlaneSpec,
        {
            "region": "x",
            "egressCIDRs": ["10.0.0.0/8", "10.0.0.0/8"],
            "ingress": {"baseDomain": "example.com"},
        },
    )
    assert "clusterNetworks must be unique" in errors_of(
        DataPlaneSpec,
        {
            "region": "x",
            "clusterNetworks": ["10.96.0.0/12", "10.96.0.0/12"],
            "ingress": {"baseDomain": "example.com"},
        },
    )
    assert "egress[0].ports must be unique" in errors_of(
        ComponentSpec, component(egress=[{"cidr": "10.0.0.0/8", "ports": [443, 443]}])
    )


# ------------------------------------------------------------ enums and defaults
@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (OrganizationSpec, {"defaultDataPlane": "us", "tier": "free"}, "tier"),
        (ComponentSpec, component(type="lambda"), "type"),
        (ComponentSpec, component(build={"buildpack": "cobol"}), "buildpack"),
        (
            ComponentSpec,
            component(endpoints=[{"name": "h", "port": 1, "visibility": "x"}]),
            "visibility",
        ),
        (
            ComponentSpec,
            component(endpoints=[{"name": "h", "port": 1, "protocol": "SCTP"}]),
            "protocol",
        ),
    ],
)
def test_bad_enums(model: type[Any], data: dict[str, Any], field: str) -> None:
    assert field in errors_of(model, data)


def test_defaults() -> None:
    org = OrganizationSpec.model_validate({"defaultDataPlane": "us"})
    assert org.tier is Tier.DEVELOPER
    dp = DataPlaneSpec.model_validate({"region": "US East 2", "ingress": {"baseDomain": "e.com"}})
    assert dp.max_request_body_size == "10m"
    assert dp.ingress.class_name == "nginx" and dp.ingress.gateway_namespace == "ingress-nginx"
    comp = ComponentSpec.model_validate(component())
    assert comp.replicas == 1
    assert (comp.resources.cpu, comp.resources.memory) == ("100m", "128Mi")
    env = EnvironmentSpec.model_validate({"dataPlane": "us"})
    assert env.production is False
    assert ProjectSpec.model_validate({}).data_plane is None
    assert parse_spec("Project", None) == ProjectSpec()


def test_specs_are_frozen_and_strict() -> None:
    spec = ComponentSpec.model_validate(component())
    with pytest.raises(ValidationError):
        spec.replicas = 3  # type: ignore[misc]
    assert "extra" in errors_of(ComponentSpec, component(replica=3)).lower()


def test_references_follow_name_bounds() -> None:
    long_dp = "d" * (NAME_RULES["DataPlane"].max_length + 1)
    assert "dataPlane" in errors_of(EnvironmentSpec, {"dataPlane": long_dp})
    assert "project" in errors_of(ComponentSpec, component(project="Shop"))


# ------------------------------------------------------------ names and transitions
@pytest.mark.parametrize(
    ("kind", "name", "ok"),
    [
        ("Component", "a" * 40, True),
        ("Component", "a" * 41, False),
        ("Component", "1api", False),
        ("Component", "api-", False),
        ("Organization", "o" * 30, True),
        ("Organization", "o" * 31, False),
        ("Organization", "9lives", True),
        ("Project", "p" * 31, False),
        ("Environment", "e" * 40, True),
        ("Environment", "e" * 41, False),
        ("DataPlane", "d" * 28, True),
        ("DataPlane", "d" * 29, False),
        ("DataPlane", "US", False),
    ],
)
def test_name_rules(kind: str, name: str, ok: bool) -> None:
    errors = name_errors(kind, name)
    assert (errors == []) is ok, errors
    assert all(e.startswith("metadata.name must") for e in errors)


def test_default_environment_names_of_any_dataplane_are_valid_environment_names() -> None:
    from cdp_operator.models.naming import default_environment_names

    longest = "d" * NAME_RULES["DataPlane"].max_length
    for name in default_environment_names(longest, is_org_default=False):
        assert name_errors("Environment", name) == []


PROJECT_DATAPLANE_FIXED = (
    "dataPlane is fixed when the project is created (absent means the organization's "
    "defaultDataPlane); create a new project to use another data plane"
)


def test_transition_errors() -> None:
    us, eu = EnvironmentSpec(data_plane="us"), EnvironmentSpec(data_plane="eu")
    assert transition_errors("Environment", us, eu) == ["dataPlane is immutable once set"]
    assert transition_errors("Environment", us, us) == []
    org = OrganizationSpec(default_data_plane="us")
    assert transition_errors("Organization", org, org.model_copy(update={"tier": Tier.PAYG})) == []
    assert transition_errors("Organization", org, OrganizationSpec(default_data_plane="eu")) == [
        "defaultDataPlane is immutable once set"
    ]


@pytest.mark.parametrize("before", [None, "us", "eu"], ids=lambda v: f"from-{v or 'absent'}")
@pytest.mark.parametrize("after", [None, "us", "eu"], ids=lambda v: f"to-{v or 'absent'}")
def test_a_projects_dataplane_is_fixed_from_creation(before: str | None, after: str | None) -> None:
    """Absent (the organization's defaultDataPlane) is as final as a value: no update
    adds, changes or removes it; other fields stay editable."""
    old = ProjectSpec(data_plane=before)
    new = ProjectSpec(data_plane=after, display_name="Renamed")
    errors = transition_errors("Project", old, new)
    assert errors == ([] if before == after else [PROJECT_DATAPLANE_FIXED])
    assert "dataPlane" in PROJECT_DATAPLANE_FIXED
    assert "create a new project" in PROJECT_DATAPLANE_FIXED


def test_transition_rules_and_their_python_twin_come_from_one_table() -> None:
    project = ProjectSpec.model_json_schema(by_alias=True)["x-kubernetes-validations"]
    assert project == [
        {
            "rule": "has(self.dataPlane) == has(oldSelf.dataPlane) && "
            "(!has(self.dataPlane) || self.dataPlane == oldSelf.dataPlane)",
            "message": PROJECT_DATAPLANE_FIXED,
            "fieldPath": ".dataPlane",
        }
    ]
    environment = EnvironmentSpec.model_json_schema(by_alias=True)["x-kubernetes-validations"]
    assert environment == [
        {
            "rule": "!has(oldSelf.dataPlane) || "
            "(has(self.dataPlane) && self.dataPlane == oldSelf.dataPlane)",
            "message": "dataPlane is immutable once set",
            "fieldPath": ".dataPlane",
        }
    ]


# ------------------------------------------------------------ status
T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
T1 = datetime(2025, 1, 1, 13, 0, 0, tzinfo=UTC)


def test_set_condition_appends_and_keeps_transition_time() -> None:
    conds = set_condition([], "Ready", False, "Reconciling", "starting", 1, T0)
    assert [c.type for c in conds] == ["Ready"]
    assert conds[0].last_transition_time == "2025-01-01T12:00:00Z"

    same = set_condition(conds, "Ready", "False", "Waiting", "still starting", 2, T1)
    assert same[0].last_transition_time == "2025-01-01T12:00:00Z"
    assert (same[0].reason, same[0].message, same[0].observed_generation) == (
        "Waiting",
        "still starting",
        2,
    )

    flipped = set_condition(same, "Ready", True, "Ready", "", 2, T1)
    assert flipped[0].last_transition_time == "2025-01-01T13:00:00Z"
    assert conds[0].status == "False"  # inputs untouched


def test_set_condition_is_idempotent_and_keeps_order() -> None:
    conds = set_condition([], "Ready", True, "Ready", "", 1, T0)
    conds = set_condition(conds, "Stalled", False, "Fine", "", 1, T0)
    again = set_condition(conds, "Ready", True, "Ready", "", 1, T1)
    assert again == conds
    assert [c.type for c in again] == ["Ready", "Stalled"]
    assert find_condition(again, "Stalled") is not None
    assert find_condition(again, "Reconciling") is None


def test_condition_reason_must_be_camel_case() -> None:
    with pytest.raises(ValidationError):
        Condition(type="Ready", status="True", reason="not ok", last_transition_time="x")


def test_status_serialises_camel_case_without_unset_fields() -> None:
    status = OrganizationStatus(
        observed_generation=3,
        conditions=set_condition([], "Ready", True, "Ready", "ok", 3, T0),
        namespace="cdp-org-acme",
        data_planes=["us"],
    )
    assert status.to_dict() == {
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "ok",
                "lastTransitionTime": "2025-01-01T12:00:00Z",
                "observedGeneration": 3,
            }
        ],
        "namespace": "cdp-org-acme",
        "dataPlanes": ["us"],
    }
    parsed = ComponentStatus.model_validate(
        {
            "environments": [
                {"name": "dev", "namespace": "ns", "workloadKind": "Deployment", "readyReplicas": 1}
            ],
            "lastRun": {"token": "t1", "jobs": ["job-a"]},
            "somethingNew": True,
        }
    )
    assert parsed.environments is not None and parsed.environments[0].ready_replicas == 1
    assert parsed.last_run is not None and parsed.last_run.jobs == ["job-a"]
