"""Flux on local data-plane clusters, for tests/e2e/test_gitops_flux.py.

- `GitServer`: one Git repository of platform resources, served over smart HTTP
  on 127.0.0.1 by `git http-backend` (go-git, which Flux uses, speaks no dumb HTTP).
- `PlatformRepo`: a clone to commit to; `commit` pushes and returns the revision.
- `DataPlaneCluster`: one local control plane (hack/localcluster.py, kwok nodes,
  no real node: this machine has one real-node slot) with the cdp CRDs, its own
  operator as a process scoped to one data plane (`--data-plane`) with the chart's
  RBAC, and Flux's source-controller and kustomize-controller (one Flux release,
  hack/controlplane/build.sh flux) as processes, each with its own ServiceAccount:
  the release's `crd-controller` ClusterRole, not its cluster-admin binding. The
  Kustomizations apply as the ServiceAccount `cdp-platform`, which may write only
  cdp.dev resources.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

import localcluster  # hack/localcluster.py, on sys.path through tests/conftest.py
from kit import Kube, service_account_token, token_kubeconfig
from kit import wait_for as kit_wait_for

from .identities import apply_chart_rbac
from .operator_harness import REPO, OperatorProcess, free_port

FLUX_NAMESPACE = "flux-system"
OPERATOR_NAMESPACE = "cdp-system"
#: The identity Flux applies the platform repository as (spec.serviceAccountName).
APPLIER = "cdp-platform"


def _cluster_class() -> Any:
    # tests/conftest.py: pytest imports it as the top-level module `conftest`.
    import conftest

    return conftest.Cluster


def flux_binaries() -> Path:
    """Build (or reuse) Flux's controllers and CRDs; the directory holding them."""
    out = subprocess.run(
        ["nice", "-n", "10", str(REPO / "hack" / "controlplane" / "build.sh"), "flux"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0:
        raise RuntimeError(f"hack/controlplane/build.sh flux failed:\n{out.stderr[-4000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ git over HTTP
class _GitHandler(BaseHTTPRequestHandler):
    project_root: Path

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _backend(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type") or "",
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
        )
        out = result.stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _, payload = out.partition(sep)
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        if result.returncode != 0 and not head:
            status, payload = 500, result.stderr
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitServer:
    """Serves the bare repositories under `root` at http://127.0.0.1:<port>/<name>.git."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = type("Handler", (_GitHandler,), {"project_root": root})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> GitServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=platform team", "-c", "user.email=platform@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


class PlatformRepo:
    """The platform team's repository: a bare one the server serves, and a clone."""

    def __init__(self, root: Path, name: str = "platform") -> None:
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.work)], check=True)
        _git(self.work, "remote", "add", "origin", str(self.bare))

    def commit(self, message: str, files: dict[str, str | None]) -> str:
        """Write (None: remove) files, commit, push; the new revision."""
        for rel, text in files.items():
            path = self.work / rel
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        _git(self.work, "add", "-A")
        _git(self.work, "commit", "-q", "-m", message)
        _git(self.work, "push", "-q", "origin", "main")
        return _git(self.work, "rev-parse", "HEAD")


