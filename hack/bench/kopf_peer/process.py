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
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from kit import Metrics, scrape  # noqa: E402

#: The user agent of every request the peer makes (see handlers.USER_AGENT).
USER_AGENT_PREFIX = "cdp-kopf-peer/"
#: The environment variable that tells handlers.py where to serve its metrics.
METRICS_PORT_ENV = "CDP_KOPF_PEER_METRICS_PORT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


class KopfPeerProcess:
    """The Kopf peer, started with ``kopf run`` as Kopf's documentation shows."""

    def __init__(
        self,
        kubeconfig: str,
        log_path: Path,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_args = extra_args or []
        self.env = env or {}
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

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

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.metrics_port = free_port()
        path = [str(REPO / "operator"), str(HERE.parent)]
        if os.environ.get("PYTHONPATH"):
            path.append(os.environ["PYTHONPATH"])
        env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "PYTHONPATH": os.pathsep.join(path),
            METRICS_PORT_ENV: str(self.metrics_port),
            **self.env,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
        )
        log.close()
        self.wait_metrics()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ----------------------------------------------------------------- metrics
    def metrics(self) -> Metrics:
        """One scrape of the peer's metrics."""
        return scrape(f"http://127.0.0.1:{self.metrics_port}/metrics")

    def wait_metrics(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"kopf peer exited with {self.proc.returncode}:\n{self.logs()[-4000:]}"
                )
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(
            f"kopf peer metrics not served within {timeout}s:\n{self.logs()[-4000:]}"
        )

    def total(self, name: str, **labels: str) -> float:
        return float(self.metrics().sum(name, **labels))

    def wait_settled(self, quiet: float = 3.0, timeout: float = 180) -> float:
        """Wait until nothing is running or waiting for a retry and no handler ran and
        no write was made for `quiet` seconds; return when activity ended (monotonic).

        A bound on waiting, not an assertion on speed.
        """
        deadline = time.monotonic() + timeout
        last = (-1.0, -1.0)
        changed = time.monotonic()
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"kopf peer died:\n{self.logs()[-4000:]}")
            m = self.metrics()
            depth = float(m.get("cdp_work_queue_depth", 0.0))
            now = (m.sum("cdp_reconcile_total"), m.sum("cdp_api_writes_total"))
            if depth > 0 or now != last:
                last, changed = now, time.monotonic()
            elif time.monotonic() - changed >= quiet:
                return changed
            time.sleep(0.25)
        raise TimeoutError(f"kopf peer did not settle within {timeout}s")
