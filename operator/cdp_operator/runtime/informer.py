"""List-then-watch of one kind, forever: the operator's informer.

Each kind is listed (in pages), then watched from the list's resourceVersion
with bookmarks. A watch that times out resumes from the last version it saw;
a watch the API server can no longer resume (410 Gone: etcd compacted the
history, or the API server restarted without a watch cache) is followed by a
new list, and the sink gets that list as a whole, so it can tell which objects
disappeared meanwhile. Without that step a deletion during the gap would never
be seen (what Kopf's re-list does not report).

One daemon thread per kind runs the blocking official client; everything the
sink receives is delivered on the event loop, in the order the API server sent
it. The watches use their own connection pool, so they never hold the
connections that reconciles write through.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, Protocol

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from .cache import compact, slim
from .decode import WHOLE, Shape
from .kind import Kind
from .objects import Obj

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
WATCH_TIMEOUT = 290  # seconds the API server keeps a watch open
READ_TIMEOUT = WATCH_TIMEOUT + 40  # a silent connection longer than this is dead
MAX_BACKOFF = 30.0


class Sink(Protocol):
    def listed(self, kind: Kind, items: list[Obj], resource_version: str) -> None:
        """A complete list of `kind` (selector applied) as of `resource_version`; for
        a sink that has `listed_page`, the end of the pages it was given."""

    def event(self, kind: Kind, event_type: str, obj: Obj) -> None:
        """One watch event: ADDED, MODIFIED or DELETED."""


class PagedSink(Sink, Protocol):
    def listed_page(self, kind: Kind, items: list[Obj], first: bool) -> None:
        """A page of a list as it arrives (then `listed` with no items: the list is
        complete), so that neither side holds a list of 20,000 objects at once.
        `first`: a list (re)starts with it; forget the pages of an earlier attempt."""


class Gone(Exception):
    """The resourceVersion is too old to resume from: list again."""


class Informer:
    def __init__(
        self,
        api: ApiClient,
        kind: Kind,
        sink: Sink,
        loop: asyncio.AbstractEventLoop,
        *,
        selector: str = "",
        listing: AbstractContextManager[Any] | None = None,
        transform: Callable[[Obj], Obj] | None = None,
        shape: Shape = WHOLE,
    ) -> None:
        self.api = api
        self.kind = kind
        self.sink = sink
        self.loop = loop
        self.selector = selector
        #: Held while listing: shared by the informers, it bounds how many kinds
        #: are listed at once (process/wiring.py shares a lock: one at a time).
        self.listing: AbstractContextManager[Any] = listing or threading.Lock()
        #: Applied to each object as it arrives (client-go's SetTransform): what the
        #: sink never reads is dropped before a whole list of it is held in memory.
        self.transform = transform
        #: What the JSON is parsed into (runtime/decode.py): what the cache drops anyway
        #: (managedFields' field sets, what `transform` drops) is skipped while parsing.
        self.shape = shape
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"informer-{kind.plural}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        version: str | None = None
        backoff = 0.5
        while not self._stop.is_set():
            try:
                version = self.step(version)
                backoff = 0.5
            except Exception as exc:  # connection refused, reset, timeouts, 5xx
                logger.warning(
                    "%s: watch failed (%s); retrying in %.1fs",
                    self.kind.plural,
                    _describe(exc),
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)

    def step(self, version: str | None) -> str | None:
        """One round: a list when `version` is None, then one watch from there.

        Returns the version the next watch resumes from, or None when the watch
        could not resume (410 Gone) and the kind must be listed again. Errors
        other than Gone propagate (the thread retries them with backoff).
        """
        try:
            if version is None:
                asked = time.monotonic()
                with self.listing:
                    started = time.monotonic()
                    items, version, count = self._list()
                logger.info(
                    "%s: listed %d in %.1fs (after %.1fs waiting to list)",
                    self.kind.plural,
                    count,
                    time.monotonic() - started,
                    started - asked,
                )
                self._deliver(self.sink.listed, self.kind, items, version)
            return self._watch(version)
        except Gone:
            logger.info("%s: watch expired; listing again", self.kind.plural)
            return None

    def _deliver(self, fn: Any, *args: Any) -> None:
        if not self._stop.is_set():
            self.loop.call_soon_threadsafe(fn, *args)

    def _request(self, query: list[tuple[str, str]], timeout: tuple[float, float]) -> Any:
        method, url, headers, _body, _post = self.api.param_serialize(
            method="GET",
            resource_path=self.kind.collection_path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        return self.api.call_api(method, url, header_params=headers, _request_timeout=timeout)

    def _list(self) -> tuple[list[Obj], str, int]:
        """The whole list, its version and how many objects it had; for a sink
        with `listed_page`, every page goes to it as it arrives, and no items are
        returned.

        The next page is asked for as soon as a page's continue token is read, so
        the API server prepares it while this one is cut down and delivered (a
        restart's lists take their time on both sides: turn about would add them
        up). Still one request of this informer at a time."""
        items: list[Obj] = []
        count = 0
        paged = hasattr(self.sink, "listed_page")
        asked = ""  # the continue token of the page in flight ("": the first)
        pending = self._prefetch(asked)
        while True:
            status, reason, data = pending.result()
            if status == 410 and asked:
                items, asked, count = [], "", 0  # the continue token expired: start over
                pending = self._prefetch(asked)
                continue
            if status >= 400:
                raise ApiException(status=status, reason=reason)
            page = self.shape.page(data)
            del data
            meta = page.get("metadata") or {}
            first, token = not asked, meta.get("continue") or ""
            if token:
                asked = token
                pending = self._prefetch(asked)
            objs = page.pop("items", None) or []
            count += len(objs)
            for obj in objs:
                obj["kind"] = self.kind.kind
                obj["apiVersion"] = self.kind.api_version
                items.append(self._keep(obj))  # drop the bulk now, not after the whole list
            del page, objs
            if paged:
                self._deliver(self.sink.listed_page, self.kind, items, first)  # type: ignore[attr-defined]
                items = []
            if not token:
                return items, str(meta.get("resourceVersion") or ""), count

    def _prefetch(self, token: str) -> Future[tuple[int, str, bytes]]:
        """The page after `token`, asked for on a thread of its own (a daemon, like
        the informer's: an operator that exits does not wait for it)."""
        future: Future[tuple[int, str, bytes]] = Future()

        def fetch() -> None:
            try:
                future.set_result(self._page(token))
            except BaseException as exc:  # delivered to the informer's thread
                future.set_exception(exc)

        threading.Thread(target=fetch, name=f"list-{self.kind.plural}", daemon=True).start()
        return future

    def _page(self, token: str) -> tuple[int, str, bytes]:
        """One page of the list: (HTTP status, reason, body)."""
        query = [("limit", str(PAGE_SIZE))]
        if self.selector:
            query.append(("labelSelector", self.selector))
        if token:
            query.append(("continue", token))
        response = self._request(query, (10, 120))
        data: bytes = response.read()
        return int(response.status), str(response.reason or ""), data

    def _keep(self, obj: Obj) -> Obj:
        if self.transform is not None:
            obj = self.transform(obj)
        kept: Obj = compact(slim(obj))
        return kept

    def _watch(self, version: str) -> str:
        query = [
            ("watch", "true"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(WATCH_TIMEOUT)),
        ]
        if self.selector:
            query.append(("labelSelector", self.selector))
        response = self._request(query, (10, READ_TIMEOUT))
        if response.status == 410:
            response.read()
            raise Gone()
        if response.status >= 400:
            body = response.read()
            raise ApiException(status=response.status, reason=f"{response.reason}: {body[:200]!r}")
        raw = response.response
        try:
            for line in _lines(raw):
                if self._stop.is_set():
                    break
                event = self.shape.event(line)
                event_type = event.get("type")
                obj = event.get("object") or {}
                if event_type == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone()
                    raise ApiException(status=obj.get("code") or 500, reason=obj.get("message"))
                new_version = (obj.get("metadata") or {}).get("resourceVersion")
                if new_version:
                    version = str(new_version)
                if event_type == "BOOKMARK":
                    continue
                obj["kind"] = self.kind.kind
                obj["apiVersion"] = self.kind.api_version
                self._deliver(self.sink.event, self.kind, str(event_type), self._keep(obj))
        finally:
            raw.release_conn()
        return version


def _lines(raw: Any) -> Iterator[bytes]:
    for line in raw:
        line = line.strip()
        if line:
            yield line


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
