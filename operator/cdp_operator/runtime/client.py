"""A small typed facade over the official kubernetes client.

Every request carries the controller's user agent so the audit log can
attribute writes, and every write its field manager. Calls are blocking and
run in the event loop's executor, which `Client` sizes to match the HTTP
connection pool.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException

from .cache import compact, is_entry, slim
from .decode import decode_object
from .kind import Kind
from .objects import Obj

__all__ = ["AlreadyExists", "Client", "api_status", "load_configuration"]


class AlreadyExists(Exception):
    """A create found an object with that name: nothing was written."""


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
    def __init__(
        self,
        configuration: Configuration,
        concurrency: int = 32,
        *,
        user_agent: str,
        field_manager: str,
        kinds: Mapping[str, Kind],
        api: ApiClient | None = None,
    ) -> None:
        """`kinds`: how to address an object, by its `kind` (for apply and
        create_object); `api`: the API client to use instead of one made from
        `configuration` (tests/fakeapi.py)."""
        self.configuration = copy.copy(configuration)
        self.user_agent = user_agent
        self.field_manager = field_manager
        self.kinds = kinds
        configuration.connection_pool_maxsize = concurrency
        self.api = api or ApiClient(configuration)
        self.api.user_agent = user_agent
        self._streaming: list[ApiClient] = []
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kube")

    def streaming_api(self, connections: int) -> ApiClient:
        """A separate API client for long-running watches: they hold a connection
        each, and must not take them from the pool that reconciles write through."""
        configuration = copy.copy(self.configuration)
        configuration.connection_pool_maxsize = connections
        api = ApiClient(configuration)
        api.user_agent = self.user_agent
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
        raw: bool = False,
        missing_ok: bool = True,
    ) -> Obj | None:
        """One request; its JSON answer, or None for 404 when `missing_ok`."""
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
            # strings are shared with the rest of the cache (runtime/cache.py).
            parsed = decode_object(data) if data else None
            if raw or not isinstance(parsed, dict):
                return parsed
            return compact(slim(parsed))

        try:
            result = await loop.run_in_executor(self.executor, call)
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise
        return result if isinstance(result, dict) else None

    async def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        return await self._call("GET", kind.path(namespace, name))

    async def may_list(self, kind: Kind, selector: str = "") -> bool:
        """False when RBAC forbids listing `kind` (one request, at most one item);
        True otherwise, also when the API cannot be asked now (an informer retries)."""
        query = [("limit", "1")] + ([("labelSelector", selector)] if selector else [])
        try:
            await self._call("GET", kind.collection_path, query=query, raw=True)
        except ApiException as exc:
            return bool(exc.status != 403)
        except Exception:  # unreachable now: the informer will retry and say so
            return True
        return True

    async def apply(self, obj: Obj) -> Obj:
        """Server-side apply with our field manager (force: we own these objects)."""
        kind = self.kinds[obj["kind"]]
        meta = obj["metadata"]
        result = await self._call(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            # UTF-8, not \u escapes: JSON's surrogate-pair escapes are invalid YAML.
            json.dumps(obj, ensure_ascii=False).encode(),
            content_type="application/apply-patch+yaml",
            query=[
                ("fieldManager", self.field_manager),
                ("force", "true"),
                ("fieldValidation", "Strict"),
            ],
            missing_ok=False,  # 404: its namespace is not there (yet)
        )
        assert result is not None
        return result

    async def create_object(self, obj: Obj) -> Obj:
        """Create obj; AlreadyExists, with nothing written, if the name is taken.

        One request, and it can never change an object somebody else made: a
        server-side apply would merge into one, so it needs a read first. The
        fields it sets are owned by an "Update" entry of our field manager;
        adopt_fields() moves them to our apply entry before the first apply,
        so that apply can later remove what the operator stops rendering.
        """
        kind = self.kinds[obj["kind"]]
        meta = obj["metadata"]
        try:
            result = await self._call(
                "POST",
                kind.path(meta.get("namespace")),
                obj,
                content_type="application/json",
                query=[("fieldManager", self.field_manager), ("fieldValidation", "Strict")],
                missing_ok=False,  # 404: its namespace is not there (yet)
            )
        except ApiException as exc:
            if exc.status == 409 and api_status(exc).get("reason") == "AlreadyExists":
                raise AlreadyExists(f"{kind.kind} {meta['name']!r} exists") from exc
            raise
        assert result is not None
        return result

    async def adopt_fields(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """Give the fields our create set to our server-side apply entry.

        Rewrites metadata.managedFields only (the way kubectl moves client-side
        apply fields to server-side apply), guarded by the resourceVersion read:
        if the object changed meanwhile, the patch fails and the caller retries.
        None when the object is gone.
        """
        path = kind.path(namespace, name)
        live = await self._call("GET", path, raw=True)
        if live is None:
            return None
        meta = live["metadata"]
        entries = list(meta.get("managedFields") or [])
        ours = self.field_manager
        created = [e for e in entries if is_entry(e, ours, "Update")]
        if not created:
            result: Obj = compact(slim(live))
            return result
        applied = next((e for e in entries if is_entry(e, ours, "Apply")), None)
        fields: Obj = {}
        for entry in [*created, *([applied] if applied else [])]:
            _merge_fields(fields, entry.get("fieldsV1") or {})
        merged = {**(applied or created[0]), "operation": "Apply", "fieldsV1": fields}
        kept = [e for e in entries if e is not applied and not is_entry(e, ours, "Update")]
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
            {"op": "replace", "path": "/metadata/managedFields", "value": [*kept, merged]},
        ]
        return await self._call(
            "PATCH",
            path,
            patch,
            content_type="application/json-patch+json",
            query=[("fieldManager", self.field_manager)],
        )

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
            query=[("fieldManager", self.field_manager)],
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


def api_status(exc: ApiException) -> dict[str, Any]:
    """The Status object an API error carries (reason, message...), or {}."""
    try:
        status = json.loads(exc.body or "{}")
    except (ValueError, TypeError):
        return {}
    return status if isinstance(status, dict) else {}


def _merge_fields(into: Obj, fields: Obj) -> None:
    """Union of two FieldsV1 sets (nested dicts of field paths)."""
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge_fields(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
