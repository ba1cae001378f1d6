"""The benchmark's Kopf peer (hack/bench/kopf_peer/) does what the bench's floor does.

On a local control plane of its own (the session's ``operator`` fixture, once
started, reconciles every organization of the shared one, so the peer must be
the only controller where it runs): the bench's workload at N=20, run by the
peer, gives exactly the objects the floor creates (hack/bench/workload.py
``render``: the operator's render layer plus the namespaces' owner), with the
rendered labels, annotations, owner references and spec, and every Component
is Ready for its generation. After a restart, with one Deployment deleted while
the peer was down, it converges again. Every write the peer made carries its
user agent. Asserts what happened, never how fast.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import localcluster  # hack/localcluster.py, on sys.path through tests/conftest.py
from cdp_operator.models import labels as L
from cdp_operator.runtime.diff import is_subset
from kit import AuditLog, Kube, describe

from .conftest import install_crds
from .operator_harness import REPO

sys.path.insert(0, str(REPO / "hack" / "bench"))

import workload
from kopf_peer.process import USER_AGENT_PREFIX, KopfPeerProcess
from observe import component_ready

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N = 20
#: What the peer (and the floor) create, as `kubectl get` names them.
RENDERED_KINDS = {
    "Namespace": "namespaces",
    "NetworkPolicy": "networkpolicies",
    "Deployment": "deployments",
    "Service": "services",
    "Ingress": "ingresses",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "CronJob": "cronjobs",
    "Environment": "environments",
}


@pytest.fixture(scope="module")
def peer_cluster() -> Iterator[Any]:
    """A local control plane for this module alone, stopped after it."""
    import conftest  # tests/conftest.py (pytest imports it as the top-level `conftest`)

    state_dir = Path(tempfile.mkdtemp(prefix="cdp-test-kopfpeer-")) / "c"
    local = None
    for attempt in range(3):  # another session may take the ports between check and start
        local = localcluster.LocalCluster(
            state_dir,
            localcluster.free_base_port(conftest.DEFAULT_TEST_BASE_PORT + 300 * attempt),
            die_with_parent=True,
        )
        try:
            local.up()
            break
        except localcluster.ClusterError as exc:
            local.down()
            if "in use" not in str(exc) or attempt == 2:
                raise
    assert local is not None
    try:
        yield conftest.Cluster(local.kubeconfig, local.bin_dir, local.audit_log, local)
    finally:
        local.down()
        shutil.rmtree(state_dir.parent, ignore_errors=True)


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace") or "", meta["name"])


def _managed(kube: Kube, org: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every object labelled as the operator's for this organization."""
    found = {}
    for kind, plural in RENDERED_KINDS.items():
        for obj in kube.list(
            plural, None, f"{L.MANAGED_BY}={L.MANAGED_BY_VALUE},{L.ORGANIZATION}={org}"
        ):
            obj["kind"] = kind
            found[_key(obj)] = obj
    return found


def _not_ready(kube: Kube, namespace: str) -> list[str]:
    components = kube.list("components", namespace)
    if len(components) < N:
        return [f"{len(components)} of {N} Components exist"]
    return [
        f"{c['metadata']['name']}: {(c.get('status') or {}).get('conditions')}"
        for c in components
        if not component_ready(c)
    ]


def _differences(
    rendered: list[dict[str, Any]], live: dict[tuple[str, str, str], dict[str, Any]]
) -> list[str]:
    problems = []
    for want in rendered:
        key = _key(want)
        have = live.get(key)
        if have is None:
            problems.append(f"{key}: missing")
            continue
        wmeta, hmeta = want["metadata"], have["metadata"]
        if not is_subset(wmeta.get("labels") or {}, hmeta.get("labels") or {}):
            problems.append(f"{key}: labels {hmeta.get('labels')}")
        if not is_subset(wmeta.get("annotations") or {}, hmeta.get("annotations") or {}):
            problems.append(f"{key}: annotations {hmeta.get('annotations')}")
        if (wmeta.get("ownerReferences") or []) != (hmeta.get("ownerReferences") or []):
            problems.append(f"{key}: ownerReferences {hmeta.get('ownerReferences')}")
        if not is_subset(want.get("spec") or {}, have.get("spec") or {}):
            problems.append(f"{key}: spec {have.get('spec')}")
    extra = sorted(set(live) - {_key(o) for o in rendered})
    problems += [f"{key}: not rendered" for key in extra]
    return problems


