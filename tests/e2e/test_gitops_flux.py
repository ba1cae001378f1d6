"""Flux drives the platform across two data-plane clusters (issue 14).

Two local control planes, `us` and `eu`, each with its own operator scoped to its
data plane and Flux's source-controller and kustomize-controller (Flux v2.9.5),
sync one Git repository served on 127.0.0.1. Kustomizations have `wait: true`
(kstatus health checks on every applied object) and `prune: true`. Everything
happens through Git commits:

1. after a commit of the DataPlanes, one commit adds an Organization, a Project
   in each region and a Component in each: both clusters' Kustomizations become
   Ready at that revision, so every resource is kstatus Current in both
   clusters: materialised where its data plane is served, `Ready=True
   NotServedHere` where not, and the operator had judged every one of them when
   Flux's wait passed;
2. a commit changes the `us` Component's image: only the us cluster's Deployment
   rolls; nothing changes in eu;
3. a commit moves the eu project to us (a Project's data plane is fixed, so the
   commit replaces it by one on us and points the Component at it): eu's operator
   removes what it ran, us's runs it, and eu reports it NotServedHere;
4. a commit removes that Component: Flux prunes it in both clusters, and the us
   operator removes its Deployments.

Between 1 and 2, Flux reports no drift caused by the operator: a forced reconcile
of both Kustomizations in both clusters applies nothing (kustomize-controller's
change set is "unchanged" for every object) and the operator wrote only status to
what Flux applied; a manual change to a Component's spec is reported "configured"
(the check can fail).

Between 2 and 3, a Component with a typo in its Project's name fails the first
sync of its commit in both clusters: a new object's status defaults to
observedGeneration 0 (the CRDs), so it is kstatus InProgress until the operator
judges it, and Stalled ProjectNotFound after the 10 s grace.

Prints the time from each push to both clusters Ready (not asserted). It runs in
`make test` (about 160 s here with the binaries built); the first run builds Flux's
two controllers (`hack/controlplane/build.sh flux`, ~11 min cold on 2 cores),
which .ci/run does as a step of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdp_operator.cli.kstatus import Status, compute

from .conftest import CLUSTER_NETWORKS
from .gitops_harness import (
    FLUX_NAMESPACE,
    DataPlaneCluster,
    GitServer,
    PlatformRepo,
    flux_binaries,
    flux_objects,
    wait_for,
)

# The bound includes a cold build of Flux's two controllers (~11 min on 2 cores).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

REGIONS = ("us", "eu")
ORG = "acme"
NS = f"cdp-org-{ORG}"
SYNC_TIMEOUT = 240.0
KUSTOMIZATION = "kustomizations.kustomize.toolkit.fluxcd.io"
#: What Flux applies here. (The operator makes each organization's default
#: Environments itself: they are its objects, not Flux's.)
FLUX_KINDS = ("DataPlane", "Organization", "Project", "Component")

DATA_PLANES = "\n---\n".join(
    f"""apiVersion: cdp.dev/v1alpha1
kind: DataPlane
metadata: {{name: {dp}}}
spec:
  region: {region}
  egressCIDRs: ["{cidr}"]
  clusterNetworks: {json.dumps(CLUSTER_NETWORKS)}
  ingress:
    className: nginx
    baseDomain: {dp}.apps.cdp.example.com
    gatewayNamespace: ingress-nginx
"""
    for dp, region, cidr in (
        ("us", "US East 2", "20.22.170.144/28"),
        ("eu", "North Europe", "20.166.183.112/28"),
    )
)

ORGANIZATION = f"""apiVersion: cdp.dev/v1alpha1
kind: Organization
metadata: {{name: {ORG}}}
spec: {{tier: payg, defaultDataPlane: us}}
"""


def _project(name: str, dp: str) -> str:
    return f"""apiVersion: cdp.dev/v1alpha1
kind: Project
metadata: {{name: {name}, namespace: {NS}}}
spec: {{dataPlane: {dp}}}
"""


def _acme(projects: dict[str, str], *components: tuple[str, str, str]) -> str:
    """tenants/acme.yaml: these Projects (name: data plane), then these Components
    ((name, project, tag) of image registry.example.com/acme/<name>:<tag>)."""
    docs = [_project(name, dp) for name, dp in projects.items()]
    docs += [
        _component(name, project, f"registry.example.com/acme/{name}:{tag}")
        for name, project, tag in components
    ]
    return "---\n".join(docs)


def _component(name: str, project: str, image: str) -> str:
    return f"""apiVersion: cdp.dev/v1alpha1
