"""Real containers on the real node: images pulled from the local registry, pods
that really serve, Jobs that really exit, logs and exec through the apiserver.

These run on a control plane of their own with a real node (the ``real_cluster``
fixture); kwok's nodes there are tainted, so every pod below runs for real.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import localnode  # hack/localnode.py, on sys.path through tests/conftest.py
from kit import Kube, pod_active, wait_for
from kit.faults import FAULTS, fail_replica

from .operator_harness import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]

RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture
def ns(real_cluster: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace that enforces Pod Security ``restricted``, deleted afterwards."""
    name = f"rn-{request.node.name.removeprefix('test_')[:30].replace('_', '-')}".rstrip("-")
    real_cluster.kubectl("create", "namespace", name)
    real_cluster.kubectl(
        "label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted"
    )
    yield name
    real_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _apply(cluster: Any, ns: str, *objects: dict[str, Any]) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    Kube(cluster).apply(json.dumps(items), namespace=ns)


def _get(cluster: Any, ns: str, what: str) -> dict[str, Any]:
    found: dict[str, Any] | None = Kube(cluster).get_json("-n", ns, what)
    assert found is not None, f"{what} in {ns}: not found"
    return found


def _until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    return wait_for(check, timeout, what)


def _pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    container = {"name": name, "image": image, "securityContext": RESTRICTED_CONTAINER}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"securityContext": RESTRICTED_POD, "containers": [container], **spec},
    }


def test_a_pod_pulls_from_the_local_registry_serves_http_and_answers_logs_and_exec(
    real_cluster: Any, ns: str
) -> None:
    image = real_cluster.local.node.sample_image("cdp-samples/http")
    web = _pod(
        "web",
        image,
        container={
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
        },
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    _apply(real_cluster, ns, web, service)
    real_cluster.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/web", "--timeout=60s")
    pod = _get(real_cluster, ns, "pod/web")
    # No nodeSelector, no toleration: kwok's nodes are tainted, so it landed on the real one.
    assert pod["spec"]["nodeName"] == localnode.NODE_NAME
    status = pod["status"]["containerStatuses"][0]
    assert status["imageID"].startswith(f"{real_cluster.local.registry}/cdp-samples/http@sha256:")
    assert status["started"] is True

    # exec runs in the container; the page comes from the image's own file.
    out = real_cluster.kubectl(
        "exec", "-n", ns, "web", "--", "/bin/busybox", "wget", "-qO-", "http://127.0.0.1:8080/"
    ).stdout
    assert out == localnode.SAMPLE_PAGE
    # The Service's ClusterIP (kube-proxy, nftables) reaches it from the host ...
    cluster_ip = _get(real_cluster, ns, "service/web")["spec"]["clusterIP"]
    out = real_cluster.kubectl(
        "exec", "-n", ns, "web", "--", "/bin/busybox", "wget", "-qO-", f"http://{cluster_ip}/"
    ).stdout
    assert out == localnode.SAMPLE_PAGE

    # ... and logs show the requests httpd served (probes and ours).
    def access_log() -> str | None:
        text: str = real_cluster.kubectl("logs", "-n", ns, "web").stdout
        return text if "response:200" in text else None

    _until("httpd's access log", access_log)


def test_the_kubernetes_service_reaches_the_apiserver_from_a_pod(
    real_cluster: Any, ns: str
) -> None:
    image = real_cluster.local.node.sample_image("cdp-samples/http")
    _apply(real_cluster, ns, _pod("probe", image))
    real_cluster.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/probe", "--timeout=60s")
    # A TLS handshake needs an answer from the apiserver: nc sends nothing and gets
    # the connection accepted through 10.96.0.1:443 -> node IP -> apiserver.
    result = real_cluster.kubectl(
        "exec",
        "-n",
        ns,
        "probe",
        "--",
        "/bin/sh",
        "-c",
        "echo | /bin/busybox nc -w 5 10.96.0.1 443 && echo connected",
    )
    assert result.stdout.strip().endswith("connected")


def _job(name: str, image: str) -> dict[str, Any]:
    pod = _pod(name, image, restartPolicy="Never")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": pod["spec"]}},
    }


