"""The runtime's cache (runtime/cache.py): its resourceVersion rules, the
re-list diff, the index, and how little of an object it keeps.

The behaviour they serve is proven against the real control plane in
tests/e2e/test_resilience.py (watch expiry, preemption, failover); these pin
the edge cases in milliseconds.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

from cdp_operator.apply.binding import Cache as OperatorCache
from cdp_operator.runtime.cache import (
    LAST_APPLIED,
    TOMBSTONES_MAX,
    Cache,
    compact,
    created_not_applied,
    slim,
)
from cdp_operator.runtime.decode import decode_object
from cdp_operator.runtime.objects import key_of

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
ME = "cdp-operator"


def obj(name: str, rv: int, kind: str = "Deployment", ns: str = "n") -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)}}


# ------------------------------------------------------------------- cache
def test_upsert_keeps_the_newer_version_and_skips_the_same_one() -> None:
    cache = Cache()
    assert cache.upsert(obj("a", 5))
    assert not cache.upsert(obj("a", 5)), "the same version again is not news"
    assert not cache.upsert(obj("a", 4)), "an older version never replaces a newer one"
    assert cache.upsert(obj("a", 6))
    assert cache.get("Deployment", "n", "a") == obj("a", 6)


def test_upsert_drops_field_sets_and_last_applied_without_touching_the_input() -> None:
    cache = Cache()
    o = obj("a", 1)
    o["metadata"]["managedFields"] = [{"manager": "x", "operation": "Apply", "fieldsV1": {}}]
    o["metadata"]["annotations"] = {LAST_APPLIED: "{...}", "keep": "me"}
    cache.upsert(o)
    meta = cache.get("Deployment", "n", "a")["metadata"]  # type: ignore[index]
    assert meta["managedFields"] == ({"manager": "x", "operation": "Apply"},)
    assert meta["annotations"] == {"keep": "me"}
    assert o["metadata"]["managedFields"][0]["fieldsV1"] == {}, "the input is not changed"
    assert LAST_APPLIED in o["metadata"]["annotations"]


def test_slim_keeps_who_wrote_the_object_so_created_not_applied_still_answers() -> None:
    def entry(manager: str, operation: str, subresource: str = "") -> dict[str, Any]:
        e = {"manager": manager, "operation": operation, "fieldsV1": {"f:spec": {}}}
        return {**e, "subresource": subresource} if subresource else e

    cases = [
        ([entry(ME, "Update")], True),  # made by our create
        ([entry(ME, "Apply"), entry("kube-controller-manager", "Update")], False),
        ([entry(ME, "Update", "status")], False),  # our status writes
        ([entry("kubectl-edit", "Update")], False),  # somebody else's update
        ([entry(ME, "Apply"), entry(ME, "Update")], True),
    ]
    for fields, expected in cases:
        o, twin = obj("a", 1), obj("b", 1)
        o["metadata"]["managedFields"] = fields
        twin["metadata"]["managedFields"] = json.loads(json.dumps(fields))
        slimmed = slim(o)
        assert created_not_applied(o, ME) is expected
        assert created_not_applied(slimmed, ME) is expected, fields
        summary = slimmed["metadata"].get("managedFields")
        if summary is None:  # nothing but subresource entries
            assert not expected
            continue
        assert all("fieldsV1" not in e and "subresource" not in e for e in summary)
        # One shared summary, kept as it is by compact() and slim(), never a copy per object.
        assert slim(twin)["metadata"]["managedFields"] is summary
        assert compact(slimmed)["metadata"]["managedFields"] is summary
        assert slim(slimmed) is slimmed
    only_status = obj("c", 1)
    only_status["metadata"]["managedFields"] = [entry(ME, "Update", "status")]
    assert "managedFields" not in slim(only_status)["metadata"]


def test_get_returns_an_object_read_earlier_while_the_cache_holds_its_version() -> None:
    """A reconcile reads its children once (each read of a packed kind unpacks a
    copy) and looks each up again to compare and to report: the earlier copy is
    returned while it is current, a fresh one once the cache holds a newer version
    or the object is gone."""
    cache = Cache(packed=["Deployment"])
    cache.upsert(obj("a", 5))
    earlier = cache.get("Deployment", "n", "a")
    assert earlier is not None
    known = {key_of(earlier): earlier}
    assert cache.get("Deployment", "n", "a", known) is earlier
    assert cache.get("Deployment", "n", "a") is not earlier, "packed: each read is a copy"
    cache.upsert(obj("a", 6))
    newer = cache.get("Deployment", "n", "a", known)
    assert newer == obj("a", 6) and newer is not earlier
    cache.remove(obj("a", 7))
    assert cache.get("Deployment", "n", "a", known) is None
    # Without a version to compare, never the earlier copy.
    unversioned = {"kind": "Deployment", "metadata": {"name": "b", "namespace": "n"}}
    cache.upsert(unversioned)
    assert cache.get("Deployment", "n", "b", {key_of(unversioned): unversioned}) is not unversioned


def test_a_late_answer_does_not_bring_back_what_a_watch_saw_deleted() -> None:
    """A write answered at version 6, handled after the watch reported the
    object deleted at 7, must not put it back: the cache would then hold a
    ghost that no event ever removes (found by this test; fixed)."""
    cache = Cache()
    assert cache.upsert(obj("a", 5))
    cache.remove(obj("a", 7))  # the watch's DELETED event carries the deletion's version
    assert not cache.upsert(obj("a", 6)), "an answer older than the deletion is a ghost"
    assert cache.get("Deployment", "n", "a") is None
    assert cache.upsert(obj("a", 8)), "created again later: news"
    assert cache.get("Deployment", "n", "a") == obj("a", 8)
    cache.remove(obj("a", 8))
    assert cache.upsert(obj("a", 9))


def test_tombstones_are_bounded_oldest_first() -> None:
    cache = Cache()
    for i in range(TOMBSTONES_MAX + 1):
        cache.remove(obj(f"o{i}", 10))
    assert cache.upsert(obj("o0", 3)), "the oldest tombstone was forgotten"
    assert not cache.upsert(obj(f"o{TOMBSTONES_MAX}", 3))


def test_objects_without_a_version_always_replace() -> None:
    cache = Cache()
    cache.upsert(obj("a", 5))
    unversioned = {"kind": "Deployment", "metadata": {"name": "a", "namespace": "n"}}
    assert cache.upsert(unversioned)
    assert cache.get("Deployment", "n", "a") == unversioned


def test_the_index_follows_label_changes_and_removal() -> None:
    cache = Cache(index=lambda o: [(o["metadata"].get("labels") or {}).get("team")])
    a = obj("a", 1)
    a["metadata"]["labels"] = {"team": "x"}
    cache.upsert(a)
    assert [o["metadata"]["name"] for o in cache.indexed("x")] == ["a"]
    moved = obj("a", 2)
    moved["metadata"]["labels"] = {"team": "y"}
    cache.upsert(moved)
    assert cache.indexed("x") == [] and cache.indexed("y") == [moved]
    cache.remove(moved)
    assert cache.indexed("y") == []
    assert cache.count("Deployment", lambda o: True) == 0


def test_the_operator_cache_indexes_managed_objects_by_organization_and_component() -> None:
    cache = OperatorCache()
    labels = {
        "app.kubernetes.io/managed-by": "cdp-operator",
        "cdp.dev/organization": "acme",
        "cdp.dev/component": "web",
    }
    managed, foreign = obj("web", 1), obj("web-copy", 1)
    managed["metadata"]["labels"] = labels
    foreign["metadata"]["labels"] = {k: v for k, v in labels.items() if "managed" not in k}
    cache.upsert(managed)
    cache.upsert(foreign)
    assert cache.owned_by("acme") == [managed] == cache.owned_by("acme", "web")
    assert cache.owned_by("acme", "api") == []
    assert cache.count_managed("Deployment") == 1


def test_missing_from_a_relist_are_the_deleted_ones_only() -> None:
    cache = Cache()
    for o in (obj("kept", 10), obj("deleted", 11), obj("written-after-list", 30)):
        cache.upsert(o)
    cache.upsert(obj("other-kind", 12, kind="Service"))
    listed = {key_of(obj("kept", 10))}
    gone = cache.missing_from("Deployment", listed, "20")
    # "written-after-list" came from a write answered after the list was taken
    # (version 30 > 20): absent from the list, yet not deleted.
    assert [o["metadata"]["name"] for o in gone] == ["deleted"]


def test_missing_from_without_a_numeric_version_treats_every_absent_object_as_gone() -> None:
    cache = Cache()
    cache.upsert(obj("a", 3))
    assert [o["metadata"]["name"] for o in cache.missing_from("Deployment", set(), "")] == ["a"]


def test_compact_keeps_the_value_and_shares_strings() -> None:
    raw = json.dumps(
        {
            "metadata": {"name": "orders", "labels": {"app.kubernetes.io/managed-by": "cdp"}},
            "spec": {"replicas": 2, "paused": False, "ports": [{"port": 80, "name": "http"}]},
            "status": {"message": "x" * 100},
        }
    )
    parsed = decode_object(raw.encode())
    a, b = compact(parsed), compact(decode_object(raw.encode()))
    assert a is parsed, "in place"
    assert a == json.loads(raw)
    assert next(iter(a["metadata"]["labels"])) is next(iter(b["metadata"]["labels"]))
    assert a["metadata"]["name"] is b["metadata"]["name"]
    assert a["status"]["message"] is not b["status"]["message"], "long strings are not interned"


def test_compact_halves_the_memory_of_a_parsed_deployment() -> None:
    """What the cache holds per Deployment, measured (not timed): the golden
    web-app Deployment with the metadata and status the API server adds, parsed
    as the client parses it, against json.loads."""
    docs = yaml.safe_load_all((GOLDEN / "web-app-production.yaml").read_text())
    deployment = next(d for d in docs if d and d.get("kind") == "Deployment")
    deployment["metadata"].update(uid="3f1c2a1e-0000-4000-8000-000000000001", generation=1)
    deployment["status"] = {
        "observedGeneration": 1,
        "replicas": 2,
        "availableReplicas": 2,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ],
    }
    raw = json.dumps(deployment)

    def size(parse: Any) -> float:
        warm = [parse() for _ in range(5)]  # interned strings exist before measuring
        tracemalloc.start()
        held = [parse() for _ in range(200)]
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del warm, held
        return current / 200

    plain = size(lambda: json.loads(raw))
    shared = size(lambda: compact(decode_object(raw.encode())))
    assert shared < 0.6 * plain, (plain, shared)