kind: Component
metadata: {{name: {name}, namespace: {NS}}}
spec:
  project: {project}
  type: service
  image: {image}
  replicas: 1
  endpoints: [{{name: api, port: 8080, visibility: organization}}]
"""


@pytest.fixture(scope="module")
def flux_dir() -> Path:
    return flux_binaries()


@pytest.fixture(scope="module")
def gitops(
    flux_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PlatformRepo, dict[str, DataPlaneCluster]]]:
    root = tmp_path_factory.mktemp("gitops")
    (root / "git").mkdir()
    repo = PlatformRepo(root / "git")
    clusters = {r: DataPlaneCluster(r, root / r, flux_dir) for r in REGIONS}
    with GitServer(root / "git") as server:
        try:
            for c in clusters.values():
                c.up()
                assert c.cluster is not None
                c.cluster.kubectl(
                    "apply", "--server-side", "-f", "-", input=flux_objects(server.url("platform"))
                )
            yield repo, clusters
        finally:
            for c in clusters.values():
                print(f"\n{c.region}: logs in {c.root}")
                c.down()


def _synced(clusters: dict[str, DataPlaneCluster], revision: str) -> float:
    """Wait until both Kustomizations of every cluster applied revision and passed
    their health checks; seconds it took."""
    t0 = time.monotonic()
    all_clusters = list(clusters.values())
    wait_for(
        lambda: all(
            c.kustomization_at(k, revision) for c in all_clusters for k in ("platform", "tenants")
        ),
        SYNC_TIMEOUT,
        f"Kustomizations platform and tenants Ready at {revision[:12]} in us and eu",
        all_clusters,
    )
    return time.monotonic() - t0


def _ready(obj: dict[str, Any] | None) -> dict[str, Any]:
    assert obj is not None
    cond = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    return dict(cond)


def _reason(c: DataPlaneCluster, kind: str, name: str) -> str | None:
    """The Ready reason of a resource in the organization namespace, if it has one."""
    obj = c.get(kind, name, NS)
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((str(x["reason"]) for x in conditions if x["type"] == "Ready"), None)


def _observed(obj: dict[str, Any] | None) -> bool | None:
    """Whether the operator's status describes the object's generation (None: no object)."""
    if obj is None:
        return None
    status = obj.get("status") or {}
    return bool(status.get("observedGeneration") == obj["metadata"]["generation"])


def _writes_to_applied(c: DataPlaneCluster) -> dict[tuple[str, str], float]:
    """The operator's writes to the kinds Flux applies, by (kind, operation)."""
    assert c.operator is not None
    out: dict[tuple[str, str], float] = {}
    for name, labels, value in c.operator.metrics().samples:
        if name != "cdp_api_writes_total" or not value:
            continue
        kind, operation = labels.get("kind", ""), labels.get("operation", "")
        if kind in FLUX_KINDS:
            out[(kind, operation)] = out.get((kind, operation), 0.0) + value
    return out


def _forced_apply(c: DataPlaneCluster, name: str) -> dict[str, str]:
    """Request a reconcile of Kustomization `name` now (as `flux reconcile` does) and
    return what its server-side apply did to each object: kustomize-controller's
    change set (created, configured, unchanged, ...), which it logs as "server-side
    apply completed" and from which it emits its change event (only for changes)."""
    assert c.cluster is not None
    log = c.root / "kustomize-controller.log"
    offset = log.stat().st_size
    token = f"{time.time():.6f}"
    c.cluster.kubectl(
        *["annotate", "--overwrite", "-n", FLUX_NAMESPACE, f"kustomization/{name}"],
        f"reconcile.fluxcd.io/requestedAt={token}",
    )
    # kustomize-controller records the handled request when it finishes the reconcile.
    wait_for(
        lambda: (
            ((c.get(KUSTOMIZATION, name, FLUX_NAMESPACE) or {}).get("status") or {}).get(
                "lastHandledReconcileAt"
            )
            == token
        ),
        SYNC_TIMEOUT,
        f"{c.region}: the requested reconcile of {name} handled",
        [c],
    )
    with log.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    applies = [
        e["output"]
        for e in entries
        if e.get("msg") == "server-side apply completed" and e.get("name") == name
    ]
    assert applies, f"{c.region}: no server-side apply of {name} logged"
    return dict(applies[-1])


def _deployment(c: DataPlaneCluster, component: str) -> list[dict[str, Any]]:
    out = c.kubectl_json("get", "deployments", "-A", "-l", f"cdp.dev/component={component}")
    return list(out["items"]) if out else []


