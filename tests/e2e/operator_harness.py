"""Run the real operator as a subprocess against the test cluster, and observe it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from kit import Metrics, scrape

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    """The operator, started with `python -m cdp_operator` exactly as a user would."""

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

    #: How errors name the process.
    name = "operator"

    def command(self) -> list[str]:
        """The command line (``metrics_port`` is chosen before each start)."""
        return [
            sys.executable,
            "-m",
            "cdp_operator",
            "--kubeconfig",
            self.kubeconfig,
            "--metrics-port",
            str(self.metrics_port),
            *self.extra_args,
        ]

    def child_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.metrics_port = free_port()
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.child_env(),
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
        return self.proc.pid if self.running and self.proc is not None else None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ----------------------------------------------------------------- metrics
    def metrics(self) -> Metrics:
        """One scrape of the operator's /metrics, parsed by prometheus_client."""
        return scrape(f"http://127.0.0.1:{self.metrics_port}/metrics")

    def wait_metrics(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.logs()[-4000:]}"
                )
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(
            f"{self.name} metrics not served within {timeout}s:\n{self.logs()[-4000:]}"
        )

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples ``name`` whose labels include ``labels``."""
        return self.metrics().sum(name, **labels)

    def wait_settled(self, quiet: float = 3.0, timeout: float = 180) -> None:
        """Wait until the work queue is empty and no reconcile ran for `quiet` seconds.

        A bound on waiting, not an assertion on speed.
        """
        deadline = time.monotonic() + timeout
        last = (-1.0, -1.0)
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} died:\n{self.logs()[-4000:]}")
            m = self.metrics()
            depth = m.get("cdp_work_queue_depth", 0.0)
            now = (m.sum("cdp_reconcile_total"), m.sum("cdp_api_writes_total"))
            if depth == 0 and now == last:
                if time.monotonic() - stable_since >= quiet:
                    return
            else:
                stable_since = time.monotonic()
                last = now
            time.sleep(0.25)
        raise TimeoutError(f"{self.name} did not settle within {timeout}s")