# ---------------------------------------------------------------- one data plane
def _rbac(kustomize_controller: str) -> str:
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": APPLIER}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": APPLIER},
            "rules": [
                {
                    "apiGroups": ["cdp.dev"],
                    "resources": [
                        "dataplanes",
                        "organizations",
                        "projects",
                        "environments",
                        "components",
                    ],
                    "verbs": verbs,
                },
                {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": APPLIER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": APPLIER,
            },
            "subjects": [{"kind": "ServiceAccount", "name": APPLIER, "namespace": FLUX_NAMESPACE}],
        },
        # kustomize-controller may act as cdp-platform, and as nobody else.
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": f"impersonate-{APPLIER}"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["serviceaccounts"],
                    "resourceNames": [APPLIER],
                    "verbs": ["impersonate"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"impersonate-{APPLIER}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": f"impersonate-{APPLIER}",
            },
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": kustomize_controller,
                    "namespace": FLUX_NAMESPACE,
                }
            ],
        },
    ]
    for obj in objects:
        if obj["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
            obj["metadata"]["namespace"] = FLUX_NAMESPACE
    return yaml.safe_dump_all(objects)


def flux_objects(url: str, interval: str = "5s") -> str:
    """The GitRepository and the two Kustomizations every cluster runs: `platform`
    (DataPlanes, Organizations) and `tenants` (Projects, Environments, Components,
    in the organization namespaces the operator makes: dependsOn platform)."""
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "platform", "namespace": FLUX_NAMESPACE},
            "spec": {"interval": interval, "url": url, "ref": {"branch": "main"}},
        }
    ]
    for name, depends in (("platform", []), ("tenants", [{"name": "platform"}])):
        objects.append(
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": name, "namespace": FLUX_NAMESPACE},
                "spec": {
                    "interval": "10m",
                    "retryInterval": "5s",
                    "timeout": "3m",
                    "path": f"./{name}",
                    "prune": True,
                    "wait": True,
                    "serviceAccountName": APPLIER,
                    "sourceRef": {"kind": "GitRepository", "name": "platform"},
                    **({"dependsOn": depends} if depends else {}),
                },
            }
        )
    return yaml.safe_dump_all(objects)


