"""The `cdp` CLI against the real apiserver with the CRDs installed.

The CLI runs as a subprocess (`python -m cdp_operator.cli`, what the `cdp` and
`kubectl-cdp` scripts run), with the test cluster's kubeconfig, and its effects
are checked with kubectl.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

MANAGED = "app.kubernetes.io/managed-by=cdp-operator"


def cdp(cluster: Any, *args: str, env_kubeconfig: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the CLI; --kubeconfig is added after the subcommand (or KUBECONFIG set)."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    argv = [sys.executable, "-m", "cdp_operator.cli", *args]
    if env_kubeconfig:
        env["KUBECONFIG"] = str(cluster.kubeconfig)
    else:
        argv += ["--kubeconfig", str(cluster.kubeconfig)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout


def managers(kube: Any, kind: str, name: str, namespace: str) -> dict[str, str]:
    """Field managers of an object and their operation (kubectl hides them by default)."""
    out = kube.run("get", kind, name, "-n", namespace, "-o", "json", "--show-managed-fields").stdout
    fields = json.loads(out)["metadata"].get("managedFields", [])
    return {m["manager"]: m["operation"] for m in fields}


def test_create_get_and_run_without_the_operator(
    cluster: Any, kube: Any, crds: None, namespace: str
) -> None:
    ns = namespace

    def create(kind: str, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return cdp(cluster, "create", kind, name, *args, "-n", ns, "--apply", "--no-wait")

    # A project's data plane is fixed at creation, so the CLI writes the one it
    # resolves; in a namespace of no organization there is no default to resolve.
    refused = create("project", "shop")
    assert refused.returncode == 2
    assert "no organization's namespace" in refused.stderr and "--data-plane" in refused.stderr
    assert kube.get("project", "shop", ns) is None
    # create ... --apply: server-side apply with field manager cdp-cli.
    out = ok(create("project", "shop", "--data-plane", "us"))
    assert out.strip() == f"project.cdp.dev/shop created in namespace {ns}"
    assert kube.get("project", "shop", ns)["spec"] == {"dataPlane": "us"}
    # Moving it is refused by the CLI before the apiserver would.
    moved = create("project", "shop", "--data-plane", "eu")
    assert moved.returncode == 2
    assert "spec.dataPlane: dataPlane is fixed when the project is created" in moved.stderr
    assert kube.get("project", "shop", ns)["spec"] == {"dataPlane": "us"}
    out = ok(create("environment", "staging", "--data-plane", "us"))
    assert out.strip() == f"environment.cdp.dev/staging created in namespace {ns}"
    job_args = [
        *["create", "component", "job", "--project", "shop", "--type", "Manual Task"],
        *["--buildpack", "Python", "--build-configs", "buildPackLangVersion=3.12"],
        *["--image", "registry.example.com/acme/job:1.0", "-n", ns, "--apply", "--no-wait"],
    ]
    out = ok(cdp(cluster, *job_args))
    assert out.strip() == f"component.cdp.dev/job created in namespace {ns}"
    job = kube.get("component", "job", ns)
    assert job["spec"]["type"] == "manual-task"
    assert job["spec"]["build"] == {
        "buildpack": "python",
        "configs": {"buildPackLangVersion": "3.12"},
    }
    assert managers(kube, "component", "job", ns)["cdp-cli"] == "Apply"
    # Applying the same again changes nothing.
    assert ok(cdp(cluster, *job_args)).strip().endswith("unchanged in namespace " + ns)

    ok(
        cdp(
            cluster,
            *["create", "component", "api", "-p", "shop", "-t", "service", "-b", "docker"],
            *["--build-configs", "dockerFilePath=./Dockerfile", "--image", "r/api:1"],
            *["--endpoint", "http:8080:internal", "-n", ns, "--apply", "--no-wait"],
            env_kubeconfig=True,
        )
    )
    assert kube.get("component", "api", ns)["spec"]["endpoints"] == [
        {"name": "http", "port": 8080, "protocol": "TCP", "visibility": "organization", "path": "/"}
    ]

    # get: table, json, name.
    table = ok(cdp(cluster, "get", "components", "-n", ns)).splitlines()
    assert table[0].split()[:4] == ["NAME", "PROJECT", "TYPE", "BUILDPACK"]
    assert [line.split()[0] for line in table[1:]] == ["api", "job"]
    listed = json.loads(ok(cdp(cluster, "get", "components", "-n", ns, "-o", "json")))
    assert [i["metadata"]["name"] for i in listed["items"]] == ["api", "job"]
    assert ok(cdp(cluster, "get", "proj", "-n", ns, "-o", "name")).split() == [
        "project.cdp.dev/shop"
    ]
    one = yaml.safe_load(ok(cdp(cluster, "get", "environment", "staging", "-n", ns, "-o", "yaml")))
    assert one["spec"]["dataPlane"] == "us"
    assert "api" in ok(cdp(cluster, "get", "components", "-A"))
    dataplanes = ok(cdp(cluster, "get", "dataplanes"))
    assert "US East 2" in dataplanes and "20.22.170.144/28" in dataplanes

    # run: a fresh token in the annotation, metadata only (the generation stays).
    generation = kube.get("component", "job", ns)["metadata"]["generation"]
    result = cdp(cluster, "run", "job", "-n", ns)
    token = ok(result).strip()
    assert token and "run requested" in result.stderr
    job = kube.get("component", "job", ns)
    assert job["metadata"]["annotations"]["cdp.dev/run-request"] == token
    assert job["metadata"]["generation"] == generation
    second = ok(cdp(cluster, "run", "job", "-n", ns)).strip()
    assert second != token
    assert (
        kube.get("component", "job", ns)["metadata"]["annotations"]["cdp.dev/run-request"] == second
    )

    # run refuses components that are not manual tasks, and missing ones.
    refused = cdp(cluster, "run", "api", "-n", ns)
    assert refused.returncode == 2
    assert "not a 'manual-task'" in refused.stderr
    assert "cdp.dev/run-request" not in (
        kube.get("component", "api", ns)["metadata"].get("annotations") or {}
    )
    missing = cdp(cluster, "run", "nope", "-n", ns)
    assert missing.returncode == 1
    assert "not found" in missing.stderr


def test_invalid_input_never_reaches_the_cluster(
    cluster: Any, kube: Any, crds: None, namespace: str
) -> None:
    ns = namespace
    result = cdp(
        cluster,
        *["create", "component", "web", "-p", "shop", "-t", "webapp", "-b", "python"],
        *[
            "--build-configs",
            "buildPackLangVersion=3.12",
            "--image",
            "r/web:1",
            "-n",
            ns,
            "--apply",
        ],
    )
    assert result.returncode == 2
    assert "build config 'port' (Port) is required for type 'web-app' with buildpack 'python'" in (
        result.stderr
    )
    assert kube.get("component", "web", ns) is None

    # --dry-run: the apiserver validates (schema, CEL) without storing.
    out = ok(
        cdp(
            cluster,
            *["create", "component", "web", "-p", "shop", "-t", "webapp", "-b", "python"],
            *["--build-configs", "buildPackLangVersion=3.12,port=8080", "--image", "r/web:1"],
            *["--endpoint", "web:8080:public"],  # a web-app serves its build config port
            *["-n", ns, "--apply", "--dry-run"],
        )
    )
    assert out.strip().endswith("(server dry run)")
    assert kube.get("component", "web", ns) is None


def test_conflicts_with_another_field_manager_need_force(
    cluster: Any, kube: Any, crds: None, namespace: str
) -> None:
    ns = namespace
    args = ["create", "project", "shop", "--display-name", "Shop", "--data-plane", "us"]
    args += ["-n", ns, "--apply", "--no-wait"]
    ok(cdp(cluster, *args))
    # Someone else (a GitOps tool, kubectl) takes over spec.displayName.
    kube.run(
        *["apply", "--server-side", "--force-conflicts", "--field-manager=gitops", "-f", "-"],
        input=yaml.safe_dump(
            {
                "apiVersion": "cdp.dev/v1alpha1",
                "kind": "Project",
                "metadata": {"name": "shop", "namespace": ns},
                "spec": {"displayName": "Shop (from Git)"},
            }
        ),
    )
    conflict = cdp(cluster, *args)
    assert conflict.returncode == 1
    assert "conflict" in conflict.stderr.lower()
    assert "--force-conflicts" in conflict.stderr
    assert kube.get("project", "shop", ns)["spec"]["displayName"] == "Shop (from Git)"
    out = ok(cdp(cluster, *args, "--force-conflicts"))
    assert out.strip() == f"project.cdp.dev/shop configured in namespace {ns}"
    assert kube.get("project", "shop", ns)["spec"]["displayName"] == "Shop"


def test_a_bad_context_gives_a_clear_error(cluster: Any) -> None:
    # An unknown kubeconfig context is reported, not a traceback.
    result = cdp(cluster, "get", "components", "-A", "--context", "no-such-context")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_a_manual_task_run_requested_by_the_cli_becomes_a_job(
    cluster: Any, kube: Any, make_org: Any, org_name: str
) -> None:
    make_org(org_name, tier="payg")
    org = ["--organization", org_name]
    # No --data-plane: the organization's defaultDataPlane, written explicitly.
    result = cdp(cluster, "create", "project", "p", *org, "--apply")
    ok(result)
    assert f"organization {org_name}'s defaultDataPlane" in result.stderr
    assert kube.get("project", "p", f"cdp-org-{org_name}")["spec"] == {"dataPlane": "us"}
    ok(
        cdp(
            cluster,
            *["create", "component", "job", "-p", "p", "-t", "manual-task", "-b", "WSO2 MI"],
            *["--image", "registry.example.com/acme/job:1", *org, "--apply"],
        )
    )
    ns = f"cdp-org-{org_name}"
    kube.wait_condition("component", "job", ns)
    table = ok(cdp(cluster, "get", "components", *org)).splitlines()
    row = table[1].split()
    # NAME PROJECT TYPE BUILDPACK BILLING READY REASON STATUS: payg components are paid.
    assert row[0] == "job" and row[4:8] == ["paid", "True", "Available", "Current"]

    token = ok(cdp(cluster, "run", "job", *org)).strip()
    runtime = f"{org_name}-p-development"

    def job_for_token() -> list[dict[str, Any]]:
        return [
            j
            for j in kube.list("jobs", runtime, MANAGED)
            if (j["metadata"].get("annotations") or {}).get("cdp.dev/run-token") == token
        ]

    jobs = kube.wait_for(job_for_token, 90, f"a Job for run token {token}")
    assert len(jobs) == 1


def test_a_first_hour_through_the_cli(
    cluster: Any, kube: Any, operator: Any, org_name: str
) -> None:
    """Organization, project, component with egress and overrides, scale, a run in one
    environment, a Stalled apply, where it runs, and deleting a project: all by `cdp`."""
    ns = f"cdp-org-{org_name}"
    org = ["--organization", org_name]
    try:
        created = cdp(
            cluster,
            *["create", "organization", org_name, "--tier", "developer", "--data-plane", "us"],
            *["--allow-paid-components", "--apply"],
        )
        lines = ok(created).splitlines()
        assert lines[0] == f"organization.cdp.dev/{org_name} created"
        assert lines[1].startswith(f"organization.cdp.dev/{org_name} is Current: Ready=True")
        assert kube.get("organization", org_name)["spec"] == {
            "tier": "developer",
            "defaultDataPlane": "us",
            "allowPaidComponents": True,
        }
        ok(cdp(cluster, "create", "project", "p", *org, "--apply"))

        # Egress allowlist and per-environment overrides, without YAML.
        out = ok(
            cdp(
                cluster,
                *["create", "component", "api", "-p", "p", "-t", "service", "-b", "docker"],
                *["--build-configs", "dockerFilePath=./Dockerfile"],
                *["--image", "registry.example.com/acme/api:1", "--endpoint", "http:8080"],
                *["--egress", "203.0.113.0/24:443,8443", "--egress", "198.51.100.7/32"],
                *["--override", "production:replicas=3", "--override", "production:env=LOG=warn"],
                *["--override", "development:memory=256Mi", *org, "--apply"],
                *["--wait-timeout", "90"],
            )
        ).splitlines()
        assert out[0] == f"component.cdp.dev/api created in namespace {ns}"
        assert out[1].startswith("component.cdp.dev/api is Current: Ready=True Available")
        spec = kube.get("component", "api", ns)["spec"]
        assert spec["egress"] == [
            {"cidr": "203.0.113.0/24", "ports": [443, 8443], "protocol": "TCP"},
            {"cidr": "198.51.100.7/32", "protocol": "TCP"},
        ]
        assert spec["overrides"] == [
            {"environment": "production", "replicas": 3, "env": [{"name": "LOG", "value": "warn"}]},
            {"environment": "development", "resources": {"cpu": "100m", "memory": "256Mi"}},
        ]

        # Where it runs: the namespace per environment (-o wide).
        wide = ok(cdp(cluster, "get", "components", *org, "-o", "wide")).splitlines()
        header = wide[0].split()
        assert "NAMESPACES" in header and "ENDPOINTS" in header
        assert f"development={org_name}-p-development" in wide[1]
        projects = ok(cdp(cluster, "get", "projects", *org)).splitlines()
        assert projects[1].split()[:2] == ["p", "us"]

        # scale: spec.replicas, then one environment's override; the Deployment follows.
        generation = kube.get("component", "api", ns)["metadata"]["generation"]
        out = ok(cdp(cluster, "scale", "api", "--replicas", "2", *org))
        assert out.strip() == f"component.cdp.dev/api scaled to 2 replicas in namespace {ns}"
        api = kube.get("component", "api", ns)
        assert api["spec"]["replicas"] == 2
        assert api["metadata"]["generation"] == generation + 1
        assert managers(kube, "component", "api", ns)["cdp-cli"] in ("Apply", "Update")
        dev = f"{org_name}-p-development"
        kube.wait_for(
            lambda: (kube.get("deployment", "api", dev) or {}).get("spec", {}).get("replicas") == 2,
            90,
            "the development Deployment scaled to 2",
        )
        ok(cdp(cluster, "scale", "api", "--replicas", "4", "-e", "production", *org))
        overrides = kube.get("component", "api", ns)["spec"]["overrides"]
        assert overrides[0]["environment"] == "production" and overrides[0]["replicas"] == 4
        assert overrides[0]["env"] == [{"name": "LOG", "value": "warn"}]
        refused = cdp(cluster, "scale", "api", "--replicas", "101", *org)
        assert refused.returncode == 2 and "spec.replicas" in refused.stderr

        # A run in one environment: the token and its environments in one patch.
        ok(
            cdp(
                cluster,
                *["create", "component", "job", "-p", "p", "-t", "manual-task", "-b", "go"],
                *["--build-configs", "buildPackLangVersion=1.22"],
                *["--image", "registry.example.com/acme/job:1", *org, "--apply"],
            )
        )
        result = cdp(cluster, "run", "job", "--environment", "development", *org)
        token = ok(result).strip()
        annotations = kube.get("component", "job", ns)["metadata"]["annotations"]
        assert annotations["cdp.dev/run-request"] == token
        assert annotations["cdp.dev/run-environments"] == "development"
        assert "environment(s) development" in result.stderr
        result = cdp(cluster, "run", "job", *org)
        token = ok(result).strip()
        annotations = kube.get("component", "job", ns)["metadata"]["annotations"]
        assert annotations["cdp.dev/run-request"] == token
        assert "cdp.dev/run-environments" not in annotations
        assert "every environment: " in result.stderr

        # --apply of something the operator stalls on exits 1 with the reason.
        stalled = cdp(
            cluster,
            *["create", "component", "orphan", "-p", "nosuch", "-t", "manual-task"],
            *["--image", "registry.example.com/acme/job:1", *org, "--apply"],
            *["--wait-timeout", "90"],
        )
        assert stalled.returncode == 1, stalled.stderr
        assert stalled.stdout.strip() == f"component.cdp.dev/orphan created in namespace {ns}"
        assert stalled.stderr.startswith(
            "error: component.cdp.dev/orphan is Stalled: Ready=False ProjectNotFound: "
        ), stalled.stderr

        # Deleting a project with components is refused unless --cascade.
        refused = cdp(cluster, "delete", "project", "p", *org)
        assert refused.returncode == 2
        assert "project.cdp.dev/p has 2 component(s): api, job" in refused.stderr
        assert kube.get("project", "p", ns) is not None
        out = ok(cdp(cluster, "delete", "project", "p", "--cascade", *org))
        assert out.splitlines() == [
            f"component.cdp.dev/api deleted in namespace {ns}",
            f"component.cdp.dev/job deleted in namespace {ns}",
            f"project.cdp.dev/p deleted in namespace {ns}",
        ]
        kube.wait_gone("project", "p", ns)
        assert kube.get("component", "orphan", ns) is not None
        ok(cdp(cluster, "delete", "component", "orphan", *org))
        kube.wait_gone("component", "orphan", ns)
    finally:
        kube.delete("organization", org_name, wait=False)
