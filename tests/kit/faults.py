"""Faults the HA tests and the real-node benchmark inflict on an operator replica."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

#: ``kill-9``: the container dies at once (a crash); ``delete-pod``: the pod is deleted
#: (a drain or a rollout: the replica gets its SIGTERM and grace period).
FAULTS = ("kill-9", "delete-pod")


def fail_replica(kubectl: Callable[..., Any], node: Any, pod: dict[str, Any], fault: str) -> None:
    """Inflict ``fault`` on the replica running in ``pod`` (on the real node ``node``)."""
    if fault == "kill-9":
        cid = pod["status"]["containerStatuses"][0]["containerID"]
        os.kill(node.container_pid(cid), signal.SIGKILL)
    elif fault == "delete-pod":
        meta = pod["metadata"]
        kubectl("delete", "pod", "-n", meta["namespace"], meta["name"], "--wait=false")
    else:
        raise ValueError(f"fault: {fault!r} is none of {FAULTS}")