class DataPlaneCluster:
    """One data-plane cluster: control plane, its operator, Flux."""

    def __init__(self, region: str, root: Path, flux_dir: Path) -> None:
        self.region = region
        self.root = root
        self.flux_dir = flux_dir
        self.local: localcluster.LocalCluster | None = None
        self.cluster: Any = None
        self.operator: OperatorProcess | None = None
        self.flux: dict[str, subprocess.Popen[bytes]] = {}

    # ---- lifecycle
    def up(self) -> None:
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            base = localcluster.free_base_port(20443 + 200 * attempt)
            local = localcluster.LocalCluster(root / "cluster", base, die_with_parent=True)
            try:
                local.up()
            except localcluster.ClusterError as exc:
                local.down()
                if "in use" not in str(exc) or attempt == 2:
                    raise
                continue
            self.local = local
            break
        assert self.local is not None
        self.cluster = _cluster_class()(
            self.local.kubeconfig, self.local.bin_dir, self.local.audit_log, self.local
        )
        c = self.cluster
        c.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        c.kubectl("apply", "--server-side", "-f", str(self.flux_dir / "crds"))
        c.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        for ns in (FLUX_NAMESPACE, OPERATOR_NAMESPACE):
            c.kubectl("create", "namespace", ns)
        # The release's controller RBAC; its ServiceAccounts.
        c.kubectl("apply", "--server-side", "-f", str(self.flux_dir / "rbac" / "controller.yaml"))
        for sa in ("source-controller", "kustomize-controller"):
            c.kubectl("create", "serviceaccount", sa, "-n", FLUX_NAMESPACE)
        c.kubectl("apply", "--server-side", "-f", "-", input=_rbac("kustomize-controller"))
        self._start_operator()
        self._start_flux()

    def _kubeconfig(self, namespace: str, sa: str) -> Path:
        assert self.cluster is not None
        token = service_account_token(self.cluster, namespace, sa, seconds=7200)
        return token_kubeconfig(
            self.cluster,
            token,
            self.root / f"{sa}.kubeconfig",
            f"system:serviceaccount:{namespace}:{sa}",
        )

    def _start_operator(self) -> None:
        assert self.cluster is not None
        values = ("--set", f"dataPlanes={{{self.region}}}")
        identity = apply_chart_rbac(self.cluster, f"cdp-{self.region}", OPERATOR_NAMESPACE, *values)
        kubeconfig = self._kubeconfig(OPERATOR_NAMESPACE, identity.service_account)
        self.operator = OperatorProcess(
            str(kubeconfig), self.root / "operator.log", extra_args=[f"--data-plane={self.region}"]
        )
        self.operator.start()

    def _start_flux(self) -> None:
        storage = free_port()
        (self.root / "artifacts").mkdir(exist_ok=True)
        common = ["--log-level=info", "--enable-leader-election=false"]
        commands = {
            "source-controller": [
                f"--storage-path={self.root / 'artifacts'}",
                f"--storage-addr=127.0.0.1:{storage}",
                f"--storage-adv-addr=127.0.0.1:{storage}",
            ],
            "kustomize-controller": ["--requeue-dependency=2s", "--no-remote-bases=true"],
        }
        for name, args in commands.items():
            kubeconfig = self._kubeconfig(FLUX_NAMESPACE, name)
            log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the child's
            self.flux[name] = subprocess.Popen(
                [
                    str(self.flux_dir / name),
                    f"--metrics-addr=127.0.0.1:{free_port()}",
                    f"--health-addr=127.0.0.1:{free_port()}",
                    *common,
                    *args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={
                    **os.environ,
                    "KUBECONFIG": str(kubeconfig),
                    "RUNTIME_NAMESPACE": FLUX_NAMESPACE,
                },
                # A killed test session leaves no controller behind.
                preexec_fn=localcluster._parent_death_signal(),
            )
            log.close()

    def down(self) -> None:
        for proc in self.flux.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.flux.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.operator is not None:
            self.operator.stop()
        if self.local is not None:
            self.local.down()

    def check_alive(self) -> None:
        for name, proc in self.flux.items():
            if proc.poll() is not None:
                raise AssertionError(
                    f"{self.region} {name} exited {proc.returncode}:\n"
                    + (self.root / f"{name}.log").read_text()[-3000:]
                )

    # ---- reading
    def kubectl_json(self, *args: str) -> Any:
        """``kubectl ARGS -o json`` (ARGS starting with ``get``), parsed; None: not found."""
        assert self.cluster is not None and args[0] == "get", args
        return Kube(self.cluster).get_json(*args[1:])

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        assert self.cluster is not None
        return Kube(self.cluster).get(kind, name, namespace)

    def kustomization_at(self, name: str, revision: str) -> dict[str, Any] | None:
        """The Kustomization once it applied `revision` and its health checks passed."""
        ks = self.get("kustomizations.kustomize.toolkit.fluxcd.io", name, FLUX_NAMESPACE)
        if not ks:
            return None
        status = ks.get("status") or {}
        ready: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c["type"] == "Ready"), {}
        )
        applied = str(status.get("lastAppliedRevision") or "")
        if ready.get("status") == "True" and applied.endswith(revision):
            return ks
        return None

    def describe_flux(self) -> str:
        out = []
        for kind in ("gitrepositories", "kustomizations"):
            items = self.kubectl_json("get", kind, "-n", FLUX_NAMESPACE) or {"items": []}
            for item in items["items"]:
                conds = {
                    c["type"]: f"{c['status']} {c.get('reason')}: {c.get('message', '')[:300]}"
                    for c in (item.get("status") or {}).get("conditions") or []
                }
                out.append(f"{self.region} {kind}/{item['metadata']['name']}: {conds}")
        return "\n".join(out)


def wait_for(predicate: Any, timeout: float, what: Any, clusters: list[DataPlaneCluster]) -> Any:
    """``kit.wait_for`` that fails at once when a controller exited, and on timeout
    shows Flux's view of every data plane as it was last."""

    def alive() -> None:
        for c in clusters:
            c.check_alive()

    return kit_wait_for(
        predicate,
        timeout,
        what,
        abort=alive,
        observe=lambda: "\n".join(c.describe_flux() for c in clusters),
    )


def cleanup_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "DataPlaneCluster",
    "GitServer",
    "PlatformRepo",
    "cleanup_dir",
    "flux_binaries",
    "flux_objects",
    "wait_for",
]
