"""The `cdp` CLI without a cluster: validation against the seed's table, output, commands.

Every (type, buildpack) row of REQUIRED_BUILD_CONFIGS is exercised: complete
configs give YAML that the ComponentSpec model accepts; each missing key exits
2 naming the key; every pair outside the table is rejected.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from build_cases import ROWS, UNSUPPORTED
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
from cdp_operator.models.resources import (
    ComponentSpec,
    EnvironmentSpec,
    OrganizationSpec,
    ProjectSpec,
)
from doc_examples import CLI_DOC, README, doc_examples

RUN_ENVIRONMENTS = cli.RUN_ENVIRONMENTS

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
    ["create", "organization"],
    ["get"],
    ["run"],
    ["scale"],
    ["delete"],
    ["delete", "project"],
    ["delete", "component"],
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
        self.merge_patches: list[tuple[str, str, str | None, dict[str, Any]]] = []
        self.deleted: list[tuple[str, str, str | None]] = []
        self.version = 100
        #: The operator's verdict on what is applied: (ready, reason, message, stalled),
        #: written as status after `polls` gets (None: no operator).
        self.verdict: tuple[str, str, str, bool] | None = ("True", "Available", "", False)
        self.polls = 0
        self.gets = 0

    @staticmethod
    def _key(obj: dict[str, Any]) -> tuple[str, str | None, str]:
        meta = obj["metadata"]
        return (obj["kind"], meta.get("namespace"), meta["name"])

    def context_namespace(self) -> str | None:
        return self.namespace

    def get(self, kind: KindInfo, name: str, namespace: str | None) -> dict[str, Any] | None:
        ns = namespace if kind.namespaced else None
        obj = self.objects.get((kind.kind, ns, name))
        self.gets += 1
        generation = (obj or {}).get("metadata", {}).get("generation")
        if (
            obj is not None
            and "status" not in obj
            and generation
            and self.verdict
            and self.polls <= 0
        ):
            obj["status"] = verdict_status(generation, *self.verdict)
        self.polls -= 1
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
        generation = (old or {}).get("metadata", {}).get("generation", 0) + 1
        new["metadata"]["generation"] = generation
        if not dry_run:
            self.objects[key] = new
        return copy.deepcopy(new)

    def patch_metadata(
        self, kind: KindInfo, name: str, namespace: str | None, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        self.patches.append((kind.kind, name, namespace, copy.deepcopy(metadata)))
        obj = self.objects[(kind.kind, namespace, name)]
        annotations = obj["metadata"].setdefault("annotations", {})
        for key, value in metadata.get("annotations", {}).items():
            if value is None:  # a JSON merge patch's null removes the key
                annotations.pop(key, None)
            else:
                annotations[key] = value
        return copy.deepcopy(obj)

    def merge_patch(
        self, kind: KindInfo, name: str, namespace: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.merge_patches.append((kind.kind, name, namespace, copy.deepcopy(body)))
        obj = self.objects[(kind.kind, namespace, name)]
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != obj["metadata"].get("resourceVersion"):
            raise cli.CliError("patch: the object has been modified (HTTP 409)")
        obj["spec"].update(body.get("spec") or {})
        return copy.deepcopy(obj)

    def delete(self, kind: KindInfo, name: str, namespace: str | None) -> bool:
        key = (kind.kind, namespace if kind.namespaced else None, name)
        if key not in self.objects:
            return False
        del self.objects[key]
        self.deleted.append(key)
        return True


def verdict_status(
    generation: int, ready: str, reason: str, message: str, stalled: bool
) -> dict[str, Any]:
    """A status as the operator writes it: Ready, Reconciling and Stalled."""
    reconciling = ready != "True" and not stalled
    return {
        "observedGeneration": generation,
        "conditions": [
            {"type": "Ready", "status": ready, "reason": reason, "message": message},
            {
                "type": "Reconciling",
                "status": str(reconciling),
                "reason": reason if reconciling else "Done",
            },
            {"type": "Stalled", "status": str(stalled), "reason": reason if stalled else "Done"},
        ],
    }


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
    clock = [0.0]
    monkeypatch.setattr(cli, "_monotonic", lambda: clock[0])
    monkeypatch.setattr(cli, "_sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    return kube


def test_run_sets_a_fresh_token_with_a_metadata_only_patch(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "run", "job", "--organization", "acme")
    assert code == 0, err
    token = out.strip()
    assert token
    # Without --environment: every environment, and an earlier request's list removed.
    assert fake.patches == [
        (
            "Component",
            "job",
            "cdp-org-acme",
            {"annotations": {RUN_REQUEST: token, RUN_ENVIRONMENTS: None}},
        )
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
    assert out.splitlines()[0] == "project.cdp.dev/shop created in namespace cdp-org-acme"
    obj, force, dry_run = fake.applied[-1]
    assert obj["metadata"] == {"name": "shop", "namespace": "cdp-org-acme"}
    assert (force, dry_run) == (False, False)
    # The data plane it resolved (acme's defaultDataPlane) is written explicitly.
    assert obj["spec"] == {"dataPlane": "us"}
    assert err.strip() == "dataPlane us: organization acme's defaultDataPlane"
    code, out, _ = run(capsys, *args)
    assert out.splitlines()[0] == "project.cdp.dev/shop unchanged in namespace cdp-org-acme"
    assert fake.applied[-1][0]["spec"] == {"dataPlane": "us"}
    code, out, _ = run(capsys, *args, "--data-plane", "us")
    assert out.splitlines()[0] == "project.cdp.dev/shop unchanged in namespace cdp-org-acme"
    code, out, _ = run(capsys, *args, "--display-name", "Shop", "--force-conflicts")
    assert out.splitlines()[0] == "project.cdp.dev/shop configured in namespace cdp-org-acme"
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
    assert out.splitlines()[0] == "project.cdp.dev/web configured in namespace cdp-org-acme"
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


# ------------------------------------------------------------ create organization
def test_create_organization_prints_a_spec_the_model_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys,
        *["create", "organization", "acme", "--tier", "developer", "--data-plane", "us"],
        *["--allow-paid-components", "--display-name", "ACME"],
    )
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["kind"] == "Organization"
    assert doc["metadata"] == {"name": "acme"}  # cluster-scoped: no namespace
    assert doc["spec"] == {
        "tier": "developer",
        "defaultDataPlane": "us",
        "allowPaidComponents": True,
        "displayName": "ACME",
    }
    OrganizationSpec.model_validate(doc["spec"])
    code, out, _ = run(capsys, "create", "org", "beta", "--data-plane", "eu")
    assert code == 0
    assert yaml.safe_load(out)["spec"] == {"defaultDataPlane": "eu"}


def test_create_organization_refuses_what_the_crd_refuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "create", "organization", "cdp-x", "--data-plane", "us")
    assert code == 2
    assert "metadata.name must not be 'cdp'" in err
    code, _, err = run(capsys, "create", "organization", "acme", "--data-plane", "US_East")
    assert code == 2
    assert err.startswith("error: spec.defaultDataPlane: ") and "(set it with --data-plane)" in err
    code, _, err = run(
        capsys, "create", "organization", "acme", "--data-plane", "us", "--tier", "x"
    )
    assert code == 2
    assert "invalid choice: 'x'" in err
    code, _, err = run(capsys, "create", "organization", "acme")
    assert code == 2
    assert "--data-plane" in err


def test_create_organization_apply(fake: FakeKube, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "create", "organization", "beta", "--tier", "payg", "--data-plane", "eu", "--apply"
    )
    assert code == 0, err
    assert out.splitlines() == [
        "organization.cdp.dev/beta created",
        "organization.cdp.dev/beta is Current: Ready=True Available",
    ]
    obj, _, _ = fake.applied[-1]
    assert obj["metadata"] == {"name": "beta"}
    assert fake.get(BY_KIND["Organization"], "beta", None)["spec"]["tier"] == "payg"


# --------------------------------------------------------- --egress and --override
def _component_spec(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Any, str]:
    code, out, err = run(
        capsys,
        *["create", "component", "api", "-p", "shop", "-t", "service", "--image", "r/api:1"],
        *extra,
    )
    return code, (yaml.safe_load(out)["spec"] if code == 0 else None), err


def test_egress_allowlist_from_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, spec, err = _component_spec(
        capsys,
        *["--egress", "203.0.113.0/24:443,8443", "--egress", "198.51.100.7/32"],
        *["--egress", "2001:db8::/32:443"],
    )
    assert code == 0, err
    assert spec["egress"] == [
        {"cidr": "203.0.113.0/24", "ports": [443, 8443]},
        {"cidr": "198.51.100.7/32"},
        {"cidr": "2001:db8::/32", "ports": [443]},
    ]
    ComponentSpec.model_validate(spec)


def test_overrides_from_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, spec, err = _component_spec(
        capsys,
        *["--override", "production:replicas=3", "--override", "production:image=r/api:2"],
        *["--override", "production:env=LOG=warn", "--override", "production:env=A=b=c"],
        *["--override", "staging:cpu=500m", "--override", "staging:memory=256Mi"],
    )
    assert code == 0, err
    assert spec["overrides"] == [
        {
            "environment": "production",
            "replicas": 3,
            "image": "r/api:2",
            "env": [{"name": "LOG", "value": "warn"}, {"name": "A", "value": "b=c"}],
        },
        {"environment": "staging", "resources": {"cpu": "500m", "memory": "256Mi"}},
    ]
    ComponentSpec.model_validate(spec)


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--egress", "203.0.113.0/24:https", "ports are numbers"),
        ("--egress", "203.0.113.0/24:443,", "ports are numbers"),
        # host bits set: the model's verdict
        ("--egress", "203.0.113.1/24", "spec.egress.0.cidr: "),
        ("--egress", "203.0.113.10:443", "spec.egress.0.cidr: "),  # no prefix length
        ("--egress", "203.0.113.0/24:70000", "spec.egress.0.ports.0: "),
        ("--egress", "203.0.113.0/24:443,443", "egress[0].ports must be unique"),
        ("--override", "replicas=3", "expected ENVIRONMENT:KEY=VALUE"),
        ("--override", "production:size=3", "KEY one of replicas, image, env, cpu, memory"),
        ("--override", "production:replicas=three", "replicas must be a whole number"),
        ("--override", "production:replicas=101", "spec.overrides.0.replicas: "),
        ("--override", "production:cpu=lots", "spec.overrides.0.resources.cpu: "),
        ("--override", "production:env=NOVALUE", "expected NAME=value"),
        ("--override", "Prod:replicas=2", "spec.overrides.0.environment: "),
        ("--override", "production:image=has space", "spec.overrides.0.image: "),
    ],
)
def test_bad_egress_and_overrides_are_refused_naming_the_field(
    flag: str, value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _component_spec(capsys, flag, value)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err


# ------------------------------------------------------------------- run --environment
def _deployed(fake: FakeKube, name: str, *envs: str) -> None:
    obj = fake.objects[("Component", "cdp-org-acme", name)]
    obj["status"]["environments"] = [
        {"name": e, "namespace": f"acme-shop-{e}", "ready": True} for e in envs
    ]


def test_run_in_chosen_environments_sets_both_annotations_in_one_patch(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    _deployed(fake, "job", "development", "staging", "production")
    code, out, err = run(
        capsys, "run", "job", "--org", "acme", "--environment", "development", "-e", "staging"
    )
    assert code == 0, err
    token = out.strip()
    assert fake.patches == [
        (
            "Component",
            "job",
            "cdp-org-acme",
            {"annotations": {RUN_REQUEST: token, RUN_ENVIRONMENTS: "development,staging"}},
        )
    ]
    assert "environment(s) development, staging" in err
    # Without --environment: every environment, named, and the earlier list removed.
    code, out, err = run(capsys, "run", "job", "--org", "acme")
    assert code == 0
    assert "every environment: development, staging, production" in err
    annotations = fake.objects[("Component", "cdp-org-acme", "job")]["metadata"]["annotations"]
    assert annotations == {RUN_REQUEST: out.strip()}


def test_run_refuses_an_environment_the_component_does_not_run_in(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    _deployed(fake, "job", "development")
    code, _, err = run(capsys, "run", "job", "--org", "acme", "-e", "production")
    assert code == 2
    assert "does not run in environment(s) production (it runs in: development)" in err
    code, _, err = run(capsys, "run", "job", "--org", "acme", "-e", "Prod!")
    assert code == 2
    assert "--environment 'Prod!': metadata.name must consist of" in err
    assert fake.patches == []


def test_run_uses_the_operator_key_for_environments() -> None:
    # The operator reads this key (models/labels.py, where it defines it).
    from cdp_operator.models import labels

    assert RUN_ENVIRONMENTS == "cdp.dev/run-environments"
    assert labels.RUN_ENVIRONMENTS == RUN_ENVIRONMENTS


# ------------------------------------------------------------------------ scale
def test_scale_patches_spec_replicas_conditionally(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.objects[("Component", "cdp-org-acme", "api")]["metadata"]["resourceVersion"] = "41"
    code, out, err = run(capsys, "scale", "api", "--replicas", "3", "--org", "acme")
    assert code == 0, err
    assert out.strip() == "component.cdp.dev/api scaled to 3 replicas in namespace cdp-org-acme"
    assert fake.merge_patches == [
        (
            "Component",
            "api",
            "cdp-org-acme",
            {"spec": {"replicas": 3}, "metadata": {"resourceVersion": "41"}},
        )
    ]
    assert fake.objects[("Component", "cdp-org-acme", "api")]["spec"]["replicas"] == 3


def test_scale_writes_nothing_when_the_component_changed_meanwhile(
    fake: FakeKube, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = fake.objects[("Component", "cdp-org-acme", "api")]
    stored["metadata"]["resourceVersion"] = "41"
    get = fake.get

    def get_then_someone_writes(
        kind: KindInfo, name: str, namespace: str | None
    ) -> dict[str, Any] | None:
        obj = get(kind, name, namespace)
        stored["metadata"]["resourceVersion"] = "42"
        stored["spec"]["overrides"] = [{"environment": "staging", "replicas": 1}]
        return obj

    monkeypatch.setattr(fake, "get", get_then_someone_writes)
    code, out, err = run(capsys, "scale", "api", "--replicas", "2", "-e", "prod", "--org", "acme")
    assert code == 1
    assert out == ""
    assert "(HTTP 409)" in err and "nothing was written: run the command again" in err
    assert stored["spec"]["overrides"] == [{"environment": "staging", "replicas": 1}]


def test_scale_one_environment_edits_its_override_and_keeps_the_others(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = fake.objects[("Component", "cdp-org-acme", "api")]["spec"]
    spec["overrides"] = [
        {"environment": "production", "replicas": 2, "image": "i:2"},
        {"environment": "staging", "replicas": 1},
    ]
    code, out, err = run(
        capsys, "scale", "api", "--replicas", "5", "-e", "production", "--org", "acme"
    )
    assert code == 0, err
    assert "scaled to 5 replicas in environment production" in out
    assert spec["overrides"] == [
        {"environment": "production", "replicas": 5, "image": "i:2"},
        {"environment": "staging", "replicas": 1},
    ]
    assert "replicas" not in spec
    code, _, err = run(capsys, "scale", "api", "--replicas", "2", "-e", "qa", "--org", "acme")
    assert code == 0, err
    assert spec["overrides"][-1] == {"environment": "qa", "replicas": 2}


def test_scale_refuses_tasks_bounds_and_missing_components(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "scale", "job", "--replicas", "2", "--org", "acme")
    assert code == 2
    assert "'manual-task': only long-running components" in err
    code, _, err = run(capsys, "scale", "api", "--replicas", "101", "--org", "acme")
    assert code == 2
    assert "spec.replicas: " in err and "--replicas takes 0 to 100" in err
    code, _, err = run(capsys, "scale", "api", "--replicas", "-1", "-e", "prod", "--org", "acme")
    assert code == 2
    assert "spec.overrides.0.replicas: " in err
    code, _, err = run(capsys, "scale", "nope", "--replicas", "1", "--org", "acme")
    assert code == 1
    assert "component.cdp.dev/nope not found" in err
    assert fake.merge_patches == []


# -------------------------------------------------------------- --apply waits
COMPONENT_ARGS = [
    *["create", "component", "api", "-p", "shop", "-t", "service", "--image", "r/api:1"],
    *["--org", "acme", "--apply"],
]


def test_apply_waits_for_the_verdict_and_prints_the_final_state(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    del fake.objects[("Component", "cdp-org-acme", "api")]
    fake.verdict = ("True", "Available", "ready in 2 environment(s)", False)
    fake.polls = 3  # the operator answers on the third poll
    code, out, err = run(capsys, *COMPONENT_ARGS)
    assert code == 0, err
    assert out.splitlines() == [
        "component.cdp.dev/api created in namespace cdp-org-acme",
        "component.cdp.dev/api is Current: Ready=True Available: ready in 2 environment(s)",
    ]
    assert fake.gets >= 4


def test_apply_exits_1_when_the_result_is_stalled(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    del fake.objects[("Component", "cdp-org-acme", "api")]
    fake.verdict = ("False", "ProjectNotFound", "project 'shop' does not exist", True)
    code, out, err = run(capsys, *COMPONENT_ARGS)
    assert code == 1
    assert out == "component.cdp.dev/api created in namespace cdp-org-acme\n"
    assert err.splitlines()[0] == (
        "error: component.cdp.dev/api is Stalled: "
        "Ready=False ProjectNotFound: project 'shop' does not exist"
    )


def test_apply_gives_up_after_the_wait_timeout(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    del fake.objects[("Component", "cdp-org-acme", "api")]
    fake.verdict = None  # no operator
    code, out, err = run(capsys, *COMPONENT_ARGS, "--wait-timeout", "5")
    assert code == 1
    assert "created in namespace" in out
    assert (
        "error: component.cdp.dev/api: no verdict after 5s: the operator has not "
        "reported on generation 1 yet" in err
    )
    assert 5 <= fake.gets <= 8  # about one poll a second
    # Still reconciling when time is up: its reason is shown.
    fake.verdict = ("False", "Progressing", "0/1 replicas ready", False)
    code, _, err = run(capsys, *COMPONENT_ARGS, "--image", "r/api:2", "--wait-timeout", "2")
    assert code == 1
    assert "is still InProgress after 2s: Ready=False Progressing: 0/1 replicas ready" in err


def test_apply_no_wait_and_dry_run_do_not_wait(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    del fake.objects[("Component", "cdp-org-acme", "api")]
    fake.verdict = None
    code, out, _ = run(capsys, *COMPONENT_ARGS, "--no-wait")
    assert code == 0
    assert out == "component.cdp.dev/api created in namespace cdp-org-acme\n"
    gets = fake.gets
    code, out, _ = run(capsys, *COMPONENT_ARGS, "--image", "r/api:9", "--dry-run")
    assert code == 0
    assert out.endswith("(server dry run)\n")
    assert fake.gets == gets + 1  # only the read before the apply
    code, _, err = run(capsys, *COMPONENT_ARGS[:-1], "--no-wait")
    assert code == 2
    assert "only make sense with --apply" in err


# ------------------------------------------------------- get: where things run
def test_get_projects_shows_the_data_plane_in_use(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def project(name: str, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "Project",
            "metadata": {"name": name, "namespace": "cdp-org-acme"},
            "spec": spec,
            "status": status,
        }

    kube = FakeKube(
        [
            project("a", {}, {"dataPlane": "us"}),  # the resolved default
            project("b", {"dataPlane": "eu"}, {}),  # not reconciled yet
            project("c", {}, {}),
            project(
                "d",
                {"dataPlane": "us"},
                {
                    "dataPlane": "us",
                    "namespaces": [
                        {"environment": "development", "namespace": "acme-d-development"}
                    ],
                },
            ),
        ]
    )
    monkeypatch.setattr(cli, "kube_factory", lambda args: kube)
    code, out, _ = run(capsys, "get", "projects", "--org", "acme")
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0][:3] == ["NAME", "DATA", "PLANE"]
    assert [r[:2] for r in rows[1:]] == [["a", "us"], ["b", "eu"], ["c", "-"], ["d", "us"]]
    assert "<org default>" not in out
    code, out, _ = run(capsys, "get", "projects", "--org", "acme", "-o", "wide")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0][:5] == ["NAME", "DATA", "PLANE", "NAMESPACES", "READY"]
    assert rows[4][:3] == ["d", "us", "development=acme-d-development"]


def test_get_components_wide_shows_namespaces_endpoints_and_url(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    status = fake.objects[("Component", "cdp-org-acme", "api")]["status"]
    status["url"] = "https://api-production.acme.us.apps.example.com/"
    status["environments"] = [
        {
            "name": "development",
            "namespace": "acme-shop-development",
            "endpoints": [
                {
                    "name": "http",
                    "port": 8080,
                    "visibility": "organization",
                    "address": "api.acme-shop-development.svc.cluster.local:8080",
                }
            ],
        },
        {
            "name": "production",
            "namespace": "acme-shop-production",
            "endpoints": [
                {
                    "name": "web",
                    "port": 80,
                    "visibility": "public",
                    "address": "api.acme-shop-production.svc.cluster.local:80",
                    "url": "https://api-production.acme.us.apps.example.com/",
                }
            ],
        },
    ]
    code, out, _ = run(capsys, "get", "components", "--org", "acme", "-o", "wide")
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0][:8] == [
        "NAME",
        "PROJECT",
        "TYPE",
        "BUILDPACK",
        "BILLING",
        "URL",
        "NAMESPACES",
        "ENDPOINTS",
    ]
    assert rows[1][:8] == [
        "api",
        "shop",
        "service",
        "-",
        "-",
        "https://api-production.acme.us.apps.example.com/",
        "development=acme-shop-development,production=acme-shop-production",
        "development/http=api.acme-shop-development.svc.cluster.local:8080,"
        "production/web=https://api-production.acme.us.apps.example.com/",
    ]
    # No status.environments, endpoints nor url yet: dashes, not errors.
    assert rows[2][:8] == ["job", "shop", "manual-task", "-", "free", "-", "-", "-"]
    # The default table stays narrow.
    code, out, _ = run(capsys, "get", "components", "--org", "acme")
    assert "ENDPOINTS" not in out and "URL" not in out


# ------------------------------------------------------------------------ delete
def _add_project(fake: FakeKube, name: str) -> None:
    fake.objects[("Project", "cdp-org-acme", name)] = {
        "apiVersion": API_VERSION,
        "kind": "Project",
        "metadata": {"name": name, "namespace": "cdp-org-acme"},
        "spec": {"dataPlane": "us"},
    }


def test_delete_project_refuses_while_components_belong_to_it(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_project(fake, "shop")
    code, out, err = run(capsys, "delete", "project", "shop", "--org", "acme")
    assert code == 2
    assert out == ""
    assert err.splitlines()[0] == ("error: project.cdp.dev/shop has 2 component(s): api, job")
    assert "--cascade" in err
    assert fake.deleted == []


def test_delete_project_cascade_deletes_its_components_first(
    fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_project(fake, "shop")
    _add_project(fake, "other")
    other = _component("keep", "service")
    other["spec"]["project"] = "other"
    fake.objects[("Component", "cdp-org-acme", "keep")] = other
    code, out, err = run(capsys, "delete", "project", "shop", "--org", "acme", "--cascade")
    assert code == 0, err
    assert out.splitlines() == [
        "component.cdp.dev/api deleted in namespace cdp-org-acme",
        "component.cdp.dev/job deleted in namespace cdp-org-acme",
        "project.cdp.dev/shop deleted in namespace cdp-org-acme",
    ]
    assert fake.deleted == [
        ("Component", "cdp-org-acme", "api"),
        ("Component", "cdp-org-acme", "job"),
        ("Project", "cdp-org-acme", "shop"),
    ]
    # A project without components needs no --cascade.
    code, out, _ = run(capsys, "delete", "proj", "other", "--org", "acme")
    assert code == 2  # "keep" still belongs to it
    code, out, _ = run(capsys, "delete", "component", "keep", "--org", "acme")
    assert (code, out) == (0, "component.cdp.dev/keep deleted in namespace cdp-org-acme\n")
    code, out, _ = run(capsys, "delete", "proj", "other", "--org", "acme")
    assert (code, out) == (0, "project.cdp.dev/other deleted in namespace cdp-org-acme\n")
    code, _, err = run(capsys, "delete", "component", "keep", "--org", "acme")
    assert code == 1
    assert "component.cdp.dev/keep not found in namespace cdp-org-acme" in err


# ------------------------------------------------- docs/cli.md shows real output
DOCS = CLI_DOC
DOCS_NOW = "2026-03-01T12:00:40+00:00"


def _obj(
    kind: str,
    name: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    ns: bool = True,
    ready: tuple[str, str] = ("Admitted", ""),
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "generation": 1,
        "resourceVersion": "1",
        "creationTimestamp": "2026-03-01T12:00:00Z",
    }
    if ns:
        meta["namespace"] = "cdp-org-acme"
    conditions = verdict_status(1, "True", *ready, False)
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": meta,
        "spec": spec,
        "status": {**conditions, **status},
    }


def docs_cluster() -> FakeKube:
    """The cluster docs/cli.md's examples run against: organization acme on `us`,
    project shop, a public web app and a manual task deployed in two environments."""
    envs = ("development", "production")

    def where(component: str, endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "name": e,
                "namespace": f"acme-shop-{e}",
                "ready": True,
                **(
                    {
                        "endpoints": [
                            {
                                **ep,
                                "address": f"{component}.acme-shop-{e}.svc.cluster.local:"
                                f"{ep['port']}",
                                **(
                                    {"url": f"https://{component}-{e}.acme.us.apps.example.com/"}
                                    if ep["visibility"] == "public"
                                    else {}
                                ),
                            }
                            for ep in endpoints
                        ]
                    }
                    if endpoints
                    else {}
                ),
            }
            for e in envs
        ]

    web = [{"name": "http", "port": 8080, "visibility": "public"}]
    return FakeKube(
        [
            _obj(
                "DataPlane",
                "us",
                {"region": "US East 2", "ingress": {"baseDomain": "us.apps.example.com"}},
                {},
                ns=False,
                ready=("Available", "region US East 2"),
            ),
            _obj(
                "Organization",
                "acme",
                {"tier": "developer", "defaultDataPlane": "us"},
                {"namespace": "cdp-org-acme", "freeComponents": 2, "paidComponents": 0},
                ns=False,
            ),
            _obj(
                "Project",
                "shop",
                {"dataPlane": "us"},
                {
                    "dataPlane": "us",
                    "namespaces": [{"environment": e, "namespace": f"acme-shop-{e}"} for e in envs],
                },
            ),
            _obj(
                "Component",
                "storefront",
                {
                    "project": "shop",
                    "type": "web-app",
                    "image": "ghcr.io/acme/storefront:1.4.0",
                    "build": {
                        "buildpack": "react",
                        "configs": {
                            "buildCommand": "npm run build",
                            "outputDirectory": "build",
                            "nodeVersion": "20",
                        },
                    },
                    "endpoints": web,
                },
                {
                    "billing": "free",
                    "url": "https://storefront-production.acme.us.apps.example.com/",
                    "environments": where("storefront", web),
                },
                ready=("Available", "ready in 2 environment(s)"),
            ),
            _obj(
                "Component",
                "nightly-import",
                {"project": "shop", "type": "manual-task", "image": "ghcr.io/acme/import:2"},
                {"billing": "free", "environments": where("nightly-import", [])},
                ready=("Available", "ready in 2 environment(s)"),
            ),
        ]
    )


def docs_verdict(command: str) -> tuple[str, str, str, bool]:
    """What the operator says of what a docs example applies (its own words)."""
    if "--project nosuch" in command:
        message = "project 'nosuch' does not exist or is not admitted in this organization"
        return ("False", "ProjectNotFound", message, True)
    if "create organization" in command:
        return ("True", "Admitted", "tier payg; data planes: us", False)
    if "create project" in command:
        return ("True", "Admitted", "2 runtime namespace(s)", False)
    return ("True", "Available", "ready in 2 environment(s)", False)


def run_doc_command(command: str, monkeypatch: pytest.MonkeyPatch, kube: FakeKube) -> str:
    """Run one docs command against `kube`; stdout and stderr in the order written."""
    import io
    import shlex

    argv = shlex.split(command)
    assert argv[0] == "cdp", command
    monkeypatch.setattr(cli, "kube_factory", lambda args: kube)
    monkeypatch.setattr(cli, "_now", lambda: datetime.fromisoformat(DOCS_NOW))
    monkeypatch.setattr(cli, "new_run_token", lambda: "20260301T120040Z-5f3c2a1b")
    monkeypatch.setattr(cli, "_sleep", lambda seconds: None)
    buf = io.StringIO()
    cli.main(argv[1:], prog="cdp", stdout=buf, stderr=buf)
    return buf.getvalue().rstrip("\n")


EXAMPLES = doc_examples(DOCS.read_text(), "cdp")


def test_docs_have_checked_examples() -> None:
    # Every `$ cdp` command shown in docs/cli.md is in a checked ```console block.
    text = DOCS.read_text()
    shown = [line for line in text.splitlines() if line.lstrip().startswith("$ cdp")]
    assert len(shown) == len(EXAMPLES)
    assert len(EXAMPLES) >= 10
    commands = " ".join(cmd for _, cmd, _ in EXAMPLES)
    for feature in (
        "create organization",
        "--egress",
        "--override",
        "run nightly-import --organization acme --environment",
        "scale",
        "-o wide",
        "delete project",
        "get projects",
    ):
        assert feature in commands, feature


@pytest.mark.parametrize(
    ("line", "command", "expected"), EXAMPLES, ids=[str(e[0]) for e in EXAMPLES]
)
def test_docs_show_what_the_cli_prints(
    line: int, command: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = docs_cluster()
    kube.verdict = docs_verdict(command)
    assert run_doc_command(command, monkeypatch, kube) == expected, f"docs/cli.md:{line}"


def test_the_docs_check_notices_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    """An example that says `Ready` where the CLI prints `Available` is caught."""
    drifted = [(cmd, out.replace("Available", "Ready")) for _, cmd, out in EXAMPLES]
    drifted = [(cmd, out) for cmd, out in drifted if out not in (o for _, _, o in EXAMPLES)]
    assert drifted
    for cmd, out in drifted:
        kube = docs_cluster()
        kube.verdict = docs_verdict(cmd)
        assert run_doc_command(cmd, monkeypatch, kube) != out


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


# ------------------------------------------------- README.md shows real output too
def readme_cluster() -> FakeKube:
    """The cluster the README's examples run against: the docs' cluster as organization
    globex of the demo, whose manual task `reindex` runs in project analytics on `eu`."""
    objects = []
    for obj in docs_cluster().objects.values():
        obj = json.loads(json.dumps(obj).replace("acme", "globex"))
        if obj["metadata"]["name"] == "nightly-import":
            text = json.dumps(obj).replace("nightly-import", "reindex")
            text = text.replace("-shop-development", "-analytics-development-eu")
            text = text.replace("-shop-production", "-analytics-production-eu")
            text = text.replace('"development"', '"development-eu"')
            obj = json.loads(text.replace('"production"', '"production-eu"'))
            obj["spec"]["project"] = "analytics"
        objects.append(obj)
    return FakeKube(objects)


README_EXAMPLES = doc_examples(README.read_text(), "cdp")


def test_readme_cdp_commands_are_checked_examples() -> None:
    """Every `cdp` command in a README code block is a checked ```console example (the
    demo's output, which another script records, is kubectl output and not checked here);
    every `cdp <command>` the prose names is a command of the CLI."""
    text = README.read_text()
    in_code = [
        line
        for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)
        for line in block.splitlines()
        if re.match(r"(\$ )?cdp ", line.strip())
    ]
    assert in_code and all(line.startswith("$ cdp ") for line in in_code), in_code
    assert len(in_code) == len(README_EXAMPLES) >= 4
    commands = {
        name
        for action in cli.build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    named = re.findall(r"`(?:kubectl )?cdp ([a-z-]+)", text)
    assert named and set(named) <= commands, set(named) - commands