def _namespaces(c: DataPlaneCluster, project: str) -> list[dict[str, Any]]:
    out = c.kubectl_json("get", "namespaces", "-l", f"cdp.dev/project={project}")
    return list(out["items"]) if out else []


def test_flux_fans_the_platform_out_to_two_data_plane_clusters(
    gitops: tuple[PlatformRepo, dict[str, DataPlaneCluster]],
) -> None:
    repo, clusters = gitops
    us, eu = clusters["us"], clusters["eu"]
    figures: dict[str, float] = {}

    # 0. The data planes, as infrastructure, before any tenant: the operator judges an
    # Organization whose DataPlane it has not seen yet DataPlaneNotFound (Stalled) at
    # once, with no grace, so a DataPlane and an Organization naming it in one commit
    # can fail that sync once (docs/install.md).
    rev = repo.commit("data planes us and eu", {"platform/dataplanes.yaml": DATA_PLANES})
    wait_for(
        lambda: all(c.kustomization_at("platform", rev) for c in clusters.values()),
        SYNC_TIMEOUT,
        "Kustomization platform Ready with the DataPlanes in us and eu",
        list(clusters.values()),
    )

    def synced_commit(figure: str, message: str, files: dict[str, str]) -> None:
        """Commit, then wait until both clusters are Ready at that revision (timed)."""
        rev = repo.commit(message, files)
        figures[f"{figure}: commit to Ready in both clusters (s)"] = _synced(clusters, rev)

    # 1. An organization with everything in it, in one commit.
    synced_commit(
        "first sync",
        "acme: a project and a component in each region",
        {
            "platform/organizations.yaml": ORGANIZATION,
            "tenants/acme.yaml": _acme(
                {"shop": "us", "analytics": "eu"},
                ("orders", "shop", "1.0"),
                ("reports", "analytics", "1.0"),
            ),
        },
    )
    # A new resource's status defaults to observedGeneration 0 (the CRDs), which kstatus
    # reads as InProgress: Flux's wait passes only once the operator has judged every
    # resource. Without that default a resource with no status yet is kstatus Current
    # and the wait could pass before the operator looked (docs/install.md). This check
    # alone rarely catches that (the operator usually writes before the test reads);
    # the typo below is the one that fails without the default (its sync passes).
    applied = [
        ("dataplane", "us", None),
        ("dataplane", "eu", None),
        ("organization", ORG, None),
        ("project", "shop", NS),
        ("project", "analytics", NS),
        ("component", "orders", NS),
        ("component", "reports", NS),
    ]
    unjudged = [
        (c.region, k, n)
        for c in clusters.values()
        for k, n, ns in applied
        if _observed(c.get(k, n, ns)) is not True
    ]
    assert unjudged == [], "Flux was Ready before the operator judged these"
    for region, c in clusters.items():
        assert c.operator is not None
        c.operator.wait_settled()
        writes = c.operator.total("cdp_api_writes_total", kind="Deployment")
        status = c.operator.total("cdp_api_writes_total", kind="Component", operation="status")
        figures[f"{region}: operator writes to Deployments after the first sync"] = writes
        figures[f"{region}: status writes to Components after the first sync"] = status
        figures[f"{region}: operator writes of all kinds after the first sync"] = c.operator.total(
            "cdp_api_writes_total"
        )
        print(
            f"\n{region}: operator writes after the first sync, by kind and operation:",
            {
                k[len("cdp_api_writes_total") :]: v
                for k, v in sorted(c.operator.metrics().items())
                if k.startswith("cdp_api_writes_total{") and v
            },
        )

    served = {"us": ("shop", "orders"), "eu": ("analytics", "reports")}
    # Every status, once written (bounded wait), says what the resource is here.
    for region, c in clusters.items():
        other = "eu" if region == "us" else "us"
        project, component = served[region]
        foreign_project, foreign_component = served[other]
        expected = {
            ("dataplane", region, None): ("True", "Available"),
            ("dataplane", other, None): ("True", "NotServedHere"),
            ("organization", ORG, None): ("True", None),
            ("project", project, NS): ("True", "Admitted"),
            ("project", foreign_project, NS): ("True", "NotServedHere"),
            ("component", component, NS): ("True", None),
            ("component", foreign_component, NS): ("True", "NotServedHere"),
        }

        def judged(c: DataPlaneCluster = c, expected: Any = expected) -> bool:
            for (kind, name, ns), (status, reason) in expected.items():
                obj = c.get(kind, name, ns)
                if not obj or not obj.get("status"):
                    return False
                ready = _ready(obj)
                if obj["status"].get("observedGeneration") != obj["metadata"]["generation"]:
                    return False
                if ready["status"] != status or reason not in (None, ready["reason"]):
                    return False
            return True

        wait_for(judged, 90, lambda c=c: f"{c.region}: statuses", [c])
        # Every resource Flux applied is kstatus Current and says what it is.
        for kind, name, ns in expected:
            obj = c.get(kind, name, ns)
            assert obj is not None, (region, kind, name)
            result = compute(obj)
            assert result.status == Status.CURRENT, (region, kind, name, result, obj["status"])
        assert len(_deployment(c, component)) == 2  # development and production
        assert _deployment(c, foreign_component) == []

    # The first sync that could pass did: no health check of either Kustomization
    # failed on the way (no transient Failed resource), and Flux applied each once.
    for region, c in clusters.items():
        log = (c.root / "kustomize-controller.log").read_text()
        assert "HealthCheckFailed" not in log and "health check failed" not in log, (
            f"{region}: {log[-3000:]}"
        )

    # The operator writes only status to what Flux applied: no drift for Flux.
    for region, c in clusters.items():
        for kind, name, ns in (("component", "orders", NS), ("project", "shop", NS)):
            obj = c.kubectl_json("get", kind, name, "-n", ns, "--show-managed-fields")
            assert obj is not None
            for entry in obj["metadata"]["managedFields"]:
                if entry["manager"] != "kustomize-controller":
                    assert entry.get("subresource") == "status", (region, kind, entry)

    # A manual edit of an operator-made Deployment is restored by the operator.
    edited = _deployment(us, "orders")[0]["metadata"]
    assert us.cluster is not None
    us.cluster.kubectl(
        *["patch", "deployment", edited["name"], "-n", edited["namespace"]],
        *["--type=json", "-p", '[{"op": "replace", "path": "/spec/replicas", "value": 5}]'],
    )
    wait_for(
        lambda: (
            (us.get("deployment", edited["name"], edited["namespace"]) or {})
            .get("spec", {})
            .get("replicas")
            == 1
        ),
        60,
        "the operator restores replicas: 1",
        [us],
    )

    # Flux reports no drift caused by the operator: with everything converged (and the
    # operator having just restored its Deployment), a forced reconcile of both
    # Kustomizations applies nothing in either cluster: every object's server-side
    # apply result is "unchanged" (status is not compared; spec, labels and
    # annotations are). And the operator wrote nothing but status to what Flux owns.
    for region, c in clusters.items():
        assert c.operator is not None
        c.operator.wait_settled()
        for name, expected_objects in (
            ("platform", {"DataPlane/us", "DataPlane/eu", f"Organization/{ORG}"}),
            (
                "tenants",
                {
                    f"Project/{NS}/shop",
                    f"Project/{NS}/analytics",
                    f"Component/{NS}/orders",
                    f"Component/{NS}/reports",
                },
            ),
        ):
            changes = _forced_apply(c, name)
            assert set(changes) == expected_objects, (region, name, changes)
            assert set(changes.values()) == {"unchanged"}, (region, name, changes)
        applied_writes = _writes_to_applied(c)
        assert {op for _, op in applied_writes} == {"status"}, (region, applied_writes)
        for kind in ("Component", "Project"):
            figures[f"{region}: status writes per {kind} until here"] = (
                applied_writes.get((kind, "status"), 0.0) / 2
            )

    # The check sees drift when there is some: a manual change to a Component's spec
    # (here in us) is reported by Flux as "configured", and Flux puts Git's value back.
    us.cluster.kubectl(
        *["patch", "component", "orders", "-n", NS, "--type=merge"],
        *["-p", '{"spec": {"replicas": 2}}'],
    )
    changes = _forced_apply(us, "tenants")
    assert changes[f"Component/{NS}/orders"] == "configured", changes
    assert {v for k, v in changes.items() if k != f"Component/{NS}/orders"} == {"unchanged"}
    assert (us.get("component", "orders", NS) or {})["spec"]["replicas"] == 1
    assert us.operator is not None
    us.operator.wait_settled()
    assert _forced_apply(us, "tenants")[f"Component/{NS}/orders"] == "unchanged"

    # 2. A new image for the us component: only us rolls.
    eu_reports = {
        d["metadata"]["uid"]: d["metadata"]["generation"] for d in _deployment(eu, "reports")
    }
    synced_commit(
        "image change",
        "orders 1.1",
        {
            "tenants/acme.yaml": _acme(
                {"shop": "us", "analytics": "eu"},
                ("orders", "shop", "1.1"),
                ("reports", "analytics", "1.0"),
            )
        },
    )
    images = {
        d["spec"]["template"]["spec"]["containers"][0]["image"] for d in _deployment(us, "orders")
    }
    assert images == {"registry.example.com/acme/orders:1.1"}
    assert _deployment(eu, "orders") == []
    assert {
        d["metadata"]["uid"]: d["metadata"]["generation"] for d in _deployment(eu, "reports")
    } == eu_reports, "nothing rolled in eu"

    # 2b. A typo in a Project name is a real error, and it fails the first sync of
    # the commit that makes it: the new Component is kstatus InProgress from its
    # creation (status default observedGeneration 0), InProgress while the operator
    # gives the Project its 10 s grace to arrive (Reconciling), then Stalled
    # ProjectNotFound (Failed), and Flux's wait ends with HealthCheckFailed, in both
    # clusters, without ever having been Ready at that revision.
    t0 = time.monotonic()
    rev = repo.commit(
        "a component with a typo",
        {
            "tenants/acme.yaml": _acme(
                {"shop": "us", "analytics": "eu"},
                ("orders", "shop", "1.1"),
                ("reports", "analytics", "1.0"),
                ("typo", "shpo", "1.0"),
            )
        },
    )

    def failed(c: DataPlaneCluster) -> bool:
        ks = c.get(KUSTOMIZATION, "tenants", FLUX_NAMESPACE)
        status: dict[str, Any] = (ks or {}).get("status") or {}
        conditions: list[dict[str, Any]] = status.get("conditions") or []
        ready = next((x for x in conditions if x["type"] == "Ready"), {})
        return (
            str(status.get("lastAttemptedRevision") or "").endswith(rev)
            and ready.get("status") == "False"
            and ready.get("reason") == "HealthCheckFailed"
            and "typo" in ready.get("message", "")
        )

    wait_for(
        lambda: all(failed(c) for c in clusters.values()),
        SYNC_TIMEOUT,
        "tenants HealthCheckFailed on the typo in both clusters",
        list(clusters.values()),
    )
    figures["typo: commit to HealthCheckFailed in both clusters (s)"] = time.monotonic() - t0
    for c in clusters.values():
        ks = c.get(KUSTOMIZATION, "tenants", FLUX_NAMESPACE) or {}
        # Never Ready at the typo's revision: the first sync that saw it failed.
        assert not str(ks["status"].get("lastAppliedRevision") or "").endswith(rev), ks["status"]
        assert _reason(c, "component", "typo") == "ProjectNotFound"
        assert "shpo" in _ready(c.get("component", "typo", NS))["message"]

    # 3. Move analytics to us (and drop the typo). A Project's data plane is fixed, so in Git the
    # project is replaced: analytics (eu) goes, analytics-us comes, reports follows.
    synced_commit(
        "project move",
        "analytics moves to us",
        {
            "tenants/acme.yaml": _acme(
                {"shop": "us", "analytics-us": "us"},
                ("orders", "shop", "1.1"),
                ("reports", "analytics-us", "1.0"),
            )
        },
    )
    wait_for(
        lambda: not _namespaces(eu, "analytics") and not _deployment(eu, "reports"),
        120,
        "eu: the analytics runtime namespaces and reports' Deployments gone",
        [eu],
    )
    ready = _ready(eu.get("component", "reports", NS))
    assert (ready["status"], ready["reason"]) == ("True", "NotServedHere"), ready
    assert len(_deployment(us, "reports")) == 2
    assert _ready(us.get("component", "reports", NS))["status"] == "True"
    assert us.get("project", "analytics", NS) is None and eu.get("project", "analytics", NS) is None

    # 4. The component goes: Flux prunes it everywhere, the us operator cleans up.
    synced_commit(
        "prune",
        "retire reports",
        {
            "tenants/acme.yaml": _acme(
                {"shop": "us", "analytics-us": "us"}, ("orders", "shop", "1.1")
            )
        },
    )
    for c in clusters.values():
        wait_for(
            lambda c=c: c.get("component", "reports", NS) is None and not _deployment(c, "reports"),
            120,
            f"{c.region}: component reports and its Deployments gone",
            [c],
        )
    print("\n" + "\n".join(f"{k}: {v:.1f}" for k, v in figures.items()))
