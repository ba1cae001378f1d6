"""Argo CD health checks (Lua) and kstatus' rules (Python) on the same sample statuses.

The Lua scripts in charts/cdp-operator/argocd/ run in a real Lua 5.1
interpreter (lupa; Argo CD's gopher-lua implements Lua 5.1), sandboxed to the
libraries Argo CD opens. They must return exactly what
`cdp_operator.cli.kstatus.argocd_health` returns, and on every status of the
shape the operator writes they must agree with kstatus (`compute`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cdp_operator.cli.kstatus import (
    KSTATUS_TO_HEALTH,
    Health,
    HealthResult,
    Status,
    argocd_health,
    compute,
)
from cdp_operator.models.labels import API_VERSION
from cdp_operator.models.status import Status as StatusModel
from cdp_operator.models.status import set_condition

lua51 = pytest.importorskip("lupa.lua51", reason="lupa (a Lua interpreter) is a dev dependency")

ROOT = Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "charts" / "cdp-operator" / "argocd"
KINDS = ["DataPlane", "Organization", "Environment", "Project", "Component"]
NOW = "2026-01-01T00:00:00Z"


# ---------------------------------------------------------------- Lua runner
class LuaHealth:
    """Runs a health script the way Argo CD does: `obj` global, a table back."""

    # A strict subset of what Argo CD's VM offers: base functions, string and
    # table; no math, io or os, so the scripts need nothing else.
    SANDBOX = """
        return function(src, obj)
          local env = {
            obj = obj, ipairs = ipairs, pairs = pairs, type = type, tostring = tostring,
            tonumber = tonumber, next = next, select = select, error = error,
            pcall = pcall, string = string, table = table,
          }
          local fn, err = loadstring(src, "health.lua")
          if fn == nil then error(err) end
          setfenv(fn, env)
          return fn()
        end
    """

    def __init__(self) -> None:
        self.lua = lua51.LuaRuntime(unpack_returned_tuples=True)
        self.run = self.lua.execute(self.SANDBOX)

    def __call__(self, script: str, obj: dict[str, Any]) -> HealthResult:
        table = self.lua.table_from(obj, recursive=True)
        hs = self.run(script, table)
        return HealthResult(Health(hs["status"]), str(hs["message"]))


@pytest.fixture(scope="module")
def lua() -> LuaHealth:
    return LuaHealth()


def script(kind: str) -> str:
    # One script serves every kind (argocd-cm has one key per kind, same value).
    return (ARGOCD / "health.lua").read_text()


# ------------------------------------------------------------------- samples
def obj(
    kind: str = "Component",
    *,
    generation: int | None = 2,
    status: dict[str, Any] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", "uid": "u"}
    if kind in ("Environment", "Project", "Component"):
        meta["namespace"] = "cdp-org-acme"
    if generation is not None:
        meta["generation"] = generation
    if deleting:
        meta["deletionTimestamp"] = NOW
    o: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": {}}
    if status is not None:
        o["status"] = status
    return o


def operator_status(
    *, ready: bool, stalled: bool, reason: str, message: str, observed: int
) -> dict[str, Any]:
    """A status exactly as the reconciler writes it (Ready, Reconciling, Stalled)."""
    reconciling = not ready and not stalled
    conditions: list[Any] = []
    for ctype, value, why, text in (
        ("Ready", ready, reason, message),
        (
            "Reconciling",
            reconciling,
            reason if reconciling else "Done",
            message if reconciling else "",
        ),
        ("Stalled", stalled, reason if stalled else "Done", message if stalled else ""),
    ):
        conditions = set_condition(conditions, ctype, value, why, text, observed, NOW)
    return StatusModel(observed_generation=observed, conditions=conditions).to_dict()


def cond(ctype: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    c = {"type": ctype, "status": status, "lastTransitionTime": NOW}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


#: Statuses of the operator's shape, per kind: (id, object, Argo CD health, kstatus status).
def conformant_samples() -> list[tuple[str, dict[str, Any], HealthResult, Status]]:
    limit = "the developer tier allows at most 5 components"
    samples = []
    for kind in KINDS:
        stale = f"{kind} generation is %d, but latest observed generation is %d"
        # id, metadata.generation, deleting; the status as written (ready, stalled, reason,
        # message, observedGeneration); then what Argo CD and kstatus must make of it.
        rows = (
            ("ready", 2, False, True, False, "Ready", "all materialised", 2,
             HealthResult(Health.HEALTHY, "all materialised"), Status.CURRENT),
            ("reconciling", 2, False, False, False, "RollingOut", "1/2 replicas ready", 2,
             HealthResult(Health.PROGRESSING, "1/2 replicas ready"), Status.IN_PROGRESS),
            ("stalled", 2, False, False, True, "ComponentLimitExceeded", limit, 2,
             HealthResult(Health.DEGRADED, limit), Status.FAILED),
            ("new-generation-not-observed", 3, False, True, False, "Ready", "", 2,
             HealthResult(Health.PROGRESSING, stale % (3, 2)), Status.IN_PROGRESS),
            ("stalled-but-stale", 5, False, False, True, "UnknownDataPlane", "x", 4,
             HealthResult(Health.PROGRESSING, stale % (5, 4)), Status.IN_PROGRESS),
            ("deleting", 2, True, True, False, "Ready", "", 2,
             HealthResult(Health.PROGRESSING, "Resource scheduled for deletion"),
             Status.TERMINATING),
        )  # fmt: skip
        for row in rows:
            name, generation, deleting, ready, stalled, reason, message, observed = row[:8]
            health, status = row[8:]
            written = operator_status(
                ready=ready, stalled=stalled, reason=reason, message=message, observed=observed
            )
            samples.append(
                (
                    f"{kind}-{name}",
                    obj(kind, generation=generation, deleting=deleting, status=written),
                    health,
                    status,
                )
            )
    # Why a component does not run (render/pod_health.py): a cause that may go away
    # by itself is Reconciling, one that needs a person Stalled.
    pull = "production: image 'r/api:1' cannot be pulled: not found"
    root = "development: image 'r/api:1' runs as root"
    samples += [
        (
            f"Component-{reason}-{'stalled' if stalled else 'reconciling'}",
            obj(
                status=operator_status(
                    ready=False, stalled=stalled, reason=reason, message=message, observed=2
                )
            ),
            HealthResult(Health.DEGRADED if stalled else Health.PROGRESSING, message),
            Status.FAILED if stalled else Status.IN_PROGRESS,
        )
        for reason, message, stalled in (
            ("ImagePullFailed", pull, False),
            ("ImagePullFailed", pull + " (progress deadline exceeded)", True),
            ("ImageRunsAsRoot", root, True),
            ("CrashLoopBackOff", "development: last exit code 1, restarted 2 times", False),
            ("CrashLoopBackOff", "development: last exit code 1, restarted 5 times", True),
        )
    ]
    samples += [
        (
            "ready-message-empty-falls-back-to-reason",
            obj(
                status=operator_status(
                    ready=True, stalled=False, reason="Ready", message="", observed=2
                )
            ),
            HealthResult(Health.HEALTHY, "Ready"),
            Status.CURRENT,
        ),
        (
            "stalled-first-in-list",
            obj(
                status={
                    "observedGeneration": 2,
                    "conditions": [
                        cond("Stalled", "True", "NameConflict", "namespace acme-shop-dev exists"),
                        cond("Reconciling", "True", "RollingOut"),
                        cond("Ready", "False", "NameConflict"),
                    ],
                }
            ),
            HealthResult(Health.DEGRADED, "namespace acme-shop-dev exists"),
            Status.FAILED,
        ),
        (
            "no-observed-generation-yet-but-ready",
            obj(status={"conditions": [cond("Ready", "True", "Ready")]}),
            HealthResult(Health.HEALTHY, "Ready"),
            Status.CURRENT,
        ),
        (
            "no-metadata-generation",
            obj(
                generation=None,
                status=operator_status(
                    ready=True, stalled=False, reason="Ready", message="ok", observed=7
                ),
            ),
            HealthResult(Health.HEALTHY, "ok"),
            Status.CURRENT,
        ),
        (
            "generation-not-an-integer",
            obj(status={"observedGeneration": "2", "conditions": [cond("Ready", "True", "Ready")]}),
            HealthResult(Health.UNKNOWN, "status.observedGeneration is not an integer"),
            Status.UNKNOWN,
        ),
    ]
    return samples


#: Statuses the operator never writes, where the Lua is deliberately stricter
#: than kstatus: (id, object, Argo CD health, kstatus status).
def divergent_samples() -> list[tuple[str, dict[str, Any], HealthResult, Status]]:
    return [
        (
            "no-status",
            obj(),
            HealthResult(Health.PROGRESSING, "Waiting for the cdp-operator to report status"),
            Status.CURRENT,
        ),
        (
            "no-conditions",
            obj(status={"observedGeneration": 2}),
            HealthResult(Health.PROGRESSING, "Waiting for the Ready condition"),
            Status.CURRENT,
        ),
        (
            "ready-false-alone",
            obj(
                status={"observedGeneration": 2, "conditions": [cond("Ready", "False", "Waiting")]}
            ),
            HealthResult(Health.PROGRESSING, "Waiting"),
            Status.CURRENT,
        ),
        (
            "ready-unknown-alone",
            obj(status={"observedGeneration": 2, "conditions": [cond("Ready", "Unknown")]}),
            HealthResult(Health.PROGRESSING, "Not ready"),
            Status.CURRENT,
        ),
        (
            "reconciling-listed-before-stalled",
            obj(
                status={
                    "observedGeneration": 2,
                    "conditions": [
                        cond("Reconciling", "True", "RollingOut", "rolling"),
                        cond("Stalled", "True", "Broken", "broken"),
                    ],
                }
            ),
            HealthResult(Health.DEGRADED, "broken"),
            Status.IN_PROGRESS,
        ),
    ]


CONFORMANT = conformant_samples()
DIVERGENT = divergent_samples()
ALL = CONFORMANT + DIVERGENT


def ids(samples: list[tuple[str, Any, Any, Any]]) -> list[str]:
    return [s[0] for s in samples]


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("name", "o", "health", "kstatus"), ALL, ids=ids(ALL))
def test_lua_returns_the_expected_health(
    lua: LuaHealth, kind: str, name: str, o: dict[str, Any], health: HealthResult, kstatus: Status
) -> None:
    assert lua(script(kind), o) == health


@pytest.mark.parametrize(("name", "o", "health", "kstatus"), ALL, ids=ids(ALL))
def test_python_twin_returns_the_same_as_the_lua(
    name: str, o: dict[str, Any], health: HealthResult, kstatus: Status
) -> None:
    assert argocd_health(o) == health


@pytest.mark.parametrize(("name", "o", "health", "kstatus"), ALL, ids=ids(ALL))
def test_kstatus_rules(name: str, o: dict[str, Any], health: HealthResult, kstatus: Status) -> None:
    assert compute(o).status is kstatus


@pytest.mark.parametrize(("name", "o", "health", "kstatus"), CONFORMANT, ids=ids(CONFORMANT))
def test_lua_and_kstatus_agree_on_what_the_operator_writes(
    lua: LuaHealth, name: str, o: dict[str, Any], health: HealthResult, kstatus: Status
) -> None:
    assert lua(script(o["kind"]), o).status is KSTATUS_TO_HEALTH[compute(o).status]


@pytest.mark.parametrize(("name", "o", "health", "kstatus"), DIVERGENT, ids=ids(DIVERGENT))
def test_where_they_differ_the_lua_is_the_cautious_one(
    lua: LuaHealth, name: str, o: dict[str, Any], health: HealthResult, kstatus: Status
) -> None:
    lua_health = lua(script(o["kind"]), o).status
    assert lua_health is not KSTATUS_TO_HEALTH[compute(o).status]
    # Never Healthy where kstatus is not Current.
    assert lua_health is not Health.HEALTHY


def test_operator_verdicts_cover_every_combination() -> None:
    # The reconciler's three verdicts (ready; rolling out; stalled) all appear
    # per kind; Ready=False always comes with Reconciling or Stalled True.
    for _, o, _, _ in CONFORMANT:
        conditions = {c["type"]: c["status"] for c in o.get("status", {}).get("conditions", [])}
        if conditions.get("Ready") == "False":
            assert "True" in (conditions.get("Reconciling"), conditions.get("Stalled"))


# ----------------------------------------------------- kstatus' own reference cases
def test_kstatus_messages_follow_the_library() -> None:
    stale = obj("Project", generation=4, status={"observedGeneration": 3})
    result = compute(stale)
    assert result.status is Status.IN_PROGRESS
    assert result.reason == "LatestGenerationNotObserved"
    assert result.message == "Project generation is 4, but latest observed generation is 3"
    assert compute(obj(deleting=True)).message == "Resource scheduled for deletion"
    assert compute(obj()).message == "Resource is current"
    stalled = obj(status={"conditions": [cond("Stalled", "True", "X", "boom")]})
    assert (compute(stalled).status, compute(stalled).message) == (Status.FAILED, "boom")
    reconciling = obj(status={"conditions": [cond("Reconciling", "True", "X", "busy")]})
    assert (compute(reconciling).status, compute(reconciling).message) == (
        Status.IN_PROGRESS,
        "busy",
    )
    # Conditions that are not True, and unknown types, are ignored.
    quiet = obj(status={"conditions": [cond("Stalled", "False"), cond("Other", "True")]})
    assert compute(quiet).status is Status.CURRENT


# --------------------------------------------------------------- the files themselves
def test_one_script_serves_every_kind() -> None:
    assert [p.name for p in ARGOCD.glob("*.lua")] == ["health.lua"]


def test_scripts_use_only_what_argo_cd_offers() -> None:
    body = "\n".join(line.split("--", 1)[0] for line in script("Component").splitlines())
    # gopher-lua hands string.format's arguments to Go's fmt: "%d" breaks on numbers.
    assert "string.format" not in body
    assert not re.search(r"\b(os|io|math|require|dofile|loadfile)\b\s*[.(]", body)


def test_readme_shows_the_argocd_cm_key_of_every_kind() -> None:
    readme = (ARGOCD / "README.md").read_text()
    for kind in KINDS:
        assert f"resource.customizations.health.cdp.dev_{kind}" in readme
    assert "kubectl wait --for=condition=Ready" in readme


def test_scripts_run_in_lua_5_4_too() -> None:
    # Nothing 5.1-only (setfenv, unpack) sneaks in: the same results on Lua 5.4.
    lua54 = pytest.importorskip("lupa.lua54")
    runtime = lua54.LuaRuntime()
    run = runtime.eval(
        "function(src, obj) return load(src, 'health.lua', 't', {obj = obj, ipairs = ipairs, "
        "type = type, tostring = tostring, string = string, table = table})() end"
    )
    for _, o, health, _ in ALL:
        hs = run(script(o["kind"]), runtime.table_from(o, recursive=True))
        assert HealthResult(Health(hs["status"]), str(hs["message"])) == health
