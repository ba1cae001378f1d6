#!/usr/bin/env python3
"""A real Kubernetes control plane on 127.0.0.1, without Docker.

Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
(which fakes two Nodes and the pod lifecycle) from the binaries that
``hack/controlplane/build.sh`` builds or reuses, and keeps all state in one
directory (default ``.localcluster/`` in the repository)::

    hack/localcluster.py up       # start (or say it is already up)
    hack/localcluster.py status   # which components run
    hack/localcluster.py env      # print the exports
    hack/localcluster.py down     # stop exactly the processes it started, remove the dir

It is also a module for the test harness::

    cluster = LocalCluster(path, base_port=26443)
    cluster.up()
    cluster.kubeconfig  # admin kubeconfig
    cluster.restart_component("kube-apiserver")
    cluster.down()

Only the standard library and ``cryptography`` are used.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import localnode  # hack/localnode.py: the real node

REPO = Path(__file__).resolve().parent.parent
BUILD_SH = REPO / "hack" / "controlplane" / "build.sh"
DEFAULT_DIR = REPO / ".localcluster"
DEFAULT_BASE_PORT = 16443

# Start order; stop order is the reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# With a real node (hack/localnode.py): the registry its images come from, then the node.
NODE_COMPONENTS = ("registry", "containerd", "kubelet", "kube-proxy", "kube-router")
# The binary of a component, where its name differs.
COMPONENT_BINARY = {"registry": "crane"}
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
)
OPTIONAL_BINARIES = ("helm",)

SERVICE_CIDR = "10.96.0.0/16"
PORTS_PER_CLUSTER = 7
POD_CIDR = "10.244.0.0/16"
NODE_NAMES = ("kwok-node-0", "kwok-node-1")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# kwok's "fast" lifecycle: nodes become Ready (and keep their lease), pods become
# Running/Ready, pods owned by a Job succeed, deleted pods go away.
KWOK_STAGE_FILES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
"""

# Bounds of the waits (seconds). Generous: two cores may be busy with other work.
START_TIMEOUT = {
    "etcd": 60.0,
    "kube-apiserver": 120.0,
    "kube-controller-manager": 60.0,
    "kube-scheduler": 60.0,
    "kwok": 60.0,
    "registry": 30.0,
    "containerd": 60.0,
    "kubelet": 60.0,
    "kube-proxy": 60.0,
    "kube-router": 60.0,
}
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0


class ClusterError(RuntimeError):
    """A clear, user-facing failure of the local control plane."""


