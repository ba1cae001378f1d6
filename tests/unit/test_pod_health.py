"""Why a component does not run: pod summaries, the diagnosis, the pod index, and
what kstatus makes of the resulting status.

The pods below have the shape the kubelet writes (checked against the real node
in tests/e2e/test_why_not_running.py, which asserts the same reasons there).
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from cdp_operator.apply.pods import PodIndex
from cdp_operator.cli.kstatus import Status, compute
from cdp_operator.models.status import REASON_PATTERN, set_condition
from cdp_operator.render.pod_health import (
    CRASH_LOOP,
    CRASH_LOOP_STALLED_RESTARTS,
    IMAGE_PULL_FAILED,
    IMAGE_RUNS_AS_ROOT,
    INVALID_IMAGE_NAME,
    OOM_KILLED,
    REASONS,
    STALLED_AT_ONCE,
    UNSCHEDULABLE,
    diagnose,
    summarize_pod,
)

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "127.0.0.1:5000/acme/api:1"
RS_OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7d9f", "controller": True}


def pod(
    name: str = "api-7d9f-abcde",
    *,
    state: dict[str, Any] | None = None,
    last: dict[str, Any] | None = None,
    restarts: int = 0,
    ready: bool = False,
    owner: dict[str, Any] | None = RS_OWNER,
    conditions: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    namespace: str = "acme-shop-development",
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "resourceVersion": "7",
        "labels": labels
        if labels is not None
        else {
            "app.kubernetes.io/managed-by": "cdp-operator",
            "cdp.dev/organization": "acme",
            "cdp.dev/component": "api",
            "pod-template-hash": "7d9f",
        },
    }
    if owner:
        meta["ownerReferences"] = [owner]
    status: dict[str, Any] = {"phase": "Pending", "conditions": conditions or []}
    if state is not None:
        status["containerStatuses"] = [
            {
                "name": "api",
                "image": IMAGE,
                "imageID": "",
                "ready": ready,
                "restartCount": restarts,
                "started": False,
                "state": state,
                "lastState": last or {},
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "api", "image": IMAGE}]},
        "status": status,
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message} if message else {"reason": reason}}


def terminated(code: int, reason: str = "Error") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason, "startedAt": "x", "finishedAt": "y"}}


PULL_ERROR = (
    f'failed to pull and unpack image "{IMAGE}": failed to resolve reference "{IMAGE}": '
    f"{IMAGE}: not found"
)
ROOT_REFUSAL = (
    "container has runAsNonRoot and image will run as root "
    '(pod: "api-7d9f-abcde_acme-shop-development(1234)", container: api)'
)


def diagnosed(*pods: dict[str, Any], deadline: bool = False) -> Any:
    summaries = [s for p in pods if (s := summarize_pod(p)) is not None]
    return diagnose(summaries, deadline_exceeded=deadline)


# ------------------------------------------------------------------ reasons
def test_reasons_are_condition_reasons_and_documented() -> None:
    design = (ROOT / "docs" / "design.md").read_text()
    cli = (ROOT / "docs" / "cli.md").read_text()
    for reason in REASONS:
        assert re.fullmatch(REASON_PATTERN, reason)
        assert f"`{reason}`" in design, f"docs/design.md does not explain {reason}"
        assert f"`{reason}`" in cli, f"docs/cli.md does not list {reason}"


def test_a_missing_image_is_a_pull_failure_that_names_the_image_and_the_kubelet_error() -> None:
    problem = diagnosed(pod(state=waiting("ErrImagePull", PULL_ERROR)))
    assert problem.reason == IMAGE_PULL_FAILED
    assert f"image {IMAGE!r} cannot be pulled: {PULL_ERROR}" in problem.message
    assert not problem.stalled, "an image pushed a moment later still runs: Reconciling"
    assert diagnosed(pod(state=waiting("ErrImagePull", PULL_ERROR)), deadline=True).stalled


def test_pull_error_and_back_off_give_the_same_message_so_status_does_not_flap() -> None:
    first = diagnosed(pod(state=waiting("ErrImagePull", PULL_ERROR)))
    backing_off = diagnosed(
        pod(
            state=waiting(
                "ImagePullBackOff", f'Back-off pulling image "{IMAGE}": ErrImagePull: {PULL_ERROR}'
            )
        )
    )
    assert first == backing_off
    bare = diagnosed(pod(state=waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"')))
    assert bare.reason == IMAGE_PULL_FAILED and "back-off pulling the image" in bare.message


def test_an_image_that_runs_as_root_is_refused_and_needs_a_person() -> None:
    problem = diagnosed(pod(state=waiting("CreateContainerConfigError", ROOT_REFUSAL)))
    assert problem.reason == IMAGE_RUNS_AS_ROOT
    assert problem.stalled
    assert IMAGE in problem.message and "USER 65532" in problem.message
    # Without the pod's name and uid: every replica and replacement reads the same.
    assert problem.message.endswith(
        "kubelet: container has runAsNonRoot and image will run as root"
    ), problem.message
    other = pod("api-7d9f-zzzzz", state=waiting("CreateContainerConfigError", ROOT_REFUSAL))
    other["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = ROOT_REFUSAL.replace(
        "abcde", "zzzzz"
    ).replace("1234", "5678")
    assert diagnosed(other) == problem
    non_numeric = (
        "container has runAsNonRoot and image has non-numeric user (app), "
        "cannot verify user is non-root"
    )
    assert diagnosed(pod(state=waiting("CreateContainerConfigError", non_numeric))).reason == (
        IMAGE_RUNS_AS_ROOT
    )


def test_an_invalid_image_name_needs_a_person() -> None:
    problem = diagnosed(
        pod(
            state=waiting(
                "InvalidImageName", 'Failed to apply default image tag "A:": couldn\'t parse'
            )
        )
    )
    assert problem.reason == INVALID_IMAGE_NAME and problem.stalled


def test_a_crash_loop_says_restarts_and_exit_code_and_stalls_after_enough_restarts() -> None:
    crashing = pod(
        state=waiting("CrashLoopBackOff", "back-off 20s restarting failed container=api"),
        last=terminated(1),
        restarts=2,
    )
    problem = diagnosed(crashing)
    assert problem.reason == CRASH_LOOP
    assert "last exit code 1, Error" in problem.message
    assert "restarted 2 times" in problem.message
    assert not problem.stalled
    many = copy.deepcopy(crashing)
    many["status"]["containerStatuses"][0]["restartCount"] = CRASH_LOOP_STALLED_RESTARTS
    assert diagnosed(many).stalled
    assert diagnosed(crashing, deadline=True).stalled


def test_between_back_offs_a_crash_loop_is_still_a_crash_loop() -> None:
    # The container runs again (not ready), or has just exited: same reason, no flap.
    running = pod(state={"running": {"startedAt": "x"}}, last=terminated(1), restarts=3)
    exited = pod(state=terminated(1), restarts=3)
    assert diagnosed(running).reason == diagnosed(exited).reason == CRASH_LOOP
    first_exit = pod(state=terminated(2), restarts=0)
    assert "restarted 0 times" in diagnosed(first_exit).message
    # Ready after a restart: nothing to report.
    assert diagnosed(pod(state={"running": {}}, last=terminated(1), restarts=3, ready=True)) is None


def test_oom_killed() -> None:
    problem = diagnosed(
        pod(
            state=waiting("CrashLoopBackOff", "back-off"),
            last=terminated(137, "OOMKilled"),
            restarts=1,
        )
    )
    assert problem.reason == OOM_KILLED
    assert "spec.resources.memory" in problem.message and "exit code 137" in problem.message


def test_unschedulable() -> None:
    message = "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available"
    problem = diagnosed(
        pod(
            conditions=[
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                }
            ]
        )
    )
    assert problem.reason == UNSCHEDULABLE and message in problem.message and not problem.stalled


def test_healthy_starting_and_deleting_pods_are_not_problems() -> None:
    assert diagnosed(pod(state=waiting("ContainerCreating"))) is None
    assert diagnosed(pod(state={"running": {}}, ready=True)) is None
    assert diagnosed(pod()) is None  # not scheduled yet, no container status
    gone = pod(state=waiting("CrashLoopBackOff"), last=terminated(1), restarts=3)
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert diagnosed(gone) is None


def test_only_pods_a_replica_set_controls_count() -> None:
    job_pod = {"apiVersion": "batch/v1", "kind": "Job", "name": "run", "controller": True}
    assert summarize_pod(pod(owner=job_pod, state=waiting("ErrImagePull", PULL_ERROR))) is None
    assert summarize_pod(pod(owner=None, state=waiting("ErrImagePull", PULL_ERROR))) is None


def test_the_most_pressing_problem_wins_and_the_most_restarts_speak() -> None:
    root = pod("a", state=waiting("CreateContainerConfigError", ROOT_REFUSAL))
    pull = pod("b", state=waiting("ErrImagePull", PULL_ERROR))
    assert diagnosed(pull, root).reason == IMAGE_RUNS_AS_ROOT
    one = pod("c", state=waiting("CrashLoopBackOff"), last=terminated(1), restarts=1)
    four = pod("d", state=waiting("CrashLoopBackOff"), last=terminated(3), restarts=4)
    assert "restarted 4 times" in diagnosed(one, four).message
    assert list(REASONS[: len(STALLED_AT_ONCE)]) == sorted(STALLED_AT_ONCE, key=REASONS.index)


def test_summaries_stay_small() -> None:
    summary = summarize_pod(pod(state=waiting("ErrImagePull", PULL_ERROR * 20)))
    assert summary is not None
    assert len(summary.waiting_message) <= 400
    assert not hasattr(summary, "__dict__"), "slots: no per-instance dict"
    assert sys.getsizeof(summary) < 200


# ------------------------------------------------------------------ the index
KEY = ("component", "cdp-org-acme", "api")


def test_the_index_queues_a_component_only_when_its_pods_change() -> None:
    index = PodIndex()
    pulling = pod(state=waiting("ErrImagePull", PULL_ERROR))
    assert index.update("ADDED", pulling) == KEY
    # The kubelet rewrites status (a probe time, a condition's timestamp): same summary.
    again = copy.deepcopy(pulling)
    again["metadata"]["resourceVersion"] = "8"
    again["status"]["conditions"] = [{"type": "Ready", "status": "False", "lastProbeTime": "t"}]
    assert index.update("MODIFIED", again) is None
    running = pod(state={"running": {}}, ready=True)
    assert index.update("MODIFIED", running) == KEY
    assert index.pods_of("acme-shop-development", "api") == [summarize_pod(running)]
    assert index.update("DELETED", running) == KEY
    assert index.pods_of("acme-shop-development", "api") == [] and len(index) == 0


def test_a_pod_that_loses_our_labels_is_forgotten() -> None:
    index = PodIndex()
    index.update("ADDED", pod(state=waiting("ErrImagePull", PULL_ERROR)))
    relabelled = pod(state=waiting("ErrImagePull", PULL_ERROR), labels={"app": "x"})
    assert index.update("MODIFIED", relabelled) == KEY
    assert len(index) == 0


def test_a_relist_replaces_the_index_and_reports_what_vanished() -> None:
    index = PodIndex()
    index.update("ADDED", pod("a", state=waiting("ErrImagePull", PULL_ERROR)))
    other = pod(
        "w-1",
        state={"running": {}},
        ready=True,
        labels={
            "app.kubernetes.io/managed-by": "cdp-operator",
            "cdp.dev/organization": "acme",
            "cdp.dev/component": "web",
        },
    )
    index.update("ADDED", other)
    # After an expired watch: pod a is gone, web's pod is unchanged.
    assert index.replace_all([other]) == {KEY}
    assert index.replace_all([other]) == set()
    assert len(index) == 1


# -------------------------------------------------------------- what kstatus reads
def _status(problem: Any) -> dict[str, Any]:
    """The Component status the reconciler writes for this verdict (Ready=False)."""
    reconciling = not problem.stalled
    conditions: list[Any] = []
    for ctype, value, reason, message in (
        ("Ready", False, problem.reason, problem.message),
        (
            "Reconciling",
            reconciling,
            problem.reason if reconciling else "Done",
            problem.message if reconciling else "",
        ),
        (
            "Stalled",
            problem.stalled,
            problem.reason if problem.stalled else "Done",
            problem.message if problem.stalled else "",
        ),
    ):
        conditions = set_condition(
            conditions, ctype, value, reason, message, 1, "2026-01-01T00:00:00Z"
        )
    return {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "api", "namespace": "cdp-org-acme", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "conditions": [c.model_dump(by_alias=True, exclude_none=True) for c in conditions],
        },
    }


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (pod(state=waiting("ErrImagePull", PULL_ERROR)), Status.IN_PROGRESS),
        (pod(state=waiting("CreateContainerConfigError", ROOT_REFUSAL)), Status.FAILED),
        (
            pod(state=waiting("CrashLoopBackOff"), last=terminated(1), restarts=1),
            Status.IN_PROGRESS,
        ),
        (
            pod(
                state=waiting("CrashLoopBackOff"),
                last=terminated(1),
                restarts=CRASH_LOOP_STALLED_RESTARTS,
            ),
            Status.FAILED,
        ),
    ],
    ids=["pull-failure", "runs-as-root", "crash-loop", "crash-loop-stalled"],
)
def test_kstatus_reads_the_verdict(case: dict[str, Any], expected: Status) -> None:
    problem = diagnosed(case)
    result = compute(_status(problem))
    assert result.status == expected
    assert result.message == problem.message


# ------------------------------------------------------- the reconciler's intake
def test_pod_events_queue_the_component_and_pods_count_for_wait_for_sync() -> None:
    import asyncio

    from cdp_operator.apply import kinds as K
    from cdp_operator.apply.reconciler import Reconciler

    async def scenario() -> None:
        reconciler = Reconciler(object())  # type: ignore[arg-type]
        reconciler.expect_kinds(["Deployment", "Pod"])
        pulling = pod(state=waiting("ErrImagePull", PULL_ERROR))
        reconciler.listed(K.POD, [pulling], "10")
        assert not reconciler.synced.is_set(), "Deployments are not listed yet"
        assert reconciler.queue.is_queued(KEY)
        assert reconciler.cache.get("Pod", "acme-shop-development", "api-7d9f-abcde") is None
        reconciler.listed(K.DEPLOYMENT, [], "10")
        assert reconciler.synced.is_set()
        reconciler.queue.reset()
        reconciler.event(K.POD, "MODIFIED", pulling)
        assert len(reconciler.queue) == 0, "an unchanged summary queues nothing"
        reconciler.shared.queueing = False  # standing by (HA): the index stays current
        crashing = pod(state=waiting("CrashLoopBackOff"), last=terminated(1), restarts=1)
        reconciler.event(K.POD, "MODIFIED", crashing)
        assert len(reconciler.queue) == 0
        summary = summarize_pod(crashing)
        assert reconciler.pods.pods_of("acme-shop-development", "api") == [summary]

    asyncio.run(scenario())


# ------------------------------------------- the reconciler's verdict from its pods
def _readiness(reconciler: Any, name: str, environments: tuple[str, ...]) -> Any:
    from cdp_operator.models.resources import ComponentSpec, DataPlaneSpec, EnvironmentSpec
    from cdp_operator.models.tiers import Tier
    from cdp_operator.render.component_plan import ComponentPlan
    from cdp_operator.render.context import Runtime
    from cdp_operator.render.verdict import Resource

    data_plane = DataPlaneSpec.model_validate(
        {"region": "US", "egressCIDRs": ["192.0.2.0/28"], "ingress": {"baseDomain": "a.example"}}
    )
    runtimes = [
        Runtime(
            "acme",
            Tier.PAYG,
            "us",
            data_plane,
            "shop",
            env,
            EnvironmentSpec.model_validate({"dataPlane": "us", "production": env == "production"}),
        )
        for env in environments
    ]
    spec = ComponentSpec.model_validate(
        {"project": "shop", "type": "service", "image": IMAGE, "build": {"buildpack": "ballerina"}}
    )
    component = Resource(name=name, spec=spec, namespace="cdp-org-acme")
    return reconciler.components.workloads.readiness(
        component, spec, ComponentPlan(runtimes=runtimes), None, []
    )


def _deployment(name: str, namespace: str, available: int, want: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "generation": 1, "resourceVersion": "3"},
        "spec": {"replicas": want},
        "status": {
            "observedGeneration": 1,
            "replicas": want,
            "updatedReplicas": want,
            "readyReplicas": available,
            "availableReplicas": available,
        },
    }


def test_the_verdict_names_the_cause_per_environment_and_leaves_other_components_alone() -> None:
    from cdp_operator.apply.reconciler import Reconciler

    reconciler = Reconciler(object())  # type: ignore[arg-type]
    dev, prod = "acme-shop-development", "acme-shop-production"
    reconciler.cache.upsert(_deployment("api", dev, 1))
    reconciler.cache.upsert(_deployment("api", prod, 0, want=2))
    reconciler.cache.upsert(_deployment("web", prod, 2, want=2))
    for p in (
        pod("api-1", namespace=prod, state=waiting("ErrImagePull", PULL_ERROR)),
        pod("api-2", namespace=prod, state=waiting("CreateContainerConfigError", ROOT_REFUSAL)),
    ):
        reconciler.pods.update("ADDED", p)

    verdict = _readiness(reconciler, "api", ("development", "production"))
    assert (verdict.ready, verdict.reason, verdict.stalled) == (False, IMAGE_RUNS_AS_ROOT, True)
    assert verdict.message.startswith("production: 0/2 available: image ")
    assert "development" not in verdict.message
    by_env = {e["name"]: e for e in verdict.extra["environments"]}
    assert "reason" not in by_env["development"] and by_env["development"]["ready"]
    assert by_env["production"]["reason"] == IMAGE_RUNS_AS_ROOT
    assert "stalled" not in by_env["production"]

    # Another component in the same namespace, its pods fine: untouched by api's pods.
    web = _readiness(reconciler, "web", ("production",))
    assert (web.ready, web.reason) == (True, "Available")

    # The root pod replaced by one that cannot pull: Reconciling again, same env entry shape.
    reconciler.pods.update("DELETED", pod("api-2", namespace=prod))
    verdict = _readiness(reconciler, "api", ("development", "production"))
    assert (verdict.reason, verdict.stalled) == (IMAGE_PULL_FAILED, False)


def test_without_rbac_for_pods_the_operator_still_starts_and_says_so() -> None:
    """Client.may_list: 403 means no pod informer (wiring logs why); anything else
    (the API unreachable for now) keeps it, and the informer retries."""
    import asyncio

    from kubernetes.client import Configuration
    from kubernetes.client.exceptions import ApiException

    from cdp_operator.apply import kinds as K
    from cdp_operator.runtime.client import Client

    client = Client(Configuration(), user_agent="test", field_manager="test", kinds=K.BY_KIND)
    calls: list[Any] = []

    def answering(error: Exception | None) -> Any:
        async def call(method: str, path: str, **kwargs: Any) -> None:
            calls.append((method, path, kwargs["query"]))
            if error is not None:
                raise error

        return call

    try:
        client._call = answering(ApiException(status=403))  # type: ignore[method-assign]
        assert asyncio.run(client.may_list(K.POD, "a=b")) is False
        assert calls[-1] == ("GET", "/api/v1/pods", [("limit", "1"), ("labelSelector", "a=b")])
        client._call = answering(ApiException(status=503))  # type: ignore[method-assign]
        assert asyncio.run(client.may_list(K.POD)) is True
        client._call = answering(ConnectionRefusedError())  # type: ignore[method-assign]
        assert asyncio.run(client.may_list(K.POD)) is True
        client._call = answering(None)  # type: ignore[method-assign]
        assert asyncio.run(client.may_list(K.POD)) is True
    finally:
        client.close()


# ------------------------------------------------------------- manual runs' pods
def _run_pod(state: dict[str, Any], **kw: Any) -> dict[str, Any]:
    job = {"apiVersion": "batch/v1", "kind": "Job", "name": "api-run-1a2b3c4d", "controller": True}
    p = pod("api-run-1a2b3c4d-x7k2p", owner=job, state=state, **kw)
    p["metadata"]["labels"]["cdp.dev/run-token"] = "1a2b3c4d"
    return p


def test_a_manual_runs_pod_is_summarised_with_its_job_and_exits_are_the_jobs_to_judge() -> None:
    summary = summarize_pod(_run_pod(waiting("ErrImagePull", PULL_ERROR)))
    assert summary is not None and summary.job == "api-run-1a2b3c4d"
    problem = diagnose([summary], exits=False)
    assert problem is not None and problem.reason == IMAGE_PULL_FAILED
    # restartPolicy Never: an exit is a failed attempt the Job retries, not a crash loop.
    exited = summarize_pod(_run_pod(terminated(1)))
    assert exited is not None and diagnose([exited], exits=False) is None
    assert diagnose([exited]) is not None


def test_a_stuck_manual_run_says_why_and_the_component_stays_ready() -> None:
    from cdp_operator.apply import kinds as K
    from cdp_operator.apply.reconciler import Reconciler
    from cdp_operator.models.resources import ComponentSpec, DataPlaneSpec, EnvironmentSpec
    from cdp_operator.models.tiers import Tier
    from cdp_operator.render.component_plan import ComponentPlan
    from cdp_operator.render.context import Runtime
    from cdp_operator.render.verdict import Resource

    reconciler = Reconciler(object())  # type: ignore[arg-type]
    dev = "acme-shop-development"
    data_plane = DataPlaneSpec.model_validate(
        {"region": "US", "egressCIDRs": ["192.0.2.0/28"], "ingress": {"baseDomain": "a.example"}}
    )
    rt = Runtime(
        "acme", Tier.PAYG, "us", data_plane, "shop", "development",
        EnvironmentSpec.model_validate({"dataPlane": "us"}),
    )  # fmt: skip
    spec = ComponentSpec.model_validate(
        {
            "project": "shop",
            "type": "manual-task",
            "image": IMAGE,
            "build": {"buildpack": "ballerina"},
        }
    )
    from cdp_operator.render.workloads import manual_run_job_name

    token = "r1"
    job_name = manual_run_job_name("api", token)
    reconciler.cache.upsert(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": job_name, "namespace": dev, "resourceVersion": "4"},
            "status": {"active": 1},
        }
    )
    run = _run_pod(waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}": {PULL_ERROR}'))
    run["metadata"]["ownerReferences"][0]["name"] = job_name
    reconciler.listed(K.RUN_POD, [run], "9")
    verdict = reconciler.components.workloads.readiness(
        Resource(name="api", spec=spec, namespace="cdp-org-acme"),
        spec,
        ComponentPlan(runtimes=[rt]),
        {"token": token, "jobs": [f"{dev}/{job_name}"]},
        [],
    )
    assert verdict.ready, "a manual task is available; its run is what is stuck"
    (entry,) = verdict.extra["environments"]
    assert entry["reason"] == IMAGE_PULL_FAILED
    assert entry["message"].startswith(f"run {token!r}: Running: image {IMAGE!r} cannot be pulled")
    assert reconciler.pods.pods_of(dev, "api") == [], "the Deployment pods' index is another"


def _bulky(p: dict[str, Any]) -> dict[str, Any]:
    """The pod as the apiserver sends it: spec, managed fields and status details."""
    full = copy.deepcopy(p)
    meta = full["metadata"]
    meta.update(
        uid="1234",
        generateName="api-7d9f-",
        creationTimestamp="2026-12-04T00:00:00Z",
        annotations={"kubectl.kubernetes.io/restartedAt": "x" * 40},
        managedFields=[{"manager": "kubelet", "fieldsV1": {"f:status": {"x": "y" * 300}}}],
    )
    meta.setdefault("ownerReferences", []).append(
        {"kind": "Node", "name": "n", "controller": False, "uid": "9"}
    )
    container = full["spec"]["containers"][0]
    container.update(
        env=[{"name": f"VAR_{i}", "value": "v" * 40} for i in range(20)],
        securityContext={"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 5},
        resources={"limits": {"cpu": "500m", "memory": "256Mi"}},
    )
    full["spec"].update(
        volumes=[{"name": "tmp", "emptyDir": {}}],
        tolerations=[{"key": "k", "operator": "Exists"}] * 3,
        nodeName="cdp-node",
    )
    full["status"].update(podIP="10.245.0.9", hostIP="10.245.0.1", qosClass="Burstable")
    full["status"]["conditions"] = [
        *full["status"]["conditions"],
        {"type": "Initialized", "status": "True"},
        {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
    ]
    return full


PODS_IN_EVERY_STATE = [
    pod(state=waiting("ErrImagePull", PULL_ERROR)),
    pod(state=waiting("CreateContainerConfigError", ROOT_REFUSAL)),
    pod(state=waiting("CrashLoopBackOff", "back-off"), last=terminated(1), restarts=4),
    pod(state={"running": {}}, last=terminated(137, "OOMKilled"), restarts=1, ready=True),
    pod(
        conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m"}
        ]
    ),
    pod(state={"running": {}}, ready=True),
    pod(owner={"kind": "Job", "name": "api-run-1", "controller": True}),
    pod(owner=None),
]


@pytest.mark.parametrize("whole", [_bulky(p) for p in PODS_IN_EVERY_STATE])
def test_the_informers_cut_of_a_pod_keeps_what_the_summary_and_the_index_read(
    whole: dict[str, Any],
) -> None:
    from cdp_operator.render.pod_health import pod_fields

    cut = pod_fields(copy.deepcopy(whole))
    assert summarize_pod(cut) == summarize_pod(whole)
    a, b = PodIndex(), PodIndex()
    assert a.update("ADDED", cut) == b.update("ADDED", whole)
    assert a.pods_of("acme-shop-development", "api") == b.pods_of("acme-shop-development", "api")
    assert len(repr(cut)) * 3 < len(repr(whole)), "the spec's bulk is gone"
