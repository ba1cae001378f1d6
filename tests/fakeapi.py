"""An in-memory Kubernetes API server for fast tests of the controller runtime.

It stands in for the official client's `ApiClient` (the two methods the
runtime calls: `param_serialize` and `call_api`), so runtime/informer.py and
runtime/client.py run unchanged against it. What it keeps of the real API:

- one revision counter for every write (resourceVersion), and a history of
  changes that watches replay from a resourceVersion;
- lists in pages (`limit`/`continue`) consistent at the first page's
  revision; a continue token that expired answers 410 Expired;
- watches: the changes after the given resourceVersion, filtered by the
  label selector (an object leaving the selector is DELETED for that watch),
  then a BOOKMARK at the current revision when asked for, then the end of the
  stream (as when `timeoutSeconds` runs out). A resourceVersion older than
  the last compaction answers as the API server does: a 200 stream with one
  ERROR event of code 410 (or, `gone_as_status=True`, an HTTP 410);
- POST: 409 AlreadyExists for a taken name; PUT: 409 Conflict for a stale
  resourceVersion; PATCH: server-side apply (creates when absent), merge
  patch (also of the status subresource), JSON patch (a failed `test` is
  422, as in kube-apiserver); DELETE: 409 Conflict when a uid precondition
  does not hold; 404 for a missing object;
- managedFields: one entry per field manager and operation ("Update" for
  create/update/patch, "Apply" for apply), with a nominal fieldsV1.

What it does not: admission, validation, defaulting, strategic merge, field
ownership conflicts of apply, garbage collection. Claims about how a real
cluster behaves are the e2e tests' (tests/e2e); this is for the runtime's own
logic and its error paths, in milliseconds.
"""

from __future__ import annotations

import copy
import json
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cdp_operator.runtime.objects import Obj

#: (collection path without namespace, e.g. "/apis/apps/v1/deployments"; namespace or ""; name)
StoreKey = tuple[str, str, str]

NOW = "2026-12-01T00:00:00Z"


@dataclass
class Change:
    revision: int
    type: str  # ADDED, MODIFIED, DELETED
    key: StoreKey
    obj: Obj
    before: Obj | None  # the object before the change (None for ADDED)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


class Response:
    """What `call_api` returns: the parts of urllib3's response the runtime reads."""

    def __init__(self, status: int, body: Any = None, stream: list[bytes] | None = None) -> None:
        self.status = status
        self.reason = _REASONS.get(status, "")
        self._data = b"" if body is None else json.dumps(body).encode()
        self.response = _Stream(stream or [])

    def read(self) -> bytes:
        return self._data


class _Stream:
    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines
        self.released = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._lines)

    def release_conn(self) -> None:
        self.released = True


