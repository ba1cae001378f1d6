"""The control plane the other e2e tests rely on does what a real cluster does.

Covers issue 2's "What it must show": the pinned version, Ready nodes,
Deployments, Jobs, CronJobs, namespace deletion, garbage collection,
ServiceAccount tokens with RBAC, and the audit log of writes. The last group
checks the local control plane itself (idempotent up, clear errors, restarts)
and only runs when the harness started it.

Waits are bounded; nothing here asserts on speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

import localcluster
from kit import AuditLog, Kube, has_condition, wait_for
from kit.audit import code, resource, username
from kit.identity import service_account_token, token_api_client, token_kubeconfig

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LOCALCLUSTER = REPO / "hack" / "localcluster.py"


def pinned_versions() -> dict[str, str]:
    versions = {}
    for line in (REPO / "hack/controlplane/versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip()
    return versions


def local_only(cluster: Any) -> Any:
    if cluster.local is None:
        pytest.skip("checks the local control plane itself; this session uses an external cluster")
    return cluster.local


def deployment(name: str, replicas: int) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}}}
        spec:
          replicas: {replicas}
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec:
              containers:
              - {{name: app, image: registry.example/app:1.0}}
        """
    )


def job_spec() -> dict[str, Any]:
    """One try of a task that exits (a Job's spec, or a CronJob's job template)."""
    pod = {
        "restartPolicy": "Never",
        "containers": [{"name": "task", "image": "registry.example/task:1.0"}],
    }
    return {"backoffLimit": 0, "template": {"spec": pod}}


def job(name: str) -> str:
    return yaml.safe_dump(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": job_spec()}
    )


def cronjob(name: str, schedule: str) -> str:
    spec = {
        "schedule": schedule,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 3,
        "jobTemplate": {"spec": job_spec()},
    }
    return yaml.safe_dump(
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name}, "spec": spec}
    )


def wait_deployment_available(cluster: Any, namespace: str, name: str, replicas: int) -> Any:
    def available() -> Any:
        d = Kube(cluster).get_json("deployment", name, "-n", namespace)
        ok = has_condition(d, "Available") and d["status"].get("availableReplicas") == replicas
        return d if ok else None

    return wait_for(
        available, 120, message=f"deployment {namespace}/{name} Available with {replicas} replicas"
    )


def wait_job_complete(cluster: Any, namespace: str, name: str, timeout: float = 120) -> Any:
    return wait_for(
        lambda: (
            (j := Kube(cluster).get_json("job", name, "-n", namespace))
            and has_condition(j, "Complete")
            and j
        ),
        timeout,
        message=f"job {namespace}/{name} Complete",
    )


# --------------------------------------------------------------------------- the cluster


def test_version_is_the_pinned_release(cluster: Any) -> None:
    info = json.loads(cluster.kubectl("get", "--raw", "/version").stdout)
    pinned = pinned_versions()["KUBERNETES_VERSION"]
    client_version = json.loads(cluster.kubectl("version", "--client", "-o", "json").stdout)
    if cluster.local is not None:
        assert info["gitVersion"] == pinned
        assert client_version["clientVersion"]["gitVersion"] == pinned
    else:
        assert info["gitVersion"].startswith("v1.")
    assert info["major"] == "1" and info["minor"].rstrip("+").isdigit()


def test_nodes_are_ready(cluster: Any) -> None:
    nodes = Kube(cluster).get_json("nodes")["items"]
    ready = [n["metadata"]["name"] for n in nodes if has_condition(n, "Ready")]
    assert ready, f"no Ready node among {[n['metadata']['name'] for n in nodes]}"
    if cluster.local is not None:
        # two fake nodes so that spreading across nodes can be tested
        assert {"kwok-node-0", "kwok-node-1"} <= set(ready)
        out = cluster.kubectl("get", "nodes").stdout
        assert "kwok-node-0   Ready" in out


def test_fake_nodes_renew_their_leases_and_stay_untainted(cluster: Any) -> None:
    """Like kubelets: otherwise the node-lifecycle controller marks them unreachable."""
    local_only(cluster)
    coordination = client.CoordinationV1Api(cluster.api_client)
    first = {
        name: coordination.read_namespaced_lease(name, "kube-node-lease").spec.renew_time
        for name in ("kwok-node-0", "kwok-node-1")
    }
    wait_for(
        lambda: all(
            coordination.read_namespaced_lease(name, "kube-node-lease").spec.renew_time > renewed
            for name, renewed in first.items()
        ),
        60,
        "kwok to renew the node leases",
        interval=1,
    )
    for node in client.CoreV1Api(cluster.api_client).list_node().items:
        taints = [t.key for t in node.spec.taints or []]
        assert not taints, f"{node.metadata.name} is tainted: {taints}"


