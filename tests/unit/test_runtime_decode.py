"""Parsing list pages and watch events into what the cache keeps
(runtime/decode.py): the typed decoders skip managedFields' field sets and,
for pods, everything `pod_fields` drops, and what they keep is exactly what
the generic parse followed by `slim` (and `pod_fields`) keeps."""

from __future__ import annotations

import json
import pathlib
import typing
from typing import Any

import kubernetes.client as k8s
import pytest
import yaml

from cdp_operator.apply import kinds as K
from cdp_operator.render.pod_health import PodFields, pod_fields
from cdp_operator.runtime.cache import compact, slim
from cdp_operator.runtime.decode import SPEC_STATUS, WHOLE, ObjectMeta, Shape, SpecStatusObject

CRDS = pathlib.Path(__file__).resolve().parents[2] / "crds"

FIELDS_V1 = {"f:metadata": {"f:labels": {f"f:label-{i}": {} for i in range(50)}}}


def managed_fields() -> list[dict[str, Any]]:
    return [
        {
            "manager": "cdp-operator",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": "2026-12-05T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": FIELDS_V1,
        },
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "status",
            "fieldsType": "FieldsV1",
            "fieldsV1": FIELDS_V1,
        },
    ]


def deployment() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "generateName": "web-",
            "namespace": "acme-shop-dev",
            "selfLink": "/apis/apps/v1/namespaces/acme-shop-dev/deployments/web",
            "uid": "0a1b",
            "resourceVersion": "1234",
            "generation": 3,
            "creationTimestamp": "2026-12-05T10:00:00Z",
            "deletionTimestamp": "2026-12-05T11:00:00Z",
            "deletionGracePeriodSeconds": 0,
            "labels": {"app.kubernetes.io/managed-by": "cdp-operator"},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"kind": "Component", "name": "web", "controller": True}],
            "finalizers": ["cdp.dev/cleanup"],
            "managedFields": managed_fields(),
        },
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
        "status": {
            "observedGeneration": 3,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }


def pod() -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-1",
            "generateName": "web-",
            "namespace": "acme-shop-dev",
            "uid": "9f",
            "resourceVersion": "77",
            "labels": {"app": "web"},
            "annotations": {"big": "x" * 1000},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": "n"},
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-5d",
                    "controller": True,
                },
            ],
            "managedFields": managed_fields(),
        },
        "spec": {
            "containers": [
                {"name": "c", "image": "registry/app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "registry/side:2"},
            ],
            "volumes": [{"name": "token", "projected": {"sources": []}}],
            "nodeName": "n",
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "message": "0/3 nodes"},
                {"type": "Ready", "status": "False"},
            ],
            "containerStatuses": [
                {
                    "name": "c",
                    "image": "registry/app:1",
                    "imageID": "sha256:ab",
                    "ready": False,
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                    "lastState": {"terminated": {"reason": "Error", "exitCode": 1}},
                }
            ],
        },
    }


def page_of(*items: dict[str, Any]) -> bytes:
    meta = {"resourceVersion": "99", "continue": "next-page"}
    return json.dumps(
        {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": list(items)}
    ).encode()


def test_a_page_keeps_every_field_but_the_field_sets() -> None:
    page = SPEC_STATUS.page(page_of(deployment()))
    assert page["metadata"] == {"resourceVersion": "99", "continue": "next-page"}
    (item,) = page["items"]
    assert item["metadata"]["managedFields"] == [
        {"manager": "cdp-operator", "operation": "Apply"},
        {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status"},
    ]
    whole = deployment()
    del whole["metadata"]["managedFields"]
    del item["metadata"]["managedFields"]
    assert item == whole


def test_what_the_cache_keeps_is_the_same_either_way() -> None:
    """compact(slim(...)) of the typed parse equals that of the generic parse."""
    data = page_of(deployment(), {**deployment(), "metadata": {"name": "bare"}})
    typed = [compact(slim(o)) for o in SPEC_STATUS.page(data)["items"]]
    generic = [compact(slim(o)) for o in json.loads(data)["items"]]
    assert typed == generic


def test_a_pod_is_parsed_into_what_pod_fields_reads() -> None:
    shape = Shape(PodFields)
    (item,) = shape.page(page_of(pod()))["items"]
    assert "managedFields" not in item["metadata"] and "annotations" not in item["metadata"]
    assert "volumes" not in item["spec"] and "phase" not in item["status"]
    assert pod_fields(item) == pod_fields(pod())
    event = shape.event(json.dumps({"type": "MODIFIED", "object": pod()}).encode())
    assert event["type"] == "MODIFIED" and pod_fields(event["object"]) == pod_fields(pod())


def test_a_value_of_another_type_keeps_the_object_whole() -> None:
    odd = deployment()
    odd["metadata"]["generation"] = "three"  # not what the API documents
    page = SPEC_STATUS.page(page_of(odd))
    assert page["items"][0] == odd  # nothing lost: the generic parse
    event = SPEC_STATUS.event(json.dumps({"type": "ADDED", "object": odd}).encode())
    assert event["object"] == odd


def test_an_error_event_keeps_its_status_whole() -> None:
    status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    event = SPEC_STATUS.event(json.dumps({"type": "ERROR", "object": status}).encode())
    assert event == {"type": "ERROR", "object": status}


def test_the_whole_shape_drops_nothing() -> None:
    data = page_of(deployment(), pod())
    page, expected = WHOLE.page(data), json.loads(data)
    assert (page["metadata"], page["items"]) == (expected["metadata"], expected["items"])


def test_object_meta_names_every_field_the_api_has() -> None:
    """A field Kubernetes adds to ObjectMeta must be added here, or it is dropped."""
    api_fields = set(k8s.V1ObjectMeta.attribute_map.values())
    assert api_fields == set(typing.get_type_hints(ObjectMeta))


@pytest.mark.parametrize(
    "model",
    [
        k8s.V1Namespace,
        k8s.V1Service,
        k8s.V1Deployment,
        k8s.V1CronJob,
        k8s.V1Job,
        k8s.V1Ingress,
        k8s.V1NetworkPolicy,
        k8s.V1PodDisruptionBudget,
    ],
)
def test_every_built_in_kind_watched_is_spec_and_status(model: Any) -> None:
    """SPEC_STATUS skips other top-level fields: no watched kind may have one."""
    assert set(model.attribute_map.values()) <= set(typing.get_type_hints(SpecStatusObject))


def test_every_custom_kind_watched_is_spec_and_status() -> None:
    kept = set(typing.get_type_hints(SpecStatusObject))
    kinds = {k.kind for k in K.CUSTOM_KINDS}
    seen = set()
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if (
            crd.get("kind") != "CustomResourceDefinition"
            or crd["spec"]["names"]["kind"] not in kinds
        ):
            continue
        seen.add(crd["spec"]["names"]["kind"])
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            assert set(schema.get("properties") or {}) <= kept, path.name
    assert seen == kinds
