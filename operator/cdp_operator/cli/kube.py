"""The CLI's access to the API server: the five kinds, and a small client.

`Kube` is the interface the commands use; `ApiKube` implements it with the
kubernetes client (current kubeconfig, `--kubeconfig`, `--context`, or the
in-cluster config). Tests substitute an in-memory `Kube`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from .. import __version__
from ..models import crdgen
from ..models.labels import GROUP, VERSION
from .manifests import CliError

FIELD_MANAGER = "cdp-cli"
USER_AGENT = f"cdp-cli/{__version__}"


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    namespaced: bool
    short: tuple[str, ...] = ()

    @property
    def resource(self) -> str:
        """`components.cdp.dev`, as kubectl names the resource type."""
        return f"{self.plural}.{GROUP}"

    def ref(self, name: str) -> str:
        """`component.cdp.dev/web`, as kubectl names an object."""
        return f"{self.kind.lower()}.{GROUP}/{name}"


#: The five kinds, from the CRD generator's table (one source for names and scope).
KINDS: tuple[KindInfo, ...] = tuple(
    KindInfo(k.kind, k.plural, k.scope == "Namespaced", k.short_names) for k in crdgen.KINDS
)
BY_KIND = {k.kind: k for k in KINDS}


#: Plural short forms users type (the CRDs' shortNames are singular).
_EXTRA_SHORT = {"Organization": ("orgs",), "Environment": ("envs",), "Component": ("comps",)}


def resolve_kind(text: str) -> KindInfo:
    """`components`, `component`, `comp`, `Component`, `components.cdp.dev` -> KindInfo."""
    key = text.lower().removesuffix(f".{GROUP}")
    for info in KINDS:
        if key in (info.plural, info.kind.lower(), *info.short, *_EXTRA_SHORT.get(info.kind, ())):
            return info
    names = ", ".join(k.plural for k in KINDS)
    raise CliError(f"unknown resource type {text!r} (one of: {names})")


class Kube(Protocol):
    """What the commands need from the API server."""

    def context_namespace(self) -> str | None: ...

    def get(self, kind: KindInfo, name: str, namespace: str | None) -> dict[str, Any] | None: ...

    def list(self, kind: KindInfo, namespace: str | None) -> list[dict[str, Any]]: ...

    def apply(
        self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False
    ) -> dict[str, Any]: ...

    def patch_metadata(
        self, kind: KindInfo, name: str, namespace: str | None, metadata: dict[str, Any]
    ) -> dict[str, Any]: ...

    def merge_patch(
        self, kind: KindInfo, name: str, namespace: str | None, body: dict[str, Any]
    ) -> dict[str, Any]: ...

    def delete(self, kind: KindInfo, name: str, namespace: str | None) -> bool: ...


class ApiKube:
    """`Kube` over the kubernetes client's CustomObjectsApi."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        from kubernetes import client
        from kubernetes import config as _config

        config: Any = _config  # the client's config helpers are untyped

        self._namespace: str | None = None
        try:
            api_client = config.new_client_from_config(
                config_file=kubeconfig, context=context, persist_config=False
            )
            self._namespace = _context_namespace(kubeconfig, context)
        except (config.ConfigException, OSError) as exc:
            if kubeconfig or context:
                raise CliError(f"cannot load kubeconfig: {exc}") from None
            try:
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                raise CliError(
                    f"cannot load kubeconfig ({exc}); set KUBECONFIG or pass --kubeconfig"
                ) from None
            api_client = client.ApiClient(configuration)
            self._namespace = _incluster_namespace()
        api_client.user_agent = USER_AGENT
        self._api = client.CustomObjectsApi(api_client)

    def context_namespace(self) -> str | None:
        return self._namespace

    def _call(self, what: str, fn: Any, /, *, absent: bool = False, **kwargs: Any) -> Any:
        """fn(**kwargs) with API errors turned into CliErrors (kwargs carry `plural`).
        With `absent`, None when the object is not there (its kind is)."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            # Raw body: the generated client maps only HTTP 200 to a result, but
            # a server-side apply that creates the object answers 201.
            response = fn(**kwargs, _preload_content=False)
            return json.loads(response.data or b"{}")
        except ApiException as exc:
            if absent and exc.status == 404 and not _is_missing_resource_type(exc):
                return None
            raise _translate(exc, what, str(kwargs.get("plural"))) from None
        except HTTPError as exc:
            raise CliError(f"{what}: cannot reach the API server: {exc}") from None

    def _object(
        self, verb: str, kind: KindInfo, name: str, namespace: str | None
    ) -> tuple[Any, dict[str, Any]]:
        """The client method for `verb` (get, patch, delete) on one object, and its
        arguments: the namespaced method with the namespace, or the cluster one."""
        args: dict[str, Any] = {
            "group": GROUP,
            "version": VERSION,
            "plural": kind.plural,
            "name": name,
        }
        if kind.namespaced:
            args["namespace"] = namespace
            return getattr(self._api, f"{verb}_namespaced_custom_object"), args
        return getattr(self._api, f"{verb}_cluster_custom_object"), args

    def get(self, kind: KindInfo, name: str, namespace: str | None) -> dict[str, Any] | None:
        fn, args = self._object("get", kind, name, namespace)
        found = self._call(f"get {kind.ref(name)}", fn, absent=True, **args)
        return None if found is None else dict(found)

    def list(self, kind: KindInfo, namespace: str | None) -> list[dict[str, Any]]:
        args: dict[str, Any] = {"group": GROUP, "version": VERSION, "plural": kind.plural}
        fn: Any = self._api.list_cluster_custom_object  # all namespaces for namespaced kinds
        if kind.namespaced and namespace:
            fn = self._api.list_namespaced_custom_object
            args["namespace"] = namespace
        result = self._call(f"list {kind.resource}", fn, **args)
        items = [dict(item) for item in result.get("items", [])]
        for item in items:  # list items may lack apiVersion/kind
            item.setdefault("apiVersion", f"{GROUP}/{VERSION}")
            item.setdefault("kind", kind.kind)
        return items

    def apply(
        self, obj: dict[str, Any], *, force: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        """Server-side apply as field manager `cdp-cli`."""
        kind = BY_KIND[obj["kind"]]
        meta = obj["metadata"]
        fn, args = self._object("patch", kind, meta["name"], meta.get("namespace"))
        args.update(
            body=obj,
            field_manager=FIELD_MANAGER,
            force=True if force else None,
            dry_run="All" if dry_run else None,
            _content_type="application/apply-patch+yaml",
        )
        return dict(self._call(f"apply {kind.ref(meta['name'])}", fn, **args))

    def patch_metadata(
        self, kind: KindInfo, name: str, namespace: str | None, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        """A JSON merge patch of metadata only (never touches spec)."""
        return self.merge_patch(kind, name, namespace, {"metadata": metadata})

    def merge_patch(
        self, kind: KindInfo, name: str, namespace: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A JSON merge patch (a metadata.resourceVersion in it makes it conditional)."""
        fn, args = self._object("patch", kind, name, namespace)
        args.update(
            body=body, field_manager=FIELD_MANAGER, _content_type="application/merge-patch+json"
        )
        return dict(self._call(f"patch {kind.ref(name)}", fn, **args))

    def delete(self, kind: KindInfo, name: str, namespace: str | None) -> bool:
        """Delete an object; False when it was not there."""
        fn, args = self._object("delete", kind, name, namespace)
        return self._call(f"delete {kind.ref(name)}", fn, absent=True, **args) is not None


