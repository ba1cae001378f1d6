"""process/login.py: Kopf's own session carries the process's user agent (the
audit log attributes writes by it), and no handler is registered by importing it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import kopf
import pytest

from cdp_operator.process import login


def _session(
    monkeypatch: pytest.MonkeyPatch, info: kopf.ConnectionInfo | None
) -> dict[str, str] | None:
    monkeypatch.setattr(kopf, "login_via_client", lambda **_: info)

    async def make() -> dict[str, str] | None:
        session = login.session_with_user_agent("cdp-test/1.2", logger=None)
        if session is None:
            return None
        try:
            assert session.server == "https://127.0.0.1:6443"
            assert session.default_namespace == "team-a"
            return dict(session.aiohttp_session.headers)
        finally:
            await session.aiohttp_session.close()

    return asyncio.run(make())


def test_the_session_sends_the_user_agent_and_the_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info = kopf.ConnectionInfo(
        server="https://127.0.0.1:6443", token="s3cret", default_namespace="team-a"
    )
    headers = _session(monkeypatch, info)
    assert headers is not None
    assert headers["User-Agent"] == "cdp-test/1.2"
    assert headers["Authorization"] == "Bearer s3cret"


def test_no_credentials_no_session(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _session(monkeypatch, None) is None


_COUNT_HANDLERS = """
import sys, kopf, importlib
importlib.import_module(sys.argv[1])
ids = sorted(h.id for h in kopf.get_default_registry()._activities.get_all_handlers())
print(",".join(ids), "cdp_operator.process.wiring" in sys.modules)
"""


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # Kopf's own default (used when no login handler is registered) only.
        ("cdp_operator.process.login", "login_via_client False"),
        # What the peer must not import: the operator's activities come with it.
        ("cdp_operator.process.wiring", None),
    ],
)
def test_importing_it_registers_no_kopf_handler(module: str, expected: str | None) -> None:
    """The Kopf peer (hack/bench/kopf_peer) imports login, never wiring."""
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_HANDLERS, module],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    ).stdout.split()
    if expected is None:
        assert "login" in out[0].split(",") and out[1] == "True"
    else:
        assert " ".join(out) == expected