_REASONS = {
    200: "OK",
    201: "Created",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


def status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


@dataclass
class FakeApi:
    revision: int = 100
    #: watches from a resourceVersion at or below this answer 410 Gone
    compacted: int = 0
    #: answer an expired watch with HTTP 410 rather than an ERROR event
    gone_as_status: bool = False
    user_agent: str = ""
    objects: dict[StoreKey, Obj] = field(default_factory=dict)
    history: list[Change] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    #: answers to give before any other (method, Response), for error paths
    faults: list[tuple[str, Response]] = field(default_factory=list)
    #: called with every request before it is served (to interleave changes)
    before_request: Callable[[Request], None] | None = None
    _continues: dict[str, tuple[int, list[Obj]]] = field(default_factory=dict)

    # ---------------------------------------------------------- test helpers
    def put(self, path: str, obj: Obj, manager: str = "kubectl") -> Obj:
        """Create or replace obj at a collection path, as another client would."""
        meta = obj["metadata"]
        key = (path, meta.get("namespace") or "", meta["name"])
        return self._store(key, copy.deepcopy(obj), manager, "Update")

    def remove(self, path: str, namespace: str | None, name: str) -> None:
        self._delete((path, namespace or "", name))

    def get(self, path: str, namespace: str | None, name: str) -> Obj | None:
        return self.objects.get((path, namespace or "", name))

    def compact(self) -> None:
        """Forget the history so far: watches from older versions get 410 Gone."""
        self.compacted = self.revision
        self.history.clear()

    def expire_continue_tokens(self) -> None:
        self._continues.clear()

    def fail_next(self, method: str, code: int, reason: str = "", message: str = "") -> None:
        self.faults.append((method, Response(code, status(code, reason, message or reason))))

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    # ------------------------------------------------- the ApiClient surface
    def param_serialize(
        self,
        method: str,
        resource_path: str,
        query_params: list[tuple[str, str]] | None = None,
        header_params: dict[str, str] | None = None,
        body: Any = None,
        auth_settings: Any = None,
        **_: Any,
    ) -> tuple[str, str, dict[str, str], Any, list[Any]]:
        query = urllib.parse.urlencode(query_params or [])
        url = resource_path + (f"?{query}" if query else "")
        return method, url, dict(header_params or {}), body, []

    def call_api(
        self, method: str, url: str, header_params: Any = None, body: Any = None, **_: Any
    ) -> Response:
        path, _sep, raw_query = url.partition("?")
        query = dict(urllib.parse.parse_qsl(raw_query))
        if isinstance(body, bytes | str):
            body = json.loads(body)
        request = Request(method, path, query, copy.deepcopy(body))
        self.requests.append(request)
        if self.before_request:
            self.before_request(request)
        for i, (fault_method, response) in enumerate(self.faults):
            if fault_method == method:
                del self.faults[i]
                return response
        content_type = (header_params or {}).get("Content-Type", "")
        return self._serve(request, content_type)

    def close(self) -> None:
        pass

    # ----------------------------------------------------------------- serve
    def _serve(self, request: Request, content_type: str) -> Response:
        collection, namespace, name, subresource = _parse(request.path)
        key = (collection, namespace, name or "")
        method, query, body = request.method, request.query, request.body
        if method == "GET" and not name:
            if query.get("watch") == "true":
                return self._watch(collection, namespace, query)
            return self._list(collection, namespace, query)
        if method == "POST":
            meta = body.setdefault("metadata", {})
            if namespace:
                meta["namespace"] = namespace
            key = (collection, namespace, meta["name"])
            if key in self.objects:
                return _error(409, "AlreadyExists", f"{meta['name']!r} already exists")
            return Response(201, self._store(key, body, query.get("fieldManager", ""), "Update"))
        live = self.objects.get(key)
        if method == "PATCH" and content_type == "application/apply-patch+yaml" and live is None:
            return Response(201, self._store(key, body, query["fieldManager"], "Apply"))
        if live is None:
            return _error(404, "NotFound", f"{name!r} not found")
        if method == "GET":
            return Response(200, copy.deepcopy(live))
        if method == "DELETE":
            wanted = ((body or {}).get("preconditions") or {}).get("uid")
            if wanted and wanted != live["metadata"]["uid"]:
                return _error(409, "Conflict", "Precondition failed: UID in precondition")
            return Response(200, self._delete(key))
        manager = query.get("fieldManager", "")
        if method == "PUT":
            sent = str((body.get("metadata") or {}).get("resourceVersion") or "")
            if sent != live["metadata"]["resourceVersion"]:
                return _error(409, "Conflict", "the object has been modified; please apply again")
            return Response(200, self._store(key, body, manager, "Update"))
        if method != "PATCH":
            return _error(405, "MethodNotAllowed", method)
        new = copy.deepcopy(live)
        if content_type == "application/apply-patch+yaml":
            sent = str((body.get("metadata") or {}).get("resourceVersion") or "")
            if sent and sent != live["metadata"]["resourceVersion"]:
                return _error(409, "Conflict", "the object has been modified; please apply again")
            _merge(new, body)
            return Response(200, self._store(key, new, manager, "Apply"))
        if content_type == "application/merge-patch+json":
            if subresource == "status":
                new["status"] = _merge_patch(new.get("status") or {}, body.get("status"))
                return Response(200, self._store(key, new, manager, "Update", "status"))
            return Response(200, self._store(key, _merge_patch(new, body), manager, "Update"))
        if content_type == "application/json-patch+json":
            try:
                patched = _json_patch(new, body)
            except _TestFailed as exc:
                return _error(422, "Invalid", str(exc))
            return Response(200, self._store(key, patched, manager, "Update", keep_fields=True))
        return _error(415, "UnsupportedMediaType", content_type)

    def _list(self, collection: str, namespace: str, query: dict[str, str]) -> Response:
        token = query.get("continue")
        if token:
            if token not in self._continues:
                return _error(410, "Expired", "the provided continue parameter is too old")
            revision, rest = self._continues.pop(token)
        else:
            revision = self.revision
            selector = _selector(query.get("labelSelector", ""))
            rest = [
                copy.deepcopy(o)
                for (path, ns, _), o in sorted(self.objects.items())
                if path == collection and namespace in ("", ns) and selector(o)
            ]
        limit = int(query.get("limit") or 0) or len(rest) or 1
        page, rest = rest[:limit], rest[limit:]
        meta: Obj = {"resourceVersion": str(revision)}
        if rest:
            meta["continue"] = next_token = uuid.uuid4().hex
            self._continues[next_token] = (revision, rest)
        for item in page:  # list items carry no kind, as from the API server
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return Response(200, {"kind": "List", "metadata": meta, "items": page})

    def _watch(self, collection: str, namespace: str, query: dict[str, str]) -> Response:
        since = int(query.get("resourceVersion") or 0)
        if since < self.compacted:
            if self.gone_as_status:
                return _error(410, "Expired", f"too old resource version: {since}")
            error = status(410, "Expired", f"too old resource version: {since}")
            return Response(200, stream=[json.dumps({"type": "ERROR", "object": error}).encode()])
        selector = _selector(query.get("labelSelector", ""))
        lines = []
        for change in self.history:
            path, ns, _ = change.key
            if change.revision <= since or path != collection or namespace not in ("", ns):
                continue
            now = change.type != "DELETED" and selector(change.obj)
            was = change.before is not None and selector(change.before)
            if now:
                kind = "MODIFIED" if was else "ADDED"
            elif was or (change.type == "DELETED" and selector(change.obj)):
                kind = "DELETED"
            else:
                continue
            lines.append(json.dumps({"type": kind, "object": change.obj}).encode())
        if query.get("allowWatchBookmarks") == "true":
            mark = {"kind": "Bookmark", "metadata": {"resourceVersion": str(self.revision)}}
            lines.append(json.dumps({"type": "BOOKMARK", "object": mark}).encode())
        return Response(200, stream=lines)

    # ---------------------------------------------------------------- store
    def _store(
        self,
        key: StoreKey,
        obj: Obj,
        manager: str,
        operation: str,
        subresource: str = "",
        *,
        keep_fields: bool = False,
    ) -> Obj:
        before = self.objects.get(key)
        self.revision += 1
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(self.revision)
        if before is None:
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=NOW, generation=1)
        else:
            old = before["metadata"]
            meta.update(uid=old["uid"], creationTimestamp=old["creationTimestamp"])
            changed = {k: v for k, v in obj.items() if k not in ("metadata", "status")} != {
                k: v for k, v in before.items() if k not in ("metadata", "status")
            }
            meta["generation"] = old.get("generation", 1) + (1 if changed else 0)
        if manager and not keep_fields:
            entries = [
                e
                for e in meta.get("managedFields") or []
                if (e["manager"], e["operation"], e.get("subresource", ""))
                != (manager, operation, subresource)
            ]
            entry = {
                "manager": manager,
                "operation": operation,
                "apiVersion": obj.get("apiVersion", "v1"),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {}} if subresource else {"f:spec": {}},
            }
            if subresource:
                entry["subresource"] = subresource
            meta["managedFields"] = [*entries, entry]
        self.objects[key] = obj
        kind = "ADDED" if before is None else "MODIFIED"
        self.history.append(Change(self.revision, kind, key, copy.deepcopy(obj), before))
        return copy.deepcopy(obj)

    def _delete(self, key: StoreKey) -> Obj:
        obj = self.objects.pop(key)
        self.revision += 1
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self.revision)
        self.history.append(Change(self.revision, "DELETED", key, gone, obj))
        return status(200, "", "deleted") | {"status": "Success"}


