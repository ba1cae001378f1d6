"""What the benchmark observes: readiness via watches, the audit log, /proc figures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kapi import ApiError, Kube, Obj

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ readiness
def component_ready(obj: Obj) -> bool:
    """Ready=True for the current generation (what `kubectl wait` and kstatus check)."""
    status = obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) != int(obj["metadata"].get("generation") or 0):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def deployment_available(obj: Obj) -> bool:
    """The same test the operator applies (render.readiness.live_state)."""
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    want = int(spec.get("replicas", 1))
    observed = int(st.get("observedGeneration") or 0) >= int(obj["metadata"].get("generation") or 0)
    return (
        observed
        and int(st.get("updatedReplicas") or 0) >= want
        and int(st.get("availableReplicas") or 0) >= want
    )


@dataclass
class Tracker:
    """Watches a collection and records when each object first exists and first passes `ready`."""

    kube: Kube
    path: str
    ready: Callable[[Obj], bool]
    params: dict[str, str] = field(default_factory=dict)
    seen_at: dict[tuple[str, str], float] = field(default_factory=dict)
    ready_at: dict[tuple[str, str], float] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _started: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None

    def _record(self, obj: Obj, now: float) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        self.seen_at.setdefault(key, now)
        if key not in self.ready_at and self.ready(obj):
            self.ready_at[key] = now
        self._changed.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        waiter = asyncio.create_task(self._started.wait())
        await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)
        if not self._started.is_set():
            waiter.cancel()
            await self._task  # raises the listing error

    async def _run(self) -> None:
        try:
            while True:
                items, rv = await self.kube.list(self.path, **self.params)
                now = time.monotonic()
                for obj in items:
                    self._record(obj, now)
                self._started.set()
                try:
                    async for etype, obj in self.kube.watch(self.path, rv, self.params):
                        if etype in ("ADDED", "MODIFIED"):
                            self._record(obj, time.monotonic())
                except ApiError as exc:
                    if exc.status != 410:
                        raise
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            self._changed.set()
            raise

    async def wait(self, predicate: Callable[[Tracker], bool], timeout: float, what: str) -> float:
        """Wait until predicate(self); return the monotonic time it became true."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if self.error is not None:
                raise RuntimeError(f"watch of {self.path} failed: {self.error}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 5.0))
        return time.monotonic()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


# ------------------------------------------------------------------ audit log


# ------------------------------------------------------------------ /proc
def _user_system(stat: str) -> tuple[float, float]:
    """utime and stime in seconds, from the text of /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process, in seconds (0 when it is gone)."""
    if not pid:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    return sum(_user_system(stat))


def process_counters(pid: int | None) -> dict[str, float]:
    """user and system CPU seconds and context switches (voluntary: waits;
    involuntary: preempted) of a process so far; empty when it is gone."""
    if not pid:
        return {}
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    user, system = _user_system(stat)
    counters = {"user": user, "system": system}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
            counters[key.split("_")[0]] = int(value)
    return counters


def counters_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before[k], 2) for k in before if k in after}


def status_kib(pid: int | None, key: str) -> int:
    """A VmRSS / VmHWM style field of /proc/<pid>/status, in KiB."""
    if not pid:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
