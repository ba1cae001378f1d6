"""Fixtures for end-to-end tests of the operator against the real control plane."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import localcluster  # hack/localcluster.py, on sys.path through tests/conftest.py

from .operator_harness import REPO, OperatorProcess

#: The test cluster's pod and service networks, which both DataPlanes declare: egress
#: allowlists never open them.
CLUSTER_NETWORKS = [localcluster.POD_CIDR, localcluster.SERVICE_CIDR]

DATA_PLANES = f"""
apiVersion: cdp.dev/v1alpha1
kind: DataPlane
metadata: {{name: us}}
spec:
  region: US East 2
  egressCIDRs: ["20.22.170.144/28"]
  clusterNetworks: {json.dumps(CLUSTER_NETWORKS)}
  ingress:
    className: nginx
    baseDomain: us.apps.cdp.example.com
    gatewayNamespace: ingress-nginx
---
apiVersion: cdp.dev/v1alpha1
kind: DataPlane
metadata: {{name: eu}}
spec:
  region: North Europe
  egressCIDRs: ["20.166.183.112/28"]
  clusterNetworks: {json.dumps(CLUSTER_NETWORKS)}
  ingress:
    className: nginx
    baseDomain: eu.apps.cdp.example.com
    gatewayNamespace: ingress-nginx
"""


class Kube:
    """kubectl-level helpers bound to the test cluster."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = self.cluster.kubectl(
            *args, input=input, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def apply(self, text: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(
            "apply", "--server-side", "--field-manager=e2e", "-f", "-", input=text, check=check
        )

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        result = self.run(*args, check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        obj: dict[str, Any] = json.loads(result.stdout)
        return obj

    def list(
        self, kind: str, namespace: str | None = None, selector: str = ""
    ) -> list[dict[str, Any]]:
        args = ["get", kind, "-o", "json"]
        args += ["-n", namespace] if namespace else ["-A"]
        if selector:
            args += ["-l", selector]
        items: list[dict[str, Any]] = json.loads(self.run(*args).stdout)["items"]
        return items

    def delete(self, kind: str, name: str, namespace: str | None = None, wait: bool = True) -> None:
        args = ["delete", kind, name, "--ignore-not-found", f"--wait={'true' if wait else 'false'}"]
        if namespace:
            args += ["-n", namespace]
        self.run(*args)

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 90, message: str = "condition"
    ) -> Any:
        """Poll until predicate returns a truthy value (bounded; not a speed assertion)."""
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except AssertionError as exc:
                last_exc = exc
            time.sleep(0.3)
        raise AssertionError(f"timed out after {timeout}s waiting for {message}: {last_exc or ''}")

    def condition(self, obj: dict[str, Any] | None, ctype: str = "Ready") -> dict[str, Any] | None:
        if not obj:
            return None
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond.get("type") == ctype:
                return dict(cond)
        return None

    def wait_condition(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        status: str = "True",
        reason: str | None = None,
        timeout: float = 90,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            obj = self.get(kind, name, namespace)
            cond = self.condition(obj)
            if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
                assert obj is not None
                gen = obj["metadata"].get("generation")
                if obj["status"].get("observedGeneration") == gen:
                    return obj
            return None

        where = f"{kind}/{name}" + (f" in {namespace}" if namespace else "")
        result: dict[str, Any] = self.wait_for(
            check,
            timeout,
            f"{where} Ready={status} reason={reason}: last {self.get(kind, name, namespace)}",
        )
        return result

    def wait_gone(
        self, kind: str, name: str, namespace: str | None = None, timeout: float = 120
    ) -> None:
        self.wait_for(
            lambda: self.get(kind, name, namespace) is None, timeout, f"{kind}/{name} deleted"
        )


@pytest.fixture(scope="session")
def kube(cluster: Any) -> Kube:
    return Kube(cluster)


@pytest.fixture(scope="session")
def crds(kube: Kube) -> None:
    kube.run("apply", "--server-side", "-f", str(REPO / "crds"))
    kube.run(
        "wait",
        "--for=condition=Established",
        "crd",
        "-l",
        "app.kubernetes.io/part-of=cdp-operator",
        "--timeout=60s",
        check=False,
    )
    kube.apply(DATA_PLANES)


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
