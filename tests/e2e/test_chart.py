"""The Helm chart against the real control plane: lint, schema, server-side dry run,
install and upgrade; the CRDs come from crds/ only; HA replicas take turns."""

from __future__ import annotations

import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kit import Kube

from .conftest import manifest
from .identities import CHART, operator_stopped, render_chart
from .operator_harness import REPO, OperatorProcess

pytestmark = pytest.mark.e2e

HA_VALUES = (
    "--set",
    "replicaCount=2",
    "--set",
    "dataPlanes={us,eu}",
    "--set",
    "logFormat=text",
)
PEERING_CRD = CHART / "crds" / "kopf.dev_clusterkopfpeerings.yaml"


def _kinds(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.fixture
def restricted_namespace(kube: Kube, namespace: str) -> str:
    """The test namespace with Pod Security Admission enforcing `restricted`."""
    kube.run(
        "label",
        "namespace",
        namespace,
        "--overwrite",
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )
    return namespace


@pytest.fixture
def peering_crd(kube: Kube) -> None:
    kube.run("apply", "--server-side", "-f", str(PEERING_CRD))
    kube.run(
        "wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s"
    )


# ------------------------------------------------------------------------- lint
@pytest.mark.parametrize(
    "values",
    [(), (*HA_VALUES, "--set", "metrics.serviceMonitor.enabled=true")],
    ids=["defaults", "ha-servicemonitor"],
)
def test_helm_lint_strict_is_clean(cluster: Any, values: tuple[str, ...]) -> None:
    result = cluster.helm("lint", "--strict", str(CHART), *values)
    assert "0 chart(s) failed" in result.stdout, result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


# ------------------------------------------------------------------- the schema
@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (("--set", "logFormat=xml"), "logFormat"),
        (("--set", "replicaCount=0"), "replicaCount"),
        (("--set", "dataPlanes={US_East}"), "dataPlanes"),
        (("--set", "image.pullPolicy=Sometimes"), "pullPolicy"),
        (("--set", "metrics.port=http"), "port"),
        (("--set", "unknownKey=1"), "unknownKey"),
        (("--set", "resources.requests.gpu=1"), "gpu"),
        (("--set", "admissionPolicy.exemptNamespaces={Kube_System}"), "exemptNamespaces"),
    ],
    ids=[
        "enum",
        "minimum",
        "pattern",
        "pull-policy",
        "type",
        "unknown-key",
        "unknown-nested",
        "namespace-name",
    ],
)
def test_values_schema_rejects_bad_values(
    cluster: Any, values: tuple[str, ...], complaint: str
) -> None:
    for command in (("template", "r", str(CHART)), ("lint", "--strict", str(CHART))):
        result = cluster.helm(*command, *values, check=False)
        assert result.returncode != 0, (command, values, result.stdout)
        output = result.stdout + result.stderr
        assert "schema" in output and complaint in output, output


def test_template_guards_what_the_schema_cannot(cluster: Any) -> None:
    for values, message in (
        (("--set", "metrics.port=9000", "--set", "health.port=9000"), "must differ"),
        (("--set", "replicaCount=2", "--set", "podDisruptionBudget.minAvailable=2"), "drained"),
        (
            (
                "--set",
                "metrics.serviceMonitor.enabled=true",
                "--set",
                "metrics.service.enabled=false",
            ),
            "metrics.service.enabled",
        ),
    ):
        result = cluster.helm("template", "r", str(CHART), *values, check=False)
        assert result.returncode != 0 and message in result.stderr, (values, result.stderr)


