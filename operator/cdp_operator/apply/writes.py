"""The operator's writes of child objects: create or apply what differs, prune
what is no longer wanted (render/prune.py decides what may go), delete."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from kubernetes.client.exceptions import ApiException

from ..models import labels as L
from ..render.prune import owner_uids, to_prune
from ..runtime.client import AlreadyExists, api_status
from ..runtime.diff import is_subset
from ..runtime.objects import Key, Obj
from . import kinds as K
from .binding import created_not_applied
from .context import Shared

logger = logging.getLogger(__name__)


class ApplyRejected(Exception):
    """The API server refused an object we rendered (invalid, forbidden...)."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        super().__init__(f"{kind} {name!r} was rejected by the API server: {message}")


def _api_message(exc: ApiException) -> str:
    return str(api_status(exc).get("message") or exc.reason)[:1000]


async def _write(kind: K.Kind, name: str, request: Awaitable[Obj]) -> Obj:
    """A create or apply; what the API server refuses outright is ApplyRejected."""
    try:
        return await request
    except ApiException as exc:
        if 400 <= (exc.status or 0) < 500 and exc.status not in (404, 409, 429):
            raise ApplyRejected(kind.kind, name, _api_message(exc)) from exc
        raise


def _ours(desired: Obj, live: Obj) -> bool:
    """The operator made live (its label), or it has the owner desired names."""
    return L.is_managed(live["metadata"]) or bool(owner_uids(desired) & owner_uids(live))


def _not_ours(kind: K.Kind, meta: Obj) -> str:
    where = f" in namespace {meta['namespace']!r}" if meta.get("namespace") else ""
    return (
        f"{kind.kind} {meta['name']!r}{where} exists and was not created by "
        "cdp-operator; it is left untouched (rename or delete it)"
    )


class Writer:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.client = shared.client
        self.cache = shared.cache
        self.metrics = shared.metrics

    async def ensure_all(
        self, desired: list[Obj], known: Mapping[Key, Obj] | None = None
    ) -> list[str]:
        """Create or update every object; what could not be, as conflict messages.
        `known`: the live objects as the caller read them (Cache.get)."""
        # Nothing can be created in a namespace being deleted (the API server refuses
        # with 403 NamespaceTerminating): an Organization's deletion seen on its
        # namespaces before on itself would otherwise fail a reconcile. Skipped, not
        # an error: the deletion (or a later reconcile) settles it.
        desired = [obj for obj in desired if not self._terminating(obj)]
        # What is already so needs no task: a converged reconcile (every one of a
        # restart's) writes nothing and would otherwise make one per object.
        pending = [obj for obj in desired if not self._in_place(obj, known)]
        if not pending:
            return []
        results = await asyncio.gather(*(self.ensure(obj, known) for obj in pending))
        return [r for r in results if r]

    def _in_place(self, desired: Obj, known: Mapping[Key, Obj] | None) -> bool:
        """Cached, ours, and holding every field of desired: what ensure() would
        leave alone without a request."""
        meta = desired["metadata"]
        live = self.cache.get(desired["kind"], meta.get("namespace"), meta["name"], known)
        return live is not None and _ours(desired, live) and is_subset(desired, live)

    def _terminating(self, obj: Obj) -> bool:
        namespace = obj["metadata"].get("namespace")
        ns = self.cache.get("Namespace", None, namespace) if namespace else None
        return bool(ns and ns["metadata"].get("deletionTimestamp"))

    async def ensure(self, desired: Obj, known: Mapping[Key, Obj] | None = None) -> str | None:
        """Make desired so; a message instead when its name is taken by an object
        the operator did not create (left untouched, never adopted)."""
        kind = K.kind_of(desired)
        meta = desired["metadata"]
        live = self.cache.get(desired["kind"], meta.get("namespace"), meta["name"], known)
        if live is None:
            live = await self._create(kind, desired)
            if live is None:
                return None
        if not _ours(desired, live):
            # Not cached either: no watch would keep it current.
            message = _not_ours(kind, meta)
            logger.warning("%s", message)
            return message
        self.cache.upsert(live)
        if not is_subset(desired, live):
            await self._update(kind, desired, live)
        return None

    async def _create(self, kind: K.Kind, desired: Obj) -> Obj | None:
        """Create an object the cache does not hold: None once created, else the
        live object that holds its name (somebody else's, or ours unwatched).

        Not in the cache means new, or somebody else's (child kinds are watched
        by our label). A create is one request and never touches an object that
        exists; only when the name is taken do we read it."""
        meta = desired["metadata"]
        try:
            created = await _write(kind, meta["name"], self.client.create_object(desired))
        except AlreadyExists:
            live = await self.client.get(kind, meta.get("namespace"), meta["name"])
            if live is None:
                raise  # deleted meanwhile: retry with backoff
            live.setdefault("kind", desired["kind"])
            return live
        self.metrics.write(kind.kind, "create")
        created.setdefault("kind", desired["kind"])
        self.cache.upsert(created)
        return None

    async def _update(self, kind: K.Kind, desired: Obj, live: Obj) -> None:
        meta = desired["metadata"]
        if created_not_applied(live):
            # Made by our create: hand its fields to our apply first, or the
            # apply could never remove a field the operator stops rendering.
            adopted = await self.client.adopt_fields(kind, meta.get("namespace"), meta["name"])
            if adopted is None:
                raise LookupError(f"{kind.kind} {meta['name']!r} disappeared while adopting")
            self.metrics.write(kind.kind, "adopt")
            adopted.setdefault("kind", desired["kind"])
            self.cache.upsert(adopted)
        result = await _write(kind, meta["name"], self.client.apply(desired))
        self.metrics.write(kind.kind, "apply")
        result.setdefault("kind", desired["kind"])
        self.cache.upsert(result)

    async def prune(
        self,
        candidates: Iterable[Obj],
        desired: Iterable[Obj],
        *,
        owner: tuple[str, str | None, str],
        keep: Callable[[Obj], bool] | None = None,
    ) -> None:
        """Delete the candidates no longer desired that the prune policy lets go."""
        kind_name, ns, name = owner
        is_org = kind_name == "Organization"
        doomed = to_prune(
            candidates,
            desired,
            keep=keep,
            org=name if is_org else self.shared.org_of_namespace(ns or ""),
            owner_org=name if is_org else None,
            scope=self.shared.scope,
            namespace_labels=self.shared.namespace_labels,
        )
        if not doomed:
            return
        if self.cache.get(kind_name, ns, name) is None and await self._owner_exists(owner):
            return
        await asyncio.gather(*(self.delete(o) for o in doomed))

    async def _owner_exists(self, owner: tuple[str, str | None, str]) -> bool:
        """Deleting because the owner is gone: make sure it really is, not just
        missing from a cache that is still filling after a restart (then it is
        cached and queued again)."""
        kind_name, ns, name = owner
        live_owner = await self.client.get(K.BY_KIND[kind_name], ns, name)
        if live_owner is None:
            return False
        live_owner.setdefault("kind", kind_name)
        self.cache.upsert(live_owner)
        key = ("org", name) if kind_name == "Organization" else ("component", ns, name)
        self.shared.queue.add(key)
        return True

    async def delete(self, obj: Obj) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        await self.client.delete(
            K.kind_of(obj), meta.get("namespace"), meta["name"], meta.get("uid")
        )
        self.metrics.write(obj["kind"], "delete")
        self.cache.remove(obj)
