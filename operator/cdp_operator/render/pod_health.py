"""Why a component's pods do not run: pure decisions on what the kubelet reports.

A Deployment's status only says "not available". The kubelet says why, in each
pod's container statuses and conditions. `summarize_pod` keeps the few fields
that matter (a few hundred bytes per pod, whatever the pod's size), and
`diagnose` turns the summaries of one workload into one problem with a reason,
a message that names the cause, and whether it needs a person now.

Stalled (kstatus Failed) versus Reconciling (docs/design.md, "Why is my
component not running?"):

- `InvalidImageName` and `ImageRunsAsRoot` are Stalled at once: the kubelet
  refuses the pod for what the spec or the image says, deterministically, and
  retrying never changes that; only a new image or spec does.
- `ImagePullFailed`, `CrashLoopBackOff`, `OOMKilled`, `ContainerCannotStart`
  and `Unschedulable` may recover by themselves (an image pushed after the
  Component, a dependency that comes up, a node that joins): Reconciling, and
  Stalled once the Deployment's progress deadline has passed (its
  `ProgressDeadlineExceeded`, 600 s by default), or, for a crash loop, once a
  container has restarted `CRASH_LOOP_STALLED_RESTARTS` times (a crash loop
  outside a rollout has no progress deadline).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from cdp_operator.models import labels as lbl

#: Reasons, most pressing first: a workload with several problems reports the first.
INVALID_IMAGE_NAME = "InvalidImageName"
IMAGE_RUNS_AS_ROOT = "ImageRunsAsRoot"
IMAGE_PULL_FAILED = "ImagePullFailed"
OOM_KILLED = "OOMKilled"
CRASH_LOOP = "CrashLoopBackOff"
CONTAINER_CANNOT_START = "ContainerCannotStart"
UNSCHEDULABLE = "Unschedulable"
REASONS = (
    INVALID_IMAGE_NAME,
    IMAGE_RUNS_AS_ROOT,
    IMAGE_PULL_FAILED,
    OOM_KILLED,
    CRASH_LOOP,
    CONTAINER_CANNOT_START,
    UNSCHEDULABLE,
)
#: Stalled as soon as seen: retrying cannot help.
STALLED_AT_ONCE = frozenset({INVALID_IMAGE_NAME, IMAGE_RUNS_AS_ROOT})
#: A crash loop is Stalled after this many restarts of one container (kubelet's
#: back-off then waits minutes between starts).
CRASH_LOOP_STALLED_RESTARTS = 5

#: The kubelet's waiting reasons for a failed or backed-off image pull.
_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable", "SignatureValidationFailed"}
)
_START_REASONS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)
#: kubelet's refusal of runAsNonRoot (pkg/kubelet/kuberuntime/security_context_others.go).
_ROOT_REFUSAL = re.compile(r"runAsNonRoot and image (will run as root|has non-numeric user)")
#: ImagePullBackOff repeats the last pull error after this prefix; the two states
#: alternate on every retry, so the message keeps only the error (no status flaps).
_BACK_OFF = re.compile(r'^Back-off pulling image "[^"]*"(: (ErrImagePull: )?)?')
#: The kubelet names the pod (with its uid) in some messages: the same cause would
#: read differently for every pod and every replacement, so that part is dropped.
_POD_NAMED = re.compile(r'\s*\(pod: "[^"]*", container: [^)]*\)')
#: Longest kubelet or scheduler text kept per pod.
_TEXT_MAX = 400


@dataclass(frozen=True, slots=True)
class PodSummary:
    """What the operator keeps of one pod of a component's Deployment or manual run."""

    image: str = ""
    #: The manual run's Job the pod belongs to; empty for a Deployment's pod.
    job: str = ""
    ready: bool = False
    #: The container's waiting reason and message (empty when it is not waiting).
    waiting_reason: str = ""
    waiting_message: str = ""
    restarts: int = 0
    #: The latest termination (the current state, else the last one): exit code and reason.
    exit_code: int | None = None
    exit_reason: str = ""
    #: The scheduler's message while the pod cannot be placed on any node.
    unschedulable: str = ""
    deleting: bool = False


@dataclass(frozen=True)
class PodProblem:
    """Why a workload's pods do not run, for its status."""

    reason: str
    message: str
    stalled: bool


def _cut(text: Any) -> str:
    value = str(text or "").strip()
    return value if len(value) <= _TEXT_MAX else value[: _TEXT_MAX - 3] + "..."


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _controller(pod: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, name) of the pod's controller, or empty strings."""
    for ref in _mapping(pod.get("metadata")).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return str(ref.get("kind") or ""), str(ref.get("name") or "")
    return "", ""


