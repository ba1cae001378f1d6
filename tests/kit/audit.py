"""The one reader of the API server's audit log (JSON lines; the local control
plane logs write requests at the Metadata level).

Events stay the API server's own dicts (``objectRef``, ``user``, ``verb``,
``userAgent``, ``responseStatus`` ...); positions are byte offsets, so a reader
takes ``mark()`` before an action and reads only what followed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Event = dict[str, Any]

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class AuditLog:
    """Read the audit log from byte offsets (it only grows). ``path=None`` reads as empty
    (an external cluster whose audit log the tests cannot see)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None

    def mark(self) -> int:
        """The log's current end: pass it as ``since`` to read only what follows."""
        try:
            return self.path.stat().st_size if self.path is not None else 0
        except FileNotFoundError:
            return 0

    def events(
        self,
        since: int = 0,
        until: int | None = None,
        *,
        verbs: Iterable[str] | None = None,
        username: str | None = None,
        user_agent_prefix: str | None = None,
    ) -> list[Event]:
        """Completed requests between two marks, filtered by verb, user name or user
        agent. A line being written (not complete JSON yet) is skipped."""
        if self.path is None or not self.path.exists():
            return []
        wanted = frozenset(verbs) if verbs is not None else None
        with open(self.path, "rb") as fh:
            fh.seek(since)
            data = fh.read() if until is None else fh.read(max(0, until - since))
        found: list[Event] = []
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("stage", "ResponseComplete") != "ResponseComplete":
                continue
            if wanted is not None and ev.get("verb") not in wanted:
                continue
            if username is not None and (ev.get("user") or {}).get("username") != username:
                continue
            if user_agent_prefix is not None and not str(ev.get("userAgent", "")).startswith(
                user_agent_prefix
            ):
                continue
            found.append(ev)
        return found

    def writes(
        self,
        since: int = 0,
        until: int | None = None,
        *,
        username: str | None = None,
        user_agent_prefix: str | None = None,
    ) -> list[Event]:
        """Write requests (create, update, patch, delete, deletecollection) only."""
        return self.events(
            since,
            until,
            verbs=WRITE_VERBS,
            username=username,
            user_agent_prefix=user_agent_prefix,
        )


def username(ev: Event) -> str:
    return str((ev.get("user") or {}).get("username", ""))


def resource(ev: Event) -> str:
    """``resource`` or ``resource/subresource`` of the request."""
    ref = ev.get("objectRef") or {}
    what = str(ref.get("resource", "?"))
    return what + (f"/{ref['subresource']}" if ref.get("subresource") else "")


def code(ev: Event) -> int:
    return int((ev.get("responseStatus") or {}).get("code", 0))


def describe(ev: Event) -> str:
    """One line for an assertion message: ``patch deployments ns/name -> 200``."""
    ref = ev.get("objectRef") or {}
    where = f"{ref['namespace']}/" if ref.get("namespace") else ""
    return f"{ev.get('verb')} {resource(ev)} {where}{ref.get('name', '')} -> {code(ev) or None}"


def breakdown(events: Iterable[Event]) -> dict[str, int]:
    """Counts by ``verb resource[/subresource]`` (a failed request also by its code),
    most frequent first."""
    counts: Counter[str] = Counter()
    for ev in events:
        suffix = "" if code(ev) < 400 else f" ({code(ev)})"
        counts[f"{ev.get('verb')} {resource(ev)}{suffix}"] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
