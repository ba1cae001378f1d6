"""Python's cyclic garbage collector, set for a process that caches 100,000 objects.

CPython collects its youngest generation every 700 net allocations of container
objects (dicts, lists) and, when enough has been promoted, the oldest one: every
tracked object of the process. A page of a list (500 Deployments) parses into
about 50,000 dicts and lists that live until the page is cached, long enough to be
promoted into the oldest generation before they are dropped. So the default makes
a restart run a full collection of the whole cache every few pages: 145 full
collections and 11.2 of the 21.5 CPU seconds of ingesting the lists of a shared
data plane of 10,000 components (docs/benchmarks.md, finding 16). With the young
generation collected every 50,000 allocations instead, a page is parsed, cut down
and cached before the collector looks at it: no full collection, 1.0 of 10.9 s.

The operator's objects are plain JSON trees, freed by reference counting; what
the collector is for (cycles: asyncio tasks, exceptions and their tracebacks)
is rare and small, so collecting it later costs little memory.
"""

from __future__ import annotations

import gc
import time
from typing import Any

#: (young, middle, old): allocations before a young collection; young collections
#: before a middle one; middle collections before an old one is considered (it
#: also waits until a quarter of the old generation is new).
THRESHOLD = (50_000, 20, 20)


def tune(threshold: tuple[int, int, int] = THRESHOLD) -> None:
    gc.set_threshold(*threshold)


class PauseClock:
    """Adds up the collector's pauses per generation (seconds, and how many), for a
    metric: how much of the process's time the collector takes. The callback
    only adds to plain lists (no lock: it runs inside the collection, on whichever
    thread allocated)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        generation = info["generation"]  # 0, 1 or 2
        self.seconds[generation] += time.perf_counter() - self._start
        self.collections[generation] += 1

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
