"""Metrics, Events and JSON logs of the real operator, against the real control plane."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kit import Kube

from .conftest import manifest, service_component
from .identities import operator_stopped
from .operator_harness import OperatorProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def json_operator(
    cluster: Any, crds: None, operator: OperatorProcess, tmp_path: Any
) -> Iterator[OperatorProcess]:
    """A second instance would fight the session one: stop it for this test."""
    with operator_stopped(operator):
        proc = OperatorProcess(
            str(cluster.kubeconfig), tmp_path / "op.log", ["--log-format", "json"]
        )
        proc.start()
        try:
            yield proc
        finally:
            proc.stop()


def _component(ns: str, name: str) -> str:
    return service_component(
        ns,
        name,
        "p",
        image="x/y:1",
        build={"buildpack": "ballerina"},
        endpoints=[{"name": "http", "port": 8080}],
    )


def test_metrics_events_and_json_logs(
    kube: Kube, json_operator: OperatorProcess, org_name: str
) -> None:
    kube.apply(manifest("Organization", org_name, tier="developer", defaultDataPlane="us"))
    ns = f"cdp-org-{org_name}"
    kube.wait_for(lambda: kube.get("namespace", ns), 60, "org namespace")
    kube.apply(manifest("Project", "p", ns))
    for i in range(6):
        kube.apply(_component(ns, f"c{i}"))
        kube.wait_for(lambda i=i: kube.get("component", f"c{i}", ns), 30, "created")
    kube.wait_condition("component", "c5", ns, "False", "ComponentLimitExceeded")
    kube.wait_condition("component", "c0", ns)
    json_operator.wait_settled()

    m = json_operator.metrics()
    # Reconciles and their durations, per kind of work.
    for kind in ("org", "component", "dataplane"):
        assert m.sum("cdp_reconcile_total", kind=kind) > 0, kind
        assert m.sum("cdp_reconcile_duration_seconds_count", kind=kind) > 0, kind
    # No reconcile failed (a limit hit is a verdict, not an error). The family is
    # exported even while it has no sample, so a renamed metric cannot pass for zero.
    assert "cdp_reconcile_errors" in m.families
    failed = {
        labels["kind"]: value
        for name, labels, value in m.samples
        if name == "cdp_reconcile_errors_total" and value
    }
    assert not failed, f"reconciles failed: {failed}\n{json_operator.logs()[-4000:]}"
    # Objects managed and writes made, per kind.
    assert m.value("cdp_managed_objects", kind="Deployment") >= 5
    assert m.value("cdp_managed_objects", kind="Namespace") >= 3
    # one POST each
    assert m.value("cdp_api_writes_total", kind="Deployment", operation="create") >= 5
    # The limit that was hit.
    assert m.value("cdp_limit_exceeded_total", reason="ComponentLimitExceeded") >= 1
    assert m.value("cdp_work_queue_depth") == 0
    # Standalone: always active; every kind listed once (no watch had to start over).
    assert m.value("cdp_active") == 1
    for kind in ("Component", "Deployment", "Namespace", "NetworkPolicy"):
        assert m.value("cdp_informer_lists_total", kind=kind) == 1, kind
    # Watch events per kind and type: the Deployments created were seen coming back.
    assert m.value("cdp_watch_events_total", kind="Deployment", type="ADDED") >= 5
    # The collector's pauses are counted (the operator tuned it: runtime/collector.py).
    assert m.value("cdp_gc_collections_total", generation="0") is not None

    # A Kubernetes Event on the custom resource, for the transition.
    def warning() -> bool:
        events = json.loads(
            kube.run(
                "get",
                "events.events.k8s.io",
                "-n",
                ns,
                "-o",
                "json",
                "--field-selector",
                "regarding.name=c5",
            ).stdout
        )["items"]
        return any(
            e["type"] == "Warning"
            and e["reason"] == "ComponentLimitExceeded"
            and e["regarding"]["kind"] == "Component"
            and e["reportingController"] == "cdp.dev/cdp-operator"
            for e in events
        )

    kube.wait_for(warning, 30, "a Warning event on component c5")

    # Every log line is one JSON object with the documented keys.
    lines = [line for line in json_operator.logs().splitlines() if line.strip()]
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
    kube.delete("organization", org_name, wait=False)
