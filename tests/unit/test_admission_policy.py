"""The admission policies (finding T3): one source, the chart's template.

``admission/policies.yaml`` is what kubectl users apply; it must be exactly what
the chart renders (``make admission`` writes it). The policies' behaviour is
tested against the real API server in ``tests/e2e/test_tenants.py``; here, that
they refer to what the operator really uses: the organization label key and the
DataPlane's base domain field.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp_operator.models import labels

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cdp-operator"
TEMPLATE = "templates/admissionpolicy.yaml"
RENDERED = REPO / "admission" / "policies.yaml"


@pytest.fixture(scope="module")
def helm() -> str:
    """The pinned helm (CDP_BIN_DIR, PATH, or the cache hack/controlplane/build.sh fills)."""
    if os.environ.get("CDP_BIN_DIR"):
        path = Path(os.environ["CDP_BIN_DIR"]) / "helm"
        if path.exists():
            return str(path)
    found = shutil.which("helm")
    if found:
        return found
    build = subprocess.run(
        [str(REPO / "hack" / "controlplane" / "build.sh")],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        check=True,
    )
    path = Path(build.stdout.strip().splitlines()[-1]) / "helm"
    if not path.exists():
        pytest.skip(f"no helm in {path.parent}")
    return str(path)


def render(helm: str, *values: str) -> str:
    result = subprocess.run(
        [helm, "template", "cdp-operator", str(CHART), "--show-only", TEMPLATE, *values],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_the_kubectl_copy_is_the_charts_rendering(helm: str) -> None:
    lines = RENDERED.read_text().splitlines(keepends=True)
    header = 0
    while header < len(lines) and lines[header].startswith("#"):
        header += 1
    assert header and "make admission" in "".join(lines[:header])
    assert "".join(lines[header:]) == render(helm), (
        f"{RENDERED.relative_to(REPO)} is stale: run `make admission`"
    )


def test_the_policies_use_the_operators_label_and_the_dataplane_field() -> None:
    objects = docs(RENDERED.read_text())
    assert sorted(o["kind"] for o in objects) == [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
    ]
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"].endswith("Policy")}
    crd = yaml.safe_load((REPO / "crds" / "cdp.dev_dataplanes.yaml").read_text())
    version = crd["spec"]["versions"][0]
    ingress = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["ingress"]
    assert "baseDomain" in ingress["required"]
    for policy in policies.values():
        assert policy["spec"]["failurePolicy"] == "Fail"
        assert policy["spec"]["paramKind"] == {
            "apiVersion": f"{crd['spec']['group']}/{version['name']}",
            "kind": crd["spec"]["names"]["kind"],
        }
        assert any(
            v["expression"] == "params.spec.ingress.baseDomain" for v in policy["spec"]["variables"]
        )
    hosts = policies["cdp-operator-ingress-hosts"]
    assert any(f"'{labels.ORGANIZATION}'" in v["expression"] for v in hosts["spec"]["variables"])
    for binding in (o for o in objects if o["kind"].endswith("Binding")):
        assert binding["spec"]["policyName"] in policies
        assert binding["spec"]["validationActions"] == ["Deny"]
        # Every DataPlane is a parameter; without any, nothing is checked.
        assert binding["spec"]["paramRef"] == {"selector": {}, "parameterNotFoundAction": "Allow"}


def test_the_policies_are_optional_and_namespaces_can_be_exempted(helm: str) -> None:
    off = subprocess.run(
        [helm, "template", "r", str(CHART), "--set", "admissionPolicy.enabled=false"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ValidatingAdmissionPolicy" not in off
    exempt = docs(render(helm, "--set", "admissionPolicy.exemptNamespaces={ingress-nginx,web}"))
    binding = next(
        o
        for o in exempt
        if o["kind"] == "ValidatingAdmissionPolicyBinding" and "ingress" in o["metadata"]["name"]
    )
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": ["ingress-nginx", "web"],
            }
        ]
    }


def test_the_expressions_run_on_every_supported_kubernetes() -> None:
    """The API server compiles a new policy with the CEL environment of the previous
    minor version. docs/install.md promises 1.31: the lists extension (`flatten`,
    `lists.range`, `sort`, ...) only came in 1.34, two-variable comprehensions in 1.32.
    The e2e cluster is newer, so only this test notices (checked by hand: kube-apiserver
    --emulated-version=1.33 refuses `lists.range` and accepts these policies)."""
    expressions = [
        e
        for o in docs(RENDERED.read_text())
        if o["kind"] == "ValidatingAdmissionPolicy"
        for part in ("variables", "validations")
        for item in o["spec"].get(part, [])
        for e in (item.get("expression"), item.get("messageExpression"))
        if e
    ]
    assert len(expressions) > 10
    newer = ("lists.", ".flatten(", ".distinct(", ".sort", ".slice(", ".reverse(")
    newer += ("transformList", "transformMap", "cel.bind(")
    for expression in expressions:
        assert not [n for n in newer if n in expression], expression
