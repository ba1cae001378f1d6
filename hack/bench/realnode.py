#!/usr/bin/env python3
"""`make bench-realnode`: the operator installed by Helm on a real node, timed.

Needs what a real node needs (root on Linux; ``hack/localnode.py``). Starts a
local control plane of its own with a real node (in a temporary directory, on
free ports), builds the operator image (``hack/image/build.sh``) into the local
registry, installs ``charts/cdp-operator`` with two replicas (peering; the
chart's values otherwise), and measures:

* setup: control plane + node start, image build, helm install until both
  replicas are Ready;
* create -> pod Ready: N Components (default 24, one at a time, each deleted
  before the next; a ``service`` in one environment, 1 replica, the default
  100m CPU, a stand-in HTTP image) from the create request until its pod is
  Ready on the real node (and until the Component says Ready=True);
* failover: per fault (``kill -9`` of the active replica's main process on the
  node, and deleting the active pod), R runs (default 5): a Component (a
  scheduled task: Ready needs only the operator) is created right after the
  fault; the time until it is Ready=True, and which replica acts afterwards.

Prints a summary (median, p95, spread) and writes bench-results/realnode-<time>.json.
Every wait is bounded; only 127.0.0.1 and the node's bridge are used.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for p in (HERE, REPO / "hack", REPO / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from observe import percentile  # noqa: E402

import localcluster  # noqa: E402
import localnode  # noqa: E402
from kit import pod_active, wait_for  # noqa: E402
from kit.faults import FAULTS, fail_replica  # noqa: E402

OPERATOR_NS = "cdp-system"
RELEASE = "cdp-operator"
ORG = "bench"
ORG_NS = f"cdp-org-{ORG}"
PROJECT = "lat"
RUNTIME_NS = f"{ORG}-{PROJECT}-development"
IMAGE = "registry.example.com/bench/web:1"

Obj = dict[str, Any]


def log(msg: str) -> None:
    print(f"[realnode-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, cluster: localcluster.LocalCluster) -> None:
        self.cluster = cluster
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "PATH": f"{cluster.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        proc = subprocess.run(
            [str(self.cluster.bin_dir / "kubectl"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def apply(self, *objects: Obj) -> None:
        self.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
        )

    def get(self, what: str, ns: str | None = None) -> Obj:
        args = ["get", what, "-o", "json"] + (["-n", ns] if ns else [])
        return json.loads(self.kubectl(*args))  # type: ignore[no-any-return]

    def operator_pods(self) -> list[Obj]:
        items = self.get("pods", OPERATOR_NS)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def one_active(self) -> tuple[Obj, Obj] | None:
        """(active, standby): two Ready replicas, exactly one acting (its cdp_active)."""
        pods = [p for p in self.operator_pods() if _ready(p)]
        if len(pods) != 2:
            return None
        states = [pod_active(p) for p in pods]
        if states == [True, False]:
            return pods[0], pods[1]
        if states == [False, True]:
            return pods[1], pods[0]
        return None

    def peers(self) -> Obj:
        return dict(self.get(f"clusterkopfpeering/{RELEASE}").get("status") or {})


def _ready(obj: Obj) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _component_ready(obj: Obj) -> bool:
    status = obj.get("status") or {}
    return _ready(obj) and status.get("observedGeneration") == obj["metadata"].get("generation")


def until(what: str, check: Any, timeout: float, poll: float = 0.05) -> Any:
    """The tests' bounded wait, polling often: what it times is the wait itself."""
    return wait_for(check, timeout, what, interval=poll)


