"""The one kubectl wrapper of the tests, bound to a test cluster (any object with a
``kubectl(*args, input=, check=)`` method: the session's cluster, a real-node cluster,
a GitOps data plane)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any, TypeVar

from .wait import wait_for

T = TypeVar("T")


def condition(obj: dict[str, Any] | None, ctype: str = "Ready") -> dict[str, Any] | None:
    """The condition of the given type in ``obj.status.conditions``, if any."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def has_condition(obj: dict[str, Any] | None, ctype: str, status: str = "True") -> bool:
    cond = condition(obj, ctype)
    return cond is not None and cond.get("status") == status


def _not_found(stderr: str) -> bool:
    return "NotFound" in stderr or "not found" in stderr


class Kube:
    """kubectl-level helpers bound to one cluster."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = self.cluster.kubectl(
            *args, input=input, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def apply(
        self,
        text: str,
        check: bool = True,
        namespace: str | None = None,
        field_manager: str = "e2e",
    ) -> subprocess.CompletedProcess[str]:
        """Server-side apply of YAML or JSON text (one or more documents)."""
        args = ["apply", "--server-side", f"--field-manager={field_manager}", "-f", "-"]
        if namespace:
            args += ["-n", namespace]
        return self.run(*args, input=text, check=check)

    def get_json(self, *args: str) -> Any:
        """``kubectl get ARGS -o json``, parsed; None when the object does not exist."""
        result = self.run("get", *args, "-o", "json", check=False)
        if result.returncode != 0:
            if _not_found(result.stderr):
                return None
            raise AssertionError(f"kubectl get {' '.join(args)} failed: {result.stderr.strip()}")
        return json.loads(result.stdout)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        obj: dict[str, Any] | None = self.get_json(
            kind, name, *(("-n", namespace) if namespace else ())
        )
        return obj

    def list(
        self, kind: str, namespace: str | None = None, selector: str = ""
    ) -> list[dict[str, Any]]:
        args = [kind, *(["-n", namespace] if namespace else ["-A"])]
        if selector:
            args += ["-l", selector]
        items: list[dict[str, Any]] = self.get_json(*args)["items"]
        return items

    def delete(self, kind: str, name: str, namespace: str | None = None, wait: bool = True) -> None:
        args = ["delete", kind, name, "--ignore-not-found", f"--wait={'true' if wait else 'false'}"]
        if namespace:
            args += ["-n", namespace]
        self.run(*args)

    @staticmethod
    def wait_for(
        predicate: Callable[[], T | None],
        timeout: float = 90,
        message: str | Callable[[], str] = "condition",
        **kwargs: Any,
    ) -> T:
        """``kit.wait_for`` (kept as a method: tests hold a ``kube``)."""
        return wait_for(predicate, timeout, message, interval=kwargs.pop("interval", 0.3), **kwargs)

    condition = staticmethod(condition)

    def wait_condition(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        status: str = "True",
        reason: str | None = None,
        timeout: float = 90,
        ctype: str = "Ready",
        interval: float = 0.3,
    ) -> dict[str, Any]:
        """The object once its ``ctype`` condition has ``status`` (and ``reason``) for its
        current generation. On timeout the message shows the object's LAST observed
        conditions and generations, not the state at the start."""
        seen: list[dict[str, Any] | None] = [None]

        def check() -> dict[str, Any] | None:
            obj = seen[0] = self.get(kind, name, namespace)
            cond = condition(obj, ctype)
            if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
                assert obj is not None
                if obj["status"].get("observedGeneration") == obj["metadata"].get("generation"):
                    return obj
            return None

        where = f"{kind}/{name}" + (f" in {namespace}" if namespace else "")
        return wait_for(
            check,
            timeout,
            f"{where} {ctype}={status} reason={reason}",
            interval=interval,
            observe=lambda: _summary(seen[0]),
        )

    def wait_gone(
        self, kind: str, name: str, namespace: str | None = None, timeout: float = 120
    ) -> None:
        self.wait_for(
            lambda: self.get(kind, name, namespace) is None, timeout, f"{kind}/{name} deleted"
        )


def _summary(obj: dict[str, Any] | None) -> str:
    """An object's state in one line: generations and conditions."""
    if obj is None:
        return "no such object"
    status = obj.get("status") or {}
    conds = [
        f"{c.get('type')}={c.get('status')} {c.get('reason')}: {c.get('message', '')}"
        for c in status.get("conditions") or []
    ]
    return (
        f"generation {obj['metadata'].get('generation')}, "
        f"observedGeneration {status.get('observedGeneration')}, conditions {conds}"
    )