def _log(msg: str) -> None:
    print(f"[localcluster {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- PKI


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    path.chmod(mode)


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(cn: str, org: str | None = None) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    return now, now + datetime.timedelta(days=365)


def _issue_cert(
    pki: Path,
    file: str,
    cn: str,
    org: str | None,
    server: bool,
    ips: list[str] | tuple[str, ...] = (),
    dns: list[str] | tuple[str, ...] = (),
) -> None:
    """Write ``pki/<file>.crt`` and ``.key``: a leaf certificate signed by ``pki/ca``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key: Any = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    not_before, not_after = _validity()
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, org))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    sans += [x509.DNSName(name) for name in dns]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write(pki / f"{file}.crt", cert.public_bytes(serialization.Encoding.PEM))
    _write(pki / f"{file}.key", _key_pem(key), 0o600)


def _key_usage(*, signs_certificates: bool) -> Any:
    """Digital signature for every certificate; certificate and CRL signing for the CA."""
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _generate_pki(pki: Path, apiserver_ips: tuple[str, ...] = ()) -> None:
    """CA, apiserver serving cert, client certs per identity, service-account keys.

    ``apiserver_ips``: further addresses the apiserver is reached on (a real node's).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    not_before, not_after = _validity()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("cdp-localcluster-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(pki / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(pki / "ca.key", _key_pem(ca_key), 0o600)

    service_ip = str(next(ipaddress.IPv4Network(SERVICE_CIDR).hosts()))
    _issue_cert(
        pki,
        "apiserver",
        "kube-apiserver",
        None,
        server=True,
        ips=["127.0.0.1", service_ip, *apiserver_ips],
        dns=[
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
    )
    _issue_cert(pki, "admin", "kubernetes-admin", "system:masters", server=False)
    for identity in ("kube-controller-manager", "kube-scheduler"):
        _issue_cert(pki, identity, f"system:{identity}", None, server=False)
    _issue_cert(pki, "kwok", "kwok-controller", "system:masters", server=False)
    # The apiserver's identity towards kubelets (logs, exec, port-forward).
    _issue_cert(
        pki,
        "apiserver-kubelet-client",
        "kube-apiserver-kubelet-client",
        "system:masters",
        server=False,
    )

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(pki / "sa.key", _key_pem(sa_key), 0o600)
    _write(
        pki / "sa.pub",
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def _kubeconfig(server: str, pki: Path, user: str, context: str = "cdp-local") -> str:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    # JSON is valid YAML; kubectl, helm and the Python client all read it.
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": b64(pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(pki / f"{user}.crt"),
                    "client-key-data": b64(pki / f"{user}.key"),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return json.dumps(cfg, indent=2) + "\n"


# --------------------------------------------------------------------------- helpers


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_ports() -> range:
    """The kernel's range for outgoing connections' local ports: a listener there
    can find its port taken by any client between the check and the bind."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def free_base_port(start: int = DEFAULT_BASE_PORT, step: int = 10, tries: int = 200) -> int:
    """The first base port from ``start`` (in ``step``s) whose ports are all free,
    outside the ephemeral range."""
    ephemeral = _ephemeral_ports()
    for base in range(start, start + step * tries, step):
        block = range(base, base + PORTS_PER_CLUSTER)
        if block[-1] >= 65536 or any(p in ephemeral for p in (block[0], block[-1])):
            continue
        if all(port_free(p) for p in block):
            return base
    raise ClusterError(f"no free block of {PORTS_PER_CLUSTER} ports on 127.0.0.1 from {start}")


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state field follows the parenthesised command name.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _pid_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _parent_death_signal() -> Callable[[], None]:
    """A preexec_fn asking Linux to SIGKILL the child when its parent dies.

    SIGKILL, not SIGTERM: components terminating gracefully while etcd goes away
    at the same time can hang (kube-apiserver waits for etcd).
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)

    return preexec


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


@dataclass(frozen=True)
class Ports:
    apiserver: int
    etcd: int
    etcd_peer: int
    controller_manager: int
    scheduler: int
    kwok: int
    registry: int

    @classmethod
    def from_base(cls, base: int) -> Ports:
        return cls(*range(base, base + PORTS_PER_CLUSTER))

    def by_component(self) -> dict[str, list[int]]:
        return {
            "etcd": [self.etcd, self.etcd_peer],
            "kube-apiserver": [self.apiserver],
            "kube-controller-manager": [self.controller_manager],
            "kube-scheduler": [self.scheduler],
            "kwok": [self.kwok],
            "registry": [self.registry],
            # One real node per machine: its ports are fixed.
            "containerd": [],
            "kubelet": [localnode.KUBELET_HEALTHZ_PORT],
            "kube-proxy": [localnode.KUBE_PROXY_HEALTHZ_PORT, localnode.KUBE_PROXY_METRICS_PORT],
            "kube-router": [localnode.KUBE_ROUTER_HEALTH_PORT],
        }


# --------------------------------------------------------------------------- cluster


class LocalCluster:
    """One local control plane whose whole state lives in ``dir``."""

    def __init__(
        self,
        dir: str | os.PathLike[str] = DEFAULT_DIR,
        base_port: int = DEFAULT_BASE_PORT,
        bin_dir: str | os.PathLike[str] | None = None,
        log: Callable[[str], None] = _log,
        die_with_parent: bool = False,
        real_node: bool = False,
    ) -> None:
        """``real_node``: also run a registry and a real node (``hack/localnode.py``;
        root on Linux only), and taint the kwok nodes so real workloads land there."""
        self.dir = Path(dir).absolute()
        self.log = log
        # For a test harness: components are killed when the process (thread) that
        # started them dies, so a killed test session leaves nothing running.
        self.die_with_parent = die_with_parent
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        state = self._read_state()
        if state:  # an existing cluster keeps the ports and binaries it started with
            base_port = int(state["base_port"])
            bin_dir = bin_dir or state.get("binaries")
            real_node = bool(state.get("node_binaries"))
        self.real_node = real_node
        self._node_binaries: Path | None = (
            Path(state["node_binaries"]) if state.get("node_binaries") else None
        )
        self.base_port = base_port
        self.ports = Ports.from_base(base_port)
        self._binaries: Path | None = Path(bin_dir) if bin_dir else None
        if self._binaries is None and os.environ.get("CDP_BIN_DIR"):
            self._binaries = Path(os.environ["CDP_BIN_DIR"])

    # ---- paths
    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.dir / "audit.log"

    @property
    def components(self) -> tuple[str, ...]:
        """What this cluster runs, in start order (stop order is the reverse)."""
        return COMPONENTS + (NODE_COMPONENTS if self.real_node else ())

    @property
    def registry(self) -> str:
        """The local registry (real node only): push here, the node pulls from here."""
        return f"127.0.0.1:{self.ports.registry}"

    @property
    def node(self) -> localnode.RealNode:
        assert self._node_binaries is not None, "no real node in this cluster"
        return localnode.RealNode(
            dir=self.dir / "node",
            pki=self.pki,
            binaries=self._node_binaries,
            server=f"https://{localnode.NODE_IP}:{self.ports.apiserver}",
            registry=self.registry,
            log=self.log,
        )

    @property
    def bin_dir(self) -> Path:
        """Links to kubectl and helm (what users put on PATH)."""
        return self.dir / "bin"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    def log_file(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.dir / f"{name}.pid"

    @property
    def _state_file(self) -> Path:
        return self.dir / "cluster.json"

    def _read_state(self) -> dict[str, Any]:
        try:
            return json.loads((self.dir / "cluster.json").read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return {}

    # ---- binaries
    def ensure_binaries(self) -> Path:
        """Build or reuse the binaries (hack/controlplane/build.sh); return their dir."""
        if self._binaries is None:
            self.log(f"building or reusing binaries ({BUILD_SH.relative_to(REPO)})")
            proc = subprocess.run(
                [str(BUILD_SH)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
            )
            if proc.returncode != 0:
                raise ClusterError(
                    f"{BUILD_SH} failed with exit code {proc.returncode} (its output is above)"
                )
            lines = proc.stdout.strip().splitlines()
            if not lines:
                raise ClusterError(f"{BUILD_SH} printed no binary directory")
            self._binaries = Path(lines[-1])
        missing = [b for b in BINARIES if not os.access(self._binaries / b, os.X_OK)]
        if missing:
            raise ClusterError(
                f"missing binary: {', '.join(missing)} (looked in {self._binaries}); "
                f"run hack/controlplane/build.sh"
            )
        if not (self._binaries / "kwok-stages").is_dir():
            raise ClusterError(f"missing kwok stage definitions in {self._binaries}/kwok-stages")
        if self.real_node and self._node_binaries is None:
            self.log(
                f"building or reusing the real node's binaries ({BUILD_SH.relative_to(REPO)} node)"
            )
            proc = subprocess.run(
                [str(BUILD_SH), "node"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
            )
            lines = proc.stdout.strip().splitlines()
            if proc.returncode != 0 or not lines:
                raise ClusterError(f"{BUILD_SH} node failed (its output is above)")
            self._node_binaries = Path(lines[-1])
            missing = [
                b
                for b in localnode.NODE_BINARIES
                if not os.access(self._node_binaries / b, os.X_OK)
            ]
            if missing:
                raise ClusterError(f"missing node binary: {', '.join(missing)}")
        return self._binaries

    def binary(self, name: str) -> Path:
        assert self._binaries is not None
        return self._binaries / name

    # ---- HTTP to the components
    def _ssl_context(self, client: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        if client:
            ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def api(
        self, method: str, path: str, body: Any = None, timeout: float = 10.0
    ) -> tuple[int, Any]:
        """One request to the apiserver as the admin; returns (status, parsed JSON or text)."""
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.ports.apiserver, context=self._ssl_context(), timeout=timeout
        )
        try:
            headers = {"Accept": "application/json", "User-Agent": "cdp-localcluster"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read().decode(errors="replace")
            try:
                return resp.status, json.loads(raw)
            except ValueError:
                return resp.status, raw
        finally:
            conn.close()

    def _probe(self, name: str) -> bool:
        """True when the component answers its health endpoint."""
        try:
            if name == "etcd":
                conn: http.client.HTTPConnection = http.client.HTTPConnection(
                    "127.0.0.1", self.ports.etcd, timeout=3
                )
                conn.request("GET", "/health")
                resp = conn.getresponse()
                ok = resp.status == 200 and b'"true"' in resp.read()
                conn.close()
                return ok
            if name == "kube-apiserver":
                status, _ = self.api("GET", "/readyz", timeout=5)
                return status == 200
            if name in ("kube-controller-manager", "kube-scheduler"):
                port = (
                    self.ports.controller_manager
                    if name == "kube-controller-manager"
                    else self.ports.scheduler
                )
                ctx = ssl._create_unverified_context()  # self-signed serving cert
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=3)
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                ok = resp.status == 200
                resp.read()
                conn.close()
                return ok
            if name == "containerd":
                with socket.socket(socket.AF_UNIX) as sock:
                    sock.settimeout(3)
                    sock.connect(str(self.node.containerd_sock))
                return True
            http_probes = {
                "kwok": (self.ports.kwok, "/healthz"),
                "registry": (self.ports.registry, "/v2/"),
                "kubelet": (localnode.KUBELET_HEALTHZ_PORT, "/healthz"),
                "kube-proxy": (localnode.KUBE_PROXY_HEALTHZ_PORT, "/livez"),
                "kube-router": (localnode.KUBE_ROUTER_HEALTH_PORT, "/healthz"),
            }
            if name in http_probes:
                port, path = http_probes[name]
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
                conn.request("GET", path)
                resp = conn.getresponse()
                ok = resp.status == 200
                resp.read()
                conn.close()
                return ok
        except (OSError, http.client.HTTPException, ssl.SSLError):
            return False
        raise ValueError(f"unknown component {name}")

    # ---- processes
    def _command(self, name: str) -> list[str]:
        d, p, pki, cfg = self.dir, self.ports, self.pki, self.dir / "config"
        if name == "etcd":
            peer = f"http://127.0.0.1:{p.etcd_peer}"
            client = f"http://127.0.0.1:{p.etcd}"
            return [
                str(self.binary("etcd")),
                "--name=default",
                f"--data-dir={d / 'etcd-data'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ]
        if name == "kube-apiserver":
            if self.real_node:
                # Pods reach it through the kubernetes Service at the node IP; the
                # cdp-node nftables table drops it on every other interface.
                network = [
                    "--bind-address=0.0.0.0",
                    f"--advertise-address={localnode.NODE_IP}",
                    f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                    f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                    f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                    # Never resolve a node's name (that would ask the machine's resolver).
                    "--kubelet-preferred-address-types=InternalIP",
                ]
            else:
                network = [
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    # The kubernetes Service cannot point at a loopback address; nothing
                    # runs inside this cluster that would use it.
                    "--endpoint-reconciler-type=none",
                ]
            return [
                str(self.binary("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{p.etcd}",
                *network,
                f"--secure-port={p.apiserver}",
                f"--cert-dir={pki / 'apiserver-generated'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                f"--audit-policy-file={cfg / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-maxsize=2048",
                "--audit-log-maxbackup=1",
                "--profiling=false",
                "--v=1",
            ]
        if name == "kube-controller-manager":
            kc = cfg / "kube-controller-manager.kubeconfig"
            return [
                str(self.binary("kube-controller-manager")),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.controller_manager}",
                f"--cert-dir={pki / 'kube-controller-manager-generated'}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # Everything except what needs a cloud provider or node CIDR allocation.
                "--controllers=*,-node-ipam-controller,-cloud-node-lifecycle-controller,"
                "-service-lb-controller,-node-route-controller",
                "--profiling=false",
                "--v=1",
            ]
        if name == "kube-scheduler":
            kc = cfg / "kube-scheduler.kubeconfig"
            return [
                str(self.binary("kube-scheduler")),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.scheduler}",
                f"--cert-dir={pki / 'kube-scheduler-generated'}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ]
        if name == "kwok":
            return [
                str(self.binary("kwok")),
                f"--kubeconfig={cfg / 'kwok.kubeconfig'}",
                f"--config={cfg / 'kwok.yaml'}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--cidr={POD_CIDR}",
                # Renew a Lease per node like a kubelet; without it (the default when
                # --config holds no KwokConfiguration) the node-lifecycle controller
                # marks the nodes unreachable every ~50 s and their pods NotReady.
                "--node-lease-duration-seconds=40",
                "--node-ip=127.0.0.1",
                f"--server-address=127.0.0.1:{p.kwok}",
            ]
        if name == "registry":
            # go-containerregistry's registry; blobs on disk, manifests in memory.
            return [
                str(self.node.binaries / "crane"),
                "registry",
                "serve",
                f"--address=127.0.0.1:{p.registry}",
                f"--disk={d / 'registry'}",
            ]
        if name in NODE_COMPONENTS:
            return self.node.command(name)
        raise ValueError(f"unknown component {name!r}; known: {', '.join(self.components)}")

    def pid(self, name: str) -> int | None:
        """The pid of a running component this cluster started, else None."""
        child = self._children.get(name)
        if child is not None:
            return child.pid if child.poll() is None else None
        try:
            pid = int(self.pid_file(name).read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        # Never act on a recycled pid: the process must be ours (its args name our dir).
        cmd = _pid_cmdline(pid)
        binary = COMPONENT_BINARY.get(name, name)
        if not cmd or Path(cmd[0]).name != binary or not any(str(self.dir) in a for a in cmd):
            return None
        return pid

    def running(self) -> dict[str, int | None]:
        return {name: self.pid(name) for name in self.components}

    def is_up(self) -> bool:
        return self._state_file.exists() and all(self.running().values())

    def start_component(self, name: str, wait: bool = True) -> int:
        """Start one component (its log is appended to) and wait until it is healthy."""
        if self.pid(name):
            raise ClusterError(f"{name} is already running (pid {self.pid(name)})")
        busy = [port for port in self.ports.by_component()[name] if not port_free(port)]
        if busy:
            raise ClusterError(
                f"cannot start {name}: port {', '.join(map(str, busy))} on 127.0.0.1 is "
                f"already in use (choose another --base-port)"
            )
        cmd = self._command(name)
        if not os.access(cmd[0], os.X_OK):
            raise ClusterError(f"missing binary for {name}: {cmd[0]}")
        logf = self.log_file(name)
        env = dict(os.environ)
        if name == "kwok":  # keep kwok away from a user's ~/.kwok/kwok.yaml
            env["HOME"] = str(self.dir / "kwok-home")
            Path(env["HOME"]).mkdir(exist_ok=True)
        if name in NODE_COMPONENTS:
            env = self.node.env()
            self.node.before_start(name, self.api)
        with open(logf, "ab") as out:
            out.write(f"\n==== {time.strftime('%F %T')} starting: {' '.join(cmd)}\n".encode())
            out.flush()
            child = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal does not hit it; `down` does
                preexec_fn=_parent_death_signal() if self.die_with_parent else None,
            )
        self._children[name] = child
        _write(self.pid_file(name), f"{child.pid}\n")
        if wait:
            self.wait_healthy(name)
        return child.pid

    def _check_alive(self, name: str) -> None:
        child = self._children.get(name)
        if child is not None and child.poll() is not None:
            raise ClusterError(
                f"{name} exited with code {child.returncode}; see {self.log_file(name)}:\n"
                + _tail(self.log_file(name))
            )
        if child is None and not self.pid(name):
            raise ClusterError(
                f"{name} is not running; see {self.log_file(name)}:\n" + _tail(self.log_file(name))
            )

    def wait_healthy(self, name: str, timeout: float | None = None) -> None:
        timeout = timeout or START_TIMEOUT[name]
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(name)
            if self._probe(name):
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{name} did not become healthy within {timeout:.0f}s; "
                    f"see {self.log_file(name)}:\n" + _tail(self.log_file(name))
                )
            time.sleep(0.25)

    def stop_component(
        self, name: str, timeout: float = STOP_TIMEOUT, graceful: bool = True
    ) -> None:
        """Stop a component this cluster started: SIGTERM, then SIGKILL after ``timeout``.

        ``graceful=False`` sends SIGKILL at once (a crash, for fault injection).
        Returns once the process is gone and its ports are released (bounded).
        """
        pid = self.pid(name)
        child = self._children.pop(name, None)
        if pid is not None:
            first = signal.SIGTERM if graceful else signal.SIGKILL
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, first)
            deadline = time.monotonic() + (timeout if graceful else 5)
            while self._alive_after_signal(pid, child) and time.monotonic() < deadline:
                time.sleep(0.1)
            if graceful and self._alive_after_signal(pid, child):
                self.log(f"{name} (pid {pid}) ignored SIGTERM for {timeout:.0f}s; sending SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while self._alive_after_signal(pid, child) and time.monotonic() < deadline:
                    time.sleep(0.1)
            # The main thread of a Go program can be a zombie a moment before the
            # rest exits and closes its sockets.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not all(
                port_free(port) for port in self.ports.by_component()[name]
            ):
                time.sleep(0.1)
        with contextlib.suppress(OSError):
            self.pid_file(name).unlink()

    def kill_component(self, name: str) -> None:
        """SIGKILL a component (a crash, for fault-injection tests)."""
        self.stop_component(name, graceful=False)

    @staticmethod
    def _alive_after_signal(pid: int, child: subprocess.Popen[bytes] | None) -> bool:
        if child is not None:
            return child.poll() is None  # also reaps our own child
        return _pid_alive(pid)

    def restart_component(self, name: str, wait: bool = True, graceful: bool = True) -> int:
        """Stop (gracefully, or SIGKILL with ``graceful=False``) and start again."""
        self.stop_component(name, graceful=graceful)
        return self.start_component(name, wait=wait)

    # ---- lifecycle
    def _remove_dir(self) -> None:
        """Remove the state directory, but only when it is one of ours."""
        if not self.dir.exists():
            return
        if not self._state_file.exists() and any(self.dir.iterdir()):
            raise ClusterError(
                f"{self.dir} is not empty and holds no cluster.json; not removing it"
            )
        shutil.rmtree(self.dir)

    def _prepare(self, binaries: Path) -> None:
        self._remove_dir()  # stale state of a cluster that is not running
        self.dir.mkdir(parents=True)
        # The marker first: it says this directory is ours to remove.
        _write(
            self._state_file,
            json.dumps(
                {
                    "base_port": self.base_port,
                    "binaries": str(binaries),
                    "server": self.server,
                    "node_binaries": str(self._node_binaries) if self.real_node else None,
                },
                indent=2,
            )
            + "\n",
        )
        _write(self.dir / ".gitignore", "# state of a local control plane\n*\n")
        (self.dir / "config").mkdir()
        _generate_pki(self.pki, (localnode.NODE_IP,) if self.real_node else ())
        cfg = self.dir / "config"
        _write(self.kubeconfig, _kubeconfig(self.server, self.pki, "admin"), 0o600)
        for user in ("kube-controller-manager", "kube-scheduler", "kwok"):
            _write(cfg / f"{user}.kubeconfig", _kubeconfig(self.server, self.pki, user), 0o600)
        _write(cfg / "audit-policy.yaml", AUDIT_POLICY)
        stages = []
        for rel in KWOK_STAGE_FILES:
            path = binaries / "kwok-stages" / rel
            if not path.is_file():
                raise ClusterError(f"missing kwok stage {path}")
            stages.append(path.read_text().strip() + "\n")
        _write(cfg / "kwok.yaml", "---\n".join(stages))
        self.bin_dir.mkdir()
        for tool in ("kubectl", "helm"):
            if (binaries / tool).exists():
                (self.bin_dir / tool).symlink_to(binaries / tool)
        if self.real_node:
            (self.bin_dir / "crane").symlink_to(self.node.binaries / "crane")
            (self.dir / "registry").mkdir()
            self.node.prepare()

    def _node(self, index: int, name: str) -> dict[str, Any]:
        resources = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "type": "kwok",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/agent": "",
                    "topology.kubernetes.io/zone": f"local-{'abcdefgh'[index % 8]}",
                },
            },
            # With a real node, workloads belong there; kwok's nodes stay for scale tests
            # (pods that tolerate this taint).
            "spec": {
                "taints": [{"key": KWOK_NODE_ANNOTATION, "value": "fake", "effect": "NoSchedule"}]
            }
            if self.real_node
            else {},
            "status": {"allocatable": resources, "capacity": resources},
        }

    def _create_nodes(self) -> None:
        for i, node in enumerate(NODE_NAMES):
            status, body = self.api("POST", "/api/v1/nodes", self._node(i, node))
            if status not in (201, 409):
                raise ClusterError(f"creating node {node} failed: HTTP {status}: {body}")

    def _wait(self, what: str, check: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for name in self.components:
                self._check_alive(name)
            try:
                if check():
                    return
            except (OSError, http.client.HTTPException) as exc:
                self.log(f"waiting for {what}: {exc}")
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out after {timeout:.0f}s waiting for {what}; "
                    f"component logs are in {self.dir}/<component>.log"
                )
            time.sleep(0.5)

    def _nodes_ready(self) -> bool:
        status, body = self.api("GET", "/api/v1/nodes")
        if status != 200:
            return False
        ready = {
            n["metadata"]["name"]
            for n in body.get("items", [])
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
            # and the node-lifecycle controller has lifted its not-ready taints
            and not any(
                t.get("key", "").startswith("node.kubernetes.io/")
                for t in n.get("spec", {}).get("taints") or []
            )
        }
        return set(NODE_NAMES) | ({localnode.NODE_NAME} if self.real_node else set()) <= ready

    def _default_sa(self) -> bool:
        status, _ = self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return status == 200

    def up(self) -> bool:
        """Start the cluster and wait until it is ready. False when it was already up."""
        if self.is_up():
            self.log(f"already up at {self.server} (state in {self.dir}); nothing changed")
            return False
        running = {n: p for n, p in self.running().items() if p}
        if running:
            raise ClusterError(
                f"the cluster in {self.dir} is partly running ({', '.join(running)}; others "
                f"died, see their logs there); run `hack/localcluster.py down"
                f" --dir {self.dir}` first"
            )
        start = time.monotonic()
        binaries = self.ensure_binaries()
        busy = [
            f"{port} ({name})"
            for name in self.components
            for port in self.ports.by_component()[name]
            if not port_free(port)
        ]
        if busy:
            raise ClusterError(
                f"port {', '.join(busy)} on 127.0.0.1 already in use; "
                f"stop what uses it or choose another --base-port"
            )
        self.log(f"preparing {self.dir} (PKI, kubeconfigs, audit policy, kwok stages)")
        self._prepare(binaries)
        try:
            if self.real_node:
                self.node.claim_host(self.dir)
            for name in self.components:
                if name == "containerd":
                    t0 = time.monotonic()
                    self.node.push_images()
                    self.node.push_addon_images()
                    self.log(f"pushed the pause and sample images ({time.monotonic() - t0:.1f}s)")
                t0 = time.monotonic()
                self.start_component(name)
                self.log(f"{name} is healthy ({time.monotonic() - t0:.1f}s)")
                if name == "kube-apiserver":
                    self._create_nodes()
            nodes = [*NODE_NAMES, *([localnode.NODE_NAME] if self.real_node else [])]
            self._wait(f"nodes {', '.join(nodes)} to be Ready", self._nodes_ready)
            if self.real_node:
                self.node.install_addons(self.api)
            self._wait("the default ServiceAccount in namespace default", self._default_sa)
        except BaseException:
            self.log(f"start failed; stopping what was started (logs stay in {self.dir})")
            self.stop_all()
            raise
        self.log(f"up in {time.monotonic() - start:.1f}s")
        return True

    def stop_all(self) -> None:
        """Stop every component; with a real node, also undo what it did on the host
        (containers, mounts, network state, cgroups, sysctls)."""
        problems: list[str] = []
        for name in reversed(self.components):
            self.stop_component(name)
            # The node's containers go before the control plane does: an apiserver
            # still serving their watches would wait for them to end.
            if name == "containerd" and (self.dir / "node").is_dir():
                problems = self.node.clean_host(
                    lambda: [
                        p
                        for n in ("containerd", "kubelet", "kube-proxy", "kube-router")
                        if (p := self.pid(n))
                    ]
                )
        if problems:
            raise ClusterError("the real node left state behind: " + "; ".join(problems))

    def down(self) -> None:
        """Stop exactly the processes this cluster started and remove its directory."""
        self.stop_all()
        self._remove_dir()

    def exports(self) -> str:
        lines = [f"export KUBECONFIG={self.kubeconfig}", f"export PATH={self.bin_dir}:$PATH"]
        if self.real_node:
            lines.append(f"export CDP_REGISTRY={self.registry}")
        return "\n".join(lines)

    def memory_kib(self) -> dict[str, int]:
        """Resident memory (VmRSS) of each running component, in KiB."""
        return {n: _rss_kib(p) for n, p in self.running().items() if p}


# --------------------------------------------------------------------------- CLI


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (ClusterError, localnode.NodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument(
        "--dir", default=str(DEFAULT_DIR), help="state directory (default: %(default)s)"
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help="apiserver port; etcd, controller-manager, scheduler and kwok use the next "
        "five (default: %(default)s)",
    )
    parser.add_argument("--bin-dir", help="use binaries from here instead of running build.sh")
    parser.add_argument(
        "--real-node",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="up: also run a local registry and a real node (containerd, kubelet, kube-proxy); "
        "default: where the machine allows it (root on Linux)",
    )
    args = parser.parse_args(argv)
    real_node = bool(args.real_node)
    if args.command == "up" and args.real_node is not False:
        reason = localnode.unsupported_reason()
        if reason and args.real_node:
            print(f"error: {reason}", file=sys.stderr)
            return 1
        if reason:
            _log(f"no real node: {reason}; pods run on kwok's simulated nodes only")
        real_node = reason is None
    cluster = LocalCluster(args.dir, args.base_port, args.bin_dir, real_node=real_node)

    with _errors():
        if args.command == "up":
            t0 = time.monotonic()
            started = cluster.up()
            print(cluster.exports())
            if started:
                print(f"# control plane up in {time.monotonic() - t0:.1f}s at {cluster.server}")
            else:
                print(f"# already up at {cluster.server}; nothing changed")
        elif args.command == "down":
            running = [n for n, p in cluster.running().items() if p]
            cluster.down()
            print(
                f"stopped {', '.join(running) if running else 'nothing (was not running)'}; "
                f"removed {cluster.dir}"
            )
        elif args.command == "status":
            if not cluster._state_file.exists():
                print(f"not up (no state in {cluster.dir})")
                return 1
            mem = cluster.memory_kib()
            for name, pid in cluster.running().items():
                state = (
                    f"running pid {pid} rss {mem.get(name, 0) / 1024:.0f} MiB" if pid else "DOWN"
                )
                print(f"{name:25} {state:35} log {cluster.log_file(name)}")
            print(f"{'total rss':25} {sum(mem.values()) / 1024:.0f} MiB")
            print(f"server {cluster.server}  kubeconfig {cluster.kubeconfig}")
            return 0 if cluster.is_up() else 1
        elif args.command == "env":
            print(cluster.exports())
    return 0


if __name__ == "__main__":
    sys.exit(main())
