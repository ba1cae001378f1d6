"""`--apply` waits for the operator's verdict on what it applied (kstatus' rules)."""

from __future__ import annotations

from typing import Any

from .kstatus import Status, compute
from .kube import KindInfo, Kube
from .manifests import CliError
from .output import entries, status_of
from .session import Session

POLL_SECONDS = 1.0

#: Seconds `--apply` waits for the operator's verdict unless --wait-timeout says otherwise.
WAIT_DEFAULT = 60.0


def _observed(obj: dict[str, Any], generation: Any) -> bool:
    """Whether the operator has judged this generation (observedGeneration and Ready)."""
    status = status_of(obj)
    if not isinstance(generation, int) or status.get("observedGeneration") != generation:
        return False
    return any(c.get("type") == "Ready" for c in entries(status.get("conditions")))


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    conditions = entries(status_of(obj).get("conditions"))
    return next((c for c in conditions if c.get("type") == ctype), {})


def _state(obj: dict[str, Any]) -> str:
    """`Ready=True Available: ready in 2 environment(s)`: the Ready condition in one line."""
    ready = _condition(obj, "Ready")
    text = f"Ready={ready.get('status', 'Unknown')} {ready.get('reason') or '-'}"
    message = ready.get("message")
    return f"{text}: {message}" if message else text


def wait_for_verdict(
    session: Session,
    kube: Kube,
    kind: KindInfo,
    name: str,
    namespace: str | None,
    applied: dict[str, Any],
    timeout: float,
) -> int:
    """Wait until the operator has judged the applied generation: 0 when it is Current,
    1 when it is Stalled (kstatus Failed) or still in progress when time is up."""
    generation = (applied.get("metadata") or {}).get("generation")
    deadline = session.monotonic() + timeout
    ref = kind.ref(name)
    obj: dict[str, Any] | None = applied
    while True:
        if obj is None:
            raise CliError(f"{ref} disappeared while waiting for its status")
        if _observed(obj, generation):
            result = compute(obj)
            if result.status is Status.CURRENT:
                session.out.write(f"{ref} is Current: {_state(obj)}\n")
                return 0
            if result.status is Status.FAILED:
                raise CliError(
                    f"{ref} is Stalled: {_state(obj)}",
                    f"hint: fix the cause and apply again; `cdp get {kind.plural} {name}"
                    + (f" -n {namespace}" if namespace else "")
                    + " -o yaml` shows the whole status",
                )
        if session.monotonic() >= deadline:
            if _observed(obj, generation):
                why = f" is still {compute(obj).status.value} after {timeout:g}s: {_state(obj)}"
            else:
                why = (
                    f": no verdict after {timeout:g}s: the operator has not reported on "
                    f"generation {generation} yet"
                )
            raise CliError(
                f"{ref}{why}",
                "hint: it was applied; `cdp get` shows its progress, --wait-timeout SECONDS "
                "waits longer and --no-wait does not wait",
            )
        session.sleep(min(POLL_SECONDS, max(deadline - session.monotonic(), 0)))
        obj = kube.get(kind, name, namespace)
