"""The committed CRDs are what the models generate, and the schemas are sound.

That every CEL rule compiles (and fits the apiserver's cost budget) is checked
against the real apiserver in tests/e2e/test_admission.py.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp_operator.models import crdgen
from cdp_operator.models.buildconfigs import (
    REQUIRED_BUILD_CONFIGS,
    ComponentType,
    build_config_cel_rules,
    buildpacks_for,
)
from cdp_operator.models.resources import IMMUTABLE_FIELDS, NAME_RULES, SPEC_MODELS
from kit.processes import outputs_per_hash_seed

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"

Schema = dict[str, Any]


@functools.cache
def committed() -> dict[str, Schema]:
    return {
        info.kind: yaml.safe_load((CRDS / crdgen.file_name(info)).read_text())
        for info in crdgen.KINDS
    }


def openapi(crd: Schema) -> Schema:
    (version,) = crd["spec"]["versions"]
    schema: Schema = version["schema"]["openAPIV3Schema"]
    return schema


def walk(node: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_committed_crds_equal_generator_output() -> None:
    problems = crdgen.check(CRDS)
    assert not problems, "crds/ is stale; run `make crds`:\n" + "".join(problems)


def test_generation_is_deterministic() -> None:
    """The same files from interpreters with different hash seeds (two calls in one
    process would iterate a set of strings alike)."""
    code = "import json; "
    code += "from cdp_operator.models import crdgen; print(json.dumps(crdgen.render_all()))"
    outputs = outputs_per_hash_seed(code)
    assert len(set(outputs.values())) == 1, "CRD generation depends on the hash seed"
    assert json.loads(outputs[0]) == crdgen.render_all()


def test_check_reports_a_diff(tmp_path: Path) -> None:
    crdgen.write(tmp_path)
    assert crdgen.check(tmp_path) == []
    victim = tmp_path / crdgen.file_name(crdgen.KINDS[0])
    victim.write_text(victim.read_text().replace("maxItems: 32", "maxItems: 33", 1))
    (tmp_path / "cdp.dev_stray.yaml").write_text("{}\n")
    problems = crdgen.check(tmp_path)
    assert any(victim.name in p and "maxItems: 33" in p for p in problems)
    assert any("stray" in p for p in problems)
    assert crdgen.main(["--check", str(tmp_path)]) == 1


@pytest.mark.parametrize("info", crdgen.KINDS, ids=lambda i: i.kind)
def test_crd_metadata(info: crdgen.KindInfo) -> None:
    crd = committed()[info.kind]
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{info.plural}.cdp.dev"
    assert spec["group"] == "cdp.dev"
    assert spec["scope"] == (
        "Cluster" if info.kind in ("DataPlane", "Organization") else "Namespaced"
    )
    assert spec["names"]["categories"] == ["cdp"]
    assert spec["names"]["shortNames"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    scale = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
    expected = {"status": {}, "scale": scale} if info.kind == "Component" else {"status": {}}
    assert version["subresources"] == expected
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Reason"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_short_names_are_distinct() -> None:
    names = [n for info in crdgen.KINDS for n in info.short_names]
    assert sorted(names) == sorted(set(names)) == sorted(["dp", "org", "env", "proj", "comp"])


@pytest.mark.parametrize("info", crdgen.KINDS, ids=lambda i: i.kind)
def test_every_property_has_a_description(info: crdgen.KindInfo) -> None:
    root = openapi(committed()[info.kind])
    missing = [
        path
        for path, node in walk(root)
        # The apiserver forbids anything but type on the root metadata.
        if path != ".metadata"
        and not node.get("description")
        and not path.endswith("[]")
        and not path.endswith("{}")
    ]
    assert missing == []


@pytest.mark.parametrize("info", crdgen.KINDS, ids=lambda i: i.kind)
def test_schema_is_structural_and_bounded(info: crdgen.KindInfo) -> None:
    root = openapi(committed()[info.kind])
    for path, node in walk(root):
        for forbidden in ("$ref", "anyOf", "allOf", "oneOf", "title", "const", "uniqueItems"):
            assert forbidden not in node, (path, forbidden)
        assert node.get("additionalProperties") is not False, path
        assert "type" in node, path
        if path.startswith(".spec"):
            # CEL cost estimation needs bounds on everything a rule may touch.
            if node["type"] == "string" and "enum" not in node:
                assert "maxLength" in node, path
            if node["type"] == "array":
                assert "maxItems" in node, path
            if node["type"] == "object" and "additionalProperties" in node:
                assert "maxProperties" in node, path
        if node.get("x-kubernetes-list-type") == "map":
            for key in node["x-kubernetes-list-map-keys"]:
                item = node["items"]
                assert key in item.get("required", []) or "default" in item["properties"][key]


def rules(node: Schema) -> list[Schema]:
    return list(node.get("x-kubernetes-validations", []))


#: OpenAPI checks whose failure the apiserver words itself ("should match '^...$'",
#: "should be less than or equal to 65535", "should be at least 1 chars long"): on what
#: users write (spec) they are CEL rules with messages instead. maxLength, maxItems and
#: maxProperties stay (CEL's cost bounds), and enum (its message lists the values).
WORDED_BY_THE_APISERVER = (
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "minItems",
    "minProperties",
    "multipleOf",
)


@pytest.mark.parametrize("info", crdgen.KINDS, ids=lambda i: i.kind)
def test_spec_constraints_answer_in_words(info: crdgen.KindInfo) -> None:
    spec = openapi(committed()[info.kind])["properties"]["spec"]
    for path, node in walk(spec, ".spec"):
        for key in WORDED_BY_THE_APISERVER:
            assert key not in node, f"{info.kind}{path}: OpenAPI {key}; use a rule with a message"


def test_field_rules_are_the_models_checks() -> None:
    """The CEL a field carries and the Python check beside it come from one Rule: the
    same message, and they agree on values either side of each bound."""
    from cdp_operator.models import resources as r

    port = r.range_rule(1, 65535, "a port number")
    assert [port.holds(v) for v in (0, 1, 65535, 65536)] == [False, True, True, False]
    assert port.schema() == {
        "rule": "self >= 1 && self <= 65535",
        "message": "must be a port number from 1 to 65535",
    }
    label = r.name_ref_rule("Project")
    assert label.cel == f"self.matches('{r.DNS_LABEL_PATTERN}')"
    assert [label.holds(v) for v in ("shop", "", "Shop", "-a", "a-")] == [
        True,
        False,
        False,
        False,
        False,
    ]
    with pytest.raises(ValueError, match="anchored"):
        r.pattern_rule("[a-z]+", "letters")
    with pytest.raises(ValueError, match="backslashes"):
        r.pattern_rule("^\\d+$", "digits")


@pytest.mark.parametrize("info", crdgen.KINDS, ids=lambda i: i.kind)
def test_every_rule_has_a_message_and_names_its_field(info: crdgen.KindInfo) -> None:
    root = openapi(committed()[info.kind])
    for path, node in walk(root):
        for rule in rules(node):
            assert rule["message"], (path, rule)
            # Rules on an object name the field they are about; rules on a
            # scalar are reported at that scalar's own path.
            if node["type"] == "object":
                assert rule.get("fieldPath"), (path, rule)


def test_name_rules_at_the_root() -> None:
    for kind, crd in committed().items():
        root = openapi(crd)
        text = " ".join(r["rule"] for r in rules(root))
        assert f"size(self.metadata.name) <= {NAME_RULES[kind].max_length}" in text
        assert all(r["fieldPath"] == ".metadata.name" for r in rules(root))
        assert "name" in root["properties"]["metadata"]["properties"]


def test_build_rules_come_from_the_table() -> None:
    spec = openapi(committed()["Component"])["properties"]["spec"]
    generated = build_config_cel_rules()
    assert [r for r in rules(spec) if r in generated] == generated
    by_type = {
        r["rule"].split("'")[1]: r["rule"]
        for r in generated
        if r["fieldPath"] == ".build.buildpack"
    }
    for t in ComponentType:
        for b in buildpacks_for(t):
            assert f"'{b.value}'" in by_type[t.value]
    required_rules = {
        r["fieldPath"]: r["rule"] for r in generated if r.get("reason") == "FieldValueRequired"
    }
    for (t, b), keys in REQUIRED_BUILD_CONFIGS.items():
        for key in keys:
            rule = required_rules[f".build.configs['{key}']"]
            assert f"self.type == '{t.value}' && self.build.buildpack in [" in rule
            clause = rule.split(f"self.type == '{t.value}' && self.build.buildpack in [")[1]
            assert f"'{b.value}'" in clause.split("]")[0], (t, b, key)


def test_immutable_references_use_transition_rules() -> None:
    for kind, field in (
        ("Environment", "dataPlane"),
        ("Project", "dataPlane"),
        ("Organization", "defaultDataPlane"),
    ):
        spec = openapi(committed()[kind])["properties"]["spec"]
        (rule,) = [r for r in rules(spec) if "oldSelf" in r["rule"]]
        assert rule["fieldPath"] == f".{field}"
        (immutable,) = IMMUTABLE_FIELDS[kind]
        assert (rule["rule"], rule["message"]) == (immutable.cel, immutable.message)
        assert field in rule["message"]
    # A Project's dataPlane is fixed from creation: absent stays absent (the
    # organization's defaultDataPlane), so the rule compares presence first.
    project = openapi(committed()["Project"])["properties"]["spec"]
    (rule,) = [r for r in rules(project) if "oldSelf" in r["rule"]]
    assert rule["rule"].startswith("has(self.dataPlane) == has(oldSelf.dataPlane) && ")
    assert "create a new project" in rule["message"]
    # Transition rules are cheap: a bounded string compared, no iteration.
    assert project["properties"]["dataPlane"]["maxLength"] <= 63
    assert ".all(" not in rule["rule"] and ".exists(" not in rule["rule"]


def test_cidr_rules() -> None:
    dp = openapi(committed()["DataPlane"])["properties"]["spec"]["properties"]
    comp = openapi(committed()["Component"])["properties"]["spec"]["properties"]["egress"]
    for node in (
        dp["egressCIDRs"]["items"],
        dp["clusterNetworks"]["items"],
        comp["items"]["properties"]["cidr"],
    ):
        assert any("isCIDR(self)" in r["rule"] for r in rules(node))
    assert dp["clusterNetworks"]["x-kubernetes-list-type"] == "set"
    assert dp["clusterNetworks"]["maxItems"] == 16


def test_crd_defaults_match_the_models() -> None:
    comp = openapi(committed()["Component"])["properties"]["spec"]["properties"]
    assert comp["replicas"]["default"] == 1
    assert comp["resources"]["default"] == {}
    assert comp["resources"]["properties"]["cpu"]["default"] == "100m"
    endpoint = comp["endpoints"]["items"]["properties"]
    assert endpoint["visibility"]["default"] == "project"
    assert endpoint["protocol"]["default"] == "TCP"
    org = openapi(committed()["Organization"])["properties"]["spec"]["properties"]
    assert org["tier"]["default"] == "developer"
    assert org["tier"]["enum"] == ["developer", "payg", "enterprise"]
    dp = openapi(committed()["DataPlane"])["properties"]["spec"]["properties"]
    assert dp["maxRequestBodySize"]["default"] == "10m"
    # A spec whose fields are all optional may be omitted.
    assert openapi(committed()["Project"])["properties"]["spec"]["default"] == {}
    assert "spec" not in openapi(committed()["Project"]).get("required", [])
    assert "spec" in openapi(committed()["Component"])["required"]


def test_every_spec_field_is_in_the_crd() -> None:
    for kind, model in SPEC_MODELS.items():
        props = openapi(committed()[kind])["properties"]["spec"]["properties"]
        aliases = {f.alias or name for name, f in model.model_fields.items()}
        assert aliases == set(props), kind


def test_status_conditions_are_a_map_keyed_by_type() -> None:
    for crd in committed().values():
        conditions = openapi(crd)["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        item = conditions["items"]["properties"]
        assert item["status"]["enum"] == ["True", "False", "Unknown"]
        assert item["lastTransitionTime"]["format"] == "date-time"
        assert "pattern" in item["reason"]
