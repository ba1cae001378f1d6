"""Why is my component not running? On the real node, with real images.

The operator runs against a control plane with a real node (``real_cluster``;
kwok's nodes are tainted there, so every pod is a real container). Components
whose image is missing, whose image runs as root (the rendered pods require
runAsNonRoot; nothing here relaxes that) or whose container exits at once get
``Ready=False`` with a reason and a message that name the cause, Stalled or
Reconciling as docs/design.md decides, and kstatus reads that; a healthy
component next to them stays Ready; fixing the image makes them Ready.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cdp_operator.cli.kstatus import Status, compute
from cdp_operator.render.pod_health import CRASH_LOOP_STALLED_RESTARTS
from kit import Kube

from .conftest import install_crds, manifest
from .operator_harness import OperatorProcess

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]

ORG = "why"
NS = f"cdp-org-{ORG}"
DEV = f"{ORG}-shop-development"
PROD = f"{ORG}-shop-production"
BUILD = {"buildpack": "ballerina"}


@pytest.fixture(scope="module")
def kube(real_cluster: Any) -> Kube:
    return Kube(real_cluster)


@pytest.fixture(scope="module")
def operator(
    real_cluster: Any, kube: Kube, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    install_crds(kube)
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    proc = OperatorProcess(str(real_cluster.kubeconfig), log)
    proc.start()
    yield proc
    proc.stop()
    print(f"\noperator log: {log}")


@pytest.fixture(scope="module")
def images(real_cluster: Any) -> dict[str, str]:
    """The sample images, and a variant of the HTTP one whose user is root (the image's
    config only; the pods the operator renders stay runAsNonRoot)."""
    node = real_cluster.local.node
    http = node.sample_image("cdp-samples/http")
    root = f"{real_cluster.local.registry}/e2e/http-as-root:1"
    crane = real_cluster.local.bin_dir / "crane"
    subprocess.run(
        [str(crane), "--insecure", "mutate", http, "--user=0", "-t", root],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return {
        "http": http,
        "root": root,
        "fail": node.sample_image("cdp-samples/task-fail"),
        "missing": f"{real_cluster.local.registry}/e2e/does-not-exist:1",
    }


def component(name: str, image: str, *, dev_only: bool = True, **extra: Any) -> str:
    spec: dict[str, Any] = {"project": "shop", "type": "service", "image": image, "build": BUILD}
    if dev_only:
        spec["environments"] = ["development"]
    spec.update(extra)
    return manifest("Component", name, NS, **spec)


@pytest.fixture(scope="module")
def org(kube: Kube, operator: OperatorProcess) -> Iterator[str]:
    kube.apply(manifest("Organization", ORG, tier="payg", defaultDataPlane="us"))
    kube.wait_for(lambda: kube.get("namespace", NS), 60, f"namespace {NS}")
    kube.apply(manifest("Project", "shop", NS))
    kube.wait_condition("project", "shop", NS, timeout=120)
    yield NS
    kube.delete("organization", ORG, wait=False)


def wait_reason(kube: Kube, name: str, reason: str, timeout: float = 180) -> dict[str, Any]:
    return kube.wait_condition("component", name, NS, "False", reason, timeout=timeout)


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj["status"]["conditions"]}


def env_entry(obj: dict[str, Any], env: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(e for e in obj["status"]["environments"] if e["name"] == env)
    return entry


def test_each_cause_gets_its_reason_and_the_healthy_component_stays_ready(
    real_cluster: Any, kube: Kube, org: str, images: dict[str, str], operator: OperatorProcess
) -> None:
    kube.apply(component("web", images["http"]))
    kube.apply(component("missing", images["missing"]))
    kube.apply(component("root", images["root"]))
    kube.apply(component("crash", images["fail"]))
    # Both environments; only production names an image that does not exist.
    kube.apply(
        component(
            "split",
            images["http"],
            dev_only=False,
            overrides=[{"environment": "production", "image": images["missing"]}],
        )
    )

    web = kube.wait_condition("component", "web", NS, timeout=180)
    assert conditions(web)["Ready"]["reason"] == "Available"

    # A missing image: the image and the kubelet's error; may still appear: Reconciling.
    missing = wait_reason(kube, "missing", "ImagePullFailed")
    cond = conditions(missing)
    assert images["missing"] in cond["Ready"]["message"]
    assert "not found" in cond["Ready"]["message"], cond["Ready"]["message"]
    assert cond["Reconciling"]["status"] == "True" and cond["Stalled"]["status"] == "False"
    assert env_entry(missing, "development")["reason"] == "ImagePullFailed"
    assert compute(missing).status == Status.IN_PROGRESS

    # Runs as root: the kubelet refuses it; only a new image helps: Stalled.
    root = wait_reason(kube, "root", "ImageRunsAsRoot")
    cond = conditions(root)
    assert "container has runAsNonRoot and image will run as root" in cond["Ready"]["message"]
    assert images["root"] in cond["Ready"]["message"]
    assert cond["Stalled"]["status"] == "True" and cond["Reconciling"]["status"] == "False"
    assert compute(root).status == Status.FAILED
    # The operator never relaxed the pod's security context to get there.
    deployment = kube.get("deployment", "root", DEV)
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True

    # A service whose container exits at once: crash loop, restarts and exit code.
    crash = wait_reason(kube, "crash", "CrashLoopBackOff")
    message = conditions(crash)["Ready"]["message"]
    assert "last exit code 1" in message and "restarted" in message, message
    # A few restarts in: it may still come up (a dependency that starts later).
    assert conditions(crash)["Reconciling"]["status"] == "True"
    assert compute(crash).status == Status.IN_PROGRESS

    # Per environment: development runs, production cannot pull its override's image.
    wait_reason(kube, "split", "ImagePullFailed")
    split = kube.wait_for(
        lambda: (
            (o := kube.get("component", "split", NS))
            and env_entry(o, "development")["ready"]
            and conditions(o)["Ready"]["reason"] == "ImagePullFailed"
            and o
        ),
        120,
        "split ready in development, not in production",
    )
    assert env_entry(split, "development")["ready"] is True
    assert "reason" not in env_entry(split, "development")
    assert env_entry(split, "production")["reason"] == "ImagePullFailed"
    message = conditions(split)["Ready"]["message"]
    assert message.startswith("production: ") and "development" not in message, message

    for obj in (missing, root, crash, split):
        ready = conditions(obj)["Ready"]
        print(f"\n{obj['metadata']['name']}: {ready['reason']}: {ready['message']}")

    # The healthy one next to them was never disturbed.
    web_after = kube.get("component", "web", NS)
    assert web_after is not None and conditions(web_after)["Ready"]["status"] == "True"
    assert web_after["metadata"]["resourceVersion"] == web["metadata"]["resourceVersion"]


def test_out_of_memory_and_no_node_to_run_on(
    real_cluster: Any, kube: Kube, org: str, images: dict[str, str], operator: OperatorProcess
) -> None:
    # An image whose process grows until its memory limit kills it (tail buffers a
    # line that never ends); the rendered pod is as restricted as every other.
    hungry = f"{real_cluster.local.registry}/e2e/hungry:1"
    subprocess.run(
        [str(real_cluster.local.bin_dir / "crane"), "--insecure", "mutate", images["http"],
         "--entrypoint=/bin/busybox,tail,/dev/zero", "-t", hungry],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    kube.apply(component("hungry", hungry, resources={"cpu": "100m", "memory": "16Mi"}))
    # More CPU than any node has: the scheduler says so.
    kube.apply(component("huge", images["http"], resources={"cpu": "64", "memory": "64Mi"}))

    oom = wait_reason(kube, "hungry", "OOMKilled")
    message = conditions(oom)["Ready"]["message"]
    assert "exceeding its memory limit (exit code 137)" in message, message
    assert "spec.resources.memory" in message
    assert compute(oom).status == Status.IN_PROGRESS

    huge = wait_reason(kube, "huge", "Unschedulable")
    message = conditions(huge)["Ready"]["message"]
    assert "no node can run its pods: 0/" in message and "Insufficient cpu" in message, message
    assert compute(huge).status == Status.IN_PROGRESS
    for obj in (oom, huge):
        ready = conditions(obj)["Ready"]
        print(f"\n{obj['metadata']['name']}: {ready['reason']}: {ready['message']}")
    kube.delete("component", "hungry", NS, wait=False)
    kube.delete("component", "huge", NS, wait=False)


def test_a_manual_run_whose_image_is_missing_says_why(
    kube: Kube, org: str, images: dict[str, str], operator: OperatorProcess
) -> None:
    """A pull failure is no Job failure: the run would say "Running" forever."""
    kube.apply(
        manifest(
            "Component", "adhoc", NS, project="shop", type="manual-task",
            image=images["missing"], build=BUILD, environments=["development"],
        )
    )  # fmt: skip
    kube.wait_condition("component", "adhoc", NS, timeout=120)
    kube.run("annotate", "component", "adhoc", "-n", NS, "--overwrite", "cdp.dev/run-request=r1")
    obj = kube.wait_for(
        lambda: (
            (o := kube.get("component", "adhoc", NS))
            and env_entry(o, "development").get("reason") == "ImagePullFailed"
            and o
        ),
        120,
        "the run's pull failure in status",
    )
    message = env_entry(obj, "development")["message"]
    assert message.startswith("run 'r1': Running: image ") and images["missing"] in message, message
    # The component (a task that runs on request) is available; its run is what is stuck.
    assert conditions(obj)["Ready"]["status"] == "True"
    print(f"\nadhoc (development): {message}")
    kube.delete("component", "adhoc", NS, wait=False)


@pytest.mark.slow  # the kubelet's back-off: about 3 minutes to the fifth restart
def test_a_crash_loop_is_stalled_after_enough_restarts(
    kube: Kube, org: str, images: dict[str, str], operator: OperatorProcess
) -> None:
    kube.apply(component("crash", images["fail"]))
    wait_reason(kube, "crash", "CrashLoopBackOff")
    # Stalled once it has restarted enough times (the kubelet's back-off grows
    # meanwhile): it needs a person now.
    t0 = time.monotonic()
    crash = kube.wait_for(
        lambda: (
            (o := kube.get("component", "crash", NS))
            and conditions(o)["Stalled"]["status"] == "True"
            and o
        ),
        480,
        f"crash Stalled after {CRASH_LOOP_STALLED_RESTARTS} restarts",
    )
    print(f"\ncrash loop Stalled {time.monotonic() - t0:.0f}s after CrashLoopBackOff was reported")
    cond = conditions(crash)
    assert cond["Stalled"]["reason"] == "CrashLoopBackOff"
    assert f"restarted {CRASH_LOOP_STALLED_RESTARTS} times" in cond["Ready"]["message"], cond
    assert compute(crash).status == Status.FAILED


def test_a_failing_pull_does_not_rewrite_status_while_the_kubelet_retries(
    real_cluster: Any, kube: Kube, org: str, images: dict[str, str], operator: OperatorProcess
) -> None:
    """ErrImagePull and ImagePullBackOff alternate on every retry: the status stays.
    A component of its own: the kubelet's back-off starts short (10 s, doubling)."""
    kube.apply(component("pullretry", images["missing"]))
    before = wait_reason(kube, "pullretry", "ImagePullFailed")
    pods = kube.list("pods", DEV, "cdp.dev/component=pullretry")
    assert len(pods) == 1
    versions = {pods[0]["metadata"]["resourceVersion"]}
    reasons = set()

    def retried_twice() -> bool:
        (p,) = kube.list("pods", DEV, "cdp.dev/component=pullretry")
        versions.add(p["metadata"]["resourceVersion"])
        reasons.add(p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"])
        return len(versions) >= 3

    kube.wait_for(retried_twice, 180, "the kubelet to retry the pull")
    print(f"\nthe pod's waiting reasons meanwhile: {sorted(reasons)}")
    after = kube.get("component", "pullretry", NS)
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    kube.delete("component", "pullretry", NS, wait=False)


def test_fixing_the_image_makes_it_ready_again(
    kube: Kube, org: str, images: dict[str, str], operator: OperatorProcess
) -> None:
    kube.apply(component("root", images["root"]))
    wait_reason(kube, "root", "ImageRunsAsRoot")
    kube.apply(component("root", images["http"]))
    fixed = kube.wait_condition("component", "root", NS, timeout=180)
    assert conditions(fixed)["Stalled"]["status"] == "False"
    assert compute(fixed).status == Status.CURRENT

    kube.apply(component("split", images["http"], dev_only=False, overrides=[]))
    kube.wait_condition("component", "split", NS, timeout=180)

    kube.apply(component("missing", images["missing"]))
    wait_reason(kube, "missing", "ImagePullFailed")
    kube.apply(component("missing", images["http"]))
    kube.wait_condition("component", "missing", NS, timeout=180)
