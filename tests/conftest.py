"""The pytest harness: a real Kubernetes cluster for every end-to-end test.

Which cluster:

* ``--kubeconfig PATH`` or ``CDP_TEST_KUBECONFIG=PATH``: any real cluster
  (e.g. the kubeconfig written by ``kind create cluster --kubeconfig PATH``).
  Tests that need the local control plane's audit log skip on such clusters. Given the
  kubeconfig of a running local control plane (``.localcluster/kubeconfig``
  after ``make cluster-up``), the tests use it as it is, audit log included,
  and leave it running.
* ``--kind`` (with Docker and kind): a kind cluster created, or reused, through
  pytest-kind's ``KindCluster`` (the optional extra ``kind``: ``tests/kit/kind.py``),
  then used like ``--kubeconfig``; deleted at the end when this session created it,
  unless ``--keep-cluster``. pytest-kind's ``--cluster-name``, ``--kind-image`` and
  ``--kind-bin`` apply.
* otherwise the local control plane (``hack/localcluster.py``) is started for
  the session in a temporary directory, on the first free ports from 26443 up
  (so it runs next to the demo cluster of ``make cluster-up`` and next to other
  sessions), and stopped at the end. ``--keep-cluster`` (or
  ``CDP_TEST_CLUSTER_DIR``) uses ``.localcluster-test/`` instead, leaves it
  running, and a later session reuses it; ``CDP_TEST_BASE_PORT`` fixes the ports.

The cluster only starts when a test asks for the ``cluster`` fixture, so unit
tests never start it. Tests that use it are marked ``e2e`` automatically.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "hack"))

import localcluster  # noqa: E402  (hack/localcluster.py)
import localnode  # noqa: E402  (hack/localnode.py)
from kit import kind  # noqa: E402  (tests/kit/kind.py)

DEFAULT_TEST_BASE_PORT = 26443
E2E_NAMESPACE_LABEL = "e2e.cdp.dev/test"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("cdp-operator cluster")
    # pytest-kind's plugin defines --kubeconfig and --keep-cluster too, and pytest refuses
    # a second definition: with it loaded, the harness reads its two, which mean the same.
    if not kind.kind_plugin_loaded(pluginmanager):
        group.addoption(
            "--kubeconfig",
            default=None,
            help="run e2e tests against this cluster (also CDP_TEST_KUBECONFIG); "
            "default: start the local control plane",
        )
        group.addoption(
            "--keep-cluster",
            action="store_true",
            help="leave the test cluster running after the session (reused next time)",
        )
    group.addoption(
        "--kind",
        action="store_true",
        help="run e2e tests against a kind cluster created (or reused) through pytest-kind "
        "(extra 'kind'; needs Docker and kind); not with --kubeconfig",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--kind"):
        error = kind.kind_usage_error(
            kubeconfig=_external_kubeconfig(config),
            installed=kind.kind_installed(),
            kind_bin=config.getoption("kind_bin", default=None),
        )
        if error:
            raise pytest.UsageError(error)


def _external_kubeconfig(config: pytest.Config) -> str | None:
    value = config.getoption("--kubeconfig") or os.environ.get("CDP_TEST_KUBECONFIG")
    return str(Path(value).expanduser().absolute()) if value else None


def _test_cluster_dir() -> Path:
    return Path(os.environ.get("CDP_TEST_CLUSTER_DIR", REPO / ".localcluster-test")).absolute()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "real_cluster" in fixtures and not item.get_closest_marker("realnode"):
            item.add_marker(pytest.mark.realnode)
        if ({"cluster", "real_cluster"} & set(fixtures)) and not item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.e2e)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build (or reuse) the binaries before any test runs when e2e tests are selected.

    A cold build takes many minutes; doing it here keeps it out of the first
    test's timeout and shows its progress.
    """
    config = session.config
    if config.option.collectonly or _external_kubeconfig(config) or config.getoption("--kind"):
        return
    fixtures = [set(getattr(item, "fixturenames", ())) for item in session.items]
    real_node = (
        any("real_cluster" in f for f in fixtures)
        and os.environ.get("CDP_REAL_NODE") != "0"
        and localnode.unsupported_reason() is None
    )
    if real_node or any("cluster" in f for f in fixtures):
        try:
            localcluster.LocalCluster(_test_cluster_dir(), real_node=real_node).ensure_binaries()
        except localcluster.ClusterError as exc:
            raise pytest.UsageError(f"cannot build the local control plane: {exc}") from exc


