"""The one bounded wait of the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A bounded wait ran out. An AssertionError, so pytest shows it as a test failure."""


def _shorten(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else text[: limit // 2] + " ... " + text[-limit // 2 :]


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 60.0,
    message: str | Callable[[], str] = "condition",
    *,
    interval: float = 0.5,
    observe: Callable[[], Any] | None = None,
    abort: Callable[[], None] | None = None,
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    A bound on waiting, not an assertion on speed. Exceptions raised by the
    predicate count as "not yet", so a predicate may index into an object that
    does not exist yet. On timeout the error names what was awaited and the LAST
    state seen: ``observe()`` called then (e.g. the object as it is now), else the
    predicate's last falsy result or exception. ``message`` may be a callable,
    evaluated at timeout too. ``abort`` runs before every attempt and is not
    caught: it ends the wait at once (e.g. a controller process that exited).
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        if abort is not None:
            abort()
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as exc:  # shown when the wait runs out
            last = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    what = message() if callable(message) else message
    if observe is not None:
        try:
            state = observe()
            seen = f"last seen: {state if isinstance(state, str) else repr(state)}"
        except Exception as exc:  # the observation failed: say so rather than hide the timeout
            seen = f"last seen: (observing failed: {type(exc).__name__}: {exc})"
        if isinstance(last, Exception):
            seen += f"; last error: {type(last).__name__}: {last}"
    elif isinstance(last, Exception):
        seen = f"last error: {type(last).__name__}: {last}"
    else:
        seen = f"last seen: {last!r}"
    raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}; {_shorten(seen)}")


def observe_until(
    observe: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    *,
    interval: float = 0.5,
) -> T:
    """Observe until ``done(observation)`` or ``timeout``; return the last observation.

    For a wait whose outcome the test records before it asserts (e.g. figures of a
    resilience run): the caller asserts on what is returned, so running out of time
    fails there, with the whole observation to show. A bound, not a measurement;
    an exception raised by ``observe`` is not caught.
    """
    deadline = time.monotonic() + timeout
    seen = observe()
    while not done(seen) and time.monotonic() < deadline:
        time.sleep(interval)
        seen = observe()
    return seen


def holds_for(
    predicate: Callable[[], Any],
    duration: float,
    message: str,
    *,
    interval: float = 0.5,
) -> None:
    """Fail as soon as ``predicate`` is falsy during ``duration`` seconds ("nothing
    happened": e.g. an object the operator must never delete is still there).

    Checked at the start, every ``interval`` and once more at the end; the error
    names ``message`` and the falsy value seen. An exception raised by the
    predicate is not caught.
    """
    deadline = time.monotonic() + duration
    while True:
        value = predicate()
        if not value:
            raise AssertionError(f"{message} no longer held; seen: {_shorten(repr(value))}")
        if time.monotonic() >= deadline:
            return
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
