"""The harness's ``--kind`` option (tests/conftest.py, tests/kit/kind.py): its errors, its
coexistence with pytest-kind's own options, and the create-or-reuse of a cluster. No
Docker here: kind is a script and ``KindCluster`` a stand-in that records its calls."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kit import kind

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ the errors
def which_only(*present: str) -> Any:
    return lambda name: f"/usr/bin/{name}" if name in present else None


def usage_error(**overrides: Any) -> str | None:
    args: dict[str, Any] = {
        "kubeconfig": None,
        "installed": True,
        "kind_bin": None,
        "which": which_only("docker", "kind"),
        "environ": {},
    }
    args.update(overrides)
    return kind.kind_usage_error(**args)


def test_kind_runs_when_pytest_kind_docker_and_kind_are_there() -> None:
    assert usage_error() is None


def test_kind_and_a_kubeconfig_are_two_clusters() -> None:
    error = usage_error(kubeconfig="/home/me/.kube/config")
    assert error is not None and "--kubeconfig" in error and "/home/me/.kube/config" in error


def test_kind_without_pytest_kind_says_how_to_install_it() -> None:
    error = usage_error(installed=False)
    assert error is not None
    assert "pip install -e '.[kind]'" in error and "pytest-kind-ng" in error
    assert "never both" in error


def test_kind_without_docker_or_kind_names_what_is_missing() -> None:
    assert "docker on PATH" in (usage_error(which=which_only("kind")) or "")
    assert "kind binary" in (usage_error(which=which_only("docker")) or "")
    # kind's other providers: the one named must be there instead.
    podman = {"KIND_EXPERIMENTAL_PROVIDER": "podman"}
    assert "podman on PATH" in (usage_error(environ=podman) or "")
    assert usage_error(environ=podman, which=which_only("podman", "kind")) is None


def test_kind_bin_must_be_an_executable(tmp_path: Path) -> None:
    binary = tmp_path / "kind"
    binary.write_text("#!/bin/sh\n")
    no_kind = which_only("docker")
    assert "not an executable" in (usage_error(kind_bin=str(binary), which=no_kind) or "")
    binary.chmod(0o755)
    assert usage_error(kind_bin=str(binary), which=no_kind) is None


def test_the_plugin_is_recognised_by_its_module() -> None:
    class Module:
        def __init__(self, name: str) -> None:
            self.__name__ = name

    class Manager:
        def __init__(self, *names: str) -> None:
            self.plugins = [(n, Module(n)) for n in names]

        def list_name_plugin(self) -> list[tuple[str, Any]]:
            return self.plugins

    assert kind.kind_plugin_loaded(Manager("pytest_timeout", "pytest_kind.plugin"))
    assert not kind.kind_plugin_loaded(Manager("pytest_timeout", "conftest"))


# ---------------------------------------------------------- create or reuse
def fake_kind(tmp_path: Path, clusters: str, exit_code: int = 0) -> Path:
    """A kind binary that lists ``clusters`` and prints a kubeconfig naming its cluster."""
    script = tmp_path / "kind"
    listed = clusters.replace("\n", "\\n")  # printf's escape, so the script stays one piece
    script.write_text(
        "#!/bin/sh\n"
        'case "$1 $2" in\n'
        f"  'get clusters') printf '{listed}'; echo 'the docker daemon is down' >&2;"
        f" exit {exit_code} ;;\n"
        "  'get kubeconfig') echo \"current-context: kind-$4\" ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script


class FakeKindCluster:
    """Records what the harness asks of ``pytest_kind.KindCluster``."""

    instances: list[FakeKindCluster] = []

    def __init__(self, name: str, image: str | None = None, kind_path: Path | None = None):
        self.name, self.image, self.kind_path = name, image, kind_path
        self.kubeconfig_path = Path(".pytest-kind") / name / "kubeconfig"
        self.calls: list[str] = []
        FakeKindCluster.instances.append(self)

    def create(self) -> None:
        self.calls.append("create")

    def delete(self) -> None:
        self.calls.append("delete")


def session(tmp_path: Path, clusters: str, **kw: Any) -> kind.KindSession:
    return kind.KindSession(
        name="e2e", kind=fake_kind(tmp_path, clusters), cluster_class=FakeKindCluster, **kw
    )


def test_a_new_cluster_is_created_and_deleted_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = session(tmp_path, "other\n", image="kindest/node:v1.33.0")
    kubeconfig = s.start()
    cluster = FakeKindCluster.instances[-1]
    assert (cluster.name, cluster.image, cluster.kind_path) == (
        "e2e",
        "kindest/node:v1.33.0",
        s.kind,
    )
    assert kubeconfig == (tmp_path / ".pytest-kind" / "e2e" / "kubeconfig")
    assert s.created and not kubeconfig.exists()  # KindCluster.create() writes it
    s.stop()
    assert cluster.calls == ["create", "delete"]


def test_keep_leaves_a_created_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = session(tmp_path, "", keep=True)
    s.start()
    s.stop()
    assert s.created and FakeKindCluster.instances[-1].calls == ["create"]


def test_an_existing_cluster_is_reused_with_its_kubeconfig_and_never_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = session(tmp_path, "other\ne2e\n")
    kubeconfig = s.start()
    # KindCluster.create() alone leaves an empty kubeconfig for a cluster it did not make.
    assert kubeconfig.read_text() == "current-context: kind-e2e\n"
    s.stop()
    assert not s.created and FakeKindCluster.instances[-1].calls == ["create"]


def test_a_failing_kind_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = kind.KindSession(
        name="e2e", kind=fake_kind(tmp_path, "", exit_code=1), cluster_class=FakeKindCluster
    )
    with pytest.raises(RuntimeError, match=r"cluster 'e2e'.*the docker daemon is down"):
        s.start()


# ------------------------------------------------- the harness, as pytest runs it
FAKE_PLUGIN = """
def pytest_addoption(parser):
    # pytest-kind's options (22.11.1 and pytest-kind-ng 26.7.0 alike), defaults included.
    group = parser.getgroup("kind")
    group.addoption("--cluster-name", default="pytest-kind")
    group.addoption("--keep-cluster", action="store_true")
    group.addoption("--kubeconfig", default=None)
    group.addoption("--kind-image", default=None)
    group.addoption("--kind-bin", default=None)
    group.addoption("--kind-kubectl-bin", default=None)
