"""The domain decisions the reconcilers take from render/: readiness, run
requests, build retention, the prune policy, status from a verdict, billing.
Pure functions: no API, no cache, no clock."""

from __future__ import annotations

from typing import Any

import pytest

from cdp_operator.models import labels as L
from cdp_operator.models.resources import ComponentSpec, DataPlaneSpec, EnvironmentSpec
from cdp_operator.models.status import EGRESS_ALLOWLIST_EFFECTIVE
from cdp_operator.models.tiers import Billing, Tier
from cdp_operator.render.billing import all_paid, held_slot
from cdp_operator.render.context import Runtime
from cdp_operator.render.pod_health import IMAGE_PULL_FAILED, IMAGE_RUNS_AS_ROOT
from cdp_operator.render.prune import is_org_level, may_prune, namespace_owned_by, to_prune
from cdp_operator.render.readiness import component_verdict, job_state, live_state, where
from cdp_operator.render.runs import invalid_run_request, is_new_run, runs_to_prune
from cdp_operator.render.status import events_for, only_progress, status_of
from cdp_operator.render.verdict import ExtraCondition, Verdict

MANAGED = {L.MANAGED_BY: L.MANAGED_BY_VALUE}
DATA_PLANE = DataPlaneSpec.model_validate(
    {"region": "US", "egressCIDRs": ["192.0.2.0/28"], "ingress": {"baseDomain": "a.example"}}
)


def runtime(env: str, production: bool = False) -> Runtime:
    spec = EnvironmentSpec.model_validate({"dataPlane": "us", "production": production})
    return Runtime("acme", Tier.PAYG, "us", DATA_PLANE, "shop", env, spec)


def service(**extra: Any) -> ComponentSpec:
    spec = {"project": "shop", "type": "service", "image": "registry.example/api:1"}
    return ComponentSpec.model_validate({**spec, "build": {"buildpack": "ballerina"}, **extra})


def obj(kind: str, name: str, namespace: str = "", **meta: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace, **meta}}


# ------------------------------------------------------------------ run requests
def test_a_run_request_is_new_until_a_run_carries_its_token() -> None:
    assert is_new_run("r1", None)
    assert is_new_run("r2", "r1")
    assert not is_new_run("r1", "r1")
    assert not is_new_run("", None) and not is_new_run(None, None)


def test_a_run_request_token_longer_than_the_limit_is_refused_naming_the_annotation() -> None:
    token = "x" * (L.RUN_TOKEN_MAX + 1)
    message = invalid_run_request(token, None, None, None)
    assert message is not None
    assert message.startswith(f"metadata.annotations[{L.RUN_REQUEST}]")
    assert f"got {L.RUN_TOKEN_MAX + 1}" in message
    assert invalid_run_request("x" * L.RUN_TOKEN_MAX, None, None, [runtime("dev")]) is None


def test_a_new_run_in_an_unknown_environment_is_refused_an_old_one_is_not_judged() -> None:
    runtimes = [runtime("development"), runtime("production")]
    message = invalid_run_request("r1", None, "development,staging", runtimes)
    assert message is not None and "staging is not an environment" in message
    assert L.RUN_ENVIRONMENTS in message
    # The run already started (its token is lastRun's): nothing to judge again.
    assert invalid_run_request("r1", "r1", "staging", runtimes) is None
    # The component cannot run now (no runtimes given): only the token is judged.
    assert invalid_run_request("r2", "r1", "staging", None) is None
    assert invalid_run_request("r2", "r1", "production", runtimes) is None


def _job(name: str, namespace: str, created: str, token: str = "") -> dict[str, Any]:
    return obj(
        "Job",
        name,
        namespace,
        creationTimestamp=created,
        annotations={L.RUN_TOKEN: token or name},
    )


def test_build_retention_keeps_the_newest_runs_per_namespace() -> None:
    jobs = [
        _job("a", "dev", "2026-01-01T00:00:01Z"),
        _job("b", "dev", "2026-01-01T00:00:02Z"),
        _job("c", "dev", "2026-01-01T00:00:03Z"),
        _job("d", "prod", "2026-01-01T00:00:01Z"),
    ]
    doomed = runs_to_prune(jobs, 2, current="c")
    assert [j["metadata"]["name"] for j in doomed] == ["a"], "prod has one run: kept"
    assert runs_to_prune(jobs, 3, current="c") == []
    assert [j["metadata"]["name"] for j in runs_to_prune(jobs, 0, None)] == ["a", "b", "c", "d"]


