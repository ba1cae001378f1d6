"""Kopf's own connection under a given user agent, so the audit log attributes
every request of the process to it (Kopf's default is ``kopf/<version>``).

No handler is registered here: a process that imports this module (the Kopf
peer of the benchmark, hack/bench/kopf_peer) gets the session without the
operator's handlers, which importing wiring.py would register."""

from __future__ import annotations

from typing import Any

import aiohttp
import kopf


def session_with_user_agent(user_agent: str, **kwargs: Any) -> kopf.AiohttpSession | None:
    """What an ``@kopf.on.login`` handler returns: Kopf's client credentials
    (``kopf.login_via_client``), sent with `user_agent`; None without credentials."""
    info = kopf.login_via_client(**kwargs)
    if info is None:
        return None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
        headers={**info.as_http_headers(), "User-Agent": user_agent},
    )
    return kopf.AiohttpSession(
        aiohttp_session=session,
        server=info.server,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
    )
