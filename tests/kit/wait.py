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
