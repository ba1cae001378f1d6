"""Is a Component ready? Pure functions from its live workloads to a verdict.

The apply layer looks the workloads and their pods up in its cache and hands
each environment's entry here; nothing in this module reads or writes the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models import labels as L
from ..models.resources import ComponentSpec
from ..runtime.objects import Obj
from .context import Runtime
from .pod_health import REASONS as POD_PROBLEMS
from .verdict import HELD_NOTE, Verdict


def live_state(live: Obj) -> dict[str, Any]:
    """ready, message (and for Deployments replicas, readyReplicas, stalled) of a workload."""
    if live["kind"] == "CronJob":
        schedule = (live.get("spec") or {}).get("schedule", "")
        return {"ready": True, "message": f"scheduled {schedule}"}
    want = int((live.get("spec") or {}).get("replicas", 1))
    st = live.get("status") or {}
    generation = int((live.get("metadata") or {}).get("generation") or 0)
    observed = int(st.get("observedGeneration") or 0) >= generation
    updated = int(st.get("updatedReplicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    state: dict[str, Any] = {"replicas": want, "readyReplicas": int(st.get("readyReplicas") or 0)}
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return {**state, "ready": False, "stalled": True, "message": cond.get("message", "")}
    if observed and updated >= want and available >= want:
        return {**state, "ready": True, "message": f"{available}/{want} available"}
    return {**state, "ready": False, "message": f"{available}/{want} available, rolling out"}


def job_state(job: Obj | None) -> str:
    """Complete, Failed, Running or Pending (or why there is no Job) of a manual run."""
    if job is None:
        return "Job not found (pruned or not created yet)"
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return str(cond["type"])
    return "Running" if (job.get("status") or {}).get("active") else "Pending"


def held_entry(workload: Obj, why: str) -> dict[str, Any]:
    """The status entry of a workload in a held runtime namespace: listed, not judged."""
    meta = workload["metadata"]
    entry: dict[str, Any] = {
        "name": (meta.get("labels") or {}).get(L.ENVIRONMENT, ""),
        "namespace": meta["namespace"],
        "workloadKind": workload["kind"],
        "workloadName": meta["name"],
    }
    entry.update(live_state(workload))
    entry.pop("stalled", None)
    entry["message"] = f"held ({why}), {HELD_NOTE}: {entry['message']}"
    return entry


def where(spec: ComponentSpec, runtimes: Sequence[Runtime], envs: list[dict[str, Any]]) -> Obj:
    """status.url (the first public URL in a production environment) and
    status.replicas (the scale subresource's: the fewest ready replicas among the
    environments that run spec.replicas, i.e. have no replicas override)."""
    result: Obj = {}
    production = {rt.environment for rt in runtimes if rt.production}
    for entry in envs:
        if entry["name"] in production:
            urls = [e["url"] for e in entry.get("endpoints") or [] if e.get("url")]
            if urls:
                result["url"] = urls[0]
                break
    overridden = {o.environment for o in spec.overrides if o.replicas is not None}
    ready = [
        int(entry.get("readyReplicas") or 0)
        for entry in envs
        if entry.get("workloadKind") == "Deployment" and entry["name"] not in overridden
    ]
    if ready:
        result["replicas"] = min(ready)
    return result


def component_verdict(
    spec: ComponentSpec,
    runtimes: Sequence[Runtime],
    envs: list[dict[str, Any]],
    held: list[dict[str, Any]],
    run_status: dict[str, Any] | None,
) -> Verdict:
    """Readiness from one entry per admitted environment (in the order of
    `runtimes`; an entry may carry `stalled` and a pod problem's `reason`);
    environments held as they are (`held`) are listed, not judged."""
    not_ready, stalled_msgs, problems = [], [], []
    for rt, entry in zip(runtimes, envs, strict=True):
        if not entry["ready"]:
            not_ready.append(f"{rt.environment}: {entry['message']}")
            if entry.get("stalled"):
                stalled_msgs.append(f"{rt.environment}: {entry['message']}")
            if entry.get("reason"):
                problems.append(entry["reason"])
        entry.pop("stalled", None)
    extra: dict[str, Any] = {"environments": envs + held}
    extra.update(where(spec, runtimes, envs))
    if run_status:
        extra["lastRun"] = run_status
    if problems:
        # The most pressing cause names the condition; the message has every
        # environment that is not ready. Stalled when one of them needs a person.
        reason = min(problems, key=POD_PROBLEMS.index)
        return Verdict(False, reason, "; ".join(not_ready), bool(stalled_msgs), extra)
    if stalled_msgs:
        return Verdict(False, "ProgressDeadlineExceeded", "; ".join(stalled_msgs), True, extra)
    if not runtimes:
        return Verdict(
            False,
            "NoEnvironments",
            "no admitted environment on the project's data plane",
            extra=extra,
        )
    if not_ready:
        return Verdict(False, "Progressing", "; ".join(not_ready), extra=extra)
    kept = "".join(f"; {e['name']}: {e['message']}" for e in held)
    return Verdict(True, "Available", f"ready in {len(envs)} environment(s){kept}", extra=extra)
