"""Validation messages people read: pydantic's wording replaced by the project's.

The models' ValidationErrors reach users as they are (the operator's InvalidSpec
status, the CLI's errors): each error is shown as `spec.<loc>: <msg>`. Pydantic's
own messages ("String should match pattern '^[a-z]...'", "Input should be less
than or equal to 65535") say neither what is wanted nor how to fix it, so every
spec model rewrites its errors through `humanize` (a wrap validator on the base
model); messages of the project's own validators pass through unchanged. Patterns,
ranges and "not empty" are the project's own rules (resources.pattern_rule,
range_rule, not_empty_rule), whose messages the CRDs' CEL rules carry too.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

#: Error types of messages already in the project's words (humanize keeps them).
OWN = "cdp_"


def fail(message: str) -> PydanticCustomError:
    """An error whose message is `message` exactly (no "Value error, " prefix).

    No context is passed, so braces in `message` are kept as written."""
    return PydanticCustomError(f"{OWN}invalid", message)


def _words(error: Any) -> str | None:
    """The project's message for one pydantic error, or None to keep pydantic's."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind.startswith(OWN):
        return str(error["msg"])
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this object (check the spelling)"
    if kind == "string_pattern_mismatch":
        # The spec models check patterns with rules of their own (resources.pattern_rule).
        return "has characters or a form this field does not take"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must be at least {n} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} items"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')} ({value} is too large)"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')} ({value} is too small)"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number (a JSON number, not a string)"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false (a JSON boolean, not a string or number)"
    if kind == "string_type":
        return "must be a string"
    if kind in ("list_type", "set_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be an object (a map of fields)"
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"must be one of: {expected}".replace("'", "")
    return None


def humanize(exc: ValidationError) -> ValidationError:
    """`exc` with every message in the project's words (locations unchanged)."""
    details: list[InitErrorDetails] = []
    for error in exc.errors():
        words = _words(error)
        details.append(
            InitErrorDetails(
                type=PydanticCustomError(OWN + error["type"].removeprefix(OWN), words)
                if words is not None
                else _keep(error),
                loc=error["loc"],
                input=error.get("input"),
            )
        )
    return ValidationError.from_exception_data(exc.title, details)


def _keep(error: Any) -> PydanticCustomError:
    return PydanticCustomError(error["type"], error["msg"])


def nearest(word: str, known: Iterable[str]) -> str | None:
    """The known word closest to a misspelt `word` (None when nothing is close)."""
    candidates = list(known)
    by_case = {k.lower(): k for k in candidates}
    if word.lower() in by_case:
        return by_case[word.lower()]
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return close[0] if close else None