def test_jobs_really_succeed_and_really_fail(real_cluster: Any, ns: str) -> None:
    node = real_cluster.local.node
    _apply(
        real_cluster,
        ns,
        _job("ok", node.sample_image("cdp-samples/task-ok")),
        _job("fail", node.sample_image("cdp-samples/task-fail")),
    )
    real_cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "job/ok", "--timeout=90s")
    real_cluster.kubectl("wait", "-n", ns, "--for=condition=Failed", "job/fail", "--timeout=90s")

    def terminated(job: str) -> dict[str, Any]:
        pods = _get(real_cluster, ns, "pods")
        items = [p for p in pods["items"] if p["metadata"]["labels"].get("job-name") == job]
        assert len(items) == 1, items
        assert items[0]["spec"]["nodeName"] == localnode.NODE_NAME
        return items[0]["status"]["containerStatuses"][0]["state"]["terminated"]  # type: ignore[no-any-return]

    assert terminated("ok")["exitCode"] == 0
    assert terminated("fail")["exitCode"] == 1
    assert real_cluster.kubectl("logs", "-n", ns, "job/ok").stdout == "task done\n"
    assert real_cluster.kubectl("logs", "-n", ns, "job/fail").stdout == "task failed\n"


def test_an_image_the_local_registry_lacks_fails_to_pull(real_cluster: Any, ns: str) -> None:
    # Any registry name resolves to the local registry: nothing leaves the machine.
    _apply(real_cluster, ns, _pod("missing", "registry.example.com/nowhere/app:1.0"))

    def waiting_reason() -> str | None:
        statuses = _get(real_cluster, ns, "pod/missing")["status"].get("containerStatuses") or []
        waiting = statuses[0]["state"].get("waiting", {}) if statuses else {}
        reason = waiting.get("reason")
        return reason if reason in ("ErrImagePull", "ImagePullBackOff") else None

    _until("the pull to fail", waiting_reason)
    events = _get(real_cluster, ns, "events")["items"]
    failures = [
        e["message"]
        for e in events
        if e["involvedObject"]["name"] == "missing" and e["reason"] == "Failed"
    ]
    assert any("not found" in m for m in failures), failures
    # containerd asked the local registry (the mirror for every name) and nothing else.
    log = real_cluster.local.log_file("containerd").read_text()
    urls = re.findall(r'url="([^"]*nowhere/app[^"]*)"', log)
    assert urls, "containerd logged no request for the image"
    assert all(u.startswith(f"http://{real_cluster.local.registry}/v2/") for u in urls), urls


