"""The reconcile flows (apply/organization.py, apply/component.py) end to end
against the in-memory API (tests/fakeapi.py): a new organization and component
converge, a converged world makes no request at all (the 0 idle writes of the
benchmarks, here in a second), and the component's early exits each make the
writes, and requeue, they are meant to. No real time, no control plane."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes.client import Configuration

from cdp_operator.apply import component as C
from cdp_operator.apply import kinds as K
from cdp_operator.apply.binding import Client
from cdp_operator.apply.reconciler import Reconciler
from cdp_operator.runtime.objects import Obj
from fakeapi import FakeApi

ORG_NS = "cdp-org-acme"
GROUP = "cdp.dev/v1alpha1"
DATA_PLANE = {
    "region": "US",
    "egressCIDRs": ["192.0.2.0/28"],
    "ingress": {"baseDomain": "a.example"},
}


def _obj(kind: str, name: str, spec: dict[str, Any], namespace: str = "") -> Obj:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": GROUP, "kind": kind, "metadata": meta, "spec": spec}


def _component(image: str = "registry.example/web:1") -> Obj:
    spec = {"project": "shop", "type": "service", "image": image}
    return _obj("Component", "web", {**spec, "build": {"buildpack": "ballerina"}}, ORG_NS)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def reconciler(api: FakeApi) -> Reconciler:
    """A reconciler whose cache holds what the API holds (as its informers would)."""
    user_objects = [
        (K.DATA_PLANE, _obj("DataPlane", "us", DATA_PLANE)),
        (K.ORGANIZATION, _obj("Organization", "acme", {"tier": "payg", "defaultDataPlane": "us"})),
        (K.PROJECT, _obj("Project", "shop", {}, ORG_NS)),
        (K.COMPONENT, _component()),
    ]
    reconciler = Reconciler(Client(Configuration(), concurrency=4, api=api))
    for kind, obj in user_objects:
        reconciler.cache.upsert(api.put(kind.collection_path, obj))
    return reconciler


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _ready(api: FakeApi, kind: K.Kind, name: str, namespace: str = "") -> dict[str, Any]:
    obj = api.get(kind.collection_path, namespace, name)
    assert obj is not None
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next(c for c in conditions if c["type"] == "Ready")


def _reconcile_all(reconciler: Reconciler) -> Any:
    run(reconciler.reconcile_data_plane("us"))
    run(reconciler.reconcile_org("acme"))
    return run(reconciler.reconcile_component(ORG_NS, "web"))


def _converge(reconciler: Reconciler) -> None:
    """Twice, as the watch events of the first pass's creations would: the
    default Environments the first pass makes get their status in the second."""
    _reconcile_all(reconciler)
    _reconcile_all(reconciler)


def test_a_new_organization_and_component_converge_then_make_no_request(
    api: FakeApi, reconciler: Reconciler
) -> None:
    _converge(reconciler)
    kinds = {key[0] for key in api.objects}
    assert {K.NAMESPACE.collection_path, K.DEPLOYMENT.collection_path} <= kinds
    assert _ready(api, K.ORGANIZATION, "acme")["reason"] == "Admitted"
    assert _ready(api, K.PROJECT, "shop", ORG_NS)["status"] == "True"
    web = _ready(api, K.COMPONENT, "web", ORG_NS)
    assert (web["status"], web["reason"]) == ("False", "Progressing"), "no pods in a fake API"
    before = len(api.requests)
    requeue = _reconcile_all(reconciler)
    assert api.requests[before:] == [], "a converged world: not one request"
    assert requeue is None


def test_a_spec_change_applies_only_what_differs(api: FakeApi, reconciler: Reconciler) -> None:
    _converge(reconciler)
    reconciler.cache.upsert(
        api.put(K.COMPONENT.collection_path, _component("registry.example/web:2"))
    )
    before = len(api.requests)
    run(reconciler.reconcile_component(ORG_NS, "web"))
    writes = [(r.method, r.path.rsplit("/", 2)[-2]) for r in api.requests[before:]]
    assert ("PATCH", "deployments") in writes, "the Deployment gets the new image"
    assert all(kind in ("deployments", "web") for _, kind in writes), writes
    deployments = [o for k, o in api.objects.items() if k[0] == K.DEPLOYMENT.collection_path]
    assert len(deployments) == 2, "development and production"
    for deployment in deployments:
        containers = deployment["spec"]["template"]["spec"]["containers"]
        assert containers[0]["image"] == "registry.example/web:2"


def test_a_component_before_its_organizations_plan_waits_and_queues_it(
    api: FakeApi, reconciler: Reconciler
) -> None:
    assert run(reconciler.reconcile_component(ORG_NS, "web")) is C.NO_PLAN_YET
    assert reconciler.queue.is_queued(("org", "acme"))
    assert api.requests == [], "nothing to say yet: no status write"


def test_a_component_whose_namespaces_are_underway_writes_nothing(
    api: FakeApi, reconciler: Reconciler
) -> None:
    run(reconciler.reconcile_org("acme"))
    for key in [k for k in api.objects if k[0] == K.NAMESPACE.collection_path]:
        if key[2] != ORG_NS:
            reconciler.cache.remove(api.objects[key] | {"kind": "Namespace"})
    reconciler.queue.add(("org", "acme"))  # the org reconcile is queued: they are on their way
    before = len(api.requests)
    assert run(reconciler.reconcile_component(ORG_NS, "web")) is C.NAMESPACES_UNDERWAY
    assert api.requests[before:] == []


def test_an_object_the_api_server_refuses_is_reported_and_retried_late(
    api: FakeApi, reconciler: Reconciler
) -> None:
    run(reconciler.reconcile_org("acme"))
    api.fail_next("POST", 422, "Invalid", "spec.template: forbidden by policy")
    assert run(reconciler.reconcile_component(ORG_NS, "web")) is C.REJECTED_RETRY
    ready = _ready(api, K.COMPONENT, "web", ORG_NS)
    assert (ready["reason"], ready["status"]) == ("ApplyRejected", "False")
    assert "forbidden by policy" in ready["message"]


def test_a_name_taken_by_a_stranger_is_a_conflict_left_untouched(
    api: FakeApi, reconciler: Reconciler
) -> None:
    run(reconciler.reconcile_org("acme"))
    namespaces = [k[2] for k in api.objects if k[0] == K.NAMESPACE.collection_path]
    runtime_ns = next(ns for ns in namespaces if ns != ORG_NS)
    stranger = {"apiVersion": "apps/v1", "kind": "Deployment"}
    api.put(
        K.DEPLOYMENT.collection_path,
        stranger | {"metadata": {"name": "web", "namespace": runtime_ns}},
    )
    assert run(reconciler.reconcile_component(ORG_NS, "web")) is C.CONFLICT_RECHECK
    ready = _ready(api, K.COMPONENT, "web", ORG_NS)
    assert ready["reason"] == "NameConflict" and "left untouched" in ready["message"]
    left = api.get(K.DEPLOYMENT.collection_path, runtime_ns, "web")
    assert left is not None and "spec" not in left, "the stranger's object is left as it was"


def test_a_deleted_component_prunes_what_it_materialised(
    api: FakeApi, reconciler: Reconciler
) -> None:
    _converge(reconciler)
    web = api.get(K.COMPONENT.collection_path, ORG_NS, "web")
    assert web is not None
    api.remove(K.COMPONENT.collection_path, ORG_NS, "web")
    reconciler.observe("DELETED", web | {"kind": "Component"})
    run(reconciler.reconcile_component(ORG_NS, "web"))
    left = {k[0] for k in api.objects}
    assert K.DEPLOYMENT.collection_path not in left
    assert K.NAMESPACE.collection_path in left, "the org's namespaces are not the component's"


def test_an_organization_whose_data_plane_comes_in_the_same_commit_waits_for_it(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitOps applies DataPlanes and Organizations together, in an order of its own:
    a DataPlane missing for a moment is InProgress (WaitingForDataPlane) and the
    organization is looked at again when the grace ends; after it, DataPlaneNotFound
    is Stalled (a typo must fail the sync)."""
    from cdp_operator.apply import intake

    reconciler = Reconciler(Client(Configuration(), concurrency=4, api=api))
    org = _obj("Organization", "acme", {"tier": "payg", "defaultDataPlane": "eu"})
    reconciler.cache.upsert(api.put(K.ORGANIZATION.collection_path, org))
    queued: list[tuple[Any, float]] = []
    monkeypatch.setattr(reconciler.shared.queue, "add_after", lambda k, d: queued.append((k, d)))

    monkeypatch.setattr(intake, "spec_age", lambda *_a, **_k: 2.0)
    run(reconciler.reconcile_org("acme"))
    ready = _ready(api, K.ORGANIZATION, "acme")
    assert (ready["status"], ready["reason"]) == ("False", "WaitingForDataPlane")
    assert queued == [(("org", "acme"), 8.0)], "again when the 10 s grace ends"

    monkeypatch.setattr(intake, "spec_age", lambda *_a, **_k: 10.5)
    queued.clear()
    reconciler.cache.upsert(api.get(K.ORGANIZATION.collection_path, "", "acme"))
    run(reconciler.reconcile_org("acme"))
    obj = api.get(K.ORGANIZATION.collection_path, "", "acme")
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    assert conditions["Ready"]["reason"] == "DataPlaneNotFound"
    assert conditions["Stalled"]["status"] == "True"
    assert queued == []


def test_default_environments_a_pass_creates_queue_their_organization_again(
    api: FakeApi, reconciler: Reconciler
) -> None:
    """Their watch events queue nothing (the cache holds the create's answer), so
    without this their status waited for the operator's next restart."""
    run(reconciler.reconcile_data_plane("us"))
    run(reconciler.reconcile_org("acme"))
    assert reconciler.queue.is_queued(("org", "acme")), "defaults made, not judged yet"
    environments = [o for k, o in api.objects.items() if k[0] == K.ENVIRONMENT.collection_path]
    assert {e["metadata"]["name"] for e in environments} == {"development", "production"}
    assert all(not (e.get("status") or {}).get("conditions") for e in environments)
    reconciler.queue.reset()
    run(reconciler.reconcile_org("acme"))
    for env in ("development", "production"):
        assert _ready(api, K.ENVIRONMENT, env, ORG_NS)["status"] == "True"
    assert not reconciler.queue.is_queued(("org", "acme")), "judged: nothing more to look at"