def test_deployment_with_two_replicas_becomes_available(cluster: Any, namespace: str) -> None:
    Kube(cluster).apply(deployment("web", 2), namespace=namespace)
    wait_deployment_available(cluster, namespace, "web", 2)
    pods = Kube(cluster).get_json("pods", "-n", namespace, "-l", "app=web")["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert len(running) == 2
    assert all(p["spec"].get("nodeName") for p in running), "pods were scheduled onto nodes"


def test_job_completes(cluster: Any, namespace: str) -> None:
    Kube(cluster).apply(job("once"), namespace=namespace)
    j = wait_job_complete(cluster, namespace, "once")
    assert j["status"].get("succeeded") == 1


def test_job_created_from_a_cronjob_completes(cluster: Any, namespace: str) -> None:
    """Quick variant: the CronJob's template is valid and its Job runs to completion."""
    Kube(cluster).apply(cronjob("nightly", "0 3 * * *"), namespace=namespace)
    cluster.kubectl("create", "job", "manual-run", "--from=cronjob/nightly", "-n", namespace)
    j = wait_job_complete(cluster, namespace, "manual-run")
    owners = j["metadata"].get("ownerReferences") or []
    assert any(o["kind"] == "CronJob" and o["name"] == "nightly" for o in owners)


@pytest.mark.slow
def test_cronjob_creates_jobs_on_its_schedule(cluster: Any, namespace: str) -> None:
    """The cronjob controller itself creates a Job at the next minute (bounded: 150 s)."""
    Kube(cluster).apply(cronjob("every-minute", "* * * * *"), namespace=namespace)

    def scheduled_job() -> Any:
        for j in Kube(cluster).get_json("jobs", "-n", namespace)["items"]:
            owners = j["metadata"].get("ownerReferences") or []
            if any(o["kind"] == "CronJob" and o["name"] == "every-minute" for o in owners):
                return j
        return None

    j = wait_for(scheduled_job, 150, "a Job created by CronJob every-minute", interval=2)
    wait_job_complete(cluster, namespace, j["metadata"]["name"])
    wait_for(
        lambda: (
            Kube(cluster)
            .get_json("cronjob", "every-minute", "-n", namespace)["status"]
            .get("lastSuccessfulTime")
        ),
        60,
        message="CronJob status.lastSuccessfulTime",
    )


def test_deleting_a_namespace_with_objects_completes(cluster: Any) -> None:
    name = f"e2e-nsdelete-{uuid.uuid4().hex[:5]}"
    cluster.kubectl("create", "namespace", name)
    Kube(cluster).apply(deployment("web", 2), namespace=name)
    Kube(cluster).apply(job("once"), namespace=name)
    cluster.kubectl("create", "configmap", "settings", "--from-literal=a=b", "-n", name)
    cluster.kubectl("create", "secret", "generic", "creds", "--from-literal=p=q", "-n", name)
    cluster.kubectl("create", "service", "clusterip", "web", "--tcp=80:8080", "-n", name)
    wait_deployment_available(cluster, name, "web", 2)

    cluster.kubectl("delete", "namespace", name, "--wait=false")
    wait_for(
        lambda: Kube(cluster).get_json("namespace", name) is None,
        180,
        f"namespace {name} and everything in it to be deleted",
        interval=1,
    )


def test_deleting_an_owner_garbage_collects_its_dependents(cluster: Any, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    ref = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    for dep in ("dep-a", "dep-b"):
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name=dep, owner_references=[ref])),
        )
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="unrelated"))
    )

    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    def dependents_gone() -> bool:
        names = {c.metadata.name for c in core.list_namespaced_config_map(namespace).items}
        return not names & {"owner", "dep-a", "dep-b"}

    wait_for(dependents_gone, 90, message="dependents of ConfigMap owner to be collected")
    assert core.read_namespaced_config_map("unrelated", namespace).metadata.name == "unrelated"


def test_deleting_a_deployment_collects_its_replicasets_and_pods(
    cluster: Any, namespace: str
) -> None:
    Kube(cluster).apply(deployment("web", 2), namespace=namespace)
    wait_deployment_available(cluster, namespace, "web", 2)
    assert Kube(cluster).get_json("replicasets", "-n", namespace, "-l", "app=web")["items"]

    cluster.kubectl(
        "delete", "deployment", "web", "-n", namespace, "--cascade=foreground", "--wait=false"
    )

    def all_gone() -> bool:
        left = Kube(cluster).get_json(
            "deployments,replicasets,pods", "-n", namespace, "-l", "app=web"
        )
        return not left["items"]

    wait_for(all_gone, 120, "deployment web, its ReplicaSets and Pods to be deleted", interval=1)


# --------------------------------------------------------------------------- identities and RBAC