@pytest.mark.timeout(900)
def test_kopf_peer_makes_what_the_floor_makes_and_converges_again_after_a_restart(
    peer_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube = Kube(peer_cluster)
    install_crds(kube)
    audit = AuditLog(peer_cluster.audit_log)
    peer = KopfPeerProcess(str(peer_cluster.kubeconfig), tmp_path / "kopf-peer.log")
    org = f"k{uuid.uuid4().hex[:6]}"
    wl = workload.Workload(org, N)
    mark = audit.mark()
    peer.start()
    try:
        kube.apply(yaml.safe_dump(wl.org_obj))
        kube.wait_for(lambda: kube.get("namespace", wl.namespace), 120, "organization namespace")
        kube.apply(yaml.safe_dump_all(wl.project_objs + wl.component_objs))
        kube.wait_for(
            lambda: not _not_ready(kube, wl.namespace),
            300,
            lambda: "\n".join(_not_ready(kube, wl.namespace)),
        )

        # The floor's objects, rendered against this cluster's DataPlanes.
        org_obj = kube.get("organization", org)
        assert org_obj is not None
        monkeypatch.setattr(
            workload, "DATA_PLANES", [kube.get("dataplane", name) for name in ("us", "eu")]
        )
        rendered = workload.render(wl, org_obj["metadata"]["uid"])
        expected = rendered.namespaces + rendered.others
        assert _differences(expected, _managed(kube, org)) == []
        for kind in ("project", "environment"):
            for obj in kube.list(f"{kind}s", wl.namespace):
                ready = [c for c in obj["status"]["conditions"] if c["type"] == "Ready"]
                assert ready and ready[0]["status"] == "True", (kind, obj["status"])
                assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        org_ready = [c for c in org_obj["status"]["conditions"] if c["type"] == "Ready"]
        assert org_ready and org_ready[0]["status"] == "True", org_obj["status"]

        # Every write of the peer, Kopf's own included, carries the peer's user agent.
        writes = audit.writes(mark, user_agent_prefix=USER_AGENT_PREFIX)
        assert len(writes) >= len(expected) + N
        strays = [describe(e) for e in audit.writes(mark, user_agent_prefix="kopf/")]
        assert strays == []

        # Restart with drift made while it was down: it converges again.
        peer.stop()
        victim = next(o for o in expected if o["kind"] == "Deployment")
        kube.delete("deployment", victim["metadata"]["name"], victim["metadata"]["namespace"])
        peer.start()
        kube.wait_for(
            lambda: kube.get(
                "deployment", victim["metadata"]["name"], victim["metadata"]["namespace"]
            ),
            120,
            f"deployment {victim['metadata']['name']} re-created",
        )
        kube.wait_for(
            lambda: not _not_ready(kube, wl.namespace),
            300,
            lambda: "\n".join(_not_ready(kube, wl.namespace)),
        )
        assert _differences(expected, _managed(kube, org)) == []
        peer.wait_settled(timeout=300)
        assert peer.total("cdp_reconcile_total", kind="component") >= N  # resumed each one

        # Deleting the Organization while the peer runs removes everything
        # (Kopf's finalizers on the Components are released by the peer).
        kube.delete("organization", org, wait=False)
        kube.wait_for(
            lambda: not kube.list("namespaces", None, f"{L.ORGANIZATION}={org}"),
            300,
            "the organization's namespaces gone",
        )
    finally:
        peer.stop()
        print(peer.logs()[-3000:])
