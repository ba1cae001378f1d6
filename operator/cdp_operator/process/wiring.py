"""Kopf wiring: Kopf runs the process; the operator's informers watch.

Kopf provides the operator's lifecycle (startup and cleanup), its liveness
endpoint, credentials and the peering protocol for high availability. The
watching is the operator's own (runtime/informer.py): one list-then-watch per
kind feeding the cache, with deletions detected across re-lists. That replaced
Kopf's per-kind indexes, whose readiness bookkeeping made a restart quadratic
in the number of objects (docs/benchmarks.md), and whose re-list after an
expired watch never reported objects deleted meanwhile (docs/resilience.md).

No resource handlers are registered: no finalizers, no annotations, nothing
written to user objects but their status, so Argo CD and Flux see no drift
caused by the operator, and deletion can never get stuck on us.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import kopf

from .. import USER_AGENT
from ..apply import kinds as K
from ..apply.binding import Client, EventRecorder
from ..apply.metrics import Metrics
from ..apply.reconciler import Reconciler
from ..models import labels as L
from ..render.pod_health import PodFields, pod_fields
from ..runtime.client import load_configuration
from ..runtime.decode import SPEC_STATUS, Shape
from ..runtime.informer import Informer
from ..runtime.peering import PeeringGuard
from .login import session_with_user_agent

logger = logging.getLogger("cdp_operator")


@dataclass
class Options:
    """What the command line decides; kept in Kopf's memo for startup and cleanup."""

    kubeconfig: str | None = None
    scope: list[str] | None = None
    workers: int = 8
    concurrency: int = 32
    metrics: Metrics = field(default_factory=Metrics)
    #: Kopf peering (high availability): the object's name, our identity and priority.
    peering: str | None = None
    identity: str = ""
    priority: int = 0
    #: Seconds a replica's keep-alive counts; a dead active replica is replaced after it.
    peering_lifetime: int = 15
    reconciler: Reconciler | None = None
    informers: list[Informer] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """Kopf's own connection, identified as cdp-operator in the audit log."""
    return session_with_user_agent(USER_AGENT, **kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    options: Options = memo.options
    settings.posting.enabled = False  # we post our own Events, on transitions only
    settings.peering.lifetime = options.peering_lifetime  # keep-alive every lifetime-10..-5 s
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    client = Client(load_configuration(options.kubeconfig), concurrency=options.concurrency)
    reconciler = Reconciler(
        client,
        scope=options.scope,
        metrics=options.metrics,
        events=EventRecorder(client, metrics=options.metrics),
    )
    options.reconciler = reconciler
    loop = asyncio.get_running_loop()
    watched = await _watched_kinds(client)
    reconciler.expect_kinds(kind.kind for kind in watched)
    _start_informers(options, client, reconciler, watched, loop)
    guard = _start_guard(options, client, loop)
    options.tasks.append(loop.create_task(reconciler.run(options.workers, guard)))
    logger.info(
        "cdp-operator started: scope=%s workers=%d peering=%s",
        options.scope or "all data planes",
        options.workers,
        f"{options.peering} as {options.identity} (priority {options.priority})"
        if options.peering
        else "off",
    )


async def _watched_kinds(client: Client) -> tuple[K.Kind, ...]:
    """Every kind the operator reads; pods only where this identity may list them."""
    watched: tuple[K.Kind, ...] = (*K.CUSTOM_KINDS, *K.CHILD_KINDS)
    if await client.may_list(K.POD, _DEPLOYMENT_PODS):
        return (*watched, K.POD, K.RUN_POD)
    # Everything else works without pods; only the causes go unreported. Not
    # waiting for a list that is never allowed keeps the operator working.
    logger.warning(
        "listing pods is forbidden for this identity: Components will not say why "
        "their pods do not run (image pull, run as root, crash loop); grant list and "
        "watch on pods (the chart's ClusterRole does) and restart"
    )
    return watched


def _start_informers(
    options: Options,
    client: Client,
    reconciler: Reconciler,
    watched: tuple[K.Kind, ...],
    loop: asyncio.AbstractEventLoop,
) -> None:
    streaming = client.streaming_api(len(watched) + 2)
    # Informers list one kind at a time: two at once were no faster at 10,000
    # components and cost the operator and the API server more CPU
    # (docs/benchmarks.md, finding 18).
    listing = threading.Lock()
    for kind in watched:
        # All namespaces (to see name conflicts); only our own objects of other kinds.
        selector = _MANAGED if kind in K.CHILD_KINDS and kind is not K.NAMESPACE else ""
        if kind is K.POD:
            selector = _DEPLOYMENT_PODS
        elif kind is K.RUN_POD:
            selector = _RUN_PODS
        informer = Informer(
            streaming,
            kind,
            reconciler,
            loop,
            selector=selector,
            listing=listing,
            transform=pod_fields if kind in (K.POD, K.RUN_POD) else None,
            shape=_POD_SHAPE if kind in (K.POD, K.RUN_POD) else SPEC_STATUS,
        )
        options.informers.append(informer)
        informer.start()


def _start_guard(
    options: Options, client: Client, loop: asyncio.AbstractEventLoop
) -> PeeringGuard | None:
    """With peering (high availability), the guard that lets only the leader work."""
    if not options.peering:
        options.metrics.active.set(1)
        return None
    guard = PeeringGuard(client, options.peering, options.identity, options.priority)
    options.tasks.append(loop.create_task(guard.run()))
    options.metrics.active.set_function(lambda: 1 if guard.active.is_set() else 0)
    return guard


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    options: Options = memo.options
    for informer in options.informers:
        informer.stop()
    for task in options.tasks:
        task.cancel()
    if options.reconciler:
        options.reconciler.client.close()


_MANAGED = f"{L.MANAGED_BY}={L.MANAGED_BY_VALUE}"
#: Pods are parsed into what `pod_fields` reads: the rest of a pod is skipped.
_POD_SHAPE = Shape(PodFields)
#: The pods of the operator's Deployments: its pod templates carry the managed-by
#: label; a Job's pods (manual and scheduled tasks) also carry the Job controller's
#: label, and are left out (the index also drops any pod no ReplicaSet controls).
_DEPLOYMENT_PODS = f"{_MANAGED},!batch.kubernetes.io/job-name"
#: The pods of manual runs: their Jobs' pod templates carry the run-token label.
_RUN_PODS = f"{_MANAGED},{L.RUN_TOKEN}"
