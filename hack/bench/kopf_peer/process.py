"""Run the Kopf peer (handlers.py) as a subprocess, with the interface the bench
uses for the operator (tests/e2e/operator_harness.py ``OperatorProcess``).

Interface (for hack/bench/run.py; import with hack/bench and tests/ on sys.path,
as run.py has them: ``from kopf_peer.process import KopfPeerProcess, USER_AGENT_PREFIX``):

* ``KopfPeerProcess(kubeconfig, log_path, extra_args=None, env=None)``; ``start()``
  returns once the peer serves its metrics (Kopf has run the startup handler);
  ``stop(sig=SIGTERM, timeout=20)``, ``kill()``, ``restart()``, ``running``,
  ``proc`` (the ``subprocess.Popen``), ``pid`` (None when not running), ``logs()``,
  ``metrics()`` (a ``kit.Metrics``), ``total(name, **labels)``,
  ``wait_settled(quiet=3.0, timeout=180)``.
* It runs as Kopf's documentation shows: ``python -m kopf run --standalone
  --all-namespaces -m kopf_peer.handlers`` (no peering object, every namespace),
  with ``KUBECONFIG`` set and ``operator/`` and ``hack/bench`` on ``PYTHONPATH``.
* Every write it makes, the kubernetes client's and Kopf's own (progress and
  last-handled-configuration annotations, finalizers, status patches), carries the user
  agent ``cdp-kopf-peer/<kopf version>``: count them in the audit log with
  ``user_agent_prefix=USER_AGENT_PREFIX``. Kopf's own client gets it from the
  peer's ``@kopf.on.login`` handler (an aiohttp session with that header), so
  nothing the peer writes is left under Kopf's default ``kopf/<version>``.
* Metrics (Prometheus text on 127.0.0.1:``metrics_port``), named like the
  operator's so that run.py's ``settle()`` reads them unchanged:
  ``cdp_work_queue_depth``: handler calls running plus objects waiting for Kopf to
  retry a handler (a ``kopf.TemporaryError``); ``cdp_reconcile_total{kind}``:
  handler calls per kind (``organization``, ``project``, ``environment``,
  ``component``, ``deployment`` for the Deployment events that update Component
  readiness); ``cdp_api_writes_total{kind,verb}``: writes by the peer's
  kubernetes client (Kopf's own writes are only in the audit log);
  ``cdp_managed_objects{kind="Deployment"}``: managed Deployments the peer knows.
  "Settled" is what run.py already checks: depth 0 and no handler call or write
  for ``quiet`` seconds (``wait_settled``); the audit log (no write with the
  prefix for 3 s) is the stricter check, since Kopf's own patches follow a
  handler's return.
* Restart: Kopf calls the ``@kopf.on.resume`` handler of every existing object,
  so ``cdp_reconcile_total{kind="component"} >= N`` means every Component was
  handled again (run.py's ``min_component_reconciles``).
* Cleanup: Kopf's default for a ``@kopf.on.delete`` handler is a finalizer on every
  Component. Delete an Organization while the peer still runs (run.py's
  ``Bench.size`` stops the operator before ``cleanup``: for the peer, clean up
  first), or call ``release_finalizers(kubeconfig, namespace)`` after stopping it;
  otherwise the organization's namespace stays Terminating until a peer runs again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
for _p in (REPO / "tests", REPO):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from tests.e2e.operator_harness import OperatorProcess  # noqa: E402

#: The user agent of every request the peer makes (see handlers.USER_AGENT).
USER_AGENT_PREFIX = "cdp-kopf-peer/"
#: The environment variable that tells handlers.py where to serve its metrics.
METRICS_PORT_ENV = "CDP_KOPF_PEER_METRICS_PORT"


def release_finalizers(kubeconfig: str, namespace: str) -> int:
    """Remove Kopf's finalizer from every Component in `namespace` (for a cleanup
    after the peer stopped); returns how many were released. Writes with the
    kubernetes client's default user agent, not the peer's."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    api = client.CustomObjectsApi(api_client)
    items: Any = api.list_namespaced_custom_object("cdp.dev", "v1alpha1", namespace, "components")
    released = 0
    for item in items["items"]:
        finalizers = item["metadata"].get("finalizers") or []
        kept = [f for f in finalizers if not f.startswith("kopf.zalando.org/")]
        if kept == finalizers:
            continue
        api.patch_namespaced_custom_object(
            "cdp.dev",
            "v1alpha1",
            namespace,
            "components",
            item["metadata"]["name"],
            {"metadata": {"finalizers": kept or None}},
            _content_type="application/merge-patch+json",
        )
        released += 1
    return released


class KopfPeerProcess(OperatorProcess):
    """The Kopf peer, started with ``kopf run`` as Kopf's documentation shows; the
    rest (stop, metrics, settling) is the operator harness's."""

    name = "kopf peer"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kopf",
            "run",
            "--standalone",
            "--all-namespaces",
            "-m",
            "kopf_peer.handlers",
            *self.extra_args,
        ]

    def child_env(self) -> dict[str, str]:
        path = [str(REPO / "operator"), str(HERE.parent)]
        if os.environ.get("PYTHONPATH"):
            path.append(os.environ["PYTHONPATH"])
        return {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "PYTHONPATH": os.pathsep.join(path),
            METRICS_PORT_ENV: str(self.metrics_port),
            **self.env,
        }
