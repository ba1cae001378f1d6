"""The work queue (runtime/queue.py): de-duplication, one worker per key,
retry backoff, requeue timing. Time is a fake clock moved by hand: no sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import pytest

from cdp_operator.runtime.queue import Requeue, WorkQueue, as_requeue


class FakeClock:
    """The two things the queue uses of the event loop: time() and call_later()."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[FakeClock.Timer] = []

    class Timer:
        def __init__(self, due: float, callback: Callable[[], None]) -> None:
            self.due, self.callback, self.cancelled = due, callback, False

        def cancel(self) -> None:
            self.cancelled = True

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeClock.Timer:
        timer = FakeClock.Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[float]:
        return sorted(t.due for t in self.timers if not t.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time on, firing what falls due, in order."""
        self.now += seconds
        for timer in sorted(self.timers, key=lambda t: t.due):
            if timer.due <= self.now and not timer.cancelled:
                timer.cancelled = True
                timer.callback()
        self.timers = [t for t in self.timers if not t.cancelled]


async def settle() -> None:
    """Let every ready task run until none is (no real time passes)."""
    for _ in range(50):
        await asyncio.sleep(0)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


class Recorder:
    """A worker that records the keys it runs and answers as told."""

    def __init__(self, answers: dict[Hashable, list[Any]] | None = None) -> None:
        self.runs: list[Hashable] = []
        self.answers = answers or {}
        self.gate: asyncio.Event | None = None
        self.running = 0
        self.most_running: dict[Hashable, int] = {}

    async def __call__(self, key: Hashable) -> Any:
        self.runs.append(key)
        self.running += 1
        self.most_running[key] = max(self.most_running.get(key, 0), self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            answers = self.answers.get(key) or [None]
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            self.running -= 1


def test_a_key_queued_many_times_while_waiting_runs_once() -> None:
    async def scenario() -> None:
        queue, worker = WorkQueue(clock=FakeClock()), Recorder()
        for _ in range(5):
            queue.add("a")
        queue.add("b")
        task = asyncio.create_task(queue.run(worker, 4))
        await queue.wait_idle()
        task.cancel()
        assert sorted(map(str, worker.runs)) == ["a", "b"]

    run(scenario)


def test_a_key_added_while_it_runs_runs_again_afterwards_never_twice_at_once() -> None:
    async def scenario() -> None:
        queue, worker = WorkQueue(clock=FakeClock()), Recorder()
        worker.gate = asyncio.Event()
        queue.add("a")
        task = asyncio.create_task(queue.run(worker, 4))
        await settle()
        assert worker.runs == ["a"] and queue.is_busy("a") and not queue.is_queued("a")
        queue.add("a")
        queue.add("a")
        await settle()
        assert worker.runs == ["a"], "not a second worker on the same key"
        assert queue.is_queued("a"), "what it is computing is already out of date"
        worker.gate.set()
        await queue.wait_idle()
        task.cancel()
        assert worker.runs == ["a", "a"], "once more, not once per add"
        assert worker.most_running["a"] == 1

    run(scenario)


def test_failures_retry_with_exponential_backoff_up_to_the_cap() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(base_delay=0.5, max_delay=4.0, clock=clock)
        worker = Recorder({"a": [RuntimeError("boom")] * 5 + [None]})
        queue.add("a")
        task = asyncio.create_task(queue.run(worker, 1))
        delays = []
        for _ in range(5):
            await settle()
            (due,) = clock.pending()
            delays.append(due - clock.now)
            clock.advance(due - clock.now)
        await settle()
        task.cancel()
        assert delays == [0.5, 1.0, 2.0, 4.0, 4.0]
        assert len(worker.runs) == 6 and clock.pending() == [], "success ends the retries"
        assert queue.retry_delay(1) == 0.5, "and the next failure starts over"

    run(scenario)


def test_a_success_forgets_earlier_failures() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(base_delay=1.0, clock=clock)
        worker = Recorder({"a": [RuntimeError(), RuntimeError(), None, RuntimeError()]})
        queue.add("a")
        task = asyncio.create_task(queue.run(worker, 1))
        for _ in range(2):
            await settle()
            clock.advance(clock.pending()[0] - clock.now)
        await settle()
        assert clock.pending() == [], "the third run succeeded"
        queue.add("a")
        await settle()
        assert clock.pending() == [clock.now + 1.0], "a new failure waits the base delay"
        task.cancel()

    run(scenario)


def test_requeue_runs_the_key_again_after_the_time_asked() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock=clock)
        worker = Recorder({"a": [Requeue(30, "rollout in progress"), None], "b": [5.0, None]})
        queue.add("a")
        queue.add("b")
        task = asyncio.create_task(queue.run(worker, 2))
        await settle()
        assert clock.pending() == [5.0, 30.0]
        clock.advance(29.9)
        await settle()
        assert worker.runs.count("a") == 1 and worker.runs.count("b") == 2
        clock.advance(0.1)
        await settle()
        assert worker.runs.count("a") == 2 and clock.pending() == []
        task.cancel()

    run(scenario)


def test_a_bare_number_is_taken_as_an_unexplained_requeue() -> None:
    assert as_requeue(2) == Requeue(2.0, "unexplained")
    assert as_requeue(None) is None
    assert as_requeue(Requeue(1, "why")) == Requeue(1, "why")


@pytest.mark.parametrize(("first", "second"), [(60.0, 1.0), (1.0, 60.0)])
def test_of_two_requeues_of_one_key_the_earlier_holds(first: float, second: float) -> None:
    """A key waiting 60 s (say, ApplyRejected) that now asks for 1 s (waiting
    for its namespace) is looked at after 1 s. The queue used to keep the first
    timer and drop the second (found by this test; fixed)."""

    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock=clock)
        queue.add_after("a", first)
        queue.add_after("a", second)
        assert clock.pending() == [1.0]
        clock.advance(1.0)
        assert queue.is_queued("a")

    run(scenario)


def test_reset_forgets_queued_scheduled_and_failing_keys() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        queue = WorkQueue(clock=clock)
        queue.add("a")
        queue.add("b")
        queue.add_after("c", 30)
        assert len(queue) == 2 and queue.is_queued("a")
        assert queue.reset() == 3
        assert len(queue) == 0 and not queue.is_queued("a") and clock.pending() == []
        worker = Recorder()
        queue.add("d")
        task = asyncio.create_task(queue.run(worker, 1))
        await queue.wait_idle()
        task.cancel()
        assert worker.runs == ["d"], "only what was added after the reset runs"

    run(scenario)


def test_the_default_clock_is_the_event_loop() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        queue.add_after("a", 0)
        await settle()
        assert queue.is_queued("a")

    run(scenario)
