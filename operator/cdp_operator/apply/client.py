"""A small typed facade over the official kubernetes client.

Every request carries the user agent `cdp-operator/<version>` so the audit log
can attribute writes. Calls are blocking and run in the event loop's executor,
which `Client` sizes to match the HTTP connection pool.
"""

from __future__ import annotations

import asyncio
import copy
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException

from .. import USER_AGENT
from .cache import compact, slim
from .kinds import Kind, kind_of

FIELD_MANAGER = "cdp-operator"
Obj = dict[str, Any]


class Conflict(Exception):
    """An object with the desired name exists and is not ours."""


def load_configuration(kubeconfig: str | None = None, context: str | None = None) -> Configuration:
    config = Configuration()
    try:
        if kubeconfig:
            raise kubernetes.config.ConfigException("explicit kubeconfig")
        kubernetes.config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=config
        )
    return config


class Client:
    def __init__(self, configuration: Configuration, concurrency: int = 32) -> None:
        self.configuration = copy.copy(configuration)
        configuration.connection_pool_maxsize = concurrency
        self.api = ApiClient(configuration)
        self.api.user_agent = USER_AGENT
        self._streaming: list[ApiClient] = []
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kube")

    def streaming_api(self, connections: int) -> ApiClient:
        """A separate API client for long-running watches: they hold a connection
        each, and must not take them from the pool that reconciles write through."""
        configuration = copy.copy(self.configuration)
        configuration.connection_pool_maxsize = connections
        api = ApiClient(configuration)
        api.user_agent = USER_AGENT
        self._streaming.append(api)
        return api

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.api.close()  # type: ignore[no-untyped-call]
        for api in self._streaming:
            api.close()  # type: ignore[no-untyped-call]

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str | None = None,
        query: list[tuple[str, str]] | None = None,
    ) -> Obj | None:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        loop = asyncio.get_running_loop()

        def call() -> Any:
            method_, url, headers_, body_, _post = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(method_, url, header_params=headers_, body=body_)
            data = response.read()  # type: ignore[no-untyped-call]
            if response.status >= 400:
                exc = ApiException(status=response.status, reason=response.reason)
                exc.body = data.decode(errors="replace") if data else ""
                raise exc
            # Parsed here, in the pool's thread: answers are cached, so their
            # strings are shared with the rest of the cache (apply/cache.py).
            parsed = json.loads(data) if data else None
            return compact(slim(parsed)) if isinstance(parsed, dict) else parsed

        try:
            result = await loop.run_in_executor(self.executor, call)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return result if isinstance(result, dict) else None

    async def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        return await self._call("GET", kind.path(namespace, name))

    async def list(self, kind: Kind, namespace: str | None = None, selector: str = "") -> list[Obj]:
        query = [("labelSelector", selector)] if selector else []
        path = kind.path(namespace) if kind.namespaced and namespace else kind.collection_path
        result = await self._call("GET", path, query=query)
        return list((result or {}).get("items") or [])

    async def apply(self, obj: Obj) -> Obj:
        """Server-side apply with our field manager (force: we own these objects)."""
        kind = kind_of(obj)
        meta = obj["metadata"]
        result = await self._call(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            # UTF-8, not \u escapes: JSON's surrogate-pair escapes are invalid YAML.
            json.dumps(obj, ensure_ascii=False).encode(),
            content_type="application/apply-patch+yaml",
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        )
        assert result is not None
        return result

    async def create(self, path: str, body: Obj) -> Obj | None:
        return await self._call("POST", path, body, content_type="application/json")

    async def patch_status(
        self, kind: Kind, namespace: str | None, name: str, status: Obj
    ) -> Obj | None:
        return await self._call(
            "PATCH",
            kind.path(namespace, name) + "/status",
            {"status": status},
            content_type="application/merge-patch+json",
            query=[("fieldManager", FIELD_MANAGER)],
        )

    async def delete(self, kind: Kind, namespace: str | None, name: str, uid: str | None) -> None:
        body: Obj = {"propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self._call("DELETE", kind.path(namespace, name), body)
        except ApiException as exc:
            if exc.status != 409:  # uid precondition failed: not the object we meant
                raise