def test_serviceaccount_token_authenticates_and_rbac_applies(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    reader_rbac = textwrap.dedent(
        f"""\
        apiVersion: v1
        kind: ServiceAccount
        metadata: {{name: reader, namespace: {namespace}}}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {{name: configmap-reader, namespace: {namespace}}}
        rules:
        - apiGroups: [""]
          resources: [configmaps]
          verbs: [get, list, watch]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {{name: reader, namespace: {namespace}}}
        roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: configmap-reader}}
        subjects:
        - {{kind: ServiceAccount, name: reader, namespace: {namespace}}}
        """
    )
    Kube(cluster).apply(reader_rbac)
    token = service_account_token(cluster, namespace, "reader", seconds=600)
    expected_user = f"system:serviceaccount:{namespace}:reader"

    # The token authenticates as the ServiceAccount ...
    api = token_api_client(cluster, token, user_agent="cdp-e2e-reader/1.0")
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    assert review.status.user_info.username == expected_user
    assert "system:serviceaccounts" in review.status.user_info.groups
    kubeconfig = token_kubeconfig(cluster, token, tmp_path / "reader.kubeconfig")
    whoami = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json")
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == expected_user

    # ... what its Role grants is allowed (RBAC caches may need a moment) ...
    core = client.CoreV1Api(api)
    wait_for(
        lambda: core.list_namespaced_config_map(namespace) is not None,
        30,
        message="the reader's Role to allow listing configmaps",
    )

    # ... and everything else is denied with 403.
    def status_of(call: Any) -> int:
        try:
            call()
        except ApiException as exc:
            return int(exc.status)
        return 200

    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="nope"))
    assert status_of(lambda: core.create_namespaced_config_map(namespace, body)) == 403
    assert status_of(lambda: core.list_namespaced_secret(namespace)) == 403
    assert status_of(lambda: core.list_namespaced_config_map("default")) == 403
    assert status_of(lambda: core.list_node()) == 403
    can_i = cluster.kubectl(
        "--kubeconfig",
        str(kubeconfig),
        "auth",
        "can-i",
        "create",
        "configmaps",
        "-n",
        namespace,
        check=False,
    )
    assert can_i.stdout.strip() == "no"


