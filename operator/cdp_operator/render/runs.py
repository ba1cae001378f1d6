"""Manual runs of a manual-task Component: which run requests are valid, which
runs the tier's build retention keeps. Pure: the apply layer does the writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..models import labels as L
from ..runtime.objects import Obj
from .component_plan import run_environments
from .context import Runtime


def is_new_run(token: str | None, last_token: str | None) -> bool:
    """A run request whose token has not started a run yet."""
    return bool(token) and token != last_token


def invalid_run_request(
    token: str,
    last_token: str | None,
    environments: str | None,
    runtimes: Sequence[Runtime] | None,
) -> str | None:
    """Why a run request is invalid (a message naming the annotation), or None.

    Annotations are outside the CRD schema, so they are judged here. The token
    is judged always; the environments only of a new run, and only when the
    component can run (`runtimes` is None when it cannot).
    """
    if len(token) > L.RUN_TOKEN_MAX:
        return (
            f"metadata.annotations[{L.RUN_REQUEST}]: a run request token has at most "
            f"{L.RUN_TOKEN_MAX} characters (got {len(token)}); no run started"
        )
    if runtimes is not None and is_new_run(token, last_token):
        try:
            run_environments(environments, runtimes)
        except ValueError as exc:
            return str(exc)
    return None


def runs_to_prune(jobs: Iterable[Obj], retention: int, current: str | None) -> list[Obj]:
    """The run Jobs beyond the newest `retention` per namespace (build retention).

    The run of the current request always counts as newest: timestamps have
    one-second resolution, so two quick runs could otherwise tie.
    """
    by_ns: dict[str, list[Obj]] = {}
    for job in jobs:
        by_ns.setdefault(job["metadata"]["namespace"], []).append(job)
    doomed: list[Obj] = []
    for group in by_ns.values():
        group.sort(
            key=lambda j: (
                (j["metadata"].get("annotations") or {}).get(L.RUN_TOKEN) == current,
                j["metadata"].get("creationTimestamp") or "",
                j["metadata"]["name"],
            )
        )
        doomed += group[: max(0, len(group) - retention)]
    return doomed
