"""The test toolkit (tests/kit) itself: its waits, audit reader, metrics and identities."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from kit import (
    AuditLog,
    Kube,
    WaitTimeout,
    breakdown,
    describe,
    holds_for,
    observe_until,
    parse_metrics,
    wait_for,
)
from kit.faults import FAULTS, fail_replica
from kit.identity import kubeconfig_entries, token_kubeconfig
from kit.processes import outputs_per_hash_seed


# ------------------------------------------------------------------------ wait_for
def test_wait_for_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, "", "done"])
    assert wait_for(lambda: next(values), 5, "done", interval=0) == "done"


def test_a_timeout_shows_the_last_state_not_the_first() -> None:
    state = {"n": 0}

    def step() -> None:
        state["n"] += 1
        return None

    with pytest.raises(WaitTimeout) as err:
        wait_for(step, 0.05, "n to be big", interval=0.01, observe=lambda: f"n={state['n']}")
    message = str(err.value)
    assert "waiting for n to be big" in message
    assert f"last seen: n={state['n']}" in message and state["n"] > 1


def test_a_timeout_shows_the_last_falsy_value_or_error_and_a_late_message() -> None:
    seen = iter(range(1_000_000))
    with pytest.raises(WaitTimeout, match=r"last seen: \[\]"):
        wait_for(lambda: [] if next(seen) > 0 else None, 0.05, "a list", interval=0.01)

    def missing() -> Any:
        return {}["status"]

    with pytest.raises(WaitTimeout, match="last error: KeyError: 'status'"):
        wait_for(missing, 0.02, lambda: "computed at timeout", interval=0.01)


def test_abort_ends_the_wait_at_once() -> None:
    def dead() -> None:
        raise AssertionError("the controller exited 1")

    with pytest.raises(AssertionError, match="exited 1"):
        wait_for(lambda: None, 3600, "never", abort=dead)


def test_observe_until_returns_the_first_observation_that_is_done() -> None:
    values = iter([1, 2, 3, 4])
    assert observe_until(lambda: next(values), lambda n: n >= 3, 3600, interval=0) == 3


def test_observe_until_returns_the_last_observation_when_time_runs_out() -> None:
    state = {"n": 0}

    def observe() -> int:
        state["n"] += 1
        return state["n"]

    last = observe_until(observe, lambda n: False, 0.05, interval=0.01)
    assert last == state["n"] and last > 1


def test_holds_for_fails_at_the_first_falsy_value_with_what_it_saw() -> None:
    values = iter(["there", "there", None])
    with pytest.raises(AssertionError, match="the service no longer held; seen: None"):
        holds_for(lambda: next(values), 3600, "the service", interval=0)


def test_holds_for_checks_until_the_end() -> None:
    calls = []
    holds_for(lambda: calls.append(1) or True, 0.05, "always", interval=0.01)
    assert len(calls) > 2


class FakeCluster:
    """``kubectl get ... -o json`` answers from a list of successive states."""

    def __init__(self, states: list[dict[str, Any] | None]) -> None:
        self.states = states
        self.calls = 0

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        if state is None:
            return subprocess.CompletedProcess(args, 1, "", 'Error: "x" not found (NotFound)')
        return subprocess.CompletedProcess(args, 0, json.dumps(state), "")


def _component(reason: str, generation: int, observed: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "api", "generation": generation},
        "status": {
            "observedGeneration": observed,
            "conditions": [{"type": "Ready", "status": "False", "reason": reason}],
        },
    }


def test_wait_condition_reports_the_last_observed_object() -> None:
    cluster = FakeCluster([None, _component("Progressing", 1, 1), _component("ImagePull", 2, 2)])
    with pytest.raises(WaitTimeout) as err:
        Kube(cluster).wait_condition("component", "api", "ns", timeout=0.5, interval=0.01)
    assert cluster.calls > 3
    message = str(err.value)
    assert "ImagePull" in message and "generation 2" in message, message
    assert "Progressing" not in message and "no such object" not in message


def test_wait_condition_needs_the_current_generation() -> None:
    ready = _component("Ready", 3, 2)
    ready["status"]["conditions"][0].update(status="True")
    with pytest.raises(WaitTimeout, match="observedGeneration 2"):
        Kube(FakeCluster([ready])).wait_condition("component", "api", "ns", timeout=0.1)
    ready["status"]["observedGeneration"] = 3
    assert Kube(FakeCluster([ready])).wait_condition("component", "api", "ns") == ready


def test_get_is_none_for_a_missing_object_and_fails_otherwise() -> None:
    assert Kube(FakeCluster([None])).get("component", "api", "ns") is None

    class Broken(FakeCluster):
        def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
            return subprocess.CompletedProcess(args, 1, "", "Unauthorized")

    with pytest.raises(AssertionError, match="Unauthorized"):
        Kube(Broken([])).get("component", "api", "ns")


# ----------------------------------------------------------------------- audit log
def _event(verb: str, user: str, agent: str, stage: str = "ResponseComplete", **ref: str) -> str:
    return json.dumps(
        {
            "stage": stage,
            "verb": verb,
            "user": {"username": user},
            "userAgent": agent,
            "objectRef": {"resource": "deployments", "namespace": "ns", "name": "api", **ref},
            "responseStatus": {"code": 409 if verb == "update" else 200},
        }
    )


def test_the_audit_log_reads_from_a_mark_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    assert log.mark() == 0 and log.events() == []
    path.write_text(_event("create", "a", "cdp-operator/1") + "\n")
    mark = log.mark()
    with open(path, "a") as fh:
        fh.write(_event("get", "a", "cdp-operator/1") + "\n")
        fh.write(_event("patch", "b", "kubectl/1", subresource="status") + "\n")
        fh.write(_event("update", "a", "cdp-operator/1") + "\n")
        fh.write(_event("delete", "a", "cdp-operator/1", stage="RequestReceived") + "\n")
        fh.write(_event("delete", "a", "cdp-operator/1")[:30])  # a line being written
    assert [e["verb"] for e in log.events()] == ["create", "get", "patch", "update"]
    assert [e["verb"] for e in log.writes(mark)] == ["patch", "update"]
    assert [e["verb"] for e in log.writes(mark, username="a")] == ["update"]
    assert [e["verb"] for e in log.writes(0, mark)] == ["create"]
    assert [e["verb"] for e in log.events(user_agent_prefix="kubectl/")] == ["patch"]
    assert describe(log.writes(mark)[0]) == "patch deployments/status ns/api -> 200"
    assert breakdown(log.writes()) == {
        "create deployments": 1,
        "patch deployments/status": 1,
        "update deployments (409)": 1,
    }
    assert AuditLog(None).writes() == [] and AuditLog(None).mark() == 0


# ------------------------------------------------------------------------- metrics
def test_metrics_are_parsed_by_prometheus_client() -> None:
    registry = CollectorRegistry()
    writes = Counter("cdp_api_writes_total", "w", ["kind", "operation"], registry=registry)
    Counter("cdp_reconcile_errors_total", "e", ["kind"], registry=registry)
    Gauge("cdp_active", "a", registry=registry).set(1)
    writes.labels("Deployment", "create").inc(5)
    writes.labels("Deployment", "apply").inc(2)
    writes.labels("Service", "create").inc()
    m = parse_metrics(generate_latest(registry).decode())
    assert m['cdp_api_writes_total{kind="Deployment",operation="create"}'] == 5
    assert m.value("cdp_api_writes_total", operation="create", kind="Deployment") == 5
    assert m.value("cdp_api_writes_total", kind="Deployment") is None  # not one sample
    assert m.sum("cdp_api_writes_total", kind="Deployment") == 7
    assert m.sum("cdp_api_writes_total") == 8
    assert m.value("cdp_active") == 1
    # A labelled counter with no sample yet: its family is there, its sum is zero.
    assert "cdp_reconcile_errors" in m.families
    assert m.sum("cdp_reconcile_errors_total") == 0
    with pytest.raises(ValueError, match="as keywords"):
        m.sum('cdp_api_writes_total{kind="Deployment"')
    with pytest.raises(ValueError):
        parse_metrics("cdp_active{ 1\n")


# ---------------------------------------------------------------------- identities
def test_a_token_kubeconfig_keeps_server_and_ca_and_only_the_token(tmp_path: Path) -> None:
    admin = tmp_path / "admin.kubeconfig"
    server = {"server": "https://127.0.0.1:26443", "certificate-authority-data": "Q0E="}
    admin.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {"name": "other", "cluster": {"server": "https://x"}},
                    {"name": "local", "cluster": server},
                ],
                "users": [{"name": "admin", "user": {"client-key-data": "S0VZ"}}],
                "contexts": [
                    {"name": "o", "context": {"cluster": "other", "user": "admin"}},
                    {"name": "l", "context": {"cluster": "local", "user": "admin"}},
                ],
                "current-context": "l",
            }
        )
    )
    assert kubeconfig_entries(admin) == (server, {"client-key-data": "S0VZ"})

    class Cluster:
        kubeconfig = admin

    path = token_kubeconfig(Cluster(), "s3cret", tmp_path / "sa.kubeconfig", "sa")
    assert path.stat().st_mode & 0o777 == 0o600
    cluster, user = kubeconfig_entries(path)
    assert cluster == server and user == {"token": "s3cret"}


# --------------------------------------------------------------- fresh interpreters
def test_fresh_interpreters_see_what_one_process_cannot() -> None:
    """Why the determinism tests run in fresh interpreters: a set of strings iterates
    alike within one process, and differently under another hash seed."""
    letters = set("abcdefghijklmnop")
    assert list(letters) == list(set("abcdefghijklmnop"))  # one process: always equal
    outputs = outputs_per_hash_seed("print(list(set('abcdefghijklmnop')))")
    assert len(set(outputs.values())) > 1


# -------------------------------------------------------------------------- faults
def test_the_replica_faults() -> None:
    calls: list[tuple[str, ...]] = []
    pod = {
        "metadata": {"name": "op-1", "namespace": "cdp-system"},
        "status": {"containerStatuses": [{"containerID": "containerd://abc"}]},
    }
    victim = subprocess.Popen(["sleep", "600"])

    class Node:
        def container_pid(self, cid: str) -> int:
            assert cid == "containerd://abc"
            return victim.pid

    fail_replica(lambda *args: calls.append(args), Node(), pod, "delete-pod")
    assert calls == [("delete", "pod", "-n", "cdp-system", "op-1", "--wait=false")]
    fail_replica(lambda *args: calls.append(args), Node(), pod, "kill-9")
    assert victim.wait(30) == -9
    with pytest.raises(ValueError, match="'reboot' is none of"):
        fail_replica(lambda *args: None, Node(), pod, "reboot")
    assert FAULTS == ("kill-9", "delete-pod")