# ------------------------------------------------------------------- rendering
def test_rendered_deployment_is_restricted_and_probed(cluster: Any) -> None:
    kinds = _kinds(render_chart(cluster, "r", "cdp-system"))
    assert set(kinds) == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
        "ValidatingAdmissionPolicy",  # T3, on by default (tests/e2e/test_tenants.py)
        "ValidatingAdmissionPolicyBinding",
    }
    deploy = kinds["Deployment"]
    pod = deploy["spec"]["template"]["spec"]
    container = _container(deploy)
    assert deploy["spec"]["strategy"]["type"] == "Recreate"  # never two standalone operators
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert "--health-endpoint=http://0.0.0.0:8081/healthz" in container["args"]
    assert f"--metrics-port={ports['metrics']}" in container["args"]
    assert "--metrics-address=0.0.0.0" in container["args"]
    assert not [a for a in container["args"] if a.startswith(("--data-plane", "--peering"))]
    assert pod["serviceAccountName"] == kinds["ServiceAccount"]["metadata"]["name"]
    assert container["image"] == "cdp-operator:0.1.0"  # appVersion
    # The operator accepts every argument the chart passes.
    from cdp_operator.__main__ import parse_args

    parsed = parse_args(container["args"])
    assert parsed.log_format == "json" and parsed.metrics_port == ports["metrics"]