def api_error(exc: Any, what: str) -> CliError:
    """A readable CliError from an ApiException (the Status message when there is one)."""
    message = ""
    body = getattr(exc, "body", None)
    if body:
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            message = str(body)
    if not message:
        message = str(getattr(exc, "reason", "") or exc)
    return CliError(f"{what}: {message} (HTTP {getattr(exc, 'status', None)})")


def _translate(exc: Any, what: str, plural: str) -> CliError:
    if exc.status == 404 and _is_missing_resource_type(exc):
        return CliError(
            f"{what}: the server has no resource type {plural}.{GROUP}; "
            "install the CRDs first (kubectl apply --server-side -f crds/)"
        )
    if exc.status == 409 and what.startswith("apply "):
        err = api_error(exc, what)
        return CliError(*err.messages, "hint: pass --force-conflicts to take over those fields")
    return api_error(exc, what)


def _is_missing_resource_type(exc: Any) -> bool:
    """A 404 for a missing CRD has no `details.name`; one for a missing object has it."""
    try:
        status = json.loads(exc.body or "{}")
    except ValueError:
        return True
    details = status.get("details") or {}
    return not details.get("name")


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    from kubernetes import config as _config

    config: Any = _config

    contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
    chosen = active
    if context:
        chosen = next((c for c in contexts if c.get("name") == context), None)
    if not chosen:
        return None
    ns = (chosen.get("context") or {}).get("namespace")
    return str(ns) if ns else None


def _incluster_namespace() -> str | None:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip() or None
    except OSError:
        return None
