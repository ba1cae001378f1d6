"""The Kopf peer: cdp-operator's pure render layer driven by plain Kopf handlers.

For the benchmark only (issue 15: a peer row beside the operator), not part of
the product. It is what a developer following Kopf's documentation writes
around the same render layer (``render.plan.plan_organization``,
``render.component_plan.plan_component``, ``render.readiness``,
``render.status``), with Kopf's defaults:

* one handler per kind and cause, stacked ``@kopf.on.resume`` /
  ``@kopf.on.create`` / ``@kopf.on.update`` (Kopf's idiom for "ensure it exists",
  also after a restart); Kopf's progress storage (annotations; its
  ``status.kopf`` part is pruned by the CRDs' structural status schema), its
  last-handled-configuration annotation for diffs, its finalizer for the
  ``@kopf.on.delete`` handler of Components; Kopf 1.45 posts no Event for a
  handler's log messages unless ``settings.posting.loggers`` is set (off by
  default), so the peer posts none;
* children created with the official kubernetes client in the handlers, one
  request per object in the handler's thread; a create answered 409 means the
  object exists (created before a restart, or by a handler of another kind) and
  is left as it is; an update handler patches every rendered object and deletes
  what the new spec no longer renders;
* what does not exist yet (an organization's namespace, a Project named by a
  Component) is a ``kopf.TemporaryError``: Kopf retries the handler later;
* statuses of Organizations, Projects and Environments are written the Kopf way,
  through the handler's ``patch.status``. A Component's readiness comes from its
  Deployments, whose events arrive at another handler (``@kopf.on.event`` on
  managed Deployments, which stores nothing on them), so both that handler and
  the Component's own write the Component's status with the kubernetes client,
  one at a time per Component, from the latest known state of its workloads;
* the namespaces carry the ownerReference the operator's apply layer adds,
  made with ``kopf.append_owner_reference`` (``kopf.adopt`` would also make it
  blockOwnerDeletion=true, which the render layer rules out; namespaces are
  cluster-scoped and named, so adopt's other steps change nothing). Objects in
  runtime namespaces cannot be owned by a Component in another namespace
  (owner references do not cross namespaces), hence the delete handler.

Settings changed from Kopf's defaults, and why: ``settings.execution.max_workers
= 32`` (sync handlers run in Kopf's thread pool, by default min(32, cpus + 4)
threads, 6 on this machine; 32 is the operator's ``--concurrency``), the
kubernetes client's connection pool to the same 32, and the user agent of both
clients (``USER_AGENT``, see process.py) so that the audit log tells the peer's
writes apart.

Left out (not needed by the benchmark, which has none of it): manual runs of
manual-task Components (their entry says "runs on request"), pod diagnosis,
high availability, DataPlane statuses, name conflicts with foreign objects (a
409 is taken as "ours"), holding resources over a tier limit that already run
(only what the handled object renders is created or pruned), and rewriting an
Organization's status when its Projects and Components change (its data planes
in use and its free and paid counts are those of when it was handled).

Which handler makes what: an Organization its namespace, policies and default
Environments; a Project its runtime namespaces and their policies, and the
default Environments of a data plane not in use yet; an Environment its runtime
namespaces (for every Project) and, for an Environment of the user's, every
Component's objects in them (a Component handled before the Environment existed
was planned without it); a Component its objects in every runtime namespace of
its plan. A create answered 409 by another handler's object is the cost of that
overlap.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
import kubernetes
from kubernetes.client.exceptions import ApiException
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from pydantic import BaseModel, ValidationError

from cdp_operator.models import labels as L
from cdp_operator.models import naming
from cdp_operator.models.resources import (
    ComponentSpec,
    DataPlaneSpec,
    EnvironmentSpec,
    OrganizationSpec,
    ProjectSpec,
)
from cdp_operator.models.tiers import Billing
from cdp_operator.process.login import session_with_user_agent
from cdp_operator.render import workloads as render_workloads
from cdp_operator.render.addresses import endpoint_addresses
from cdp_operator.render.billing import all_paid, resource_of
from cdp_operator.render.component_plan import ComponentPlan, component_billing, plan_component
from cdp_operator.render.context import Runtime
from cdp_operator.render.plan import plan_organization
from cdp_operator.render.readiness import component_verdict, live_state
from cdp_operator.render.status import billed, invalid_spec, not_in_org_namespace, status_of
from cdp_operator.render.verdict import OrgPlan, Resource, Verdict
from cdp_operator.runtime.diff import is_subset

Obj = dict[str, Any]

USER_AGENT = f"cdp-kopf-peer/{importlib.metadata.version('kopf')}"  # every request of the peer
METRICS_PORT_ENV = "CDP_KOPF_PEER_METRICS_PORT"
GROUP, VERSION = L.GROUP, L.VERSION
#: Threads for Kopf's sync handlers and connections of the kubernetes client.
CONCURRENCY = 32
#: Seconds before Kopf retries a handler that waits for something (Kopf's default
#: for a TemporaryError is 60); the operator looks again after 0.5 to 1 s.
RETRY_DELAY = 1.0
#: How long a Component waits for its Project or Environment to appear before
#: its status says it is missing (the operator's REFERENCE_GRACE is 10 s).
REFERENCE_GRACE = datetime.timedelta(seconds=30)
#: Seconds past a retry's delay within which Kopf calls the handler again.
RETRY_EXPECTED = 10.0
AWAITED = frozenset({"ProjectNotFound", "ProjectNotReady", "EnvironmentNotFound"})
MANAGED = {L.MANAGED_BY: L.MANAGED_BY_VALUE}

logger = logging.getLogger("cdp_kopf_peer")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ the client
class NamespaceMissing(Exception):
    """A namespace the object lives in does not exist (yet)."""


@dataclass(frozen=True)
class KindApi:
    """The typed kubernetes-client calls for one kind (namespace None: cluster-scoped)."""

    create: Callable[[str | None, Obj], Any]
    read: Callable[[str | None, str], Any]
    patch: Callable[[str | None, str, Obj], Any]
    delete: Callable[[str | None, str], Any]
    list_all: Callable[[str], Any]


def _custom(custom: Any, plural: str) -> KindApi:
    merge = "application/merge-patch+json"
    return KindApi(
        create=lambda ns, body: custom.create_namespaced_custom_object(
            GROUP, VERSION, ns, plural, body
        ),
        read=lambda ns, name: custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name),
        patch=lambda ns, name, body: custom.patch_namespaced_custom_object(
            GROUP, VERSION, ns, plural, name, body, _content_type=merge
        ),
        delete=lambda ns, name: custom.delete_namespaced_custom_object(
            GROUP, VERSION, ns, plural, name
        ),
        list_all=lambda selector: custom.list_cluster_custom_object(
            GROUP, VERSION, plural, label_selector=selector
        ),
    )


def _namespaced(api: Any, suffix: str) -> KindApi:
    """The CoreV1Api/AppsV1Api... methods ``*_namespaced_<suffix>``."""
    return KindApi(
        create=lambda ns, body: getattr(api, f"create_namespaced_{suffix}")(ns, body),
        read=lambda ns, name: getattr(api, f"read_namespaced_{suffix}")(name, ns),
        patch=lambda ns, name, body: getattr(api, f"patch_namespaced_{suffix}")(name, ns, body),
        delete=lambda ns, name: getattr(api, f"delete_namespaced_{suffix}")(name, ns),
        list_all=lambda selector: getattr(api, f"list_{suffix}_for_all_namespaces")(
            label_selector=selector
        ),
    )


class Kube:
    """The kubernetes client as the handlers use it, counting its writes."""

    def __init__(self, api_client: Any, metrics: PeerMetrics) -> None:
        self.client = api_client
        self.metrics = metrics
        core = kubernetes.client.CoreV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.apis: dict[str, KindApi] = {
            "Namespace": KindApi(
                create=lambda ns, body: core.create_namespace(cast(Any, body)),
                read=lambda ns, name: core.read_namespace(name),
                patch=lambda ns, name, body: core.patch_namespace(name, body),
                delete=lambda ns, name: core.delete_namespace(name),
                list_all=lambda selector: core.list_namespace(label_selector=selector),
            ),
            "Service": _namespaced(core, "service"),
            "Deployment": _namespaced(kubernetes.client.AppsV1Api(api_client), "deployment"),
            "CronJob": _namespaced(kubernetes.client.BatchV1Api(api_client), "cron_job"),
            "Ingress": _namespaced(kubernetes.client.NetworkingV1Api(api_client), "ingress"),
            "NetworkPolicy": _namespaced(
                kubernetes.client.NetworkingV1Api(api_client), "network_policy"
            ),
            "PodDisruptionBudget": _namespaced(
                kubernetes.client.PolicyV1Api(api_client), "pod_disruption_budget"
            ),
            "Environment": _custom(self.custom, "environments"),
        }

    def as_dict(self, model: Any) -> Obj:
        """A typed response as the API's JSON (camelCase keys)."""
        result: Obj = cast(Obj, self.client.sanitize_for_serialization(model))
        return result

    def _write(self, kind: str, verb: str, call: Callable[[], Any]) -> Any:
        self.metrics.writes.labels(kind, verb).inc()
        return call()

    def create(self, obj: Obj) -> Obj | None:
        """Create obj; None when it exists already (409). NamespaceMissing when its
        namespace does not exist."""
        kind, meta = obj["kind"], obj["metadata"]
        namespace = meta.get("namespace")
        try:
            return self.as_dict(
                self._write(kind, "create", lambda: self.apis[kind].create(namespace, obj))
            )
        except ApiException as exc:
            if exc.status == 409:
                return None
            if exc.status == 404 and namespace:
                raise NamespaceMissing(f"namespace {namespace} does not exist yet") from exc
            raise

    def read(self, kind: str, namespace: str | None, name: str) -> Obj | None:
        try:
            return self.as_dict(self.apis[kind].read(namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_or_patch(self, obj: Obj) -> Obj:
        """Make obj as rendered: patch it where it exists, else create it."""
        kind, meta = obj["kind"], obj["metadata"]
        namespace, name = meta.get("namespace"), meta["name"]
        try:
            return self.as_dict(
                self._write(kind, "patch", lambda: self.apis[kind].patch(namespace, name, obj))
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        created = self.create(obj)
        return created if created is not None else obj

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        try:
            self._write(kind, "delete", lambda: self.apis[kind].delete(namespace, name))
        except ApiException as exc:
            if exc.status != 404:
                raise

    def list_managed(self, kind: str, selector: str) -> list[Obj]:
        result = self.apis[kind].list_all(selector)
        items = (result if isinstance(result, dict) else self.as_dict(result))["items"]
        for item in items:  # typed lists leave kind out of their items
            item.setdefault("kind", kind)
        return list(items)

    def custom_get(self, plural: str, name: str, namespace: str | None = None) -> Obj | None:
        try:
            if namespace is None:
                found = self.custom.get_cluster_custom_object(GROUP, VERSION, plural, name)
            else:
                found = self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name
                )
            return cast(Obj, found)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def custom_list(self, plural: str, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            result = self.custom.list_cluster_custom_object(GROUP, VERSION, plural)
        else:
            result = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
        return list(cast(Obj, result)["items"])

    def patch_component_status(self, namespace: str, name: str, status: Obj) -> None:
        self._write(
            "Component",
            "status",
            lambda: self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                "components",
                name,
                {"status": status},
                _content_type="application/merge-patch+json",
            ),
        )


# ------------------------------------------------------------------ metrics
class PeerMetrics:
    """Named like the operator's, so that the bench reads both the same way."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.handled = Counter(
            "cdp_reconcile_total", "Handler calls", ["kind"], registry=self.registry
        )
        self.writes = Counter(
            "cdp_api_writes_total",
            "Writes by the peer's kubernetes client (Kopf's own: audit log only)",
            ["kind", "verb"],
            registry=self.registry,
        )
        self.depth = Gauge(
            "cdp_work_queue_depth",
            "Handler calls running plus objects waiting for Kopf to retry a handler",
            registry=self.registry,
        )
        self.managed = Gauge(
            "cdp_managed_objects",
            "Managed objects the peer knows",
            ["kind"],
            registry=self.registry,
        )


# ------------------------------------------------------------------ the peer's state
@dataclass
class Tracked:
    """What a Component's status is computed from between its handler calls."""

    spec: ComponentSpec | None  # None: not parsed (then cplan has the verdict)
    generation: int
    cplan: ComponentPlan
    billing: Billing | None
    status: Obj  # as last written (or as found)
    #: When the snapshot its plan came from was listed (monotonic): a plan from
    #: an older snapshot never replaces a newer one (see the Environment handler).
    planned_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class OrgContext:
    """An organization as a handler reads it from the API, and its plan."""

    body: Obj
    org: Resource[OrganizationSpec]
    plan: OrgPlan
    environments: list[str]
    components: list[Obj]
    listed_at: float


class Peer:
    """Kept in Kopf's operator-wide memo: the client, the metrics, and what the
    Deployment events tell about each Component's workloads."""

    def __init__(self, kube: Kube, metrics: PeerMetrics) -> None:
        self.kube = kube
        self.metrics = metrics
        self._lock = threading.Lock()
        self.running = 0
        #: Objects whose handler Kopf is to call again -> until when that is expected
        #: (an object deleted meanwhile is never called again: it expires).
        self.retrying: dict[tuple[str, str, str], float] = {}
        #: (kind, namespace, name) of a workload -> its render.readiness.live_state
        self.workloads: dict[tuple[str, str, str], Obj] = {}
        #: (namespace, name) of a Component -> what its status is computed from
        self.components: dict[tuple[str, str], Tracked] = {}
        #: How many of the workloads are Deployments (for the bench's settle check).
        self.deployments = 0
        metrics.depth.set_function(self.depth)
        metrics.managed.labels("Deployment").set_function(lambda: self.deployments)

    # ---------------------------------------------------------------- bookkeeping
    @contextlib.contextmanager
    def handling(self, kind: str, key: tuple[str, str, str]) -> Iterator[None]:
        """One handler call: counted, and remembered while Kopf is to retry it."""
        self.metrics.handled.labels(kind).inc()
        with self._lock:
            self.running += 1
        try:
            yield
        except kopf.TemporaryError as exc:
            with self._lock:
                self.retrying[key] = time.monotonic() + (exc.delay or 0) + RETRY_EXPECTED
            raise
        else:
            with self._lock:
                self.retrying.pop(key, None)
        finally:
            with self._lock:
                self.running -= 1

    def depth(self) -> float:
        """Handler calls running plus retries still expected (the bench's queue depth)."""
        now = time.monotonic()
        with self._lock:
            return float(self.running + sum(1 for t in self.retrying.values() if t > now))

    # ---------------------------------------------------------------- reading
    def context(self, org_name: str, org_body: Obj | None = None) -> OrgContext | None:
        """The organization, its data planes, projects, environments and components
        (listed from the API) and its plan; None when it does not exist."""
        listed_at = time.monotonic()
        body = org_body if org_body is not None else self.kube.custom_get("organizations", org_name)
        if body is None:
            return None
        org = resource_of(body, OrganizationSpec.model_validate(body.get("spec") or {}))
        namespace = naming.organization_namespace_name(org_name)
        data_planes = {}
        for dp in self.kube.custom_list("dataplanes"):
            with contextlib.suppress(ValidationError):
                data_planes[dp["metadata"]["name"]] = DataPlaneSpec.model_validate(dp["spec"])
        projects_raw = self.kube.custom_list("projects", namespace)
        environments_raw = self.kube.custom_list("environments", namespace)
        projects = _parsed(projects_raw, ProjectSpec)
        environments = _parsed(environments_raw, EnvironmentSpec)
        components = (
            [] if all_paid(org.spec.tier) else self.kube.custom_list("components", namespace)
        )
        plan = plan_organization(
            org,
            data_planes,
            environments,
            projects,
            present=[("Project", p["metadata"]["name"]) for p in projects_raw]
            + [("Environment", e["metadata"]["name"]) for e in environments_raw],
        )
        namespaces = [o for o in plan.desired if o["kind"] == "Namespace"]
        # The owner reference the operator's apply layer adds (blockOwnerDeletion false).
        kopf.append_owner_reference(
            namespaces, owner=kopf.Body(cast(kopf.RawBody, body)), block_owner_deletion=False
        )
        return OrgContext(
            body,
            org,
            plan,
            [e["metadata"]["name"] for e in environments_raw],
            components,
            listed_at,
        )

    # ---------------------------------------------------------------- writing
    def ensure(self, objects: Iterable[Obj], *, update: bool) -> None:
        """Create the objects (namespaces first); on an update, patch them."""
        ordered = sorted(objects, key=lambda o: o["kind"] != "Namespace")
        for obj in ordered:
            if update:
                self.remember_workload(self.kube.create_or_patch(obj), replace=True)
                continue
            created = self.kube.create(obj)
            if created is not None:
                self.remember_workload(created, replace=False)
            elif obj["kind"] in ("Deployment", "CronJob"):
                # It exists: its state, unless a Deployment event told it already.
                key = _workload_key(obj)
                if key not in self.workloads:
                    live = self.kube.read(*key)
                    if live is not None:
                        self.remember_workload(live, replace=False)

    def prune(self, selector: str, kinds: Iterable[str], desired: Iterable[Obj]) -> None:
        """Delete the managed objects of these kinds matching selector that are not desired."""
        wanted = {
            (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in desired
        }
        for kind in kinds:
            for live in self.kube.list_managed(kind, selector):
                meta = live["metadata"]
                key = (kind, meta.get("namespace"), meta["name"])
                if key not in wanted:
                    self.kube.delete(*key)

    # ---------------------------------------------------------------- components
    def remember_workload(self, live: Obj, *, replace: bool) -> None:
        if live.get("kind") not in ("Deployment", "CronJob"):
            return
        key = _workload_key(live)
        with self._lock:
            if key not in self.workloads:
                self.deployments += key[0] == "Deployment"
            elif not replace:
                return
            self.workloads[key] = live_state(live)

    def forget_workload(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            if self.workloads.pop(key, None) is not None:
                self.deployments -= key[0] == "Deployment"

    def entry(self, rt: Runtime, component: str, spec: ComponentSpec) -> Obj:
        """One environment's status entry (as the operator's apply/workload_status.py
        makes it, without pod diagnosis or manual runs)."""
        entry: Obj = {"name": rt.environment, "namespace": rt.namespace}
        if endpoints := endpoint_addresses(rt, component, spec):
            entry["endpoints"] = endpoints
        ref = render_workloads.component_workload_ref(rt, component, spec)
        if ref is None:
            entry.update(workloadKind="Job", workloadName="", ready=True, message="runs on request")
            return entry
        kind, name = ref
        entry.update(workloadKind=kind, workloadName=name)
        state = self.workloads.get((kind, rt.namespace, name))
        if state is None:
            entry.update(ready=False, message=f"{kind} not created yet")
        else:
            entry.update(state)
        return entry

    def report(self, namespace: str, name: str) -> None:
        """Write the Component's status from its workloads, if that changes it."""
        tracked = self.components.get((namespace, name))
        if tracked is None:
            return  # its handler has not run yet: it reports when it does
        with tracked.lock:
            cplan = tracked.cplan
            if cplan.verdict is not None:
                verdict = cplan.complete(cplan.verdict)
            else:
                assert tracked.spec is not None  # a plan without a verdict had a spec
                envs = [self.entry(rt, name, tracked.spec) for rt in cplan.runtimes]
                verdict = cplan.complete(
                    component_verdict(tracked.spec, cplan.runtimes, envs, [], None)
                )
            self.write_status(namespace, name, tracked, billed(verdict, tracked.billing))

    def write_status(self, namespace: str, name: str, tracked: Tracked, verdict: Verdict) -> None:
        status = status_of(tracked.status, verdict, tracked.generation, _now())
        if is_subset(status, tracked.status):
            return
        self.kube.patch_component_status(namespace, name, status)
        tracked.status = status


def _parsed(items: list[Obj], model: type[BaseModel]) -> list[Resource[Any]]:
    result = []
    for item in items:
        with contextlib.suppress(ValidationError):
            result.append(resource_of(item, model.model_validate(item.get("spec") or {})))
    return result


def _workload_key(obj: Obj) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return (obj["kind"], meta["namespace"], meta["name"])


def _set_status(patch: kopf.Patch, current: Any, verdict: Verdict, generation: int) -> None:
    """The Kopf way: the handler's patch carries the status; only when it changes."""
    status = status_of(dict(current or {}), verdict, generation, _now())
    if not is_subset(status, dict(current or {})):
        patch.status.update(status)


def _peer(memo: Any) -> Peer:
    peer: Peer = memo.peer
    return peer


# ------------------------------------------------------------------ Kopf: the process
@kopf.on.login()
async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """Kopf's own requests (watches, patches, Events) with the peer's user agent."""
    return session_with_user_agent(USER_AGENT, **kwargs)


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    settings.execution.max_workers = CONCURRENCY
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = CONCURRENCY
    api_client = kubernetes.client.ApiClient(configuration)
    api_client.user_agent = USER_AGENT
    metrics = PeerMetrics()
    memo.peer = Peer(Kube(api_client, metrics), metrics)
    port = int(os.environ.get(METRICS_PORT_ENV, "0") or 0)
    if port:
        start_http_server(port, addr="127.0.0.1", registry=metrics.registry)


# ------------------------------------------------------------------ Kopf: the kinds
@kopf.on.resume(GROUP, VERSION, "organizations")
@kopf.on.create(GROUP, VERSION, "organizations")
@kopf.on.update(GROUP, VERSION, "organizations")
def organization(
    body: kopf.Body,
    name: str,
    status: kopf.Status,
    meta: kopf.Meta,
    patch: kopf.Patch,
    reason: str,
    memo: Any,
    **_: Any,
) -> None:
    """Its namespace, policies and default Environments; on an update also the
    runtime namespaces (tier, retention) and the pruning of what is not rendered."""
    peer = _peer(memo)
    with peer.handling("organization", ("Organization", "", name)):
        try:
            ctx = peer.context(name, dict(body))
        except ValidationError as exc:
            _set_status(patch, status, invalid_spec(exc), meta.get("generation") or 0)
            return
        assert ctx is not None
        update = reason == kopf.Reason.UPDATE
        plan = ctx.plan
        own = [
            o
            for o in plan.desired
            if update or L.PROJECT not in (o["metadata"].get("labels") or {})
        ]
        peer.ensure(own, update=update)
        if update and not plan.blocked:
            selector = f"{L.MANAGED_BY}={L.MANAGED_BY_VALUE},{L.ORGANIZATION}={name},!{L.COMPONENT}"
            peer.prune(selector, ("Namespace", "NetworkPolicy", "Environment"), plan.desired)
        verdict = plan.verdicts[("Organization", "", name)]
        billing = component_billing(
            ctx.org.spec.tier,
            ctx.org.spec.allow_paid_components,
            _parsed(ctx.components, ComponentSpec),
        )
        counts = {
            "freeComponents": sum(1 for b in billing.values() if b == Billing.FREE),
            "paidComponents": sum(1 for b in billing.values() if b == Billing.PAID),
        }
        verdict = Verdict(
            verdict.ready,
            verdict.reason,
            verdict.message,
            verdict.stalled,
            {**verdict.extra, **counts},
            verdict.conditions,
        )
        _set_status(patch, status, verdict, meta.get("generation") or 0)


def _namespace_member(
    kind: str,
    body: kopf.Body,
    name: str,
    namespace: str,
    status: kopf.Status,
    meta: kopf.Meta,
    patch: kopf.Patch,
    reason: str,
    memo: Any,
    label: str,
) -> None:
    """A Project or an Environment: the runtime namespaces (and their policies)
    rendered for it, and its status."""
    peer = _peer(memo)
    generation = meta.get("generation") or 0
    with peer.handling(kind.lower(), (kind, namespace, name)):
        org_name = naming.organization_of_namespace(namespace)
        if org_name is None:
            _set_status(patch, status, not_in_org_namespace(namespace), generation)
            return
        try:
            ctx = peer.context(org_name)
        except ValidationError:
            ctx = None
        if ctx is None:
            raise kopf.TemporaryError(f"organization {org_name} not found", delay=RETRY_DELAY)
        update = reason == kopf.Reason.UPDATE
        own = [
            o
            for o in ctx.plan.desired
            if o["metadata"]["labels"].get(label) == name and L.PROJECT in o["metadata"]["labels"]
        ]
        if kind == "Project":
            # A Project on a data plane not in use yet brings its default Environments.
            own += [
                o
                for o in ctx.plan.desired
                if o["kind"] == "Environment" and o["metadata"]["name"] not in ctx.environments
            ]
        peer.ensure(own, update=update)
        if (
            kind == "Environment"
            and body.get("metadata", {}).get("labels", {}).get(L.DEFAULT_ENVIRONMENT) != "true"
        ):
            _materialise_components_in(peer, ctx, namespace, name)
        verdict = ctx.plan.verdicts.get((kind, namespace, name))
        if verdict is None:
            raise kopf.TemporaryError(
                f"{kind} {name} not in its organization's plan yet", delay=RETRY_DELAY
            )
        _set_status(patch, status, verdict, generation)


def _materialise_components_in(peer: Peer, ctx: OrgContext, namespace: str, env: str) -> None:
    """A user's Environment made after some Components were handled: their objects
    in its runtime namespaces (their handlers planned without it), and their status
    from the plan that has it. Default Environments need none of this: a
    Component's plan has the default Environments of its Project's data plane."""
    env_namespaces = {rt.namespace for (_, e), rt in ctx.plan.runtimes.items() if e == env}
    for obj in peer.kube.custom_list("components", namespace):
        try:
            spec = ComponentSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            continue  # its own handler reports it
        cplan, billing = _plan_component(ctx, obj, spec)
        if cplan.verdict is not None:
            continue
        peer.ensure(
            [o for o in cplan.desired if o["metadata"].get("namespace") in env_namespaces],
            update=False,
        )
        meta = obj["metadata"]
        key = (namespace, meta["name"])
        generation = int(meta.get("generation") or 0)
        status = dict(obj.get("status") or {})
        _track(peer, key, spec, generation, cplan, billing, status, ctx.listed_at)
        peer.report(namespace, meta["name"])


@kopf.on.resume(GROUP, VERSION, "projects")
@kopf.on.create(GROUP, VERSION, "projects")
@kopf.on.update(GROUP, VERSION, "projects")
def project(
    body: kopf.Body,
    name: str,
    namespace: str | None,
    status: kopf.Status,
    meta: kopf.Meta,
    patch: kopf.Patch,
    reason: str,
    memo: Any,
    **_: Any,
) -> None:
    assert namespace is not None  # a namespaced kind
    _namespace_member(
        "Project", body, name, namespace, status, meta, patch, reason, memo, L.PROJECT
    )


@kopf.on.resume(GROUP, VERSION, "environments")
@kopf.on.create(GROUP, VERSION, "environments")
@kopf.on.update(GROUP, VERSION, "environments")
def environment(
    body: kopf.Body,
    name: str,
    namespace: str | None,
    status: kopf.Status,
    meta: kopf.Meta,
    patch: kopf.Patch,
    reason: str,
    memo: Any,
    **_: Any,
) -> None:
    assert namespace is not None  # a namespaced kind
    _namespace_member(
        "Environment", body, name, namespace, status, meta, patch, reason, memo, L.ENVIRONMENT
    )


@kopf.on.resume(GROUP, VERSION, "components")
@kopf.on.create(GROUP, VERSION, "components")
@kopf.on.update(GROUP, VERSION, "components")
def component(
    body: kopf.Body,
    name: str,
    namespace: str | None,
    status: kopf.Status,
    meta: kopf.Meta,
    reason: str,
    runtime: datetime.timedelta,
    memo: Any,
    **_: Any,
) -> None:
    """Plan it, create its objects (patch them and prune on an update), report."""
    assert namespace is not None  # a namespaced kind
    peer = _peer(memo)
    key = (namespace, name)
    generation = int(meta.get("generation") or 0)
    with peer.handling("component", ("Component", namespace, name)):
        # The status as last written (by this process) or as found.
        current = dict(status or {})
        org_name = naming.organization_of_namespace(namespace)
        if org_name is None:
            _track(
                peer,
                key,
                None,
                generation,
                ComponentPlan(verdict=not_in_org_namespace(namespace)),
                None,
                current,
            )
            peer.report(namespace, name)
            return
        try:
            spec = ComponentSpec.model_validate(dict(body.get("spec") or {}))
        except ValidationError as exc:
            _track(
                peer, key, None, generation, ComponentPlan(verdict=invalid_spec(exc)), None, current
            )
            peer.report(namespace, name)
            return
        ctx = peer.context(org_name)
        if ctx is None:
            raise kopf.TemporaryError(f"organization {org_name} not found", delay=RETRY_DELAY)
        cplan, billing = _plan_component(ctx, dict(body), spec)
        if (
            cplan.verdict is not None
            and cplan.verdict.reason in AWAITED
            and runtime < REFERENCE_GRACE
        ):
            # Applied together with its Project: Kopf calls the handler again.
            raise kopf.TemporaryError(cplan.verdict.message, delay=RETRY_DELAY)
        if cplan.verdict is None:
            update = reason == kopf.Reason.UPDATE
            try:
                peer.ensure(cplan.desired, update=update)
            except NamespaceMissing as exc:
                raise kopf.TemporaryError(str(exc), delay=RETRY_DELAY) from exc
            if update:
                peer.prune(_component_selector(org_name, name), COMPONENT_KINDS, cplan.desired)
        _track(peer, key, spec, generation, cplan, billing, current, ctx.listed_at)
        peer.report(namespace, name)


def _plan_component(
    ctx: OrgContext, obj: Obj, spec: ComponentSpec
) -> tuple[ComponentPlan, Billing | None]:
    """The component's plan against its organization's, and its billing class."""
    tier = ctx.org.spec.tier
    billing = (
        Billing.PAID
        if all_paid(tier)
        else component_billing(
            tier, ctx.org.spec.allow_paid_components, _parsed(ctx.components, ComponentSpec)
        ).get(obj["metadata"]["name"])
    )
    cplan = plan_component(
        ctx.plan,
        resource_of(obj, spec),
        admitted=billing is not None,
        environments_present=ctx.environments,
    )
    return cplan, billing


def _component_selector(org_name: str, name: str) -> str:
    return f"{L.MANAGED_BY}={L.MANAGED_BY_VALUE},{L.ORGANIZATION}={org_name},{L.COMPONENT}={name}"


COMPONENT_KINDS = (
    "Deployment",
    "Service",
    "Ingress",
    "PodDisruptionBudget",
    "CronJob",
    "NetworkPolicy",
)


def _track(
    peer: Peer,
    key: tuple[str, str],
    spec: ComponentSpec | None,
    generation: int,
    cplan: ComponentPlan,
    billing: Billing | None,
    current: Obj,
    planned_at: float = 0.0,
) -> None:
    """What the Component's status is computed from now (in place, under its lock,
    so that a Deployment event never reports from a half-replaced plan); a plan
    from an older snapshot than the one tracked is dropped."""
    tracked = peer.components.setdefault(
        key, Tracked(spec, generation, cplan, billing, current, planned_at)
    )
    with tracked.lock:
        if planned_at < tracked.planned_at and generation <= tracked.generation:
            return
        tracked.spec, tracked.generation = spec, generation
        tracked.cplan, tracked.billing = cplan, billing
        tracked.planned_at = planned_at


@kopf.on.delete(GROUP, VERSION, "components")
def component_deleted(name: str, namespace: str | None, memo: Any, **_: Any) -> None:
    """Its objects live in other namespaces, where no owner reference reaches."""
    assert namespace is not None  # a namespaced kind
    peer = _peer(memo)
    with peer.handling("component", ("Component", namespace, name)):
        peer.components.pop((namespace, name), None)
        org_name = naming.organization_of_namespace(namespace)
        if org_name is not None:
            peer.prune(_component_selector(org_name, name), COMPONENT_KINDS, [])


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
def deployment_event(
    type: str,
    body: kopf.Body,
    name: str,
    namespace: str | None,
    labels: kopf.Labels,
    memo: Any,
    **_: Any,
) -> None:
    """A managed Deployment changed: its Component's readiness may have."""
    assert namespace is not None  # a namespaced kind
    peer = _peer(memo)
    peer.metrics.handled.labels("deployment").inc()
    key = ("Deployment", namespace, name)
    if type == "DELETED":
        peer.forget_workload(key)
    else:
        peer.remember_workload({**body, "kind": "Deployment"}, replace=True)
    org_name, component_name = labels.get(L.ORGANIZATION), labels.get(L.COMPONENT)
    if org_name and component_name:
        peer.report(naming.organization_namespace_name(org_name), component_name)