class _PodMeta(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    resourceVersion: str
    labels: dict[str, str]
    deletionTimestamp: str
    ownerReferences: list[Any]


class _Container(TypedDict, total=False):
    image: str


class _PodSpec(TypedDict, total=False):
    containers: list[_Container]


class _ContainerStatus(TypedDict, total=False):
    state: Any
    lastState: Any
    restartCount: int
    ready: bool


class _PodStatus(TypedDict, total=False):
    conditions: list[Any]
    containerStatuses: list[_ContainerStatus]


class PodFields(TypedDict, total=False):
    """The fields of a pod that `pod_fields` keeps (and a little more: every
    condition and owner reference, which it then filters): the type the
    informer parses pods with, so that the rest of a pod (most of it) is
    skipped while parsing instead of built and dropped."""

    apiVersion: str
    kind: str
    metadata: _PodMeta
    spec: _PodSpec
    status: _PodStatus


#: What `pod_fields` copies as it is: the types' fields, so that what is parsed
#: and what is kept cannot drift apart (owner references are filtered instead).
_META_KEPT = tuple(k for k in _PodMeta.__annotations__ if k != "ownerReferences")
_STATUS_KEPT = tuple(_ContainerStatus.__annotations__)


def pod_fields(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod cut to what ``summarize_pod`` and the pod index read, as the informer
    receives it: a pod is several KiB (its spec above all), and a restart lists every
    pod of every Component before a single summary is made. ``summarize_pod`` of the
    result equals ``summarize_pod`` of the whole pod."""
    meta = _mapping(pod.get("metadata"))
    spec = _mapping(pod.get("spec"))
    status = _mapping(pod.get("status"))
    kept_meta: dict[str, Any] = {k: meta[k] for k in _META_KEPT if k in meta}
    refs = [
        {"kind": r.get("kind"), "name": r.get("name"), "controller": True}
        for r in meta.get("ownerReferences") or []
        if isinstance(r, Mapping) and r.get("controller")
    ]
    if refs:
        kept_meta["ownerReferences"] = refs
    kept: dict[str, Any] = {k: pod[k] for k in ("kind", "apiVersion") if k in pod}
    kept["metadata"] = kept_meta
    kept["spec"] = {
        "containers": [
            {"image": c.get("image")}
            for c in spec.get("containers") or []
            if isinstance(c, Mapping)
        ]
    }
    kept["status"] = {
        "conditions": [
            c
            for c in status.get("conditions") or []
            if isinstance(c, Mapping) and c.get("type") == "PodScheduled"
        ],
        "containerStatuses": [
            {k: s[k] for k in _STATUS_KEPT if k in s}
            for s in status.get("containerStatuses") or []
            if isinstance(s, Mapping)
        ],
    }
    return kept


def summarize_pod(pod: Mapping[str, Any]) -> PodSummary | None:
    """The summary of a pod of a Deployment (a ReplicaSet controls it) or of a manual
    run (its Job does, and it carries the run-token label); None for any other pod
    (a CronJob's, or one created by hand with the component's labels)."""
    meta = _mapping(pod.get("metadata"))
    kind, name = _controller(pod)
    if kind == "Job" and lbl.RUN_TOKEN in (_mapping(meta.get("labels"))):
        job = name
    elif kind == "ReplicaSet":
        job = ""
    else:
        return None
    spec = _mapping(pod.get("spec"))
    status = _mapping(pod.get("status"))
    containers = [c for c in spec.get("containers") or [] if isinstance(c, Mapping)]
    statuses = [s for s in status.get("containerStatuses") or [] if isinstance(s, Mapping)]
    unschedulable = ""
    for cond in status.get("conditions") or []:
        if (
            isinstance(cond, Mapping)
            and cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            unschedulable = _cut(cond.get("message"))
    image = str(containers[0].get("image") or "") if containers else ""
    if not statuses:
        return PodSummary(
            image=image,
            job=job,
            unschedulable=unschedulable,
            deleting=bool(meta.get("deletionTimestamp")),
        )
    # One container per rendered pod; with several, the one in the worst state.
    worst = max(statuses, key=_badness)
    state = _mapping(worst.get("state"))
    waiting = _mapping(state.get("waiting"))
    terminated = _mapping(state.get("terminated")) or _mapping(
        _mapping(worst.get("lastState")).get("terminated")
    )
    exit_code = terminated.get("exitCode")
    return PodSummary(
        image=image,
        job=job,
        ready=bool(worst.get("ready")) and all(bool(s.get("ready")) for s in statuses),
        waiting_reason=str(waiting.get("reason") or ""),
        waiting_message=_cut(_POD_NAMED.sub("", str(waiting.get("message") or ""))),
        restarts=int(worst.get("restartCount") or 0),
        exit_code=int(exit_code) if isinstance(exit_code, int) else None,
        exit_reason=str(terminated.get("reason") or ""),
        unschedulable=unschedulable,
        deleting=bool(meta.get("deletionTimestamp")),
    )


def _badness(status: Mapping[str, Any]) -> tuple[int, int]:
    waiting = _mapping(_mapping(status.get("state")).get("waiting"))
    problem = bool(waiting.get("reason")) and waiting.get("reason") != "ContainerCreating"
    return (int(problem) + int(not status.get("ready")), int(status.get("restartCount") or 0))


def _pod_problem(pod: PodSummary) -> tuple[str, str] | None:
    """(reason, message) for one pod, or None when nothing is wrong with it."""
    image = pod.image
    reason = pod.waiting_reason
    if reason == INVALID_IMAGE_NAME:
        return INVALID_IMAGE_NAME, (
            f"image {image!r} is not a valid image reference: {pod.waiting_message}; "
            "set spec.image (or the override's image) to a valid reference"
        )
    if reason in _PULL_REASONS:
        detail = _BACK_OFF.sub("", pod.waiting_message) or "back-off pulling the image"
        return IMAGE_PULL_FAILED, (
            f"image {image!r} cannot be pulled: {detail}; check that the image exists, "
            "that the name and tag are right and that the node may pull from that registry"
        )
    if reason == "CreateContainerConfigError" and _ROOT_REFUSAL.search(pod.waiting_message):
        return IMAGE_RUNS_AS_ROOT, (
            f"image {image!r} runs as root (or names no numeric user), and the component's "
            "pods run as non-root only (Pod Security restricted): build the image with a "
            f"numeric non-root USER, e.g. USER 65532; kubelet: {pod.waiting_message}"
        )
    crashed = pod.exit_code not in (None, 0) or pod.exit_reason == OOM_KILLED
    if reason == CRASH_LOOP or (not pod.ready and not reason and crashed):
        restarts = f"restarted {pod.restarts} time{'s' if pod.restarts != 1 else ''}"
        if pod.exit_reason == OOM_KILLED:
            return OOM_KILLED, (
                f"the container was killed for exceeding its memory limit (exit code "
                f"{pod.exit_code}), {restarts}; raise spec.resources.memory or lower "
                "the process's memory use"
            )
        code = "unknown" if pod.exit_code is None else str(pod.exit_code)
        why = f", {pod.exit_reason}" if pod.exit_reason else ""
        return CRASH_LOOP, (
            f"the container keeps exiting (last exit code {code}{why}), {restarts}; "
            "its logs say why: kubectl logs --previous"
        )
    if reason in _START_REASONS:
        return CONTAINER_CANNOT_START, (
            f"the container cannot start: {reason}: {pod.waiting_message}"
        )
    if pod.unschedulable:
        return UNSCHEDULABLE, f"no node can run its pods: {pod.unschedulable}"
    return None


def diagnose(
    pods: Iterable[PodSummary], *, deadline_exceeded: bool = False, exits: bool = True
) -> PodProblem | None:
    """The most pressing problem among a not-ready workload's pods, or None.

    `deadline_exceeded`: the Deployment reports ProgressDeadlineExceeded; problems
    that may recover by themselves are Stalled from then on. `exits=False` (a
    manual run's pods, which are not restarted): a container that exited is the
    Job's to judge (it retries, then fails), not a crash loop.
    """
    found: dict[str, tuple[str, int]] = {}
    for pod in pods:
        if pod.deleting:
            continue
        problem = _pod_problem(pod)
        if problem is None:
            continue
        reason, message = problem
        if not exits and reason in (CRASH_LOOP, OOM_KILLED):
            continue
        restarts = pod.restarts if reason in (CRASH_LOOP, OOM_KILLED) else 0
        # Per reason, the pod with the most restarts speaks (then the first message).
        if reason not in found or restarts > found[reason][1]:
            found[reason] = (message, restarts)
    for reason in REASONS:
        if reason in found:
            message, restarts = found[reason]
            stalled = (
                reason in STALLED_AT_ONCE
                or deadline_exceeded
                or restarts >= CRASH_LOOP_STALLED_RESTARTS
            )
            return PodProblem(reason, message, stalled)
    return None