def test_a_namespace_with_running_pods_terminates(real_cluster: Any) -> None:
    image = real_cluster.local.node.sample_image("cdp-samples/http")
    real_cluster.kubectl("create", "namespace", "rn-deleted")
    # httpd as pid 1 ignores SIGTERM: a short grace period keeps the test short.
    _apply(real_cluster, "rn-deleted", _pod("web", image, terminationGracePeriodSeconds=2))
    real_cluster.kubectl(
        "wait", "-n", "rn-deleted", "--for=condition=Ready", "pod/web", "--timeout=60s"
    )
    real_cluster.kubectl("delete", "namespace", "rn-deleted", "--timeout=90s")
    gone = real_cluster.kubectl("get", "namespace", "rn-deleted", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


@pytest.fixture(scope="module")
def operator_image(real_cluster: Any) -> str:
    """``make image``'s recipe, pushed to the local registry; the pushed digest."""
    registry = real_cluster.local.registry
    build = subprocess.run(
        ["bash", str(REPO / "hack" / "image" / "build.sh")],
        env={**os.environ, "REGISTRY": registry},
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    ref = build.stdout.strip().splitlines()[-1]
    assert ref.startswith(f"{registry}/cdp-operator:")
    crane = real_cluster.local.bin_dir / "crane"
    digest = subprocess.run(
        [str(crane), "digest", "--insecure", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    return f"{ref.rsplit(':', 1)[0]}@{digest}"


def test_helm_installs_the_operator_image_and_it_runs_and_reconciles(
    real_cluster: Any, operator_image: str
) -> None:
    """The chart's own values but the image: restricted namespace, probes, RBAC."""
    repository, digest = operator_image.split("@")
    ns = "cdp-system"
    real_cluster.kubectl("create", "namespace", ns)
    real_cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    real_cluster.helm(
        "install", "cdp-operator", str(REPO / "charts" / "cdp-operator"), "-n", ns,
        "--set", f"image.repository={repository}", "--set", f"image.digest={digest}",
        "--wait", "--timeout=180s",
    )  # fmt: skip
    pods = _get(real_cluster, ns, "pods")["items"]
    assert len(pods) == 1
    pod = pods[0]
    assert pod["spec"]["nodeName"] == localnode.NODE_NAME
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] is True and status["restartCount"] == 0
    assert status["imageID"].endswith(digest)
    assert pod["spec"]["serviceAccountName"] == "cdp-operator"

    # It reconciles through the kubernetes Service with its own ServiceAccount.
    data_plane = {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "DataPlane",
        "metadata": {"name": "real"},
        "spec": {
            "region": "Local",
            "egressCIDRs": ["203.0.113.0/28"],
            "ingress": {"className": "nginx", "baseDomain": "real.apps.cdp.example.com"},
        },
    }
    organization = {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "Organization",
        "metadata": {"name": "realorg"},
        "spec": {"tier": "developer", "defaultDataPlane": "real"},
    }
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(data_plane))
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(organization))
    real_cluster.kubectl("wait", "--for=condition=Ready", "organization/realorg", "--timeout=120s")
    _until(
        "the organization's namespace",
        lambda: (
            real_cluster.kubectl("get", "namespace", "cdp-org-realorg", check=False).returncode == 0
        ),
    )
    logs = real_cluster.kubectl("logs", "-n", ns, "deploy/cdp-operator").stdout
    assert "cache synced" in logs


def _operator_pods(cluster: Any, ns: str) -> list[dict[str, Any]]:
    pods = _get(cluster, ns, "pods")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _one_active(cluster: Any, ns: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(active, standby) once two Ready replicas exist and exactly one acts."""
    pods = [p for p in _operator_pods(cluster, ns) if _pod_ready(p)]
    if len(pods) != 2:
        return None
    states = [pod_active(p) for p in pods]
    if sorted(states, key=str) != [False, True]:
        return None
    return (pods[0], pods[1]) if states[0] else (pods[1], pods[0])


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _scheduled_task(ns: str, name: str) -> dict[str, Any]:
    """A Component whose Ready needs only the operator (a CronJob), not a pod start."""
    return {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "project": "ha",
            "type": "scheduled-task",
            "image": "registry.example.com/ha/report:1",
            "build": {"buildpack": "ballerina"},
            "schedule": "0 3 * * *",
        },
    }


@pytest.mark.parametrize("fault", FAULTS)
def test_helm_ha_two_replicas_hand_over_on_real_pods(
    real_cluster: Any, operator_image: str, fault: str
) -> None:
    """The chart with two replicas (peering on, the chart's own values otherwise): one
    acts, the other stands by. kill -9 of the active container's main process on the
    node, or deleting the active pod, hands the work over, and a Component created
    right after the fault converges.

    kill -9: kubelet restarts the container at once, and the restarted process
    announces a new random priority under the same pod name; the live replica with
    the higher priority acts (Kopf's rule). Deleting the pod: it says goodbye, the
    standby acts at once, and the replacement pod joins as a new peer (and acts, if
    it draws the higher priority, standing the standby down again). How long
    either takes is measured by hack/bench/realnode.py, not asserted here.
    """
    repository, digest = operator_image.split("@")
    ns = "cdp-system"
    real_cluster.kubectl("create", "namespace", ns, check=False)
    real_cluster.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    real_cluster.helm(
        "upgrade", "--install", "cdp-operator", str(REPO / "charts" / "cdp-operator"), "-n", ns,
        "--set", f"image.repository={repository}", "--set", f"image.digest={digest}",
        "--set", "replicaCount=2", "--wait", "--timeout=240s",
    )  # fmt: skip
    active, standby = _until(
        "two Ready replicas, exactly one active", lambda: _one_active(real_cluster, ns), 120
    )
    assert set(_peers(real_cluster)) >= {active["metadata"]["name"], standby["metadata"]["name"]}

    org_ns = "cdp-org-haorg"
    setup = [
        {"apiVersion": "cdp.dev/v1alpha1", "kind": "DataPlane", "metadata": {"name": "real"},
         "spec": {"region": "Local", "egressCIDRs": ["203.0.113.0/28"],
                  "ingress": {"className": "nginx", "baseDomain": "real.apps.cdp.example.com"}}},
        {"apiVersion": "cdp.dev/v1alpha1", "kind": "Organization", "metadata": {"name": "haorg"},
         "spec": {"tier": "payg", "defaultDataPlane": "real"}},
    ]  # fmt: skip
    for obj in setup:
        real_cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
    _until(
        "the organization's namespace",
        lambda: real_cluster.kubectl("get", "namespace", org_ns, check=False).returncode == 0,
    )
    project = {"apiVersion": "cdp.dev/v1alpha1", "kind": "Project",
               "metadata": {"name": "ha", "namespace": org_ns}, "spec": {}}  # fmt: skip
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(project))
    real_cluster.kubectl(
        "wait", "-n", org_ns, "--for=condition=Ready", "project/ha", "--timeout=120s"
    )

    name = active["metadata"]["name"]
    fault_time = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    fail_replica(real_cluster.kubectl, real_cluster.local.node, active, fault)
    component = f"after-{fault}"
    real_cluster.kubectl("apply", "-f", "-", input=json.dumps(_scheduled_task(org_ns, component)))
    real_cluster.kubectl(
        "wait", "-n", org_ns, "--for=condition=Ready", f"component/{component}", "--timeout=180s"
    )
    made = real_cluster.kubectl(
        "get", "cronjob", "-A", "-l", f"app.kubernetes.io/name={component}", "-o", "name"
    )
    # One per environment of the project (the defaults: development and production).
    assert made.stdout.split() == [f"cronjob.batch/{component}"] * 2

    # Afterwards again exactly one replica acts: the live peer with the higher priority.
    now_active, now_standby = _until(
        "one active replica again", lambda: _one_active(real_cluster, ns), 120
    )
    peers = _peers(real_cluster)
    priority = {k: v["priority"] for k, v in peers.items() if isinstance(v, dict)}
    assert priority[now_active["metadata"]["name"]] > priority[now_standby["metadata"]["name"]]
    standby_log = real_cluster.kubectl(
        "logs", "-n", ns, standby["metadata"]["name"], f"--since-time={fault_time}"
    ).stdout
    took_over = [line for line in standby_log.splitlines() if "cdp-operator: active" in line]
    if fault == "kill-9":
        (restarted,) = [
            p for p in _operator_pods(real_cluster, ns) if p["metadata"]["name"] == name
        ]
        assert restarted["status"]["containerStatuses"][0]["restartCount"] >= 1
        # The standby acted exactly when the restarted process drew the lower priority.
        standby_acts = now_active["metadata"]["name"] == standby["metadata"]["name"]
        assert bool(took_over) == standby_acts, (standby_acts, standby_log[-3000:])
    else:
        assert name not in {p["metadata"]["name"] for p in _operator_pods(real_cluster, ns)}
        # The standby takes over (its peering guard says so) once the deleted pod has
        # said goodbye, unless the replacement pod announced a higher priority first:
        # the Deployment starts it as soon as the old one is terminating, so it can join
        # within the standby's one-second poll of the goodbye. Then the standby stood
        # by for the replacement, and the replacement acts.
        standby_acts = now_active["metadata"]["name"] == standby["metadata"]["name"]
        if standby_acts:
            assert took_over, standby_log[-3000:]
        else:
            replacement = now_active["metadata"]["name"]
            assert replacement != name
            stood_by = [
                line
                for line in standby_log.splitlines()
                if "standing by" in line and "outranked by" in line and replacement in line
            ]  # "outranked by <replacement>", or by it and the deleted pod before its goodbye
            assert stood_by, standby_log[-3000:]
            replacement_log = real_cluster.kubectl("logs", "-n", ns, replacement).stdout
            assert "cdp-operator: active" in replacement_log, replacement_log[-3000:]


def _peers(cluster: Any) -> dict[str, Any]:
    """Kopf's peering status of the chart's ClusterKopfPeering: identity -> priority, ..."""
    out = cluster.kubectl("get", "clusterkopfpeering", "cdp-operator", "-o", "json").stdout
    return dict(json.loads(out).get("status") or {})