def _parse(path: str) -> tuple[str, str, str | None, str]:
    """(collection path, namespace or "", name, subresource) of a request path."""
    parts = path.strip("/").split("/")
    root_len = 2 if parts[0] == "api" else 3  # api/v1 or apis/group/version
    root, rest = "/" + "/".join(parts[:root_len]), parts[root_len:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    collection = f"{root}/{rest[0]}"
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else ""
    return collection, namespace, name, subresource


def _selector(text: str) -> Callable[[Obj], bool]:
    """Equality-based label selectors (`a=b,c=d`, `a!=b`), what the runtime uses."""
    terms = []
    for term in filter(None, text.split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            terms.append((k, v, False))
        else:
            k, v = term.split("=", 1)
            terms.append((k.rstrip("="), v, True))

    def matches(obj: Obj) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all((labels.get(k) == v) is eq for k, v, eq in terms)

    return matches


def _error(code: int, reason: str, message: str) -> Response:
    return Response(code, status(code, reason, message))


def _merge(into: Obj, patch: Obj) -> None:
    """Apply's effect on the fields it names (maps merged, lists replaced)."""
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = _merge_patch(result.get(k), v)
    return result


class _TestFailed(Exception):
    pass


def _json_patch(doc: Obj, ops: list[Obj]) -> Obj:
    """RFC 6902, the operations the runtime sends (test, replace, add, remove)."""
    for op in ops:
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")
        ]
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if op["op"] == "test":
            if node.get(last) != op["value"]:
                raise _TestFailed(f"Testing value {op['path']} failed")
        elif op["op"] in ("replace", "add"):
            node[last] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            node.pop(last)
    return doc