def test_rendered_ha_adds_peering_pdb_and_spread(cluster: Any) -> None:
    docs = render_chart(
        cluster, "r", "cdp-system", *HA_VALUES, "--set", "metrics.serviceMonitor.enabled=true"
    )
    kinds = _kinds(docs)
    deploy = kinds["Deployment"]
    args = _container(deploy)["args"]
    peering_name = kinds["ClusterKopfPeering"]["metadata"]["name"]
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    assert f"--peering={peering_name}" in args
    assert [a for a in args if "--data-plane" in a] == ["--data-plane=us", "--data-plane=eu"]
    assert "--log-format=text" in args
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert deploy["spec"]["template"]["spec"]["topologySpreadConstraints"]
    monitor = kinds["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert kinds["Service"]["spec"]["ports"][0]["name"] == "metrics"
    # Only the HA rendering's role may touch the peering object, and only that one.
    peering_rules = [r for r in kinds["ClusterRole"]["rules"] if "kopf.dev" in r["apiGroups"]]
    assert {tuple(r.get("resourceNames", [])) for r in peering_rules} == {(), (peering_name,)}


# ----------------------------------------------------------------------- CRDs
def test_chart_crds_are_the_repository_crds(cluster: Any, tmp_path: Path) -> None:
    """One source: the chart's CRDs are symlinks into crds/, what `helm package`
    ships is byte for byte what crds/ holds, and Helm installs exactly those."""
    repo_crds = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    chart_crds = CHART / "crds"
    for name in repo_crds:
        link = chart_crds / name
        assert link.is_symlink(), f"{link} must be a symlink to crds/{name}"
        assert link.resolve() == (REPO / "crds" / name).resolve()
    extra = sorted(p.name for p in chart_crds.iterdir() if p.name not in repo_crds)
    assert extra == [PEERING_CRD.name], extra

    cluster.helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("cdp-operator-*.tgz")
    with tarfile.open(archive) as tar:
        packaged = {
            Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and Path(m.name).parent.name == "crds"
        }
    assert sorted(packaged) == sorted([*repo_crds, PEERING_CRD.name])
    for name in repo_crds:
        assert packaged[name] == (REPO / "crds" / name).read_bytes(), name

    # What Helm installs (`helm show crds` would do, but it joins the files without
    # `---`, so its output does not parse as separate documents).
    rendered = cluster.helm("template", "r", str(CHART), "--include-crds").stdout
    installed = [
        d
        for d in yaml.safe_load_all(rendered)
        if d and d["kind"] == "CustomResourceDefinition" and d["spec"]["group"] == "cdp.dev"
    ]
    expected = [
        d for name in repo_crds for d in yaml.safe_load_all((REPO / "crds" / name).read_text()) if d
    ]
    assert installed == expected


# ------------------------------------------------------------ server dry run
@pytest.mark.parametrize("values", [(), HA_VALUES], ids=["defaults", "ha"])
def test_rendered_chart_passes_server_side_dry_run(
    cluster: Any,
    kube: Kube,
    crds: None,
    peering_crd: None,
    restricted_namespace: str,
    values: tuple[str, ...],
) -> None:
    rendered = cluster.helm(
        "template",
        f"dry-{restricted_namespace[-5:]}",
        str(CHART),
        "--namespace",
        restricted_namespace,
        "--include-crds",
        *values,
    ).stdout
    result = kube.run(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=helm-dry-run",
        "-f",
        "-",
        input=rendered,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr  # e.g. PodSecurity `restricted`
    applied = result.stdout.splitlines()
    assert any("deployment.apps/" in line for line in applied), applied
    assert sum("customresourcedefinition" in line for line in applied) == 6, applied


# ------------------------------------------------------- install and upgrade
@pytest.fixture
def release(cluster: Any, restricted_namespace: str) -> Iterator[tuple[str, str]]:
    name = f"cdp-{uuid.uuid4().hex[:6]}"
    yield name, restricted_namespace
    cluster.helm("uninstall", name, "--namespace", restricted_namespace, "--wait", check=False)


def test_helm_install_then_upgrade(
    cluster: Any, kube: Kube, crds: None, release: tuple[str, str]
) -> None:
    name, ns = release
    # No --wait: the pods cannot run the image here (kwok only pretends), and a busy
    # machine lets kwok's node leases lapse, which marks pods NotReady. What counts is
    # that the objects exist and Pod Security `restricted` admits the pods.
    cluster.helm("install", name, str(CHART), "--namespace", ns)
    full = f"{name}-cdp-operator"
    deploy = kube.get("deployment", full, ns)
    assert deploy is not None and deploy["spec"]["replicas"] == 1
    _wait_pods_admitted(kube, full, ns, 1)
    for kind, obj_name, obj_ns in (
        ("serviceaccount", full, ns),
        ("service", f"{full}-metrics", ns),
        ("clusterrole", full, None),
        ("clusterrolebinding", full, None),
        ("crd", "components.cdp.dev", None),
        ("crd", "clusterkopfpeerings.kopf.dev", None),
        ("validatingadmissionpolicy", f"{full}-ingress-hosts", None),
        ("validatingadmissionpolicybinding", f"{full}-ingress-hosts", None),
        ("validatingadmissionpolicy", f"{full}-base-domains", None),
        ("validatingadmissionpolicybinding", f"{full}-base-domains", None),
    ):
        assert kube.get(kind, obj_name, obj_ns) is not None, (kind, obj_name)
    assert kube.get("poddisruptionbudget", full, ns) is None
    assert kube.get("clusterkopfpeering", full) is None
    generation = deploy["metadata"]["generation"]

    cluster.helm("upgrade", name, str(CHART), "--namespace", ns, *HA_VALUES)
    deploy = kube.get("deployment", full, ns)
    assert deploy is not None
    assert deploy["metadata"]["generation"] > generation
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    args = _container(deploy)["args"]
    assert {"--log-format=text", "--data-plane=us", "--data-plane=eu", f"--peering={full}"} <= set(
        args
    )
    _wait_pods_admitted(kube, full, ns, 1, updated=True)
    assert kube.get("poddisruptionbudget", full, ns) is not None
    assert kube.get("clusterkopfpeering", full) is not None
    role = kube.get("clusterrole", full)
    assert role is not None and any("kopf.dev" in r["apiGroups"] for r in role["rules"])
    history = cluster.helm("history", name, "--namespace", ns, "-o", "yaml").stdout
    assert [h["status"] for h in yaml.safe_load(history)] == ["superseded", "deployed"]

    cluster.helm("uninstall", name, "--namespace", ns, "--wait")
    assert kube.get("deployment", full, ns) is None
    assert kube.get("clusterkopfpeering", full) is None
    assert kube.get("clusterrole", full) is None
    assert kube.get("validatingadmissionpolicy", f"{full}-ingress-hosts") is None
    # Helm never deletes what crds/ installed: custom resources survive an uninstall.
    assert kube.get("crd", "components.cdp.dev") is not None


def _wait_pods_admitted(kube: Kube, name: str, ns: str, n: int, updated: bool = False) -> None:
    """Pods of the (updated) template were created: admission (PSA restricted) let them in."""

    def created() -> bool:
        deploy = kube.get("deployment", name, ns) or {}
        status = deploy.get("status") or {}
        if status.get("observedGeneration") != deploy["metadata"]["generation"]:
            return False
        return int(status.get("updatedReplicas" if updated else "replicas") or 0) >= n

    kube.wait_for(created, 90, f"pods of deployment {name} created")
    events = kube.run("get", "events", "-n", ns, "-o", "json").stdout
    assert "FailedCreate" not in events, events


# ------------------------------------------------------------ HA: take turns
def test_ha_replicas_one_works_the_others_stand_by(
    cluster: Any,
    kube: Kube,
    crds: None,
    peering_crd: None,
    operator: OperatorProcess,
    org_name: str,
    tmp_path: Path,
) -> None:
    """Two replicas started as the chart starts them (--peering, random priorities):
    one reconciles, the other writes nothing; when the active one stops, the other
    takes over."""
    peering = f"ha-{org_name}"
    kube.apply(
        yaml.safe_dump(
            {
                "apiVersion": "kopf.dev/v1",
                "kind": "ClusterKopfPeering",
                "metadata": {"name": peering},
            }
        )
    )
    replicas = [
        OperatorProcess(
            str(cluster.kubeconfig),
            tmp_path / f"replica-{i}.log",
            extra_args=["--peering", peering],
        )
        for i in range(2)
    ]
    ns = f"cdp-org-{org_name}"
    with operator_stopped(operator):
        try:
            for r in replicas:
                r.start()
            # The first replica may work alone for a moment (reconciling what the
            # cluster already holds) until it sees the second one's priority.
            for r in replicas:
                r.wait_settled()
            baseline = [r.total("cdp_api_writes_total") for r in replicas]
            kube.apply(manifest("Organization", org_name, tier="payg", defaultDataPlane="us"))
            kube.wait_for(lambda: kube.get("namespace", ns), 60, f"namespace {ns}")
            kube.apply(manifest("Project", "p", ns))
            kube.apply(_service(ns, "first"))
            kube.wait_condition("component", "first", ns, timeout=120)
            for r in replicas:
                r.wait_settled()
            writes = [
                r.total("cdp_api_writes_total") - b for r, b in zip(replicas, baseline, strict=True)
            ]
            assert sorted(w > 0 for w in writes) == [False, True], writes
            active, standby = (
                (replicas[0], replicas[1]) if writes[0] else (replicas[1], replicas[0])
            )
            # Kopf starts a peer paused; it resumes only while it has the top priority
            # (a later, higher one pauses the active one with "Pausing operations").
            assert "Resuming operations" not in standby.logs().split("Pausing operations")[-1]

            active.stop()  # a drain or a rollout: the standby takes over
            kube.apply(_service(ns, "second"))
            kube.wait_condition("component", "second", ns, timeout=120)
            assert standby.total("cdp_api_writes_total") > baseline[replicas.index(standby)]
            assert "Resuming operations" in standby.logs()
            kube.delete("organization", org_name)
            kube.wait_gone("namespace", ns, timeout=180)
        finally:
            for r in replicas:
                r.stop()
            kube.delete("clusterkopfpeering", peering, wait=False)
            for r in replicas:
                print(f"\nreplica log: {r.log_path}")


def _service(ns: str, name: str) -> str:
    return manifest(
        "Component",
        name,
        ns,
        project="p",
        type="service",
        image=f"registry.example.com/{name}:1",
        build={"buildpack": "go", "configs": {"buildPackLangVersion": "1.23"}},
    )
