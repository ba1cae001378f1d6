"""The benchmark's Kopf peer (hack/bench/kopf_peer/) does what the bench's floor does.

On a local control plane of its own (the session's ``operator`` fixture, once
started, reconciles every organization of the shared one, so the peer must be
the only controller where it runs): the bench's workload at N=20, run by the
peer, gives exactly the objects the floor creates (hack/bench/workload.py
``render``: the operator's render layer plus the namespaces' owner), with the
rendered labels, annotations, owner references and spec, and every Component
is Ready for its generation. After a restart, with one Deployment deleted while
the peer was down, it converges again. Every write the peer made carries its
user agent. And in the shape of a shared data plane (Projects on both
DataPlanes applied after their Components, an Environment of the user's added
once the Components run), it makes what the render layer plans for the
organization as it ends up.
Asserts what happened, never how fast.
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
from cdp_operator.apply.organization import own_namespaces
from cdp_operator.models import labels as L
from cdp_operator.models.resources import (
    ComponentSpec,
    DataPlaneSpec,
    EnvironmentSpec,
    OrganizationSpec,
    ProjectSpec,
)
from cdp_operator.render.billing import resource_of
from cdp_operator.render.component_plan import plan_component
from cdp_operator.render.plan import plan_organization
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


def _planned(kube: Kube, org: str) -> list[dict[str, Any]]:
    """What the render layer plans for the organization's resources as they are now
    (plus the namespaces' owner, as the operator's apply layer adds it)."""
    org_obj = kube.get("organization", org)
    assert org_obj is not None
    namespace = org_obj["status"]["namespace"]
    data_planes = {
        dp["metadata"]["name"]: DataPlaneSpec.model_validate(dp["spec"])
        for dp in kube.list("dataplanes")
    }
    organization = resource_of(org_obj, OrganizationSpec.model_validate(org_obj["spec"]))
    environments = [
        resource_of(e, EnvironmentSpec.model_validate(e["spec"]))
        for e in kube.list("environments", namespace)
    ]
    plan = plan_organization(
        organization,
        data_planes,
        environments,
        [
            resource_of(p, ProjectSpec.model_validate(p["spec"]))
            for p in kube.list("projects", namespace)
        ],
    )
    own_namespaces(plan, organization)
    desired = list(plan.desired)
    for c in kube.list("components", namespace):
        cplan = plan_component(
            plan,
            resource_of(c, ComponentSpec.model_validate(c["spec"])),
            admitted=True,
            environments_present=[e.name for e in environments],
        )
        assert cplan.verdict is None, cplan.verdict
        desired += cplan.desired
    return desired


@pytest.mark.timeout(600)
def test_kopf_peer_follows_environments_and_data_planes_that_come_with_the_components(
    peer_cluster: Any, tmp_path: Path
) -> None:
    kube = Kube(peer_cluster)
    install_crds(kube)
    peer = KopfPeerProcess(str(peer_cluster.kubeconfig), tmp_path / "kopf-peer.log")
    org = f"s{uuid.uuid4().hex[:6]}"
    namespace = f"cdp-org-{org}"
    service = dict(workload.component_spec(0, 1))
    web = dict(workload.component_spec(9, 1))
    task = dict(workload.component_spec(8, 1))
    components = [
        ("api", {**service, "project": "shop"}),
        ("web", {**web, "project": "shop"}),
        ("report", {**task, "project": "shop"}),
        ("eu-api", {**service, "project": "europe"}),
    ]
    peer.start()
    try:
        kube.apply(
            yaml.safe_dump(
                {
                    "apiVersion": workload.API,
                    "kind": "Organization",
                    "metadata": {"name": org},
                    "spec": {"tier": "payg", "defaultDataPlane": "us"},
                }
            )
        )
        kube.wait_for(lambda: kube.get("namespace", namespace), 120, "organization namespace")
        # Components first, then what they need: the order a GitOps sync may apply them in.
        docs: list[dict[str, Any]] = [
            {
                "apiVersion": workload.API,
                "kind": "Component",
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            }
            for name, spec in components
        ]
        docs += [
            {
                "apiVersion": workload.API,
                "kind": "Project",
                "metadata": {"name": "shop", "namespace": namespace},
                "spec": {},
            },
            {
                "apiVersion": workload.API,
                "kind": "Project",
                "metadata": {"name": "europe", "namespace": namespace},
                "spec": {"dataPlane": "eu"},
            },
        ]
        kube.apply(yaml.safe_dump_all(docs))

        def not_ready() -> list[str]:
            found = kube.list("components", namespace)
            if len(found) < len(components):
                return [f"{len(found)} Components"]
            return [c["metadata"]["name"] for c in found if not component_ready(c)]

        kube.wait_for(lambda: not not_ready(), 300, lambda: f"Components Ready: {not_ready()}")
        # An Environment of the user's after the Components were handled: their
        # handlers planned without it, its own handler brings them there.
        kube.apply(
            yaml.safe_dump(
                {
                    "apiVersion": workload.API,
                    "kind": "Environment",
                    "metadata": {"name": "staging", "namespace": namespace},
                    "spec": {"dataPlane": "us"},
                }
            )
        )

        def without_staging() -> list[str]:
            return [
                c["metadata"]["name"]
                for c in kube.list("components", namespace)
                if c["spec"]["project"] == "shop"
                and "staging" not in {e["name"] for e in c["status"]["environments"]}
            ]

        kube.wait_for(
            lambda: not without_staging(), 300, lambda: f"in staging: {without_staging()}"
        )
        kube.wait_for(lambda: not not_ready(), 300, lambda: f"Components Ready: {not_ready()}")
        peer.wait_settled(timeout=300)
        planned = _planned(kube, org)
        # The user's staging and both DataPlanes' default Environments are in it.
        names = {o["metadata"]["name"] for o in planned if o["kind"] == "Environment"}
        assert {"development-eu", "production-eu"} <= names
        assert any(
            o["kind"] == "Deployment" and o["metadata"]["labels"][L.ENVIRONMENT] == "staging"
            for o in planned
        )
        assert _differences(planned, _managed(kube, org)) == []
        for c in kube.list("components", namespace):
            envs = {e["name"] for e in c["status"]["environments"]}
            project = c["spec"]["project"]
            want = (
                {"development", "production", "staging"}
                if project == "shop"
                else {
                    "development-eu",
                    "production-eu",
                }
            )
            assert envs == want, (c["metadata"]["name"], envs)
        kube.delete("organization", org, wait=False)
        kube.wait_for(
            lambda: not kube.list("namespaces", None, f"{L.ORGANIZATION}={org}"),
            300,
            "the organization's namespaces gone",
        )
    finally:
        peer.stop()
        print(peer.logs()[-3000:])
