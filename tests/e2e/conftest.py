"""Fixtures for end-to-end tests of the operator against the real control plane."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import localcluster  # hack/localcluster.py, on sys.path through tests/conftest.py
from kit import Kube

from .identities import operator_stopped
from .operator_harness import REPO, OperatorProcess

#: The test cluster's pod and service networks, which both DataPlanes declare: egress
#: allowlists never open them.
CLUSTER_NETWORKS = [localcluster.POD_CIDR, localcluster.SERVICE_CIDR]


def _data_plane(name: str, region: str, egress: str) -> dict[str, Any]:
    return {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "DataPlane",
        "metadata": {"name": name},
        "spec": {
            "region": region,
            "egressCIDRs": [egress],
            "clusterNetworks": CLUSTER_NETWORKS,
            "ingress": {
                "className": "nginx",
                "baseDomain": f"{name}.apps.cdp.example.com",
                "gatewayNamespace": "ingress-nginx",
            },
        },
    }


#: The two DataPlanes every e2e session declares (YAML, for ``kube.apply``).
DATA_PLANES = yaml.safe_dump_all(
    [
        _data_plane("us", "US East 2", "20.22.170.144/28"),
        _data_plane("eu", "North Europe", "20.166.183.112/28"),
    ]
)


@pytest.fixture(scope="session")
def kube(cluster: Any) -> Kube:
    return Kube(cluster)


def install_crds(kube: Kube) -> None:
    """The project's CRDs (once Established) and the two DataPlanes."""
    kube.run("apply", "--server-side", "-f", str(REPO / "crds"))
    kube.run(
        "wait",
        "--for=condition=Established",
        "crd",
        "-l",
        "app.kubernetes.io/part-of=cdp-operator",
        "--timeout=60s",
    )
    kube.apply(DATA_PLANES)


@pytest.fixture(scope="session")
def crds(kube: Kube) -> None:
    install_crds(kube)


@pytest.fixture(scope="session")
def operator(
    cluster: Any, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    proc = OperatorProcess(str(cluster.kubeconfig), log)
    proc.start()
    yield proc
    proc.stop()
    # Keep the log where CI output can point at it.
    if proc.logs():
        Path(REPO / ".pytest-operator.log").write_text(proc.logs())


@pytest.fixture
def admin_operator_stopped(operator: OperatorProcess) -> Iterator[None]:
    """The session's operator stopped during a test that runs its own instances
    (restarted after; see ``identities.operator_stopped``)."""
    with operator_stopped(operator):
        yield


@pytest.fixture
def org_name() -> str:
    """A unique organization name per test, so tests never see each other's objects."""
    return f"t{uuid.uuid4().hex[:7]}"


@pytest.fixture
def make_org(kube: Kube, operator: OperatorProcess) -> Iterator[Callable[..., str]]:
    """Create an Organization (and wait for its namespace); delete it afterwards."""
    created: list[str] = []

    def make(name: str, tier: str = "payg", default_data_plane: str = "us") -> str:
        kube.apply(
            yaml.safe_dump(
                {
                    "apiVersion": "cdp.dev/v1alpha1",
                    "kind": "Organization",
                    "metadata": {"name": name},
                    "spec": {"tier": tier, "defaultDataPlane": default_data_plane},
                }
            )
        )
        created.append(name)
        kube.wait_for(lambda: kube.get("namespace", f"cdp-org-{name}"), 60, f"namespace of {name}")
        return f"cdp-org-{name}"

    yield make
    for name in created:
        kube.delete("organization", name, wait=False)


def manifest(kind: str, name: str, namespace: str | None = None, **spec: Any) -> str:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return yaml.safe_dump(
        {"apiVersion": "cdp.dev/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}
    )


MANAGED = "app.kubernetes.io/managed-by=cdp-operator"


def service_component(namespace: str, name: str, project: str, **extra: Any) -> str:
    spec: dict[str, Any] = {
        "project": project,
        "type": "service",
        "image": f"registry.example.com/{name}:1",
        "build": {"buildpack": "python", "configs": {"buildPackLangVersion": "3.11"}},
        "endpoints": [{"name": "http", "port": 8080, "visibility": "organization"}],
    }
    spec.update(extra)
    return manifest("Component", name, namespace, **spec)


def projects_in_both_regions(kube: Kube, namespace: str, us: str, eu: str) -> None:
    """Project ``us`` on DataPlane us and ``eu`` on eu, in an organization's namespace:
    the organization then uses both data planes (and gets default environments on each)."""
    kube.apply(manifest("Project", us, namespace, dataPlane="us"))
    kube.apply(manifest("Project", eu, namespace, dataPlane="eu"))


def sixth_component_over_the_developer_limit(
    kube: Kube, make_org: Callable[..., str], org: str
) -> tuple[str, dict[str, Any]]:
    """A developer-tier organization (paid usage off, the default) with project p and
    components c0 to c5 created one after the other (c0 the oldest): waits until the
    five oldest are Ready and c5 is ComponentLimitExceeded. Returns the organization's
    namespace and c5 as read then."""
    ns = make_org(org, tier="developer")
    kube.apply(manifest("Project", "p", ns))
    for i in range(6):
        kube.apply(service_component(ns, f"c{i}", "p"))
        kube.wait_for(lambda i=i: kube.get("component", f"c{i}", ns), 30, "component created")
    for i in range(5):
        kube.wait_condition("component", f"c{i}", ns)
    over = kube.wait_condition("component", "c5", ns, "False", "ComponentLimitExceeded")
    return ns, over


def scheduled_task(namespace: str, name: str, project: str, image: str, schedule: str) -> str:
    """A scheduled-task Component (no build configuration needed with ballerina)."""
    return manifest(
        "Component",
        name,
        namespace,
        project=project,
        type="scheduled-task",
        image=image,
        schedule=schedule,
        build={"buildpack": "ballerina"},
    )


def manual_task(namespace: str, name: str, project: str, image: str) -> str:
    """A manual-task Component (no build configuration needed with ballerina)."""
    return manifest(
        "Component",
        name,
        namespace,
        project=project,
        type="manual-task",
        image=image,
        build={"buildpack": "ballerina"},
    )


def pod_templates(kube: Kube, namespace: str) -> dict[str, Any]:
    templates: dict[str, Any] = {}
    for d in kube.list("deployments", namespace, MANAGED):
        templates[f"deploy/{d['metadata']['name']}"] = d["spec"]["template"]
    for c in kube.list("cronjobs", namespace, MANAGED):
        templates[f"cronjob/{c['metadata']['name']}"] = c["spec"]["jobTemplate"]["spec"]["template"]
    return templates
