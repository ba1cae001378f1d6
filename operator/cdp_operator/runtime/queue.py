"""A deduplicating work queue with per-key serialisation and retry backoff.

Like controller-runtime's: a key queued many times while waiting runs once; a
key is never processed by two workers at once; a key queued while it runs is
processed again afterwards; failures retry with exponential backoff. A worker
asks for another look later by returning Requeue (controller-runtime's
`Result{RequeueAfter}`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requeue:
    """Process this key again after `after` seconds, because `why`."""

    after: float
    why: str


#: What a worker returns: None when done, Requeue to look again later. A bare
#: number of seconds is still taken (as Requeue(seconds, "unexplained")) while
#: the reconciler's return statements move to Requeue.
Outcome = Requeue | float | None

Worker = Callable[[Hashable], Awaitable[Outcome]]


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the queue needs of time: the event loop's interface (the default);
    tests pass a fake clock that they move by hand."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


def as_requeue(outcome: Outcome) -> Requeue | None:
    if outcome is None or isinstance(outcome, Requeue):
        return outcome
    return Requeue(float(outcome), "unexplained")


class WorkQueue:
    def __init__(
        self,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._pending: set[Hashable] = set()
        self._running: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        #: key -> (when it is due on the clock, its timer)
        self._timers: dict[Hashable, tuple[float, Timer]] = {}
        self._clock = clock
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, key: Hashable) -> None:
        if key in self._running:
            self._dirty.add(key)
            return
        if key in self._pending:
            return
        self._pending.add(key)
        self._idle.clear()
        self._queue.put_nowait(key)

    def add_after(self, key: Hashable, delay: float) -> None:
        """Queue key after `delay` seconds; when it is already scheduled, the
        earlier of the two times holds (as client-go's AddAfter)."""
        clock: Clock = self._clock or asyncio.get_running_loop()
        due = clock.time() + delay
        scheduled = self._timers.get(key)
        if scheduled is not None:
            if scheduled[0] <= due:
                return
            scheduled[1].cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = (due, clock.call_later(delay, fire))

    def retry_delay(self, failures: int) -> float:
        """Seconds before the retry after that many failures in a row."""
        return float(min(self._max_delay, self._base_delay * 2 ** (failures - 1)))

    def reset(self) -> int:
        """Forget every key, queued, scheduled or failing (the workers are stopped).
        Returns how many keys were dropped."""
        dropped = len(self._pending | self._running | self._dirty | set(self._timers))
        for _due, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()
        self._running.clear()
        self._dirty.clear()
        self._failures.clear()
        self._queue = asyncio.Queue()
        self._idle.set()
        return dropped

    def __len__(self) -> int:
        return len(self._pending) + len(self._running)

    def is_queued(self, key: Hashable) -> bool:
        """True when key waits to run (again): what it last computed is out of date."""
        return key in self._pending or key in self._dirty

    def is_busy(self, key: Hashable) -> bool:
        """True when key waits to run or is running."""
        return key in self._pending or key in self._running or key in self._dirty

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def run(self, worker: Worker, concurrency: int) -> None:
        await asyncio.gather(*(self._loop(worker) for _ in range(concurrency)))

    async def _loop(self, worker: Worker) -> None:
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            self._running.add(key)
            try:
                outcome = await worker(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = self.retry_delay(failures)
                logger.exception(
                    "reconcile of %s failed (attempt %d); retrying in %.1fs", key, failures, delay
                )
                self.add_after(key, delay)
            else:
                self._failures.pop(key, None)
                requeue = as_requeue(outcome)
                if requeue is not None:
                    logger.debug("%s: again in %.1fs (%s)", key, requeue.after, requeue.why)
                    self.add_after(key, requeue.after)
            finally:
                self._running.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.add(key)
                if not self._pending and not self._running:
                    self._idle.set()