def test_build_retention_counts_the_current_request_newest_whatever_its_timestamp() -> None:
    # Timestamps have one-second resolution: a quick second run ties, or even
    # looks older on a skewed clock; the current request's run is never pruned.
    jobs = [
        _job("z-old", "dev", "2026-01-01T00:00:05Z"),
        _job("a-new", "dev", "2026-01-01T00:00:05Z"),
    ]
    (doomed,) = runs_to_prune(jobs, 1, current="a-new")
    assert doomed["metadata"]["name"] == "z-old"
    (doomed,) = runs_to_prune(jobs, 1, current="z-old")
    assert doomed["metadata"]["name"] == "a-new"


# ------------------------------------------------------------------ prune policy
def _labels_of(namespaces: dict[str, dict[str, str]]) -> Any:
    return namespaces.get


OURS = {"acme-shop-dev": {**MANAGED, L.ORGANIZATION: "acme"}}


def test_only_what_was_made_for_this_organization_where_it_made_it_may_be_pruned() -> None:
    ns = {**OURS, "theirs": {}, "other-org": {**MANAGED, L.ORGANIZATION: "globex"}}
    labels = {**MANAGED, L.ORGANIZATION: "acme"}

    def may(o: dict[str, Any], scope: frozenset[str] | None = None) -> bool:
        return may_prune(o, org="acme", owner_org=None, scope=scope, namespace_labels=ns.get)

    assert may(obj("Deployment", "web", "acme-shop-dev", labels=labels))
    assert not may(obj("Deployment", "web", "theirs", labels=labels)), "not our namespace"
    assert not may(obj("Deployment", "web", "other-org", labels=labels)), "another org's"
    assert not may(obj("Deployment", "web", "gone", labels=labels)), "no such namespace"
    controlled = obj(
        "Namespace",
        "acme-shop-dev",
        labels=labels,
        ownerReferences=[{"kind": "Organization", "name": "globex", "controller": True}],
    )
    assert not may(controlled), "an owner reference to another Organization wins over labels"
    assert may_prune(
        controlled, org="globex", owner_org="globex", scope=None, namespace_labels=ns.get
    )
    eu = obj("Deployment", "web", "acme-shop-dev", labels={**labels, L.DATA_PLANE: "eu"})
    assert may(eu) and may(eu, frozenset({"eu"}))
    assert not may(eu, frozenset({"us"})), "another instance serves that data plane"
    default_env = obj("Environment", "development", "", labels={**labels, L.DATA_PLANE: "eu"})
    assert may(default_env, frozenset({"us"})), "default Environments are everybody's"


def test_prune_leaves_the_desired_the_unmanaged_the_kept_and_what_goes_with_its_namespace() -> None:
    labels = {**MANAGED, L.ORGANIZATION: "acme"}
    stale_ns = obj("Namespace", "acme-shop-dev", labels=labels)
    inside = obj("Deployment", "web", "acme-shop-dev", labels=labels)
    wanted = obj("Namespace", "acme-shop-prod", labels=labels)
    unmanaged = obj("Namespace", "acme-shop-test", labels={L.ORGANIZATION: "acme"})
    job = obj("Job", "run-1", "acme-shop-prod", labels=labels)
    ns = {**OURS, "acme-shop-prod": {**MANAGED, L.ORGANIZATION: "acme"}}
    doomed = to_prune(
        [stale_ns, inside, wanted, unmanaged, job],
        [wanted],
        keep=lambda o: o["kind"] == "Job",
        org="acme",
        owner_org="acme",
        scope=None,
        namespace_labels=ns.get,
    )
    assert doomed == [stale_ns], "the Deployment goes with its namespace: one delete"


def test_org_level_objects_and_namespace_ownership() -> None:
    labels = {**MANAGED, L.ORGANIZATION: "acme"}
    assert is_org_level(obj("Namespace", "n", labels=labels), None)
    assert not is_org_level(
        obj("NetworkPolicy", "p", "n", labels={**labels, L.COMPONENT: "web"}), None
    )
    assert not is_org_level(obj("Deployment", "d", "n", labels=labels), None)
    eu = obj("NetworkPolicy", "p", "n", labels={**labels, L.DATA_PLANE: "eu"})
    assert is_org_level(eu, frozenset({"eu"})) and not is_org_level(eu, frozenset({"us"}))
    assert namespace_owned_by(obj("Namespace", "n", labels=labels), "acme", "")
    assert not namespace_owned_by(obj("Namespace", "n", labels=labels), "globex", "")
    edited = obj("Namespace", "n", labels={}, ownerReferences=[{"uid": "u-1"}])
    assert namespace_owned_by(edited, "acme", "u-1"), "owned by this very Organization: drift"
    assert not namespace_owned_by(edited, "acme", "u-2")
    assert not namespace_owned_by(edited, "acme", "")


