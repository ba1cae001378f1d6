"""Run the real operator as a subprocess against the test cluster, and observe it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.metrics_port = free_port()
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cdp_operator",
                "--kubeconfig",
                self.kubeconfig,
                "--metrics-port",
                str(self.metrics_port),
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
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

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ----------------------------------------------------------------- metrics
    def metrics(self) -> dict[str, float]:
        """Prometheus samples as {'name{labels}': value}."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            text = r.read().decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
        return samples

    def wait_metrics(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"operator exited with {self.proc.returncode}:\n{self.logs()[-4000:]}"
                )
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"operator metrics not served within {timeout}s:\n{self.logs()[-4000:]}")

    def total(self, prefix: str) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith(prefix))

    def wait_settled(self, quiet: float = 3.0, timeout: float = 180) -> None:
        """Wait until the work queue is empty and no reconcile ran for `quiet` seconds.

        A bound on waiting, not an assertion on speed.
        """
        deadline = time.monotonic() + timeout
        last = (-1.0, -1.0)
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"operator died:\n{self.logs()[-4000:]}")
            m = self.metrics()
            depth = m.get("cdp_work_queue_depth", 0.0)
            now = (self.total("cdp_reconcile_total"), self.total("cdp_api_writes_total"))
            if depth == 0 and now == last:
                if time.monotonic() - stable_since >= quiet:
                    return
            else:
                stable_since = time.monotonic()
                last = now
            time.sleep(0.25)
        raise TimeoutError(f"operator did not settle within {timeout}s")


def audit_events(audit_log: Path, *, since_line: int = 0) -> Iterator[dict[str, Any]]:
    """Completed requests in the audit log after a line number (partial lines skipped)."""
    with open(audit_log, encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh):
            if i < since_line or not line.strip():
                continue
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            if ev.get("stage") in (None, "ResponseComplete"):
                yield ev


def audit_writes(
    audit_log: Path, *, since_line: int = 0, user_agent_prefix: str = ""
) -> list[dict[str, Any]]:
    """Write requests (create/update/patch/delete) in the audit log after a line number."""
    return [
        ev
        for ev in audit_events(audit_log, since_line=since_line)
        if ev.get("verb") in ("create", "update", "patch", "delete", "deletecollection")
        and str(ev.get("userAgent", "")).startswith(user_agent_prefix)
    ]


def audit_line_count(audit_log: Path) -> int:
    with open(audit_log, encoding="utf-8", errors="replace") as fh:
        return sum(1 for _ in fh)
