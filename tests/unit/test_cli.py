"""The `cdp` CLI without a cluster: validation against the seed's table, output, commands.

Every (type, buildpack) row of REQUIRED_BUILD_CONFIGS is exercised: complete
configs give YAML that the ComponentSpec model accepts; each missing key exits
2 naming the key; every pair outside the table is rejected.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp_operator.cli import main as cli
from cdp_operator.cli.kube import BY_KIND, KINDS, KindInfo
from cdp_operator.models import crdgen
from cdp_operator.models.buildconfigs import (
    CONFIG_KEY_DESCRIPTIONS,
    REQUIRED_BUILD_CONFIGS,
    Buildpack,
    ComponentType,
)
from cdp_operator.models.labels import API_VERSION, RUN_REQUEST
from cdp_operator.models.resources import ComponentSpec, EnvironmentSpec, ProjectSpec

ROWS = sorted(REQUIRED_BUILD_CONFIGS.items(), key=lambda kv: (kv[0][0].value, kv[0][1].value))
UNSUPPORTED = [
    (t, b) for t in ComponentType for b in Buildpack if (t, b) not in REQUIRED_BUILD_CONFIGS
]
SAMPLE_VALUES = {
    "buildPackLangVersion": "3.11",
    "port": "8080",
    "dockerFilePath": "./Dockerfile",
    "buildCommand": "npm run build",
    "outputDirectory": "dist",
    "nodeVersion": "20",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv), prog="cdp")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def component_args(
    ctype: ComponentType, buildpack: Buildpack | None, configs: dict[str, str]
) -> list[str]:
    args = ["create", "component", "demo", "--project", "shop", "--type", ctype.value]
    args += ["--image", "ghcr.io/acme/demo:1.0", "--organization", "acme"]
    if buildpack is not None:
        args += ["--buildpack", buildpack.value]
    if configs:
        args += ["--build-configs", ",".join(f"{k}={v}" for k, v in configs.items())]
    if ctype is ComponentType.SCHEDULED_TASK:
        args += ["--schedule", "0 2 * * *"]
    if ctype is ComponentType.WEB_APP and "port" in configs:
        # A web-app serves its build config port (models: an endpoint on it is required).
        args += ["--endpoint", f"http:{configs['port']}:public"]
    return args


def row_id(row: tuple[tuple[ComponentType, Buildpack], tuple[str, ...]]) -> str:
    (t, b), _ = row
    return f"{t.value}/{b.value}"


# ----------------------------------------------------- the seed's table, row by row
@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_every_row_with_all_keys_gives_a_valid_component(
    row: tuple[tuple[ComponentType, Buildpack], tuple[str, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    (ctype, buildpack), required = row
    configs = {key: SAMPLE_VALUES[key] for key in required}
    code, out, err = run(capsys, *component_args(ctype, buildpack, configs))
    assert code == 0, err
    assert err == ""
    doc = yaml.safe_load(out)
    assert doc["apiVersion"] == API_VERSION
    assert doc["kind"] == "Component"
    assert doc["metadata"] == {"name": "demo", "namespace": "cdp-org-acme"}
    spec = ComponentSpec.model_validate(doc["spec"])
    assert spec.type is ctype
    assert spec.build is not None
    assert spec.build.buildpack is buildpack
    assert dict(spec.build.configs) == configs


@pytest.mark.parametrize(
    ("row", "missing"),
    [(row, key) for row in ROWS for key in row[1]],
    ids=[f"{row_id(row)}-{key}" for row in ROWS for key in row[1]],
)
def test_every_row_rejects_each_missing_key(
    row: tuple[tuple[ComponentType, Buildpack], tuple[str, ...]],
    missing: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (ctype, buildpack), required = row
    configs = {key: SAMPLE_VALUES[key] for key in required if key != missing}
    code, out, err = run(capsys, *component_args(ctype, buildpack, configs))
    assert code == 2
    assert out == ""
    expected = (
        f"error: build config '{missing}' ({CONFIG_KEY_DESCRIPTIONS[missing]}) is required "
        f"for type '{ctype.value}' with buildpack '{buildpack.value}'"
    )
    assert expected in err.splitlines()
    # Only the missing key is reported.
    assert err.count("is required") == 1


ROWS_WITH_KEYS = [row for row in ROWS if row[1]]


@pytest.mark.parametrize("row", ROWS_WITH_KEYS, ids=row_id)
def test_an_empty_value_counts_as_missing(
    row: tuple[tuple[ComponentType, Buildpack], tuple[str, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    (ctype, buildpack), required = row
    configs = {key: SAMPLE_VALUES[key] for key in required}
    configs[required[0]] = ""
    code, _, err = run(capsys, *component_args(ctype, buildpack, configs))
    assert code == 2
    assert f"'{required[0]}'" in err


@pytest.mark.parametrize("pair", UNSUPPORTED, ids=[f"{t.value}/{b.value}" for t, b in UNSUPPORTED])
def test_unsupported_pairs_are_rejected_listing_the_allowed_buildpacks(
    pair: tuple[ComponentType, Buildpack], capsys: pytest.CaptureFixture[str]
) -> None:
    ctype, buildpack = pair
    configs = dict(SAMPLE_VALUES)
    code, out, err = run(capsys, *component_args(ctype, buildpack, configs))
    assert code == 2
    assert out == ""
    allowed = [b.value for (t, b) in REQUIRED_BUILD_CONFIGS if t is ctype]
    assert f"buildpack '{buildpack.value}' is not supported for type '{ctype.value}'" in err
    assert f"(allowed: {', '.join(allowed)})" in err


def test_the_table_covers_the_seed() -> None:
    # 10 service, 11 web-app, 9 webhook, 10 scheduled-task, 10 manual-task rows.
    counts = {t: sum(1 for (ct, _) in REQUIRED_BUILD_CONFIGS if ct is t) for t in ComponentType}
    assert counts == {
        ComponentType.SERVICE: 10,
        ComponentType.WEB_APP: 11,
        ComponentType.WEBHOOK: 9,
        ComponentType.SCHEDULED_TASK: 10,
        ComponentType.MANUAL_TASK: 10,
    }


# ------------------------------------------------------------- --build-configs
def _spec(out: str) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(out)["spec"]
    return spec


def test_build_configs_comma_separated_and_repeated_give_the_same_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["create", "component", "web", "-p", "shop", "-t", "web-app", "-b", "react"]
    base += ["--image", "i:1"]
    code1, out1, err1 = run(
        capsys,
        *base,
        "--build-configs",
        "buildCommand=npm run build,outputDirectory=build,nodeVersion=20",
    )
    code2, out2, err2 = run(
        capsys,
        *base,
        "--build-configs=buildCommand=npm run build",
        "--build-configs",
        "outputDirectory=build",
        "--build-configs",
        "nodeVersion=20",
    )
    code3, out3, _ = run(
        capsys,
        *base,
        "--build-configs",
        "buildCommand=npm run build,outputDirectory=build",
        "--build-configs",
        "nodeVersion=20",
    )
    assert (code1, code2, code3) == (0, 0, 0), err1 + err2
    assert _spec(out1) == _spec(out2) == _spec(out3)
    assert _spec(out1)["build"]["configs"] == {
        "buildCommand": "npm run build",
        "outputDirectory": "build",
        "nodeVersion": "20",
    }


def test_build_configs_later_values_win_and_values_may_hold_commas_and_equals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys,
        *["create", "component", "web", "-p", "shop", "-t", "web-app", "-b", "vue"],
        *["--image", "i:1", "--build-configs", "nodeVersion=18"],
        "--build-configs",
        "buildCommand=NODE_ENV=production npm run build,lint, outputDirectory=dist",
        "--build-configs",
        "nodeVersion=20",
    )
    assert code == 0, err
    assert _spec(out)["build"]["configs"] == {
        "nodeVersion": "20",
        "buildCommand": "NODE_ENV=production npm run build,lint",
        "outputDirectory": "dist",
    }


def test_build_configs_need_a_buildpack_and_key_value_pairs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["create", "component", "api", "-p", "shop", "-t", "service", "--image", "i:1"]
    code, _, err = run(capsys, *base, "--build-configs", "buildPackLangVersion=3")
    assert code == 2
    assert "--build-configs needs --buildpack" in err
    code, _, err = run(capsys, *base, "-b", "python", "--build-configs", "oops")
    assert code == 2
    assert "expected key=value" in err


def test_unknown_build_config_keys_get_a_suggestion_and_the_models_verdict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configs = {"buildPackLangVersion": "3.12", "buildpackLangVersion": "3"}
    code, _, err = run(
        capsys,
        *["create", "component", "api", "-p", "shop", "-t", "service", "-b", "python"],
        *["--image", "i:1", "--build-configs", ",".join(f"{k}={v}" for k, v in configs.items())],
    )
    assert "build config 'buildpackLangVersion' is unknown" in err
    assert "did you mean 'buildPackLangVersion'?" in err
    # Whether an unknown key is an error is the model's decision, not the CLI's.
    spec = {"project": "shop", "type": "service", "image": "i:1"}
    try:
        ComponentSpec.model_validate({**spec, "build": {"buildpack": "python", "configs": configs}})
    except ValueError:
        assert code == 2
    else:
        assert code == 0


def test_a_component_without_a_buildpack_has_no_build_section(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "create", "component", "api", "-p", "shop", "-t", "service", "--image", "i:1"
    )
    assert code == 0, err
    assert "build" not in _spec(out)


# --------------------------------------------------------------- seed spellings
@pytest.mark.parametrize(
    ("spelled", "expected"),
    [
        ("Service", "service"),
        ("Web Application", "web-app"),
        ("Webapp", "web-app"),
        ("webapp", "web-app"),
        ("web-app", "web-app"),
        ("Webhook", "webhook"),
        ("Scheduled Task", "scheduled-task"),
        ("Manual Task", "manual-task"),
        ("manual-task", "manual-task"),
    ],
)
def test_types_accept_the_seed_spellings(
    spelled: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["create", "component", "x", "-p", "shop", "--type", spelled, "--image", "i:1"]
    if expected == "scheduled-task":
        args += ["--schedule", "* * * * *"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert _spec(out)["type"] == expected


@pytest.mark.parametrize(
    ("spelled", "expected"),
    [
        ("Node.js", "nodejs"),
        ("Node.JS", "nodejs"),
        ("nodejs", "nodejs"),
        (".Net", "dotnet"),
        ("dotnet", "dotnet"),
        ("WSO2 MI", "wso2-mi"),
        ("wso2-mi", "wso2-mi"),
        ("Ballerina", "ballerina"),
        ("PHP", "php"),
        ("Docker", "docker"),
    ],
)
def test_buildpacks_accept_the_seed_spellings(
    spelled: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configs = "buildPackLangVersion=1,dockerFilePath=Dockerfile"
    code, out, err = run(
        capsys,
        *["create", "component", "x", "-p", "shop", "-t", "Service", "--image", "i:1"],
        *["--buildpack", spelled, "--build-configs", configs],
    )
    assert code == 0, err
    assert _spec(out)["build"]["buildpack"] == expected


def test_static_website_spelling(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        *["create", "component", "site", "-p", "shop", "-t", "Web Application"],
        *["-b", "Static website", "--image", "i:1"],
    )
    assert code == 0, err
    assert _spec(out)["build"] == {"buildpack": "static-website", "configs": {}}


def test_unknown_type_and_buildpack_list_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "create", "component", "x", "-p", "s", "-t", "lambda")
    assert code == 2
    assert "unknown component type 'lambda'" in err
    assert "service, web-app, webhook, scheduled-task, manual-task" in err
    code, _, err = run(
        capsys, "create", "component", "x", "-p", "s", "-t", "service", "-b", "cobol"
    )
    assert code == 2
    assert "unknown buildpack 'cobol'" in err


# ------------------------------------------------------------ other component flags
def test_endpoints_replicas_env_and_visibility_words(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        *["create", "component", "api", "-p", "shop", "-t", "service", "--image", "i:1"],
        *["--endpoint", "http:8080", "--endpoint", "grpc:9090:internal"],
        *["--endpoint", "pub:8443:external", "--replicas", "3", "--env", "A=1", "--env", "B=x=y"],
    )
    assert code == 0, err
    spec = _spec(out)
    assert spec["endpoints"] == [
        {"name": "http", "port": 8080},
        {"name": "grpc", "port": 9090, "visibility": "organization"},
        {"name": "pub", "port": 8443, "visibility": "public"},
    ]
    assert spec["replicas"] == 3
    assert spec["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "x=y"}]
    ComponentSpec.model_validate(spec)


@pytest.mark.parametrize("bad", ["http", "http:", ":80", "http:eighty", "http:80:world", "a:1:b:c"])
def test_bad_endpoints_are_rejected(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        *["create", "component", "api", "-p", "shop", "-t", "service", "--image", "i:1"],
        *["--endpoint", bad],
    )
    assert code == 2
    assert out == ""
    assert "--endpoint" in err


def test_model_errors_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "create", "component", "api", "-p", "shop", "-t", "service")
    assert code == 2
    assert "spec.image" in err and "--image" in err
    code, _, err = run(
        capsys,
        *["create", "component", "api", "-p", "shop", "-t", "service", "--image", "i"],
        *["--endpoint", "http:70000"],
    )
    assert code == 2
    assert "spec.endpoints.0.port" in err


def test_names_are_checked_like_the_crd(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "create", "component", "Bad_Name", "-p", "s", "-t", "service")
    assert code == 2
    assert "invalid Component name 'Bad_Name'" in err
    code, _, err = run(capsys, "create", "project", "p" * 64)
    assert code == 2
    assert "invalid Project name" in err


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "create", "component", "a", "-p", "s", "-t", "service", "--image", "i", "-o", "json"
    )
    assert code == 0
    assert json.loads(out)["spec"] == {"project": "s", "type": "service", "image": "i"}


# --------------------------------------------------------- project and environment
def test_create_project(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "create", "project", "shop", "--data-plane", "eu", "--organization", "acme"
    )
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc == {
        "apiVersion": API_VERSION,
        "kind": "Project",
        "metadata": {"name": "shop", "namespace": "cdp-org-acme"},
        "spec": {"dataPlane": "eu"},
    }
    ProjectSpec.model_validate(doc["spec"])
    assert err == ""
    # Printing needs no cluster, so without --data-plane there is no default to
    # write: the YAML has no dataPlane, and stderr says what that means.
    code, out, err = run(capsys, "create", "project", "shop")
    assert code == 0
    assert yaml.safe_load(out)["metadata"] == {"name": "shop"}
    assert "dataPlane" not in yaml.safe_load(out)["spec"]
    assert err.startswith("note: no --data-plane")
    assert "stays on its organization's defaultDataPlane for good" in err


def test_create_project_help_says_the_data_plane_is_fixed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "create", "project", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "fixed for its lifetime" in text
    assert "the project stays on the organization's defaultDataPlane forever" in text
    assert "written into spec.dataPlane" in text


def test_create_environment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "create", "environment", "staging", "--data-plane", "us", "--production", "-n", "ns"
    )
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["kind"] == "Environment"
    assert doc["spec"] == {"dataPlane": "us", "production": True}
    EnvironmentSpec.model_validate(doc["spec"])
    code, out, _ = run(capsys, "create", "env", "qa", "--data-plane", "us")
    assert code == 0
    assert yaml.safe_load(out)["spec"] == {"dataPlane": "us"}
    code, _, err = run(capsys, "create", "environment", "qa")
    assert code == 2
    assert "--data-plane" in err


def test_namespace_and_organization_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "create", "project", "p", "-n", "x", "--organization", "y")
    assert code == 2
    assert "not allowed with" in err


def test_dry_run_needs_apply(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "create", "project", "p", "--dry-run")
    assert code == 2
    assert "--apply" in err


# ---------------------------------------------------------------------- buildpacks
def test_buildpacks_prints_the_whole_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "buildpacks")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["TYPE", "BUILDPACK"]
    for (t, b), keys in REQUIRED_BUILD_CONFIGS.items():
        matching = [ln for ln in lines if ln.split()[:2] == [t.value, b.value]]
        assert len(matching) == 1, (t, b)
        assert matching[0].split()[-1] == (",".join(keys) or "-")


def test_buildpacks_json_equals_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "buildpacks", "-o", "json")
    assert code == 0
    rows = json.loads(out)
    assert {(r["type"], r["buildpack"]): tuple(r["requiredConfigs"]) for r in rows} == {
        (t.value, b.value): keys for (t, b), keys in REQUIRED_BUILD_CONFIGS.items()
    }


def test_buildpacks_for_one_type(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "buildpacks", "--type", "Webapp")
    assert code == 0
    types = {ln.split()[0] for ln in out.splitlines()[1:] if ln and not ln.startswith(" ")}
    assert types - {"build"} == {"web-app"}
    assert "react" in out and "java" not in out


# -------------------------------------------------------------------------- help
HELP_COMMANDS = [
    [],
    ["create"],
    ["create", "component"],
    ["create", "project"],
    ["create", "environment"],
    ["get"],
    ["run"],
    ["buildpacks"],
]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "cdp")
def test_help_for_every_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert out.startswith("usage: cdp " + " ".join(command))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from cdp_operator import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"cdp {__version__}"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2
    assert "usage:" in err


def test_kubectl_plugin_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/kubectl-cdp", "--help"])
    code = cli.main(["--help"])
    assert code == 0
    assert capsys.readouterr().out.startswith("usage: kubectl cdp")


@pytest.mark.parametrize("script", ["cdp", "kubectl-cdp"])
def test_console_scripts(script: str) -> None:
    path = Path(sys.executable).parent / script
    if not path.exists():
        pytest.skip(f"{script} not installed (pip install -e .)")
    result = subprocess.run(
        [str(path), "create", "component", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    prog = "kubectl cdp" if script == "kubectl-cdp" else "cdp"
    assert result.stdout.startswith(f"usage: {prog} create component")


def test_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cdp_operator.cli", "buildpacks", "-t", "webhook"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr
    assert "webhook" in result.stdout


# ------------------------------------------------------------------ kinds table
def test_kinds_come_from_the_crd_generator() -> None:
    assert [(k.kind, k.plural, k.namespaced) for k in KINDS] == [
        (k.kind, k.plural, k.scope == "Namespaced") for k in crdgen.KINDS
    ]


# ------------------------------------------------- commands that talk to the API
class FakeKube:
    """In-memory `Kube`: records writes, serves objects."""

    def __init__(self, objects: list[dict[str, Any]], namespace: str | None = None) -> None:
        self.objects = {self._key(o): copy.deepcopy(o) for o in objects}
        self.namespace = namespace
        self.applied: list[tuple[dict[str, Any], bool, bool]] = []
        self.patches: list[tuple[str, str, str | None, dict[str, Any]]] = []
        self.version = 100

    @staticmethod
    def _key(obj: dict[str, Any]) -> tuple[str, str | None, str]:
        meta = obj["metadata"]
        return (obj["kind"], meta.get("namespace"), meta["name"])

    def context_namespace(self) -> str | None:
        return self.namespace

    def get(self, kind: KindInfo, name: str, namespace: str | None) -> dict[str, Any] | None:
        ns = namespace if kind.namespaced else None
        obj = self.objects.get((kind.kind, ns, name))
        return copy.deepcopy(obj) if obj else None

    def list(self, kind: KindInfo, namespace: str | None) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in self.objects.items()
            if k == kind.kind and (namespace is None or ns == namespace)
        ]

    def apply(
        self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        self.applied.append((copy.deepcopy(obj), force, dry_run))
        key = self._key(obj)
        old = self.objects.get(key)
        if old is not None and old["spec"] == obj["spec"]:
            return copy.deepcopy(old)
        self.version += 1
        new = copy.deepcopy(obj)
        new["metadata"]["resourceVersion"] = str(self.version)
        if not dry_run:
            self.objects[key] = new
        return new

    def patch_metadata(
        self, kind: KindInfo, name: str, namespace: str | None, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        self.patches.append((kind.kind, name, namespace, copy.deepcopy(metadata)))
        obj = self.objects[(kind.kind, namespace, name)]
        obj["metadata"].setdefault("annotations", {}).update(metadata.get("annotations", {}))
        return copy.deepcopy(obj)


def _component(
    name: str, ctype: str, *, ready: str = "True", reason: str = "Ready", billing: str = ""
) -> dict[str, Any]:
    spec: dict[str, Any] = {"project": "shop", "type": ctype, "image": "i:1"}
    return {
        "apiVersion": API_VERSION,
        "kind": "Component",
        "metadata": {
            "name": name,
            "namespace": "cdp-org-acme",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "cdp-cli"}],
        },
        "spec": spec,
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": ready, "reason": reason, "message": ""},
                {"type": "Reconciling", "status": "False", "reason": reason},
                {"type": "Stalled", "status": "False", "reason": reason},
            ],
            **({"billing": billing} if billing else {}),
        },
    }


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    kube = FakeKube(
        [
            _component("job", "manual-task", billing="free"),
            _component("api", "service", ready="False", reason="ComponentLimitExceeded"),
            {
                "apiVersion": API_VERSION,
                "kind": "Organization",
                "metadata": {"name": "acme"},
                "spec": {"tier": "payg", "defaultDataPlane": "us"},
            },
        ]
    )
    monkeypatch.setattr(cli, "kube_factory", lambda args: kube)
    return kube


def test_run_sets_a_fresh_token_with_a_metadata_only_patch(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "run", "job", "--organization", "acme")
    assert code == 0, err
    token = out.strip()
    assert token
    assert fake.patches == [
        ("Component", "job", "cdp-org-acme", {"annotations": {RUN_REQUEST: token}})
    ]
    code, out2, _ = run(capsys, "run", "job", "-n", "cdp-org-acme")
    assert code == 0
    assert out2.strip() != token


def test_run_refuses_other_types_and_missing_components(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "run", "api", "--organization", "acme")
    assert code == 2
    assert "not a 'manual-task'" in err
    code, _, err = run(capsys, "run", "nope", "--organization", "acme")
    assert code == 1
    assert "component.cdp.dev/nope not found in namespace cdp-org-acme" in err
    assert fake.patches == []


def test_run_needs_a_namespace(fake: FakeKube, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", "job")
    assert code == 2
    assert "--organization" in err
    fake.namespace = "cdp-org-acme"  # from the kubeconfig context
    code, _, _ = run(capsys, "run", "job")
    assert code == 0


def test_get_table_shows_ready_reason_and_key_fields(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "get", "components", "--organization", "acme")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "PROJECT",
        "TYPE",
        "BUILDPACK",
        "BILLING",
        "READY",
        "REASON",
        "STATUS",
        "AGE",
    ]
    assert lines[1].split()[:8] == [
        "api",
        "shop",
        "service",
        "-",
        "-",
        "False",
        "ComponentLimitExceeded",
        "Current",
    ]
    assert lines[2].split()[:8] == [
        "job",
        "shop",
        "manual-task",
        "-",
        "free",
        "True",
        "Ready",
        "Current",
    ]


def test_get_dataplanes_shows_egress_cidrs_and_cluster_networks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def dataplane(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "DataPlane",
            "metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"ingress": {"baseDomain": f"{name}.example.com"}, **spec},
        }

    kube = FakeKube(
        [
            dataplane(
                "us",
                {
                    "region": "US",
                    "egressCIDRs": ["20.22.170.144/28"],
                    "clusterNetworks": ["10.244.0.0/16", "10.96.0.0/12"],
                },
            ),
            dataplane("private", {"region": "DC"}),
        ]
    )
    monkeypatch.setattr(cli, "kube_factory", lambda args: kube)
    code, out, err = run(capsys, "get", "dp")
    assert code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert lines[0][:5] == ["NAME", "REGION", "EGRESS", "CIDRS", "CLUSTER"]
    assert lines[1][:3] == ["private", "DC", "-"] and lines[1][3] == "-"
    assert lines[2][:4] == ["us", "US", "20.22.170.144/28", "10.244.0.0/16,10.96.0.0/12"]


def test_get_all_namespaces_adds_the_namespace_column(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "get", "comp", "-A")
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]


def test_get_yaml_and_json(fake: FakeKube, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "get", "components", "-n", "cdp-org-acme", "-o", "yaml")
    assert code == 0
    doc = yaml.safe_load(out)
    assert doc["kind"] == "List"
    assert [i["metadata"]["name"] for i in doc["items"]] == ["api", "job"]
    assert all("managedFields" not in i["metadata"] for i in doc["items"])
    code, out, _ = run(capsys, "get", "component", "job", "-n", "cdp-org-acme", "-o", "json")
    assert code == 0
    assert json.loads(out)["metadata"]["name"] == "job"
    code, out, _ = run(capsys, "get", "orgs", "-o", "name")
    assert out.strip() == "organization.cdp.dev/acme"


def test_get_everything_and_unknown_types(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "get")
    assert code == 0
    assert "# organizations.cdp.dev" in out and "# components.cdp.dev" in out
    assert "cdp-org-acme" in out  # the organization's namespace column
    code, _, err = run(capsys, "get", "pods")
    assert code == 1
    assert "unknown resource type 'pods'" in err
    code, _, err = run(capsys, "get", "components", "nope", "-n", "cdp-org-acme")
    assert code == 1
    assert "not found" in err


def test_create_apply_server_side_applies_into_the_org_namespace(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["create", "project", "shop", "--organization", "acme", "--apply"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert out.strip() == "project.cdp.dev/shop created in namespace cdp-org-acme"
    obj, force, dry_run = fake.applied[-1]
    assert obj["metadata"] == {"name": "shop", "namespace": "cdp-org-acme"}
    assert (force, dry_run) == (False, False)
    # The data plane it resolved (acme's defaultDataPlane) is written explicitly.
    assert obj["spec"] == {"dataPlane": "us"}
    assert err.strip() == "dataPlane us: organization acme's defaultDataPlane"
    code, out, _ = run(capsys, *args)
    assert out.strip() == "project.cdp.dev/shop unchanged in namespace cdp-org-acme"
    assert fake.applied[-1][0]["spec"] == {"dataPlane": "us"}
    code, out, _ = run(capsys, *args, "--data-plane", "us")
    assert out.strip() == "project.cdp.dev/shop unchanged in namespace cdp-org-acme"
    code, out, _ = run(capsys, *args, "--display-name", "Shop", "--force-conflicts")
    assert out.strip() == "project.cdp.dev/shop configured in namespace cdp-org-acme"
    assert fake.applied[-1][0]["spec"] == {"dataPlane": "us", "displayName": "Shop"}
    assert fake.applied[-1][1] is True


def test_create_apply_refuses_to_move_an_existing_project(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["create", "project", "shop", "--organization", "acme", "--apply"]
    assert run(capsys, *args)[0] == 0
    applied = len(fake.applied)
    code, _, err = run(capsys, *args, "--data-plane", "eu", "--force-conflicts")
    assert code == 2
    assert err.startswith("error: spec.dataPlane: dataPlane is fixed when the project is created")
    assert "create a new project to use another data plane" in err
    assert "was created with dataPlane 'us'" in err
    assert len(fake.applied) == applied
    assert fake.get(BY_KIND["Project"], "shop", "cdp-org-acme")["spec"] == {"dataPlane": "us"}


def test_create_apply_keeps_a_project_created_without_data_plane_as_it_is(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    """A project created without dataPlane (kubectl, an older cdp) stays so: re-applying
    it writes no dataPlane, which the CRD would refuse."""
    fake.objects[("Project", "cdp-org-acme", "web")] = {
        "apiVersion": API_VERSION,
        "kind": "Project",
        "metadata": {"name": "web", "namespace": "cdp-org-acme", "resourceVersion": "7"},
        "spec": {},
    }
    args = ["create", "project", "web", "--organization", "acme", "--apply"]
    code, out, err = run(capsys, *args, "--display-name", "Web")
    assert code == 0, err
    assert out.strip() == "project.cdp.dev/web configured in namespace cdp-org-acme"
    assert fake.applied[-1][0]["spec"] == {"displayName": "Web"}
    assert err == ""
    code, _, err = run(capsys, *args, "--data-plane", "us")
    assert code == 2
    assert "spec.dataPlane: dataPlane is fixed when the project is created" in err
    assert "was created without dataPlane" in err
    assert fake.applied[-1][0]["spec"] == {"displayName": "Web"}


def test_create_apply_needs_the_organization_for_its_default_data_plane(
    fake: FakeKube, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "create", "project", "shop", "--org", "nope", "--apply")
    assert code == 1
    assert "organization.cdp.dev/nope not found" in err and "--data-plane" in err
    code, _, err = run(capsys, "create", "project", "shop", "-n", "team-a", "--apply")
    assert code == 2
    assert "namespace team-a is no organization's namespace" in err and "--data-plane" in err
    assert fake.applied == []
    # With --data-plane there is nothing to look up.
    code, _, err = run(
        capsys, "create", "project", "shop", "-n", "team-a", "--data-plane", "eu", "--apply"
    )
    assert code == 0, err
    assert fake.applied[-1][0]["spec"] == {"dataPlane": "eu"}

    # Reading the Organization may be forbidden: the error says how to do without.
    get = fake.get

    def forbidden(kind: KindInfo, name: str, namespace: str | None) -> dict[str, Any] | None:
        if kind.kind != "Organization":
            return get(kind, name, namespace)
        raise cli.CliError(f"get {kind.ref(name)}: organizations.cdp.dev is forbidden (HTTP 403)")

    with monkeypatch.context() as m:
        m.setattr(fake, "get", forbidden)
        code, _, err = run(capsys, "create", "project", "x", "--org", "acme", "--apply")
    assert code == 1
    assert "forbidden (HTTP 403)" in err and "hint: pass --data-plane DP" in err
    # -n of an organization's namespace finds the organization by name.
    code, _, err = run(capsys, "create", "project", "shop", "-n", "cdp-org-acme", "--apply")
    assert code == 0, err
    assert fake.applied[-1][0]["spec"] == {"dataPlane": "us"}


def test_create_apply_dry_run_and_namespace_from_context(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "create", "project", "shop", "--apply")
    assert code == 2
    assert "no namespace" in err
    fake.namespace = "cdp-org-acme"
    code, out, _ = run(capsys, "create", "project", "shop", "--apply", "--dry-run")
    assert code == 0
    assert out.strip().endswith("(server dry run)")
    assert fake.applied[-1][2] is True
    assert fake.applied[-1][0]["spec"] == {"dataPlane": "us"}
    assert fake.get(BY_KIND["Project"], "shop", "cdp-org-acme") is None


def test_create_apply_does_not_apply_invalid_input(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        *["create", "component", "w", "-p", "shop", "-t", "web-app", "-b", "python"],
        *["--image", "i", "--build-configs", "buildPackLangVersion=3", "--org", "acme", "--apply"],
    )
    assert code == 2
    assert "'port' (Port) is required" in err
    assert fake.applied == []


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--image", "UPPER/Case::1"], "error: spec.image: must be an image reference such as"),
        (
            [
                "--type",
                "web-app",
                "--buildpack",
                "python",
                "--image",
                "i:1",
                "--build-configs",
                "buildPackLangVersion=3.12,port=8080",
            ],
            "error: spec.endpoints: a web-app needs an endpoint on its build config port 8080",
        ),
        (
            ["--type", "scheduled-task", "--schedule", "0 25 * * *", "--image", "i:1"],
            "error: spec.schedule: hour 25 is out of range 0-23",
        ),
    ],
)
def test_the_cli_refuses_with_the_models_words(
    capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    base = ["create", "component", "api", "-p", "shop", "--organization", "acme"]
    if "--type" not in extra:
        base += ["--type", "service"]
    code, _, err = run(capsys, *base, *extra)
    assert code == 2, err
    assert says in err, err
    assert "should" not in err and "Value error" not in err, err