# -------------------------------------------------------------------- readiness
def _deployment(available: int, want: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": 2},
        "spec": {"replicas": want},
        "status": {
            "observedGeneration": 2,
            "updatedReplicas": want,
            "readyReplicas": available,
            "availableReplicas": available,
            **status,
        },
    }


def test_the_live_state_of_a_workload() -> None:
    assert live_state(_deployment(2)) == {
        "replicas": 2,
        "readyReplicas": 2,
        "ready": True,
        "message": "2/2 available",
    }
    assert live_state(_deployment(1))["message"] == "1/2 available, rolling out"
    old = _deployment(2, observedGeneration=1)
    assert not live_state(old)["ready"], "the controller has not seen the new spec yet"
    stuck = _deployment(
        1,
        conditions=[
            {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "too slow"}
        ],
    )
    assert live_state(stuck) | {} == {
        "replicas": 2,
        "readyReplicas": 1,
        "ready": False,
        "stalled": True,
        "message": "too slow",
    }
    cron = {"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"schedule": "0 * * * *"}}
    assert live_state(cron) == {"ready": True, "message": "scheduled 0 * * * *"}


def test_the_state_of_a_manual_run() -> None:
    assert job_state(None).startswith("Job not found")
    assert job_state({"status": {}}) == "Pending"
    assert job_state({"status": {"active": 1}}) == "Running"
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert job_state(done) == "Complete"
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True"}], "active": 1}}
    assert job_state(failed) == "Failed"


def _entry(env: str, ready: bool, message: str, **more: Any) -> dict[str, Any]:
    return {"name": env, "workloadKind": "Deployment", "ready": ready, "message": message, **more}


def test_readiness_names_the_most_pressing_pod_problem_and_every_environment_not_ready() -> None:
    runtimes = [runtime("development"), runtime("production", production=True)]
    envs = [
        _entry("development", False, "pull", reason=IMAGE_PULL_FAILED),
        _entry("production", False, "root", reason=IMAGE_RUNS_AS_ROOT, stalled=True),
    ]
    verdict = component_verdict(service(), runtimes, envs, [], None)
    assert (verdict.ready, verdict.reason, verdict.stalled) == (False, IMAGE_RUNS_AS_ROOT, True)
    assert verdict.message == "development: pull; production: root"
    assert all("stalled" not in e for e in verdict.extra["environments"])


def test_readiness_without_pod_problems() -> None:
    runtimes = [runtime("development")]
    stalled = component_verdict(
        service(), runtimes, [_entry("development", False, "late", stalled=True)], [], None
    )
    assert (stalled.reason, stalled.stalled) == ("ProgressDeadlineExceeded", True)
    rolling = component_verdict(
        service(), runtimes, [_entry("development", False, "1/2")], [], None
    )
    assert (rolling.ready, rolling.reason, rolling.stalled) == (False, "Progressing", False)
    none = component_verdict(service(), [], [], [], None)
    assert (none.ready, none.reason) == (False, "NoEnvironments")
    held = [{"name": "production", "message": "held (x)"}]
    run = {"token": "r1", "jobs": []}
    ready = component_verdict(service(), runtimes, [_entry("development", True, "2/2")], held, run)
    assert (ready.ready, ready.reason) == (True, "Available")
    assert ready.message == "ready in 1 environment(s); production: held (x)"
    assert ready.extra["environments"][-1] == held[0] and ready.extra["lastRun"] == run


def test_url_and_replicas_of_a_component() -> None:
    runtimes = [runtime("development"), runtime("production", production=True)]
    envs = [
        _entry("development", True, "", readyReplicas=3, endpoints=[{"url": "https://dev"}]),
        _entry("production", True, "", readyReplicas=1, endpoints=[{}, {"url": "https://prod"}]),
    ]
    assert where(service(), runtimes, envs) == {"url": "https://prod", "replicas": 1}
    spec = service(overrides=[{"environment": "production", "replicas": 5}])
    assert where(spec, runtimes, envs) == {"url": "https://prod", "replicas": 3}
    assert where(service(), runtimes[:1], envs[:1]) == {"replicas": 3}, "no production URL"


# ------------------------------------------------------------ status from a verdict
NOW, LATER = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def test_status_of_a_verdict_keeps_transition_times_and_drops_conditions_not_carried() -> None:
    progressing = Verdict(False, "Progressing", "1/2")
    first = status_of({}, progressing, 3, NOW)
    by_type = {c["type"]: c for c in first["conditions"]}
    assert [by_type[t]["status"] for t in ("Ready", "Reconciling", "Stalled")] == [
        "False",
        "True",
        "False",
    ]
    assert first["observedGeneration"] == 3
    again = status_of(first, progressing, 3, LATER)
    assert again == first, "the same verdict is the same status: no write"
    egress = ExtraCondition(EGRESS_ALLOWLIST_EFFECTIVE, False, "NothingOpened", "none")
    ready = Verdict(True, "Available", "ok", extra={"url": "https://x"}, conditions=(egress,))
    second = status_of(first, ready, 3, LATER)
    by_type = {c["type"]: c for c in second["conditions"]}
    assert by_type["Ready"]["lastTransitionTime"] == LATER
    assert by_type["Stalled"]["lastTransitionTime"] == NOW, "Stalled stayed False"
    assert EGRESS_ALLOWLIST_EFFECTIVE in by_type and second["url"] == "https://x"
    third = status_of(second, ready, 3, LATER)
    assert EGRESS_ALLOWLIST_EFFECTIVE in {c["type"] for c in third["conditions"]}
    dropped = status_of(second, Verdict(True, "Available", "ok"), 3, LATER)
    assert EGRESS_ALLOWLIST_EFFECTIVE not in {c["type"] for c in dropped["conditions"]}


def test_only_a_rollouts_progress_may_wait() -> None:
    progressing = Verdict(False, "Progressing", "1/2")
    current = status_of({}, progressing, 3, NOW)
    assert only_progress(current, Verdict(False, "Progressing", "2/3"), 3)
    assert not only_progress(current, Verdict(False, "Progressing", "2/3"), 4), "new generation"
    assert not only_progress(current, Verdict(False, "ImagePullFailed", "x"), 3), "new reason"
    assert not only_progress(current, Verdict(True, "Available", "ok"), 3)
    assert not only_progress(current, Verdict(False, "Progressing", "x", stalled=True), 3)
    assert not only_progress({}, progressing, 3), "nothing written yet"


def test_events_for_a_status_change() -> None:
    stalled = Verdict(False, "ProjectNotFound", "no project", stalled=True)
    assert [tuple(e) for e in events_for({}, stalled)] == [(True, "ProjectNotFound", "no project")]
    current = status_of({}, stalled, 1, NOW)
    assert events_for(current, stalled) == [], "nothing new: no Event"
    ready = Verdict(True, "Available", "ok")
    assert [tuple(e) for e in events_for(current, ready)] == [(False, "Available", "ok")]
    assert events_for({}, Verdict(False, "Progressing", "1/2")) == [], "progress is no Event"
    egress = ExtraCondition(EGRESS_ALLOWLIST_EFFECTIVE, False, "NothingOpened", "none")
    with_egress = Verdict(True, "Available", "ok", conditions=(egress,))
    now_ready = status_of(current, ready, 1, NOW)
    assert [tuple(e) for e in events_for(now_ready, with_egress)] == [
        (True, "NothingOpened", f"{EGRESS_ALLOWLIST_EFFECTIVE}: none")
    ]
    assert events_for(status_of(now_ready, with_egress, 1, NOW), with_egress) == []


# ----------------------------------------------------------------------- billing
@pytest.mark.parametrize(("tier", "paid"), [(Tier.DEVELOPER, False), (Tier.PAYG, True)])
def test_all_paid_tiers(tier: Tier, paid: bool) -> None:
    assert all_paid(tier) is paid


def test_a_held_slot_is_a_free_component_or_an_admitted_environment() -> None:
    assert held_slot({"status": {"billing": Billing.FREE.value}})
    assert not held_slot({"status": {"billing": Billing.PAID.value}})
    admitted = {"status": {"conditions": [{"type": "Ready", "reason": "Progressing"}]}}
    over = {"status": {"conditions": [{"type": "Ready", "reason": "EnvironmentLimitExceeded"}]}}
    assert held_slot(admitted) and not held_slot(over)
    assert not held_slot({}), "never judged: holds nothing yet"