"""


def run_pytest(*args: str, plugin_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CDP_TEST_KUBECONFIG"}
    paths = [str(REPO / "operator"), env.get("PYTHONPATH", "")]
    if plugin_dir is not None and not kind.kind_installed():  # else the real one loads
        paths.insert(0, str(plugin_dir))
        args = ("-p", "pytest_kind.plugin", *args)
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fake_pytest_kind(tmp_path: Path) -> Path:
    package = tmp_path / "plugins" / "pytest_kind"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(FAKE_PLUGIN)
    return package.parent


SMALL = ("--collect-only", "-q", "tests/unit/test_naming.py")


def test_with_pytest_kind_the_harness_shares_its_kubeconfig_option(
    fake_pytest_kind: Path,
) -> None:
    # Both define --kubeconfig and --keep-cluster: the harness must not add them again.
    result = run_pytest(*SMALL, "--kubeconfig", "/tmp/k", plugin_dir=fake_pytest_kind)
    assert result.returncode == 0, result.stderr
    result = run_pytest(*SMALL, "--kind", "--kubeconfig", "/tmp/k", plugin_dir=fake_pytest_kind)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "give one of the two" in result.stderr


def test_kind_with_a_kubeconfig_is_refused_before_anything_starts() -> None:
    result = run_pytest(*SMALL, "--kind", "--kubeconfig", "/tmp/k")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "--kind creates (or reuses) a kind cluster" in result.stderr


@pytest.mark.skipif(kind.kind_installed(), reason="pytest-kind is installed here")
def test_kind_without_pytest_kind_is_a_usage_error() -> None:
    result = run_pytest(*SMALL, "--kind")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "--kind needs pytest-kind, which is not installed" in result.stderr