@pytest.mark.parametrize(
    ("line", "command", "expected"), README_EXAMPLES, ids=[str(e[0]) for e in README_EXAMPLES]
)
def test_readme_shows_what_the_cli_prints(
    line: int, command: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = readme_cluster()
    kube.verdict = docs_verdict(command)
    assert run_doc_command(command, monkeypatch, kube) == expected, f"README.md:{line}"


@pytest.mark.parametrize(
    ("after", "verb"),
    [
        ({"resourceVersion": "5", "generation": 1, "labels": {"a": "b"}}, "unchanged"),
        # The first update after a create also stores the CRD's status default.
        ({"resourceVersion": "7", "generation": 1, "labels": {"a": "b"}}, "unchanged"),
        ({"resourceVersion": "7", "generation": 2, "labels": {"a": "b"}}, "configured"),
        ({"resourceVersion": "7", "generation": 1, "labels": {"a": "c"}}, "configured"),
        (
            {
                "resourceVersion": "7",
                "generation": 1,
                "labels": {"a": "b"},
                "annotations": {"x": "y"},
            },
            "configured",
        ),
    ],
)
def test_apply_verb_reads_what_the_apply_changed(after: dict[str, object], verb: str) -> None:
    from cdp_operator.cli.create import _verb

    before = {"metadata": {"resourceVersion": "5", "generation": 1, "labels": {"a": "b"}}}
    assert _verb(None, {"metadata": after}) == "created"
    assert _verb(before, {"metadata": after}) == verb
