"""A small asyncio client for the Kubernetes API (aiohttp), used by the benchmark.

It reads kubeconfigs with the tests' toolkit (``tests/kit``); it stays a client of
its own because the benchmark makes thousands of concurrent requests, which
kubectl or the synchronous official client cannot. The same client applies the
user's custom resources in the operator runs and creates the rendered objects in
the floor runs, so both sides pay the same client cost. It also watches (for
readiness) with bookmarks, which costs the API server far less than polling lists.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

if str(Path(__file__).resolve().parents[2] / "tests") not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from kit.identity import kubeconfig_entries

Obj = dict[str, Any]
USER_AGENT = "cdp-bench/0.1"


class ApiError(RuntimeError):
    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")
        self.status = status


def _material(user_or_cluster: dict[str, Any], key: str, tmp: Path) -> str | None:
    """Path of a PEM given inline (<key>-data) or as a file (<key>)."""
    if user_or_cluster.get(f"{key}-data"):
        path = tmp / key
        path.write_bytes(base64.b64decode(user_or_cluster[f"{key}-data"]))
        return str(path)
    value = user_or_cluster.get(key)
    return str(value) if value else None


class Kube:
    """Async requests as a kubeconfig's current user; bounded concurrency."""

    def __init__(self, kubeconfig: str | Path, concurrency: int = 64) -> None:
        cluster, user = kubeconfig_entries(kubeconfig)
        self.server = str(cluster["server"]).rstrip("/")
        with tempfile.TemporaryDirectory(prefix="cdp-bench-tls-") as tmp:
            ca = _material(cluster, "certificate-authority", Path(tmp))
            self.ssl = ssl.create_default_context(cafile=ca)
            cert = _material(user, "client-certificate", Path(tmp))
            key = _material(user, "client-key", Path(tmp))
            if cert and key:
                self.ssl.load_cert_chain(cert, key)
        self.headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if user.get("token"):
            self.headers["Authorization"] = f"Bearer {user['token']}"
        self.concurrency = concurrency
        self._sem = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ssl=self.ssl),
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (),
        timeout: float = 60,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with (
            self._sem,
            self.session.request(
                method,
                self.server + path,
                data=data,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp,
        ):
            raw = await resp.read()
            if resp.status >= 400 and resp.status not in ok:
                raise ApiError(resp.status, method, path, raw.decode(errors="replace"))
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw.decode(errors="replace")

    async def get(self, path: str, **params: str) -> Obj | None:
        status, body = await self.request("GET", path, params=params or None, ok=(404,))
        return None if status == 404 else body

    async def create(self, obj: Obj, *, retries: int = 20) -> Obj:
        """POST obj to its collection; retries briefly while its namespace is still being made."""
        path = collection_path(obj)
        # A 504 may have been persisted: a 409 on the retry is then our own create.
        timed_out = False
        for attempt in range(retries):
            status, body = await self.request("POST", path, obj, ok=(404, 409, 429, 500, 503, 504))
            if status < 300:
                return dict(body)
            if status == 409:
                if timed_out:
                    return dict(await self.get(f"{path}/{obj['metadata']['name']}") or {})
                raise ApiError(status, "POST", path, json.dumps(body))
            timed_out = timed_out or status == 504
            await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
        raise ApiError(status, "POST", path, json.dumps(body))

    async def apply(self, obj: Obj, manager: str = "cdp-bench") -> Obj:
        path = object_path(obj)
        _, body = await self.request(
            "PATCH",
            path,
            obj,
            params={"fieldManager": manager, "force": "true"},
            content_type="application/apply-patch+yaml",
        )
        return dict(body)

    async def delete(self, path: str, **body: Any) -> None:
        await self.request(
            "DELETE", path, {"propagationPolicy": "Background", **body}, ok=(404, 409)
        )

    async def list(self, path: str, **params: str) -> tuple[list[Obj], str]:
        _, body = await self.request("GET", path, params=params or None, timeout=300)
        return list(body.get("items") or []), str(body["metadata"].get("resourceVersion", ""))

    async def watch(
        self,
        path: str,
        resource_version: str,
        params: dict[str, str] | None = None,
        timeout: float = 3600,
    ) -> AsyncIterator[tuple[str, Obj]]:
        """Watch events (type, object) from resource_version on; restarts on expiry."""
        rv = resource_version
        while True:
            query = {
                "watch": "1",
                "allowWatchBookmarks": "true",
                "resourceVersion": rv,
                "timeoutSeconds": str(int(min(timeout, 1800))),
                **(params or {}),
            }
            async with self.session.get(
                self.server + path,
                params=query,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout),
            ) as resp:
                if resp.status >= 400:
                    raise ApiError(resp.status, "WATCH", path, (await resp.read()).decode())
                async for line in resp.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        if obj.get("code") == 410:  # expired: the caller relists
                            raise ApiError(410, "WATCH", path, str(obj))
                        raise ApiError(int(obj.get("code") or 500), "WATCH", path, str(obj))
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if event.get("type") == "BOOKMARK":
                        continue
                    yield str(event["type"]), obj


# --------------------------------------------------------------------- paths
_CORE = {"v1"}
_PLURALS = {
    "Namespace": "namespaces",
    "Service": "services",
    "Deployment": "deployments",
    "CronJob": "cronjobs",
    "Job": "jobs",
    "Ingress": "ingresses",
    "NetworkPolicy": "networkpolicies",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Node": "nodes",
    "Pod": "pods",
    "DataPlane": "dataplanes",
    "Organization": "organizations",
    "Environment": "environments",
    "Project": "projects",
    "Component": "components",
    "CustomResourceDefinition": "customresourcedefinitions",
}
_CLUSTER_SCOPED = {"Namespace", "Node", "DataPlane", "Organization", "CustomResourceDefinition"}


def base_path(api_version: str) -> str:
    return f"/api/{api_version}" if api_version in _CORE else f"/apis/{api_version}"


def collection_path(obj: Obj, namespace: str | None = None) -> str:
    kind = obj["kind"]
    ns = namespace or (obj.get("metadata") or {}).get("namespace")
    path = base_path(obj["apiVersion"])
    if kind not in _CLUSTER_SCOPED:
        path += f"/namespaces/{ns}"
    return f"{path}/{_PLURALS[kind]}"


def object_path(obj: Obj) -> str:
    return f"{collection_path(obj)}/{obj['metadata']['name']}"


def kind_path(api_version: str, kind: str, namespace: str | None = None) -> str:
    path = base_path(api_version)
    if namespace:
        path += f"/namespaces/{namespace}"
    return f"{path}/{_PLURALS[kind]}"