def test_audit_log_records_writes_with_user_agent_verb_and_resource(
    cluster: Any, namespace: str
) -> None:
    if cluster.audit_log is None:
        pytest.skip("the audit log is only known for the local control plane")
    agent = f"cdp-e2e-audit/{uuid.uuid4().hex[:8]}"
    audit = AuditLog(cluster.audit_log)
    since = audit.mark()
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    api.user_agent = agent
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="audited"))
    )
    core.read_namespaced_config_map("audited", namespace)  # a read: not a write, not logged
    core.patch_namespaced_config_map("audited", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("audited", namespace)
    with pytest.raises(ApiException) as missing:
        core.delete_namespaced_config_map("audited", namespace)
    assert missing.value.status == 404

    def events() -> Any:
        found = audit.events(since, user_agent_prefix=agent)
        return found if len(found) >= 4 else None

    found = wait_for(events, 30, message=f"4 audit events with user agent {agent}")
    assert [(e["verb"], code(e)) for e in found] == [
        ("create", 201),
        ("patch", 200),
        ("delete", 200),
        ("delete", 404),
    ]
    for e in found:
        ref = e["objectRef"]
        assert username(e) == "kubernetes-admin"
        assert e["userAgent"] == agent
        assert (resource(e), ref.get("namespace"), ref.get("name"), ref.get("apiGroup", "")) == (
            "configmaps",
            namespace,
            "audited",
            "",
        )
    # kubectl writes are recorded with its own user agent (read from an offset this time)
    mark = audit.mark()
    cluster.kubectl("create", "configmap", "by-kubectl", "-n", namespace)
    by_kubectl = wait_for(
        lambda: [
            e
            for e in audit.events(mark, user_agent_prefix="kubectl/")
            if e["objectRef"].get("name") == "by-kubectl"
        ],
        30,
        message="the audit event of kubectl create configmap",
    )
    assert by_kubectl[0]["verb"] == "create" and resource(by_kubectl[0]) == "configmaps"


# ------------------------------------------------------------------ the local control plane


def test_up_again_while_up_changes_nothing(cluster: Any) -> None:
    local = local_only(cluster)
    before = local.running()
    kubeconfig = local.kubeconfig.read_bytes()
    assert local.up() is False
    assert local.running() == before
    assert local.kubeconfig.read_bytes() == kubeconfig


def test_a_port_in_use_or_a_missing_binary_is_a_clear_error(cluster: Any, tmp_path: Path) -> None:
    local = local_only(cluster)
    binaries = local.ensure_binaries()
    clash = localcluster.LocalCluster(tmp_path / "clash", local.base_port, bin_dir=binaries)
    with pytest.raises(localcluster.ClusterError, match=rf"{local.base_port} \(kube-apiserver\)"):
        clash.up()
    assert not (tmp_path / "clash").exists(), "nothing was started or written"

    empty = tmp_path / "no-binaries"
    empty.mkdir()
    missing = localcluster.LocalCluster(
        tmp_path / "missing", localcluster.free_base_port(20443), bin_dir=empty
    )
    with pytest.raises(localcluster.ClusterError, match="missing binary: etcd"):
        missing.up()


def test_a_component_that_dies_during_start_is_named_with_its_log(tmp_path: Path) -> None:
    """No cluster fixture: a fake etcd that exits at once, with real binaries for the rest."""
    binaries = localcluster.LocalCluster(tmp_path / "probe").ensure_binaries()
    fake = tmp_path / "bin"
    fake.mkdir()
    for entry in binaries.iterdir():
        (fake / entry.name).symlink_to(entry)
    (fake / "etcd").unlink()
    (fake / "etcd").write_text("#!/bin/sh\necho 'etcd: simulated crash' >&2\nexit 3\n")
    (fake / "etcd").chmod(0o755)
    broken = localcluster.LocalCluster(
        tmp_path / "broken", localcluster.free_base_port(20443), bin_dir=fake
    )
    with pytest.raises(localcluster.ClusterError) as err:
        broken.up()
    message = str(err.value)
    assert "etcd exited with code 3" in message
    assert str(broken.log_file("etcd")) in message
    assert "simulated crash" in message
    assert all(pid is None for pid in broken.running().values())


def test_restarting_apiserver_and_etcd_keeps_the_data(cluster: Any, namespace: str) -> None:
    local = local_only(cluster)
    cluster.kubectl("create", "configmap", "survivor", "--from-literal=a=b", "-n", namespace)
    # a graceful restart of the apiserver, a crash (SIGKILL) and restart of etcd
    for component, graceful in (("kube-apiserver", True), ("etcd", False)):
        old_pid = local.pid(component)
        new_pid = local.restart_component(component, graceful=graceful)
        assert new_pid != old_pid and local.pid(component) == new_pid
        local.wait_healthy("kube-apiserver")
        wait_for(
            lambda: Kube(cluster).get_json("configmap", "survivor", "-n", namespace),
            60,
            message=f"the API to serve the configmap again after restarting {component}",
        )
    # The rest of the control plane still works: a new Deployment becomes Available.
    Kube(cluster).apply(deployment("after-restart", 1), namespace=namespace)
    wait_deployment_available(cluster, namespace, "after-restart", 1)


def test_cli_up_status_env_down(cluster: Any, tmp_path: Path) -> None:
    """The command users run: a second cluster next to the session one, on other ports."""
    local = local_only(cluster)
    binaries = str(local.ensure_binaries())
    state = tmp_path / "cli-cluster"
    base = str(localcluster.free_base_port(20443))
    # The control plane alone: a real node has tests of its own (test_real_node.py).
    common = ["--dir", str(state), "--base-port", base, "--bin-dir", binaries, "--no-real-node"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(LOCALCLUSTER), *args, *common],
            capture_output=True,
            text=True,
            timeout=240,
            stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
        )

    try:
        up = cli("up")
        assert up.returncode == 0, up.stderr
        assert f"export KUBECONFIG={state / 'kubeconfig'}" in up.stdout
        assert f"export PATH={state / 'bin'}:$PATH" in up.stdout
        assert "control plane up in" in up.stdout
        pids = {f.stem: int(f.read_text()) for f in state.glob("*.pid")}
        assert set(pids) == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        }
        for name in pids:
            assert (state / f"{name}.log").exists()
        assert os.access(state / "bin" / "kubectl", os.X_OK)

        again = cli("up")
        assert again.returncode == 0 and "already up" in again.stdout
        assert {f.stem: int(f.read_text()) for f in state.glob("*.pid")} == pids

        status = cli("status")
        assert status.returncode == 0 and "DOWN" not in status.stdout
        env = cli("env")
        assert env.stdout.startswith(f"export KUBECONFIG={state / 'kubeconfig'}")

        nodes = subprocess.run(
            [
                str(state / "bin" / "kubectl"),
                "--kubeconfig",
                str(state / "kubeconfig"),
                "get",
                "nodes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert nodes.returncode == 0 and "Ready" in nodes.stdout

        down = cli("down")
        assert down.returncode == 0, down.stderr
        assert not state.exists()
        assert not any(localcluster._pid_alive(pid) for pid in pids.values())
        # the session cluster was not touched
        assert all(local.running().values())
    finally:
        if state.exists():
            cli("down")