class KubectlError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return (
            f"{' '.join(map(str, self.cmd))} exited with {self.returncode}\n"
            f"stdout: {self.stdout}\nstderr: {self.stderr}"
        )


@dataclass
class Cluster:
    """What an e2e test gets: one real cluster and ways to talk to it."""

    kubeconfig: Path
    bin_dir: Path  # holds kubectl (and helm when available)
    audit_log: Path | None  # None on an external cluster
    local: localcluster.LocalCluster | None
    _api_client: Any = field(default=None, repr=False)

    @property
    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin kubeconfig."""
        if self._api_client is None:
            from kubernetes import config

            self._api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        return self._api_client

    @property
    def env(self) -> dict[str, str]:
        """Environment for subprocesses: KUBECONFIG and the tools on PATH."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def _run(
        self, tool: str, args: tuple[str, ...], input: str | None, check: bool, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / tool), *map(str, args)]
        result = subprocess.run(
            cmd,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl against this cluster; raises on failure when ``check``."""
        return self._run(
            "kubectl", ("--kubeconfig", str(self.kubeconfig), *args), input, check, timeout
        )

    def helm(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned helm against this cluster."""
        if not (self.bin_dir / "helm").exists():
            pytest.skip(f"no helm in {self.bin_dir}")
        return self._run(
            "helm", ("--kubeconfig", str(self.kubeconfig), *args), input, check, timeout
        )


def _tools_dir_for_external_cluster() -> Path:
    if os.environ.get("CDP_BIN_DIR"):
        return Path(os.environ["CDP_BIN_DIR"])
    kubectl = shutil.which("kubectl")
    if kubectl:
        return Path(kubectl).resolve().parent
    # No kubectl on PATH: use (or build) the pinned one.
    return localcluster.LocalCluster(_test_cluster_dir()).ensure_binaries()


_SAVED_LOGS = pytest.StashKey[Path]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    saved = config.stash.get(_SAVED_LOGS, None)
    if saved is not None:
        terminalreporter.write_line(f"logs of the local control plane (audit log too): {saved}")


def _save_logs(local: localcluster.LocalCluster) -> Path:
    dest = Path(tempfile.mkdtemp(prefix="cdp-e2e-cluster-logs-"))
    for log in local.dir.glob("*.log"):
        shutil.copy2(log, dest / log.name)
    return dest


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A real cluster for the whole session (see the module docstring)."""
    if request.config.getoption("--kind"):
        yield from _kind_cluster(request.config)
        return
    external = _external_kubeconfig(request.config)
    if external:
        if not Path(external).is_file():
            raise pytest.UsageError(f"kubeconfig {external} does not exist")
        # The kubeconfig of a running local control plane (e.g. `make cluster-up`):
        # use its tools and audit log too, and never stop it.
        attached = localcluster.LocalCluster(Path(external).parent)
        if Path(external) == attached.kubeconfig and attached.is_up():
            yield Cluster(attached.kubeconfig, attached.bin_dir, attached.audit_log, attached)
        else:
            yield Cluster(Path(external), _tools_dir_for_external_cluster(), None, None)
        return

    keep = bool(request.config.getoption("--keep-cluster"))
    if keep or os.environ.get("CDP_TEST_CLUSTER_DIR"):
        state_dir, owned_tmp = _test_cluster_dir(), False
    else:  # one per session, so concurrent sessions never share (or stop) a cluster
        state_dir, owned_tmp = Path(tempfile.mkdtemp(prefix="cdp-test-cluster-")) / "c", True
    local = localcluster.LocalCluster(state_dir)
    if local.is_up():
        print(f"\nreusing the local control plane at {local.server} ({state_dir})")
    else:
        local.down()  # leftovers of an interrupted session: stop its pids, remove the dir
        local = _start_local(state_dir, die_with_parent=not keep)
    try:
        yield Cluster(local.kubeconfig, local.bin_dir, local.audit_log, local)
    finally:
        if request.session.testsfailed:
            request.config.stash[_SAVED_LOGS] = _save_logs(local)
        if not keep:
            local.down()
            if owned_tmp:
                shutil.rmtree(state_dir.parent, ignore_errors=True)


def _kind_cluster(config: pytest.Config) -> Iterator[Cluster]:
    session = kind.KindSession(
        name=config.getoption("cluster_name", default=None) or kind.DEFAULT_CLUSTER_NAME,
        kind=kind.kind_binary(config.getoption("kind_bin", default=None)),
        image=config.getoption("kind_image", default=None),
        keep=bool(config.getoption("--keep-cluster")),
    )
    kubeconfig = session.start()
    print(f"\nkind cluster {session.name} ({'created' if session.created else 'reused'})")
    try:
        yield Cluster(kubeconfig, _tools_dir_for_external_cluster(), None, None)
    finally:
        session.stop()


@pytest.fixture(scope="module")
def real_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A local control plane of its own with a real node, for one module of
    ``realnode`` tests (stopped after it, so it does not idle through the rest).

    Runs where a real node can (root on Linux); ``CDP_REAL_NODE=0`` leaves these
    tests out. Its teardown fails when the node left anything on the host.
    """
    if os.environ.get("CDP_REAL_NODE") == "0":
        pytest.skip("CDP_REAL_NODE=0: real-node tests left out")
    reason = localnode.unsupported_reason()
    if reason:
        pytest.skip(reason)
    state_dir = Path(tempfile.mkdtemp(prefix="cdp-test-realnode-")) / "c"
    local = _start_local(state_dir, die_with_parent=True, real_node=True)
    try:
        yield Cluster(local.kubeconfig, local.bin_dir, local.audit_log, local)
    finally:
        if request.session.testsfailed:
            request.config.stash[_SAVED_LOGS] = _save_logs(local)
        local.down()  # raises when the node left state on the host
        shutil.rmtree(state_dir.parent, ignore_errors=True)


def _start_local(
    state_dir: Path, die_with_parent: bool, real_node: bool = False
) -> localcluster.LocalCluster:
    fixed = os.environ.get("CDP_TEST_BASE_PORT")
    attempts = 1 if fixed else 3
    for attempt in range(attempts):
        base = int(fixed) if fixed else localcluster.free_base_port(DEFAULT_TEST_BASE_PORT)
        local = localcluster.LocalCluster(
            state_dir, base, die_with_parent=die_with_parent, real_node=real_node
        )
        t0 = time.monotonic()
        try:
            local.up()
        except localcluster.ClusterError as exc:
            # Another process may have taken the ports between the check and the start.
            if "in use" not in str(exc) or attempt == attempts - 1:
                raise
            local.down()
            continue
        print(f"\nlocal control plane up in {time.monotonic() - t0:.1f}s at {local.server}")
        return local
    raise AssertionError("unreachable")


def _namespace_name(node_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", node_name.lower().removeprefix("test_")).strip("-")
    return f"e2e-{stem[:40].rstrip('-')}-{uuid.uuid4().hex[:5]}"


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    name = _namespace_name(request.node.name)
    core = client.CoreV1Api(cluster.api_client)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={E2E_NAMESPACE_LABEL: "true"})
        )
    )
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise
