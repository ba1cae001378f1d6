"""Components that really run: the operator (as a process) against a control plane
with a real node, whose pods pull real images, serve real HTTP and exit for real.

kwok's nodes there are tainted, so every pod of these Components runs on the real
node. Images: a stand-in HTTP server pushed under the Component's image name
(``RealNode.push_stand_in``) and the ``cdp-samples/task-ok``/``task-fail`` samples.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import localnode  # hack/localnode.py, on sys.path through tests/conftest.py
from kit import Kube

from .conftest import install_crds, manifest, manual_task
from .operator_harness import OperatorProcess

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]

PROJECT = "shop"
DEV = "development"
# Any registry's name is pulled from the local registry, which holds the samples.
TASK_OK = f"registry.example.com/cdp-samples/task-ok:{localnode.SAMPLE_TAG}"
TASK_FAIL = f"registry.example.com/cdp-samples/task-fail:{localnode.SAMPLE_TAG}"


@pytest.fixture(scope="module")
def rkube(real_cluster: Any) -> Kube:
    kube = Kube(real_cluster)
    install_crds(kube)
    return kube


@pytest.fixture(scope="module")
def roperator(
    real_cluster: Any, rkube: Kube, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(
        str(real_cluster.kubeconfig), tmp_path_factory.mktemp("operator") / "operator.log"
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def org(rkube: Kube, roperator: OperatorProcess) -> str:
    """A payg Organization with Project ``shop`` on ``us``; its namespace."""
    name = f"rw{uuid.uuid4().hex[:6]}"
    rkube.apply(manifest("Organization", name, tier="payg", defaultDataPlane="us"))
    ns = f"cdp-org-{name}"
    rkube.wait_for(lambda: rkube.get("namespace", ns), 60, f"namespace {ns}")
    rkube.apply(manifest("Project", PROJECT, ns))
    rkube.wait_condition("project", PROJECT, ns, timeout=60)
    return ns


def _runtime(org_ns: str) -> str:
    return f"{org_ns.removeprefix('cdp-org-')}-{PROJECT}-{DEV}"


def _pods(kube: Kube, namespace: str, component: str) -> list[dict[str, Any]]:
    return kube.list("pods", namespace, f"app.kubernetes.io/name={component}")


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def test_a_service_is_ready_when_its_pods_are_and_answers_through_its_service(
    real_cluster: Any, rkube: Kube, org: str
) -> None:
    image = "registry.example.com/shop/api:1.0.0"
    pushed = real_cluster.local.node.push_stand_in(image, [8080, 9090])
    digest = subprocess.run(
        [str(real_cluster.local.bin_dir / "crane"), "digest", "--insecure", pushed],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    rkube.apply(
        manifest(
            "Component", "api", org, project=PROJECT, type="service", image=image,
            build={"buildpack": "python", "configs": {"buildPackLangVersion": "3.11"}},
            environments=[DEV], replicas=2,
            endpoints=[
                {"name": "http", "port": 8080, "visibility": "project"},
                {"name": "admin", "port": 9090, "visibility": "organization"},
            ],
        )
    )  # fmt: skip
    component = rkube.wait_condition("component", "api", org, timeout=180)
    ns = _runtime(org)

    # Ready=True came from real pods: both replicas run on the real node and are Ready.
    pods = _pods(rkube, ns, "api")
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    for pod in pods:
        assert pod["spec"]["nodeName"] == localnode.NODE_NAME
        assert _ready(pod), pod["status"]
        status = pod["status"]["containerStatuses"][0]
        assert status["started"] is True and status["restartCount"] == 0
        # The image the local registry holds, pulled under the Component's image name.
        assert status["imageID"] == f"registry.example.com/shop/api@{digest}"
    (env,) = component["status"]["environments"]
    assert env["readyReplicas"] == 2 and env["message"] == "2/2 available", env

    # Its Service answers on each endpoint port, from both pods in turn (kube-proxy
    # balances the ClusterIP over the EndpointSlice's ready endpoints).
    service = rkube.get("service", "api", ns)
    assert service is not None
    cluster_ip = service["spec"]["clusterIP"]
    names = {p["metadata"]["name"] for p in pods}

    def answers(port: int) -> str | None:
        try:
            return _http_get(f"http://{cluster_ip}:{port}/")
        except OSError:  # refused until kube-proxy has the ready endpoints (about a second)
            return None

    for port in (8080, 9090):
        rkube.wait_for(lambda p=port: answers(p), 30, f"the Service to answer on {port}")
        answered: set[str] = set()

        def both_answered(port: int = port, answered: set[str] = answered) -> bool:
            # The Service answers once kube-proxy has one ready endpoint; the second
            # pod's may reach the EndpointSlice and kube-proxy a moment later (CI saw
            # 40 requests in a row answered by one pod), so ask until both have
            # answered, within the bound.
            page = _http_get(f"http://{cluster_ip}:{port}/")
            assert page.startswith(f"hello from {image} in pod "), page
            assert page.rstrip().endswith(f"port {port}"), page
            answered.add(page.split(" in pod ")[1].split(",")[0])
            assert answered <= names, (port, answered, names)
            return answered == names

        rkube.wait_for(
            both_answered,
            30,
            lambda p=port, a=answered: f"both pods to answer on {p} (so far {sorted(a)})",
            interval=0.05,
        )


def test_a_scheduled_task_really_runs_a_job_to_completion(rkube: Kube, org: str) -> None:
    rkube.apply(
        manifest(
            "Component", "tick", org, project=PROJECT, type="scheduled-task", image=TASK_OK,
            build={"buildpack": "ballerina"}, schedule="* * * * *", environments=[DEV],
        )
    )  # fmt: skip
    rkube.wait_condition("component", "tick", org, timeout=60)
    ns = _runtime(org)

    # The CronJob fires at the next full minute; its Job must really complete.
    def finished() -> dict[str, Any] | None:
        for job in rkube.list("jobs", ns, "app.kubernetes.io/name=tick"):
            for cond in (job.get("status") or {}).get("conditions") or []:
                if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
                    return job
        return None

    job = rkube.wait_for(finished, 150, "a Job of the CronJob to finish")
    assert [c["type"] for c in job["status"]["conditions"] if c["status"] == "True"][-1] == (
        "Complete"
    ), job["status"]
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("CronJob", "tick")
    (pod,) = [
        p
        for p in _pods(rkube, ns, "tick")
        if p["metadata"]["labels"].get("job-name") == job["metadata"]["name"]
    ]
    assert pod["spec"]["nodeName"] == localnode.NODE_NAME
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    logs = rkube.run("logs", "-n", ns, f"job/{job['metadata']['name']}").stdout
    assert logs == "task done\n"
    cronjob = rkube.get("cronjob", "tick", ns)
    assert cronjob is not None and cronjob["status"].get("lastSuccessfulTime"), cronjob["status"]
    # The suspend-free CronJob keeps firing; stop it before the next minute's Job.
    rkube.delete("component", "tick", org, wait=False)


def _run_message(kube: Kube, org: str, component: str) -> str:
    obj = kube.get("component", component, org)
    assert obj is not None
    (env,) = [e for e in obj["status"].get("environments") or [] if e["name"] == DEV] or [{}]
    return str(env.get("message", ""))


@pytest.mark.parametrize(
    ("image", "outcome", "exit_code"), [(TASK_OK, "Complete", 0), (TASK_FAIL, "Failed", 1)]
)
def test_a_manual_runs_outcome_is_the_containers_exit(
    rkube: Kube, org: str, image: str, outcome: str, exit_code: int
) -> None:
    name = f"run-{outcome.lower()}"
    spec = yaml.safe_load(manual_task(org, name, PROJECT, image))
    spec["spec"]["environments"] = [DEV]
    rkube.apply(json.dumps(spec))
    rkube.wait_condition("component", name, org, timeout=60)
    token = f"t-{uuid.uuid4().hex[:6]}"
    rkube.run("annotate", "component", name, "-n", org, f"cdp.dev/run-request={token}")
    ns = _runtime(org)

    def job_done() -> dict[str, Any] | None:
        for job in rkube.list("jobs", ns, f"app.kubernetes.io/name={name}"):
            for cond in (job.get("status") or {}).get("conditions") or []:
                if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
                    return {"job": job, "type": cond["type"]}
        return None

    # A failing run is retried (backoffLimit 2, kubelet's back-off between): bounded.
    done = rkube.wait_for(job_done, 240, f"the run of {name} to finish")
    assert done["type"] == outcome, done["job"]["status"]
    job = done["job"]
    assert job["metadata"]["annotations"]["cdp.dev/run-token"] == token
    pods = [
        p
        for p in _pods(rkube, ns, name)
        if p["metadata"]["labels"].get("job-name") == job["metadata"]["name"]
    ]
    assert pods and all(p["spec"]["nodeName"] == localnode.NODE_NAME for p in pods)
    codes = {p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods}
    assert codes == {exit_code}, codes
    # The Component reports the run's outcome as the Job (the container) decided it.
    rkube.wait_for(
        lambda: _run_message(rkube, org, name) == f"run {token!r}: {outcome}",
        90,
        f"status of {name} to report {outcome}: {_run_message(rkube, org, name)!r}",
    )
    obj = rkube.get("component", name, org)
    assert obj is not None and obj["status"]["lastRun"]["token"] == token
