"""GitOps fan-out and ordering (docs/install.md "GitOps across data-plane clusters"):
the pure decisions of render/plan.py, read back through kstatus and Argo CD's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cdp_operator.cli.kstatus import Health, Status, argocd_health, compute
from cdp_operator.render.gitops import (
    NOT_SERVED_HERE,
    REFERENCE_GRACE,
    awaiting_reference,
    not_served_verdict,
    served_in_cluster,
    spec_age,
)
from cdp_operator.render.verdict import Verdict

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def _stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _data_plane(generation: int, observed: int | None, reason: str | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "eu", "generation": generation}}
    if observed is not None:
        obj["status"] = {
            "observedGeneration": observed,
            "conditions": [{"type": "Ready", "status": "True", "reason": reason}],
        }
    return obj


def _as_status(verdict: Verdict, generation: int = 3) -> dict[str, Any]:
    """The status render.status.status_of makes of a verdict (its Ready, Reconciling, Stalled)."""
    reconciling = not verdict.ready and not verdict.stalled
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": generation,
            "conditions": [
                {"type": "Ready", "status": str(verdict.ready), "reason": verdict.reason},
                {"type": "Reconciling", "status": str(reconciling), "reason": "x"},
                {"type": "Stalled", "status": str(verdict.stalled), "reason": "x"},
            ],
        },
    }


def test_a_data_plane_is_served_in_the_cluster_only_with_a_current_available_status() -> None:
    assert served_in_cluster(_data_plane(2, 2, "Available"))
    assert not served_in_cluster(_data_plane(2, 1, "Available")), "stale: its operator may be gone"
    assert not served_in_cluster(_data_plane(2, 2, NOT_SERVED_HERE))
    assert not served_in_cluster(_data_plane(2, None, None))
    assert not served_in_cluster(None)


def test_not_served_here_is_healthy_for_kstatus_and_argo_cd() -> None:
    verdict = not_served_verdict(
        Verdict(True, "Admitted", "1 runtime namespace(s)", extra={"dataPlane": "eu"}), "eu"
    )
    assert (verdict.ready, verdict.stalled, verdict.reason) == (True, False, NOT_SERVED_HERE)
    assert "data plane eu is not served in this cluster" in verdict.message
    assert verdict.extra == {"dataPlane": "eu"}
    assert compute(_as_status(verdict)).status == Status.CURRENT
    assert argocd_health(_as_status(verdict)).status == Health.HEALTHY


def test_a_not_yet_admitted_resource_is_not_served_here_too() -> None:
    """Reconciling in the serving cluster (waiting on something there) is nothing
    this cluster waits for."""
    verdict = not_served_verdict(Verdict(False, "WaitingForNamespace", "soon"), "eu")
    assert verdict.reason == NOT_SERVED_HERE and verdict.ready
    assert not_served_verdict(None, "eu").reason == NOT_SERVED_HERE


def test_errors_in_the_manifests_fail_every_cluster() -> None:
    stalled = Verdict(False, "EnvironmentLimitExceeded", "over the free tier", stalled=True)
    assert not_served_verdict(stalled, "eu") is stalled
    assert compute(_as_status(stalled)).status == Status.FAILED


def test_a_missing_project_is_in_progress_within_the_grace_then_failed() -> None:
    missing = Verdict(False, "ProjectNotFound", "project 'shop' does not exist", stalled=True)
    waiting, recheck = awaiting_reference(missing, 2.0)
    assert (waiting.ready, waiting.stalled, waiting.reason) == (False, False, "WaitingForProject")
    assert "project 'shop' does not exist" in waiting.message
    assert recheck == pytest.approx(REFERENCE_GRACE - 2.0)
    assert compute(_as_status(waiting)).status == Status.IN_PROGRESS
    assert argocd_health(_as_status(waiting)).status == Health.PROGRESSING
    late, recheck = awaiting_reference(missing, REFERENCE_GRACE)
    assert late is missing and recheck is None
    assert compute(_as_status(late)).status == Status.FAILED


@pytest.mark.parametrize(
    "verdict",
    [
        Verdict(False, "ComponentLimitExceeded", "over", stalled=True),
        Verdict(False, "ProjectNotReady", "the project is over its limit", stalled=True),
        Verdict(False, "WaitingForNamespace", "soon"),
    ],
)
def test_only_missing_references_get_the_grace(verdict: Verdict) -> None:
    assert awaiting_reference(verdict, 0.0) == (verdict, None)


def test_an_unknown_age_gets_no_grace() -> None:
    missing = Verdict(False, "EnvironmentNotFound", "environment x", stalled=True)
    assert awaiting_reference(missing, None) == (missing, None)
    assert awaiting_reference(missing, 0.0)[0].reason == "WaitingForEnvironment"


def test_spec_age_is_from_the_last_write_by_someone_else() -> None:
    obj = {
        "metadata": {
            "creationTimestamp": _stamp(600),
            "managedFields": [
                {"manager": "kustomize-controller", "operation": "Apply", "time": _stamp(30)},
                {"manager": "cdp-operator", "operation": "Update", "time": _stamp(1)},
                {
                    "manager": "kubectl",
                    "operation": "Update",
                    "subresource": "status",
                    "time": _stamp(2),
                },
            ],
        }
    }
    assert spec_age(obj, NOW, own_manager="cdp-operator") == 30.0
    assert spec_age({"metadata": {"creationTimestamp": _stamp(5)}}, NOW, own_manager="x") == 5.0
    assert spec_age({"metadata": {"creationTimestamp": "not a time"}}, NOW, own_manager="x") is None
    assert spec_age({}, NOW, own_manager="x") is None


# ------------------------------------------- the reconciler, on a DataPlane
class _StatusClient:
    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []

    async def patch_status(self, kind: Any, namespace: Any, name: str, status: Any) -> None:
        self.patches.append((name, status))


def _dp_obj(name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "DataPlane",
        "metadata": {"name": name, "generation": 2, "resourceVersion": "1"},
        "spec": {
            "region": "North Europe",
            "egressCIDRs": ["20.166.183.112/28"],
            "clusterNetworks": ["10.244.0.0/16"],
            "ingress": {
                "className": "nginx",
                "baseDomain": "eu.apps.cdp.example.com",
                "gatewayNamespace": "ingress-nginx",
            },
        },
    }
    if status is not None:
        obj["status"] = status
    return obj


def test_an_operator_reports_a_data_plane_nobody_in_its_cluster_serves() -> None:
    import asyncio

    from cdp_operator.apply.reconciler import Reconciler

    client = _StatusClient()
    us = Reconciler(client, scope=["us"])  # type: ignore[arg-type]
    us.cache.upsert(_dp_obj("eu"))
    asyncio.run(us.reconcile_data_plane("eu"))
    ((name, status),) = client.patches
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (name, ready["status"], ready["reason"]) == ("eu", "True", NOT_SERVED_HERE)
    assert status["observedGeneration"] == 2


def test_an_operator_leaves_a_data_plane_another_operator_of_its_cluster_serves() -> None:
    import asyncio

    from cdp_operator.apply.reconciler import Reconciler

    available = {
        "observedGeneration": 2,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Available",
                "message": "region North Europe",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }
    client = _StatusClient()
    us = Reconciler(client, scope=["us"])  # type: ignore[arg-type]
    us.cache.upsert(_dp_obj("eu", available))
    asyncio.run(us.reconcile_data_plane("eu"))
    assert client.patches == []
    # The eu operator itself writes Available over a NotServedHere.
    eu = Reconciler(client, scope=["eu"])  # type: ignore[arg-type]
    not_served = {**available, "conditions": [{**available["conditions"][0], "reason": "X"}]}
    eu.cache.upsert(_dp_obj("eu", not_served))
    asyncio.run(eu.reconcile_data_plane("eu"))
    ((_, status),) = client.patches
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["reason"] == "Available"
