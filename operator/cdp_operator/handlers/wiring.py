"""Kopf wiring: watches feed the reconciler; Kopf itself writes nothing to user objects.

Only `on.event` handlers are registered: they need no finalizers and keep no
state in annotations, so Argo CD and Flux see no drift caused by the operator,
and deletion can never get stuck on us.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import kopf

from .. import USER_AGENT
from ..apply import kinds as K
from ..apply.client import Client, load_configuration
from ..apply.events import EventRecorder
from ..apply.metrics import Metrics
from ..apply.reconciler import Reconciler
from ..models import labels as L

logger = logging.getLogger("cdp_operator")


@dataclass
class Options:
    """What the command line decides; kept in Kopf's memo for the handlers."""

    kubeconfig: str | None = None
    scope: list[str] | None = None
    workers: int = 8
    concurrency: int = 32
    metrics: Metrics = field(default_factory=Metrics)
    reconciler: Reconciler | None = None
    task: asyncio.Task[None] | None = None


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """Kopf's own connection, identified as cdp-operator in the audit log."""
    info = kopf.login_via_client(**kwargs)
    if info is None:
        return None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
        headers={**info.as_http_headers(), "User-Agent": USER_AGENT},
    )
    return kopf.AiohttpSession(
        aiohttp_session=session,
        server=info.server,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
    )


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    options: Options = memo.options
    settings.posting.enabled = False  # we post our own Events, on transitions only
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    client = Client(load_configuration(options.kubeconfig), concurrency=options.concurrency)
    reconciler = Reconciler(
        client, scope=options.scope, metrics=options.metrics, events=EventRecorder(client)
    )
    options.reconciler = reconciler
    options.task = asyncio.get_running_loop().create_task(reconciler.run(options.workers))
    logger.info(
        "cdp-operator started: scope=%s workers=%d",
        options.scope or "all data planes",
        options.workers,
    )


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    options: Options = memo.options
    if options.task:
        options.task.cancel()
    if options.reconciler:
        options.reconciler.client.close()


def _indexer(kind: str) -> Any:
    """Fill the cache while Kopf lists: Kopf holds every event handler until all
    indexed kinds are listed, so the first reconcile sees a complete cache
    (the informer's wait-for-sync) and never mistakes "not listed yet" for "gone".
    """

    async def index(body: kopf.Body, memo: Any, **_: Any) -> None:
        reconciler = memo.options.reconciler
        if reconciler is not None:
            obj = dict(body)
            obj.setdefault("kind", kind)
            reconciler.cache.upsert(obj)
        return None

    index.__name__ = f"index_{kind.lower()}"
    return index


def _observer(kind: str) -> Any:
    async def observe(event: kopf.RawEvent, memo: Any, **_: Any) -> None:
        reconciler = memo.options.reconciler
        if reconciler is None:
            return
        obj = event["object"]
        obj.setdefault("kind", kind)
        reconciler.observe(event.get("type"), obj)

    observe.__name__ = f"observe_{kind.lower()}"
    return observe


_MANAGED = {L.MANAGED_BY: L.MANAGED_BY_VALUE}

for _kind in (*K.CUSTOM_KINDS, *K.CHILD_KINDS):
    # All namespaces (to see name conflicts); only our own objects of other kinds.
    _labels = _MANAGED if _kind in K.CHILD_KINDS and _kind is not K.NAMESPACE else None
    kopf.index(
        _kind.group, _kind.version, _kind.plural, id=f"cache-{_kind.plural}", labels=_labels
    )(_indexer(_kind.kind))
    kopf.on.event(
        _kind.group, _kind.version, _kind.plural, id=f"observe-{_kind.plural}", labels=_labels
    )(_observer(_kind.kind))
