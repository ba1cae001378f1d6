"""A deduplicating work queue with per-key serialisation and retry backoff.

Like controller-runtime's: a key queued many times while waiting runs once; a
key is never processed by two workers at once; a key queued while it runs is
processed again afterwards; failures retry with exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

logger = logging.getLogger(__name__)

Worker = Callable[[Hashable], Awaitable[float | None]]


class WorkQueue:
    def __init__(self, base_delay: float = 0.5, max_delay: float = 60.0) -> None:
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._pending: set[Hashable] = set()
        self._running: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
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
        if key in self._timers:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = loop.call_later(delay, fire)

    def reset(self) -> int:
        """Forget every key, queued, scheduled or failing (the workers are stopped).
        Returns how many keys were dropped."""
        dropped = len(self._pending | self._running | self._dirty | set(self._timers))
        for timer in self._timers.values():
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
                requeue_after = await worker(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = min(self._max_delay, self._base_delay * 2 ** (failures - 1))
                logger.exception(
                    "reconcile of %s failed (attempt %d); retrying in %.1fs", key, failures, delay
                )
                self.add_after(key, delay)
            else:
                self._failures.pop(key, None)
                if requeue_after is not None:
                    self.add_after(key, requeue_after)
            finally:
                self._running.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.add(key)
                if not self._pending and not self._running:
                    self._idle.set()