def summary(values: list[float]) -> Obj:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 2),
        "p95": round(percentile(values, 95), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def _component(name: str, type_: str, **spec: Any) -> Obj:
    """A Component of the benchmark's project, in development only."""
    return {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": ORG_NS},
        "spec": {
            "project": PROJECT,
            "type": type_,
            "image": IMAGE,
            "environments": ["development"],
            **spec,
        },
    }


def service_component(name: str, cpu: str) -> Obj:
    return _component(
        name,
        "service",
        build={"buildpack": "go", "configs": {"buildPackLangVersion": "1.23"}},
        replicas=1,
        # Request = limit, and the pod's CPU quota also throttles runc init and the
        # pause container: with 10m, sandbox and container start took 4 s each.
        resources={"cpu": cpu, "memory": "128Mi"},
        endpoints=[{"name": "http", "port": 8080, "visibility": "project"}],
    )


def scheduled_task(name: str) -> Obj:
    build = {"buildpack": "ballerina"}
    return _component(name, "scheduled-task", build=build, schedule="0 3 * * *")


def setup(bench: Bench, figures: Obj) -> None:
    cluster = bench.cluster
    t0 = time.monotonic()
    build = subprocess.run(
        ["bash", str(REPO / "hack" / "image" / "build.sh")],
        env={**os.environ, "REGISTRY": cluster.registry},
        capture_output=True,
        text=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    if build.returncode != 0:
        raise RuntimeError(f"image build failed: {build.stderr[-3000:]}")
    figures["image_build_s"] = round(time.monotonic() - t0, 1)
    ref = build.stdout.strip().splitlines()[-1]
    crane = str(cluster.bin_dir / "crane")
    digest = subprocess.run(
        [crane, "digest", "--insecure", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    manifest = json.loads(
        subprocess.run(
            [crane, "manifest", "--insecure", ref], capture_output=True, text=True, check=True
        ).stdout
    )
    figures["image"] = {
        "ref": f"{ref.rsplit(':', 1)[0]}@{digest}",
        "compressed_mb": round(sum(layer["size"] for layer in manifest["layers"]) / 1e6, 1),
    }
    log(f"image {ref} built in {figures['image_build_s']}s")

    bench.kubectl("create", "namespace", OPERATOR_NS)
    bench.kubectl(
        "label", "namespace", OPERATOR_NS, "pod-security.kubernetes.io/enforce=restricted"
    )
    t0 = time.monotonic()
    chart = str(REPO / "charts" / "cdp-operator")
    subprocess.run(
        [
            str(cluster.bin_dir / "helm"), "install", RELEASE, chart, "-n", OPERATOR_NS,
            "--set", f"image.repository={ref.rsplit(':', 1)[0]}", "--set", f"image.digest={digest}",
            "--set", "replicaCount=2", "--wait", "--timeout=300s",
        ],
        env=bench.env, check=True, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    until("one active replica", bench.one_active, 120, poll=0.5)
    figures["helm_install_to_two_ready_s"] = round(time.monotonic() - t0, 1)
    took = figures["helm_install_to_two_ready_s"]
    log(f"helm install: two replicas Ready, one active, in {took}s")

    cluster.node.push_stand_in(IMAGE, [8080])
    bench.apply(
        {
            "apiVersion": "cdp.dev/v1alpha1", "kind": "DataPlane", "metadata": {"name": "local"},
            "spec": {"region": "Local", "egressCIDRs": ["203.0.113.0/28"],
                     "ingress": {"className": "nginx", "baseDomain": "local.apps.cdp.example.com"}},
        },
        {
            "apiVersion": "cdp.dev/v1alpha1", "kind": "Organization", "metadata": {"name": ORG},
            "spec": {"tier": "enterprise", "defaultDataPlane": "local"},
        },
    )  # fmt: skip
    until(
        "the organization's namespace", lambda: bench.kubectl("get", "ns", ORG_NS, check=False), 60
    )
    bench.apply(
        {"apiVersion": "cdp.dev/v1alpha1", "kind": "Project",
         "metadata": {"name": PROJECT, "namespace": ORG_NS}, "spec": {}}
    )  # fmt: skip
    bench.kubectl(
        "wait", "-n", ORG_NS, "--for=condition=Ready", f"project/{PROJECT}", "--timeout=120s"
    )


def create_to_pod_ready(bench: Bench, count: int, cpu: str, figures: Obj) -> None:
    from kubernetes import client, config, watch

    api = config.new_client_from_config(config_file=str(bench.cluster.kubeconfig))
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    samples: list[dict[str, float | str]] = []
    for i in range(count):
        name = f"lat-{i:02d}"
        body = service_component(name, cpu)
        t0 = time.monotonic()
        custom.create_namespaced_custom_object("cdp.dev", "v1alpha1", ORG_NS, "components", body)
        created = ready = None
        phases: dict[str, float] = {}
        stream = watch.Watch()
        for event in stream.stream(
            core.list_namespaced_pod,
            RUNTIME_NS,
            label_selector=f"app.kubernetes.io/name={name}",
            timeout_seconds=180,
        ):
            pod = event["object"]
            created = created or time.monotonic()
            conditions = pod.status.conditions or []
            if any(c.type == "Ready" and c.status == "True" for c in conditions):
                ready = time.monotonic()
                node = pod.spec.node_name
                # Where the time goes, from the pod's own record (whole seconds).
                at = {c.type: c.last_transition_time for c in conditions}
                born = pod.metadata.creation_timestamp
                sandbox = at.get("PodReadyToStartContainers")
                if sandbox is not None:
                    phases = {
                        "sandbox_s": (sandbox - born).total_seconds(),
                        "container_start_s": (at["Ready"] - sandbox).total_seconds(),
                    }
                stream.stop()
        if ready is None or created is None:
            raise TimeoutError(f"{name}: no Ready pod within 180 s")
        if node != localnode.NODE_NAME:
            raise RuntimeError(f"{name}'s pod ran on {node}, not on the real node")

        def component_ready(n: str = name) -> bool:
            obj = custom.get_namespaced_custom_object(
                "cdp.dev", "v1alpha1", ORG_NS, "components", n
            )
            return _component_ready(obj)

        until(f"{name} Ready=True", component_ready, 120)
        done = time.monotonic()
        samples.append(
            {
                "component": name,
                "pod_created_s": round(created - t0, 3),
                "pod_ready_s": round(ready - t0, 3),
                "component_ready_s": round(done - t0, 3),
                **phases,
            }
        )
        log(f"{name}: pod created {created - t0:.2f}s, Ready {ready - t0:.2f}s")
        log(f"{name}: Component Ready {done - t0:.2f}s")
        # One at a time: the next sample starts on a node without this one's pod.
        custom.delete_namespaced_custom_object("cdp.dev", "v1alpha1", ORG_NS, "components", name)
        until(
            f"{name}'s pod gone",
            lambda n=name: (
                not core.list_namespaced_pod(
                    RUNTIME_NS, label_selector=f"app.kubernetes.io/name={n}"
                ).items
            ),
            120,
            poll=0.2,
        )
    figures["create_to_pod_ready"] = {
        "cpu": cpu,
        "samples": samples,
        **{
            key: summary([float(s[f"{key}_s"]) for s in samples if f"{key}_s" in s])
            for key in ("pod_created", "pod_ready", "component_ready", "sandbox", "container_start")
        },
    }


def failovers(bench: Bench, runs: int, figures: Obj) -> None:
    results: dict[str, list[Obj]] = {fault: [] for fault in FAULTS}
    for i in range(runs):
        for fault in results:
            active, standby = until(
                "two Ready replicas, one active", bench.one_active, 240, poll=0.5
            )
            # Let both keep-alives settle, at a random-ish moment of the keep-alive period.
            time.sleep(2 + (i * 3.7) % 8)
            t0 = time.monotonic()
            fail_replica(bench.kubectl, bench.cluster.node, active, fault)
            component = f"fo-{fault}-{i}"
            bench.apply(scheduled_task(component))
            until(
                f"{component} Ready=True",
                lambda c=component: _component_ready(bench.get(f"component/{c}", ORG_NS)),
                240,
                poll=0.1,
            )
            took = time.monotonic() - t0
            after, _ = until("one active replica again", bench.one_active, 240, poll=0.5)
            recovered = time.monotonic() - t0
            acting = (
                "standby"
                if after["metadata"]["name"] == standby["metadata"]["name"]
                else ("restarted" if fault == "kill-9" else "replacement")
            )
            results[fault].append(
                {
                    "component_ready_s": round(took, 2),
                    "two_replicas_again_s": round(recovered, 2),
                    "acting_after": acting,
                }
            )
            log(f"{fault} #{i}: new Component Ready after {took:.2f}s; {acting} acts")
            log(f"{fault} #{i}: two replicas Ready again after {recovered:.1f}s")
    figures["failover"] = {
        fault: {
            "runs": rows,
            "component_ready": summary([r["component_ready_s"] for r in rows]),
        }
        for fault, rows in results.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=24, help="create->pod Ready samples")
    parser.add_argument("--failovers", type=int, default=5, help="runs per fault")
    parser.add_argument(
        "--cpu", default="100m", help="each Component's CPU (request = limit; the default's)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    reason = localnode.unsupported_reason()
    if reason:
        print(f"error: no real node on this machine: {reason}", file=sys.stderr)
        return 1
    figures: Obj = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip(),
        "cpus": os.cpu_count(),
    }
    state = Path(tempfile.mkdtemp(prefix="cdp-bench-realnode-"))
    cluster = localcluster.LocalCluster(
        state / "c", localcluster.free_base_port(21443), die_with_parent=True, real_node=True
    )
    try:
        t0 = time.monotonic()
        cluster.up()
        figures["cluster_up_with_node_s"] = round(time.monotonic() - t0, 1)
        bench = Bench(cluster)
        setup(bench, figures)
        create_to_pod_ready(bench, args.components, args.cpu, figures)
        failovers(bench, args.failovers, figures)
    finally:
        cluster.down()
        shutil.rmtree(state, ignore_errors=True)
    out = args.out or REPO / "bench-results" / f"realnode-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    lat = figures["create_to_pod_ready"]
    print(f"control plane + real node up: {figures['cluster_up_with_node_s']} s")
    image = figures["image"]
    print(f"image build: {figures['image_build_s']} s, {image['compressed_mb']} MB compressed")
    print(f"helm install, two replicas Ready: {figures['helm_install_to_two_ready_s']} s")
    for key in ("pod_created", "pod_ready", "component_ready", "sandbox", "container_start"):
        print(f"create -> {key.replace('_', ' ')}: {lat[key]}")
    for fault, data in figures["failover"].items():
        acting = [r["acting_after"] for r in data["runs"]]
        print(f"failover after {fault}: new Component Ready {data['component_ready']}")
        print(f"  acting afterwards: {acting}")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
