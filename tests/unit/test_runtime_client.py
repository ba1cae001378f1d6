"""The client's writes (runtime/client.py) and the operator's write path
(apply/writes.py: Writer.ensure, Writer.prune) against the in-memory API (tests/fakeapi.py):
create refused for a taken name, adoption of a create's fields before the
first apply, conflicts, deletes guarded by uid, and what prune may delete.
No real time."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from kubernetes.client import Configuration
from kubernetes.client.exceptions import ApiException

from cdp_operator.apply import kinds as K
from cdp_operator.apply.binding import FIELD_MANAGER, Client, created_not_applied
from cdp_operator.apply.reconciler import Reconciler
from cdp_operator.runtime.client import AlreadyExists, api_status
from cdp_operator.runtime.objects import Obj
from fakeapi import FakeApi

DEPLOYMENTS = K.DEPLOYMENT.collection_path
NS = "acme-shop-dev"
LABELS = {
    "app.kubernetes.io/managed-by": "cdp-operator",
    "cdp.dev/organization": "acme",
    "cdp.dev/component": "web",
}


def deployment(replicas: int = 1, labels: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": NS,
            "labels": dict(LABELS if labels is None else labels),
        },
        "spec": {"replicas": replicas},
    }


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(api: FakeApi) -> Client:
    return Client(Configuration(), concurrency=2, api=api)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_requests_carry_the_user_agent_and_writes_the_field_manager(
    api: FakeApi, client: Client
) -> None:
    run(client.create_object(deployment()))
    run(client.apply(deployment(2)))
    assert api.user_agent.startswith("cdp-operator/")
    assert [r.query["fieldManager"] for r in api.writes()] == [FIELD_MANAGER] * 2
    assert api.writes()[1].query["force"] == "true"


def test_a_create_for_a_taken_name_writes_nothing(api: FakeApi, client: Client) -> None:
    theirs = api.put(DEPLOYMENTS, deployment(labels={}))
    with pytest.raises(AlreadyExists):
        run(client.create_object(deployment()))
    assert api.get(DEPLOYMENTS, NS, "web") == theirs


def test_other_conflicts_are_not_mistaken_for_a_taken_name(api: FakeApi, client: Client) -> None:
    api.fail_next("POST", 409, "Conflict", "operation cannot be fulfilled")
    with pytest.raises(ApiException) as raised:
        run(client.create_object(deployment()))
    assert raised.value.status == 409 and api_status(raised.value)["reason"] == "Conflict"


def test_adopt_moves_the_creates_fields_to_our_apply_entry(api: FakeApi, client: Client) -> None:
    created = run(client.create_object(deployment()))
    assert created_not_applied(created)
    adopted = run(client.adopt_fields(K.DEPLOYMENT, NS, "web"))
    assert not created_not_applied(adopted)
    entries = api.get(DEPLOYMENTS, NS, "web")["metadata"]["managedFields"]  # type: ignore[index]
    assert [(e["manager"], e["operation"]) for e in entries] == [(FIELD_MANAGER, "Apply")]
    assert entries[0]["fieldsV1"] == {"f:spec": {}}, "the create's fields, now the apply's"


def test_adopt_is_guarded_by_the_version_it_read(api: FakeApi, client: Client) -> None:
    run(client.create_object(deployment()))

    def edit_in_between(request: Any) -> None:
        if request.method == "PATCH":
            api.before_request = None
            live = copy.deepcopy(api.get(DEPLOYMENTS, NS, "web"))
            live["spec"]["replicas"] = 5  # type: ignore[index]
            api.put(DEPLOYMENTS, live)  # type: ignore[arg-type]

    api.before_request = edit_in_between
    with pytest.raises(ApiException) as raised:
        run(client.adopt_fields(K.DEPLOYMENT, NS, "web"))
    assert raised.value.status == 422, "kube-apiserver's answer to a failed JSON patch test"
    assert api.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 5  # type: ignore[index]


def test_adopt_of_a_vanished_object_is_none(client: Client) -> None:
    assert run(client.adopt_fields(K.DEPLOYMENT, NS, "web")) is None


def test_delete_with_a_stale_uid_leaves_the_new_object(api: FakeApi, client: Client) -> None:
    old = api.put(DEPLOYMENTS, deployment())
    api.remove(DEPLOYMENTS, NS, "web")
    api.put(DEPLOYMENTS, deployment())  # re-created: same name, new uid
    run(client.delete(K.DEPLOYMENT, NS, "web", old["metadata"]["uid"]))
    assert api.get(DEPLOYMENTS, NS, "web") is not None
    run(client.delete(K.DEPLOYMENT, NS, "web", None))
    assert api.get(DEPLOYMENTS, NS, "web") is None
    run(client.delete(K.DEPLOYMENT, NS, "web", None))  # already gone: not an error


def test_a_status_patch_changes_status_only(api: FakeApi, client: Client) -> None:
    api.put(DEPLOYMENTS, deployment())
    result = run(client.patch_status(K.DEPLOYMENT, NS, "web", {"observedGeneration": 1}))
    assert result["status"] == {"observedGeneration": 1}
    assert result["metadata"]["generation"] == 1
    assert run(client.patch_status(K.DEPLOYMENT, NS, "gone", {})) is None


# ---------------------------------------------- the reconciler's write path
def ensure(reconciler: Reconciler, desired: Obj) -> str | None:
    return run(reconciler.writer.ensure(desired))  # type: ignore[no-any-return]


def test_ensure_creates_then_adopts_before_the_first_apply_then_writes_nothing(
    api: FakeApi, client: Client
) -> None:
    reconciler = Reconciler(client)
    assert ensure(reconciler, deployment()) is None
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in api.writes()] == [
        ("POST", "deployments")
    ]
    assert ensure(reconciler, deployment()) is None
    assert len(api.writes()) == 1, "converged: no request at all"
    assert ensure(reconciler, deployment(replicas=3)) is None
    kinds = [(r.method, r.query.get("force")) for r in api.writes()[1:]]
    assert kinds == [("PATCH", None), ("PATCH", "true")], "adopt (JSON patch), then apply"
    assert api.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 3  # type: ignore[index]
    assert ensure(reconciler, deployment(replicas=4)) is None
    assert len(api.writes()) == 4, "adopted once: later updates are one apply"


def test_ensure_leaves_an_object_it_did_not_create_untouched(api: FakeApi, client: Client) -> None:
    theirs = api.put(DEPLOYMENTS, deployment(labels={"team": "payments"}))
    reconciler = Reconciler(client)
    message = ensure(reconciler, deployment())
    assert message and "was not created by cdp-operator" in message and NS in message
    assert api.get(DEPLOYMENTS, NS, "web") == theirs, "never adopted, never changed"
    assert reconciler.cache.get("Deployment", NS, "web") is None, "kept out of the cache"


def test_ensure_takes_back_an_object_of_ours_it_did_not_know(api: FakeApi, client: Client) -> None:
    api.put(DEPLOYMENTS, deployment(replicas=9))  # ours by label, missing from the cache
    reconciler = Reconciler(client)
    assert ensure(reconciler, deployment()) is None
    assert api.get(DEPLOYMENTS, NS, "web")["spec"]["replicas"] == 1  # type: ignore[index]


def test_a_write_answered_after_the_object_was_deleted_does_not_resurrect_it(
    api: FakeApi, client: Client
) -> None:
    reconciler = Reconciler(client)
    ensure(reconciler, deployment())
    live = reconciler.cache.get("Deployment", NS, "web")
    assert live is not None
    gone = copy.deepcopy(live)
    gone["metadata"]["resourceVersion"] = str(int(live["metadata"]["resourceVersion"]) + 5)
    reconciler.observe("DELETED", gone)
    reconciler.cache.upsert(live)  # the late answer of an earlier write
    assert reconciler.cache.get("Deployment", NS, "web") is None


# ------------------------------------------------ the reconciler's prune rules
def pruning_operator(api: FakeApi, client: Client) -> Reconciler:
    """An operator whose cache holds Organization acme and its runtime namespace."""
    reconciler = Reconciler(client)
    org = api.put(
        K.ORGANIZATION.collection_path, {"kind": "Organization", "metadata": {"name": "acme"}}
    )
    namespace = api.put(
        K.NAMESPACE.collection_path,
        {"kind": "Namespace", "metadata": {"name": NS, "labels": dict(LABELS)}},
    )
    for obj in (org, namespace):
        reconciler.cache.upsert(obj)
    return reconciler


def prune(reconciler: Reconciler, *objs: Obj) -> None:
    run(reconciler.writer.prune(list(objs), [], owner=("Component", "cdp-org-acme", "web")))


def cached(reconciler: Reconciler, obj: Obj) -> Obj:
    stored = copy.deepcopy(obj)
    reconciler.cache.upsert(stored)
    return stored


def test_prune_deletes_what_the_gone_owner_made_guarded_by_uid(
    api: FakeApi, client: Client
) -> None:
    reconciler = pruning_operator(api, client)
    doomed = cached(reconciler, api.put(DEPLOYMENTS, deployment()))
    prune(reconciler, doomed)
    delete = api.writes()[-1]
    assert delete.method == "DELETE" and delete.body["preconditions"] == {
        "uid": doomed["metadata"]["uid"]
    }
    assert api.get(DEPLOYMENTS, NS, "web") is None
    assert reconciler.cache.get("Deployment", NS, "web") is None


def test_prune_asks_the_api_before_trusting_a_missing_owner(api: FakeApi, client: Client) -> None:
    """After a restart the cache may not hold the Component yet: it is read
    live, and what it owns is kept and looked at again."""
    reconciler = pruning_operator(api, client)
    api.put(
        K.COMPONENT.collection_path,
        {"kind": "Component", "metadata": {"name": "web", "namespace": "cdp-org-acme"}},
    )
    kept = cached(reconciler, api.put(DEPLOYMENTS, deployment()))
    prune(reconciler, kept)
    assert api.get(DEPLOYMENTS, NS, "web") is not None
    assert reconciler.queue.is_queued(("component", "cdp-org-acme", "web"))


def test_prune_never_touches_what_labels_alone_claim(api: FakeApi, client: Client) -> None:
    reconciler = pruning_operator(api, client)
    elsewhere = deployment()
    elsewhere["metadata"]["namespace"] = "someone-elses"  # labels prove nothing there
    other_org = deployment()
    other_org["metadata"]["name"] = "taken"
    other_org["metadata"]["ownerReferences"] = [
        {"kind": "Organization", "name": "globex", "uid": "g", "controller": True}
    ]
    unlabelled = deployment(labels={})
    unlabelled["metadata"]["name"] = "plain"
    objs = [cached(reconciler, api.put(DEPLOYMENTS, o)) for o in (elsewhere, other_org, unlabelled)]
    before = len(api.writes())
    prune(reconciler, *objs)
    assert len(api.writes()) == before, "nothing deleted"
