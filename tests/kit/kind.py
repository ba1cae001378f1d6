"""The harness's ``--kind`` path: a kind cluster (Docker) through pytest-kind's ``KindCluster``.

pytest-kind is an optional extra (``pip install -e '.[kind]'``); its fork
pytest-kind-ng works too, but only one of the two may be installed: both install
the module ``pytest_kind``. Their plugin defines ``--kubeconfig`` and
``--keep-cluster`` itself (and ``--cluster-name``, ``--kind-image``, ``--kind-bin``),
so with it loaded the harness uses those options instead of adding its own.

The harness asks for a kind binary (on PATH or ``--kind-bin``) rather than letting
``KindCluster`` download its pinned, older one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The module both pytest-kind and pytest-kind-ng install, with the plugin in it.
KIND_MODULE = "pytest_kind"
KIND_PLUGIN_MODULE = "pytest_kind.plugin"
DEFAULT_CLUSTER_NAME = "pytest-kind"  # pytest-kind's own default for --cluster-name
INSTALL_HINT = (
    "pip install -e '.[kind]' (pytest-kind; or pytest-kind-ng, but never both: "
    "they install the same module)"
)


def kind_installed() -> bool:
    return importlib.util.find_spec(KIND_MODULE) is not None


def kind_plugin_loaded(pluginmanager: Any) -> bool:
    """Whether pytest-kind's (or pytest-kind-ng's) plugin is registered with pytest."""
    return any(
        getattr(plugin, "__name__", None) == KIND_PLUGIN_MODULE
        for _, plugin in pluginmanager.list_name_plugin()
    )


def kind_usage_error(
    *,
    kubeconfig: str | None,
    installed: bool,
    kind_bin: str | None,
    which: Callable[[str], str | None] = shutil.which,
    environ: Mapping[str, str] = os.environ,
) -> str | None:
    """Why ``--kind`` cannot run as asked, or None. ``kubeconfig`` is the cluster
    already chosen by ``--kubeconfig`` or ``CDP_TEST_KUBECONFIG``."""
    if kubeconfig:
        return (
            f"--kind creates (or reuses) a kind cluster, and --kubeconfig or CDP_TEST_KUBECONFIG "
            f"names another ({kubeconfig}): give one of the two"
        )
    if not installed:
        return f"--kind needs pytest-kind, which is not installed: {INSTALL_HINT}"
    provider = environ.get("KIND_EXPERIMENTAL_PROVIDER") or "docker"
    if which(provider) is None:
        return f"--kind needs {provider} on PATH: kind runs its nodes as {provider} containers"
    if kind_bin:
        path = Path(kind_bin)
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"--kind-bin {kind_bin} is not an executable file"
    elif which("kind") is None:
        return "--kind needs the kind binary: put kind on PATH or pass --kind-bin PATH"
    return None


def kind_binary(kind_bin: str | None, which: Callable[[str], str | None] = shutil.which) -> Path:
    found = kind_bin or which("kind")
    if not found:
        raise RuntimeError("no kind binary (checked by kind_usage_error before)")
    return Path(found).absolute()


def kind_clusters(kind: Path) -> list[str]:
    out = subprocess.run(
        [str(kind), "get", "clusters"], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


@dataclass
class KindSession:
    """One kind cluster for a pytest session: created, or reused when a cluster of
    that name exists; deleted at the end only when this session created it and
    ``keep`` is off."""

    name: str
    kind: Path
    image: str | None = None
    keep: bool = False
    #: ``pytest_kind.KindCluster`` (replaceable in unit tests).
    cluster_class: Callable[..., Any] | None = None
    created: bool = False
    cluster: Any = None

    def start(self) -> Path:
        """Create or reuse the cluster; the path of its kubeconfig."""
        if self.cluster_class is None:
            from pytest_kind import KindCluster

            self.cluster_class = KindCluster
        try:
            existing = self.name in kind_clusters(self.kind)
            self.cluster = self.cluster_class(self.name, image=self.image, kind_path=self.kind)
            kubeconfig = Path(self.cluster.kubeconfig_path).absolute()
            if existing:
                # KindCluster.create() reuses a cluster without writing its kubeconfig
                # (it only does when it creates one): ask kind for it.
                out = subprocess.run(
                    [str(self.kind), "get", "kubeconfig", "--name", self.name],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=120,
                ).stdout
                kubeconfig.parent.mkdir(parents=True, exist_ok=True)
                kubeconfig.write_text(out)
                kubeconfig.chmod(0o600)
            self.cluster.create()
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or "").strip() if isinstance(exc.stderr, str) else ""
            raise RuntimeError(
                f"kind could not create or reuse cluster {self.name!r} "
                f"({' '.join(map(str, exc.cmd))} exited with {exc.returncode})"
                + (f": {detail}" if detail else "; is the Docker daemon running?")
            ) from exc
        self.created = not existing
        return kubeconfig

    def stop(self) -> None:
        if self.cluster is not None and self.created and not self.keep:
            self.cluster.delete()
