"""A real node for the local control plane: containerd, runc, kubelet, kube-proxy,
and kube-router as its NetworkPolicy engine.

Used by ``hack/localcluster.py`` (``LocalCluster(real_node=True)``, the default
of ``hack/localcluster.py up`` where the machine allows it). All binaries come
from ``hack/controlplane/build.sh node`` and run unmodified; this module only
writes their configuration, the node's certificates and the images it needs,
and removes every trace of them again (:func:`RealNode.clean_host`).

What the node leaves on the host while it runs, all removed by ``down``:

* the bridge ``cdpbr0`` holding the node IP (the pods' gateway), and the
  network namespaces and veths of pods (their mounts live in the state dir);
* the nftables tables ``ip cdp-node`` (pods may reach pods and this host,
  never anything beyond it) and kube-proxy's ``ip``/``ip6 kube-proxy``;
* kube-router's iptables chains (``KUBE-ROUTER-*``, ``KUBE-NWPLCY-*``,
  ``KUBE-POD-FW-*``; iptables-nft keeps them in nftables tables such as
  ``ip filter``) and its ipsets;
* the cgroup ``/cdp-node`` in every cgroup v1 hierarchy;
* the sysctls kubelet, kube-proxy and the bridge plugin set (restored);
* paths kubelet and libcni hard-code (``/var/lib/kubelet``, ``/var/log/containers``,
  ``/var/lib/cni``), removed when they did not exist before, and
  ``/run/cdp-node`` (shim sockets, and the marker that one node runs).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oci_layer  # hack/oci_layer.py

NODE_NAME = "cdp-node"
BRIDGE = "cdpbr0"
# The real node's pods; kwok hands out 10.244.0.0/16, so no overlap.
NODE_POD_CIDR = "10.245.0.0/24"
NODE_IP = "10.245.0.1"  # the bridge's address: the pods' gateway and the node's InternalIP
CGROUP_ROOT = "/cdp-node"
# Unix socket paths are short (108 bytes; shims' socket dir at most 42): the sockets
# live here, not in the state dir.
RUN_DIR = Path("/run/cdp-node")
CONTAINERD_SOCK = RUN_DIR / "containerd.sock"
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
KUBE_PROXY_HEALTHZ_PORT = 10256
KUBE_PROXY_METRICS_PORT = 10249
NFT_TABLE = "cdp-node"
KUBE_PROXY_TABLES = (("ip", "kube-proxy"), ("ip6", "kube-proxy"))
# kube-router, run as the NetworkPolicy engine only (iptables + ipset). Its health
# port is upstream's default (all addresses, as its DaemonSet has it).
KUBE_ROUTER_HEALTH_PORT = 20244
KUBE_ROUTER_USER = "system:kube-router"
KUBE_ROUTER_ROLE = "cdp-node:kube-router"
# What kube-router names its chains and ipsets (pkg/controllers/netpol).
KUBE_ROUTER_CHAIN_PREFIXES = (
    "KUBE-ROUTER-",
    "KUBE-NWPLCY-",
    "KUBE-POD-FW-",
    "KUBE-SRC-",
    "KUBE-DST-",
)
KUBE_ROUTER_IPSET_PREFIXES = ("KUBE-", "inet6:KUBE-")
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw", "security")  # iptables-nft's tables
# Cluster DNS: CoreDNS as kubeadm installs it (Deployment coredns and Service kube-dns
# in kube-system, pods labelled k8s-app=kube-dns), answering for cluster.local only:
# no forwarding, so no query ever leaves this machine.
DNS_SERVICE_IP = "10.96.0.10"  # in localcluster.SERVICE_CIDR, as kubeadm picks it
CLUSTER_DOMAIN = "cluster.local"
COREDNS_IMAGE = "coredns"
COREDNS_USER = "65532:65532"
# For the real-packet tests (tests/e2e/test_real_packets.py): busybox serving HTTP
# on every port a probe aims at, and the client tools (wget, nslookup) to probe.
PROBE_IMAGE = "cdp-test/netprobe"
PROBE_PORTS = (8080, 8081, 8082, 9999)
COREFILE = f"""\
.:53 {{
    errors
    health :8080
    ready :8181
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods disabled
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
    loadbalance
}}
"""
# Set by kubelet (protectKernelDefaults: false), kube-proxy and the bridge plugin.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
)
# Host paths kubelet or libcni write to whatever their flags say.
HARD_CODED_PATHS = ("/var/lib/kubelet", "/var/log/containers", "/var/lib/cni", "/var/log/pods")
NODE_BINARIES = (
    "kubelet",
    "kube-proxy",
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "runc",
    "bridge",
    "host-local",
    "loopback",
    "portmap",
    "crane",
    "pause",
    "kube-router",
)
PAUSE_TAG = "3.10.2"
SAMPLE_USER = "65532:65532"
# name -> entrypoint; one busybox layer (Debian's busybox-static) under each.
SAMPLE_IMAGES: dict[str, list[str]] = {
    "cdp-samples/http": ["/bin/busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/www"],
    "cdp-samples/task-ok": ["/bin/sh", "-c", "echo task done; exit 0"],
    "cdp-samples/task-fail": ["/bin/sh", "-c", "echo task failed >&2; exit 1"],
}
SAMPLE_TAG = "1"
SAMPLE_PAGE = "hello from cdp-samples/http\n"
# Stand-ins for the images a user's build would push (``make demo`` pushes one for
# every image examples/ names): ``serve PORT...`` answers HTTP on each port with a
# page naming the image and the pod that answered; a task prints and exits 0.
STAND_IN_SERVE = """\
#!/bin/sh
# serve PORT...: busybox httpd on each port until SIGTERM (pid 1 has no default handler).
trap 'exit 0' TERM INT
for port in "$@"; do /bin/busybox httpd -f -v -p "$port" -h /www & done
wait
"""
STAND_IN_PAGE = """\
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "hello from $CDP_SAMPLE_IMAGE in pod $(/bin/busybox hostname), port ${HTTP_HOST##*:}"
"""
STAND_IN_TASK = """\
#!/bin/sh
echo "$CDP_SAMPLE_IMAGE: task done"
"""


NETNS_DIR = "/run/netns"


class NodeError(RuntimeError):
    """The real node cannot start or stop cleanly; the message says why."""


def unsupported_reason() -> str | None:
    """Why a real node cannot run on this machine, or None when it can."""
    if platform.system() != "Linux":
        return f"a real node needs Linux (this is {platform.system()})"
    if os.geteuid() != 0:
        return "a real node needs root (mounts, cgroups, network namespaces); run as root"
    if (
        not Path("/sys/fs/cgroup/memory").is_dir()
        and not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    ):
        return "no cgroup hierarchy under /sys/fs/cgroup"
    if shutil.which("nft") is None:
        return "kube-proxy's nftables mode needs the nft command (Debian: apt-get install nftables)"
    for tool in ("iptables-nft", "iptables-save", "iptables-restore", "ipset"):
        if shutil.which(tool) is None:
            return (
                f"kube-router (the NetworkPolicy engine) needs {tool} "
                "(Debian: apt-get install iptables ipset)"
            )
    return None


def _run(
    *cmd: str, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=input, capture_output=True, text=True, check=check, timeout=60)


def _cgroup_hierarchies() -> list[Path]:
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():  # cgroup v2
        return [base]
    return [p for p in sorted(base.iterdir()) if p.is_dir() and not p.is_symlink()]


@dataclass
class RealNode:
    """The configuration and host state of one real node; processes are the cluster's."""

    dir: Path  # <cluster dir>/node
    pki: Path  # the cluster's PKI (ca.crt, ca.key)
    binaries: Path  # build.sh node's directory
    server: str  # the apiserver as the node reaches it (https://NODE_IP:port)
    registry: str  # 127.0.0.1:PORT
    log: Callable[[str], None]

    # ---- paths
    @property
    def containerd_sock(self) -> Path:
        return CONTAINERD_SOCK

    @property
    def kubelet_root(self) -> Path:
        return self.dir / "kubelet"

    @property
    def runc_root(self) -> Path:
        return self.dir / "runc"

    @property
    def apiserver_port(self) -> int:
        return int(self.server.rsplit(":", 1)[1])

    @property
    def pause_image(self) -> str:
        return f"{self.registry}/pause:{PAUSE_TAG}"

    def sample_image(self, name: str) -> str:
        return f"{self.registry}/{name}:{SAMPLE_TAG}"

    # ---- preparation (files only)
    def prepare(self) -> None:
        """Certificates, kubeconfigs and configuration files of every node component."""
        from localcluster import _issue_cert, _kubeconfig, _write  # no cycle at import time

        d = self.dir
        for sub in ("containerd/certs.d", "cni/net.d", "cni/ipam", "kubelet", "pod-logs", "runc"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        _issue_cert(
            self.pki,
            "node",
            f"system:node:{NODE_NAME}",
            "system:nodes",
            server=False,
        )
        _issue_cert(
            self.pki,
            "node-serving",
            f"system:node:{NODE_NAME}",
            "system:nodes",
            server=True,
            ips=[NODE_IP],
            dns=[NODE_NAME],
        )
        _issue_cert(self.pki, "kube-proxy", "system:kube-proxy", None, server=False)
        # kube-router's own identity, bound to the least its firewall needs
        # (kube_router_rbac); a DaemonSet install would use a ServiceAccount.
        _issue_cert(self.pki, "kube-router", KUBE_ROUTER_USER, None, server=False)
        _write(d / "kubelet.kubeconfig", _kubeconfig(self.server, self.pki, "node"), 0o600)
        _write(d / "kube-proxy.kubeconfig", _kubeconfig(self.server, self.pki, "kube-proxy"), 0o600)
        _write(
            d / "kube-router.kubeconfig", _kubeconfig(self.server, self.pki, "kube-router"), 0o600
        )
        _write(d / "resolv.conf", "# no DNS inside the local cluster\n")
        _write(d / "containerd" / "config.toml", self._containerd_config())
        # Every pull goes to the local registry, whatever registry an image names:
        # nothing is ever fetched from (or resolved for) a host beyond this machine.
        # An image the local registry lacks fails to pull, as a missing image would.
        hosts = (
            f'server = "http://{self.registry}"\n\n[host."http://{self.registry}"]\n'
            '  capabilities = ["pull", "resolve"]\n'
        )
        for registry_host in (self.registry, "_default"):
            _write(d / "containerd" / "certs.d" / registry_host / "hosts.toml", hosts)
        _write(d / "cni" / "net.d" / "10-cdp-bridge.conflist", self._cni_config())
        _write(d / "kubelet-config.yaml", json.dumps(self._kubelet_config(), indent=2) + "\n")
        _write(d / "kube-proxy-config.yaml", json.dumps(self._kube_proxy_config(), indent=2) + "\n")

    def _containerd_config(self) -> str:
        d, b = self.dir / "containerd", self.binaries
        return f"""\
version = 3
root = '{d / "root"}'
state = '{d / "state"}'
disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing']

[grpc]
  address = '{self.containerd_sock}'

[ttrpc]
  address = '{self.containerd_sock}.ttrpc'

[plugins.'io.containerd.cri.v1.runtime']
  # No CAP_SYS_RESOURCE in every environment: never ask for a negative oom_score_adj.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '{b / "runc"}'
        Root = '{self.runc_root}'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['{b}']
    conf_dir = '{self.dir / "cni" / "net.d"}'

[plugins.'io.containerd.cri.v1.images']
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{self.pause_image}'
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = '{d / "certs.d"}'

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.shim.v1.manager']
  socket_dir = '{RUN_DIR / "s"}'

[plugins.'io.containerd.internal.v1.opt']
  path = '{d / "opt"}'
"""

    def _cni_config(self) -> str:
        net = ipaddress.ip_network(NODE_POD_CIDR)
        return (
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "cdp-node",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "dataDir": str(self.dir / "cni" / "ipam"),
                                "ranges": [
                                    [
                                        {
                                            "subnet": str(net),
                                            "gateway": NODE_IP,
                                            "rangeStart": str(net[10]),
                                        }
                                    ]
                                ],
                                "routes": [{"dst": "0.0.0.0/0"}],
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                },
                indent=2,
            )
            + "\n"
        )

    def _kubelet_config(self) -> dict[str, Any]:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # cgroup v1 hosts exist (this project's machines are one); 1.35+ refuses them
            # unless told otherwise.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": CGROUP_ROOT,
            "containerRuntimeEndpoint": f"unix://{self.containerd_sock}",
            "address": NODE_IP,
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": KUBELET_HEALTHZ_PORT,
            "tlsCertFile": str(self.pki / "node-serving.crt"),
            "tlsPrivateKeyFile": str(self.pki / "node-serving.key"),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "registerNode": True,
            "podLogsDir": str(self.dir / "pod-logs"),
            "volumePluginDir": str(self.dir / "volume-plugins"),
            "resolvConf": str(self.dir / "resolv.conf"),
            "makeIPTablesUtilChains": False,
            "failSwapOn": False,
            "rotateCertificates": False,
            "serializeImagePulls": False,
            # Never evict because the development machine's disk is fuller than a node's.
            "evictionHard": {"memory.available": "100Mi"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "podCIDR": NODE_POD_CIDR,
            "maxPods": 110,
            "clusterDNS": [DNS_SERVICE_IP],
            "clusterDomain": CLUSTER_DOMAIN,
        }

    def _kube_proxy_config(self) -> dict[str, Any]:
        return {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "nftables",
            "clientConnection": {"kubeconfig": str(self.dir / "kube-proxy.kubeconfig")},
            "hostnameOverride": NODE_NAME,
            "bindAddress": NODE_IP,
            "healthzBindAddress": f"127.0.0.1:{KUBE_PROXY_HEALTHZ_PORT}",
            "metricsBindAddress": f"127.0.0.1:{KUBE_PROXY_METRICS_PORT}",
            "clusterCIDR": NODE_POD_CIDR,
            "nodePortAddresses": [f"{NODE_IP}/32"],
            # Leave the host's conntrack settings as they are.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
        }

    # ---- commands
    def command(self, name: str) -> list[str]:
        b, d = self.binaries, self.dir
        if name == "containerd":
            return [str(b / "containerd"), f"--config={d / 'containerd' / 'config.toml'}"]
        if name == "kubelet":
            return [
                str(b / "kubelet"),
                f"--config={d / 'kubelet-config.yaml'}",
                f"--kubeconfig={d / 'kubelet.kubeconfig'}",
                f"--root-dir={self.kubelet_root}",
                f"--cert-dir={d / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--node-labels=cdp.dev/real-node=true",
                "--v=1",
            ]
        if name == "kube-proxy":
            return [
                str(b / "kube-proxy"),
                f"--config={d / 'kube-proxy-config.yaml'}",
                "--v=1",
            ]
        if name == "kube-router":
            from localcluster import SERVICE_CIDR  # no cycle at import time

            return [
                str(b / "kube-router"),
                f"--kubeconfig={d / 'kube-router.kubeconfig'}",
                f"--hostname-override={NODE_NAME}",
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--run-loadbalancer=false",
                "--enable-ipv6=false",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--health-port={KUBE_ROUTER_HEALTH_PORT}",
                "--v=1",
            ]
        raise ValueError(f"not a node component: {name}")

    def before_start(self, name: str, api: Callable[..., tuple[int, Any]]) -> None:
        """What a node component needs in the API before it starts: kube-router its
        RBAC and the Node object (it reads the node IP from it at start)."""
        if name != "kube-router":
            return
        for path, obj in kube_router_rbac():
            status, body = api("POST", path, obj)
            if status not in (201, 409):
                raise NodeError(f"creating {obj['kind']} {KUBE_ROUTER_ROLE}: HTTP {status}: {body}")
        deadline = time.monotonic() + 60
        while api("GET", f"/api/v1/nodes/{NODE_NAME}")[0] != 200:
            if time.monotonic() > deadline:
                raise NodeError(f"node {NODE_NAME} did not register within 60s (kubelet log)")
            time.sleep(0.25)

    def env(self) -> dict[str, str]:
        """containerd finds its shim on PATH."""
        env = dict(os.environ)
        env["PATH"] = f"{self.binaries}{os.pathsep}{env.get('PATH', '')}"
        return env

    # ---- host state
    def claim_host(self, owner: Path) -> None:
        """Take this machine's single real-node slot and set up the host side."""
        marker = RUN_DIR / "owner"
        if marker.exists():
            other = marker.read_text().strip()
            if other != str(owner) and Path(other, "cluster.json").exists():
                raise NodeError(
                    f"a real node of the cluster in {other} runs on this machine (only one "
                    f"can); stop it with `hack/localcluster.py down --dir {other}`"
                )
        (RUN_DIR / "s").mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{owner}\n")
        saved: dict[str, Any] = {"sysctls": {}, "existed": {}}
        # `ip netns add` (tests' external hosts) bind-mounts /run/netns on itself (a
        # bind mount on the same filesystem: os.path.ismount cannot tell).
        saved["netns_mounted"] = NETNS_DIR in _mounts_under(Path(NETNS_DIR))
        for key in SYSCTLS:
            path = Path("/proc/sys") / key
            with contextlib.suppress(OSError):
                saved["sysctls"][key] = path.read_text().strip()
        for p in HARD_CODED_PATHS:
            saved["existed"][p] = Path(p).exists()
        saved["nft_tables"] = _nft_tables()
        saved["ipsets"] = _ipsets()
        (self.dir / "host-state.json").write_text(json.dumps(saved, indent=2) + "\n")
        # The node IP lives on the pods' bridge (the bridge plugin reuses it).
        if _run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
            _run("ip", "link", "add", BRIDGE, "type", "bridge")
        prefix = ipaddress.ip_network(NODE_POD_CIDR).prefixlen
        _run("ip", "addr", "replace", f"{NODE_IP}/{prefix}", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        _run("nft", "delete", "table", "ip", NFT_TABLE, check=False)  # left by a killed run
        # Forwarding is on while pods run (the bridge plugin turns it on); traffic from
        # pods may go to other pods and to this host, never out of it. The apiserver
        # listens on every address for the pods' sake: only loopback and the bridge
        # may reach it.
        _run(
            "nft",
            "-f",
            "-",
            input=f"""\
table ip {NFT_TABLE} {{
  chain forward {{
    type filter hook forward priority -10; policy accept;
    iifname "{BRIDGE}" oifname != "{BRIDGE}" drop
    ip saddr {NODE_POD_CIDR} ip daddr != {NODE_POD_CIDR} oifname != "{BRIDGE}" drop
  }}
  chain input {{
    type filter hook input priority -10; policy accept;
    tcp dport {self.apiserver_port} iifname != {{ "lo", "{BRIDGE}" }} drop
  }}
}}
""",
        )
        for hierarchy in _cgroup_hierarchies():
            cg = hierarchy / CGROUP_ROOT.strip("/")
            cg.mkdir(exist_ok=True)
            for f in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset child starts empty
                if (hierarchy / f).exists() and not (cg / f).read_text().strip():
                    (cg / f).write_text((hierarchy / f).read_text())

    def clean_host(self, pids: Callable[[], list[int]]) -> list[str]:
        """Undo everything the node did on this host; returns what could not be undone.

        ``pids`` lists the node's own processes still alive (kubelet, kube-proxy,
        containerd), which must be stopped before this is called.
        """
        problems: list[str] = []
        if pids():
            problems.append(f"node processes still running: {pids()}")
        # Containers first: kill and delete every one in our runc root.
        runc = self.binaries / "runc"
        if self.runc_root.exists():
            for ns_root in [self.runc_root, *self.runc_root.glob("*")]:
                if not ns_root.is_dir():
                    continue
                out = _run(str(runc), "--root", str(ns_root), "list", "-q", check=False)
                for cid in out.stdout.split():
                    _run(str(runc), "--root", str(ns_root), "kill", "-a", cid, "KILL", check=False)
                    _run(str(runc), "--root", str(ns_root), "delete", "-f", cid, check=False)
        # Shims of our containerd (they outlive it by design).
        for shim in _shim_pids(self.containerd_sock):
            with contextlib.suppress(ProcessLookupError):
                os.kill(shim, 9)
        deadline = time.monotonic() + 10
        while _shim_pids(self.containerd_sock) and time.monotonic() < deadline:
            time.sleep(0.1)
        # Mounts under the state dir (rootfs overlays, shm, volumes, netns) and
        # kubelet's bind mount of its root dir; deepest first.
        for target in sorted(_mounts_under(self.dir), key=len, reverse=True):
            if (
                _run("umount", target, check=False).returncode != 0
                and _run("umount", "-l", target, check=False).returncode != 0
            ):
                problems.append(f"cannot unmount {target}")
        for table in (("ip", NFT_TABLE), *KUBE_PROXY_TABLES):
            _run("nft", "delete", "table", *table, check=False)
        saved_file = self.dir / "host-state.json"
        saved_state = json.loads(saved_file.read_text()) if saved_file.exists() else {}
        problems += _remove_kube_router_state(
            saved_state.get("nft_tables"), saved_state.get("ipsets", [])
        )
        if _run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
            _run("ip", "link", "del", BRIDGE, check=False)
        for hierarchy in _cgroup_hierarchies():
            _remove_cgroup(hierarchy / CGROUP_ROOT.strip("/"), problems)
        saved_file = self.dir / "host-state.json"
        if saved_file.exists():
            saved = json.loads(saved_file.read_text())
            for key, value in saved["sysctls"].items():
                path = Path("/proc/sys") / key
                with contextlib.suppress(OSError):
                    if path.read_text().strip() != value:
                        path.write_text(value)
            netns = Path(NETNS_DIR)
            if not saved.get("netns_mounted", True) and NETNS_DIR in _mounts_under(netns):
                if any(netns.iterdir()):
                    problems.append(f"{netns} still holds network namespaces; not unmounted")
                else:
                    _run("umount", str(netns), check=False)
            for p, existed in saved["existed"].items():
                if not existed and Path(p).exists():
                    if _mounts_under(Path(p)):
                        problems.append(f"{p} still has mounts; not removed")
                    else:
                        shutil.rmtree(p, ignore_errors=True)
        if (RUN_DIR / "owner").exists():
            shutil.rmtree(RUN_DIR, ignore_errors=True)
        return problems + leftovers(self.dir)

    # ---- containers
    def container_pid(self, container_id: str) -> int:
        """The host pid of a running container's main process, from runc's state
        (``container_id`` as in a pod's status, with or without ``containerd://``):
        what a node-level fault (kill -9, OOM) hits."""
        cid = container_id.removeprefix("containerd://")
        for ns_root in sorted(self.runc_root.glob("*")):
            out = _run(
                str(self.binaries / "runc"), "--root", str(ns_root), "state", cid, check=False
            )
            if out.returncode == 0:
                return int(json.loads(out.stdout)["pid"])
        raise NodeError(f"no running container {cid} in {self.runc_root}")

    # ---- images
    def push_images(self) -> None:
        """Build the pause and sample images from binaries and Debian's busybox-static,
        and push them to the local registry (the node pulls them from there)."""
        crane = str(self.binaries / "crane")
        work = self.dir / "images"
        work.mkdir(exist_ok=True)
        self._push_binary(crane, work, "pause", f"pause:{PAUSE_TAG}", "65535:65535")
        sample = _busybox_root(work / "sample-root")
        (sample / "www" / "index.html").write_text(SAMPLE_PAGE)
        for name, entrypoint in SAMPLE_IMAGES.items():
            self._push(crane, work, f"{name}:{SAMPLE_TAG}", sample, entrypoint, SAMPLE_USER)

    def coredns_image(self) -> str:
        return f"{self.registry}/{COREDNS_IMAGE}:{self._addon_version('coredns')}"

    def _addon_version(self, name: str) -> str:
        stamp = (self.binaries / ".addon-versions").read_text().split()
        return stamp[stamp.index(name) + 1]

    def push_addon_images(self) -> None:
        """The CoreDNS image (its static binary alone, FROM scratch, like upstream's)
        and the probe image of the real-packet tests."""
        crane = str(self.binaries / "crane")
        work = self.dir / "images"
        work.mkdir(exist_ok=True)
        ref = f"{COREDNS_IMAGE}:{self._addon_version('coredns')}"
        self._push_binary(crane, work, "coredns", ref, COREDNS_USER)
        probe = _busybox_root(work / "probe-root")
        (probe / "www" / "index.html").write_text("probe\n")
        *background, last = PROBE_PORTS
        serve = "".join(f"busybox httpd -p {p} -h /www; " for p in background)
        entry = ["/bin/sh", "-c", f"{serve}exec busybox httpd -f -p {last} -h /www"]
        self._push(crane, work, f"{PROBE_IMAGE}:{SAMPLE_TAG}", probe, entry, SAMPLE_USER)

    def install_addons(self, api: Callable[..., tuple[int, Any]]) -> None:
        """Cluster DNS, as a pod: the runtime namespaces' policies allow DNS to pods
        labelled k8s-app=kube-dns in kube-system, so a host process would not do."""
        for path, obj in coredns_manifests(self.coredns_image()):
            status, body = api("POST", path, obj)
            if status not in (201, 409):
                name = obj["metadata"]["name"]
                raise NodeError(f"creating {obj['kind']} {name}: HTTP {status}: {body}")
        path = "/apis/apps/v1/namespaces/kube-system/deployments/coredns"
        deadline = time.monotonic() + 120
        while True:
            status, body = api("GET", path)
            if status == 200 and (body.get("status") or {}).get("readyReplicas"):
                return
            if time.monotonic() > deadline:
                raise NodeError(
                    "CoreDNS (kube-system/coredns) not Ready within 120s: "
                    "kubectl -n kube-system describe pods -l k8s-app=kube-dns"
                )
            time.sleep(0.5)

    def push_stand_in(self, image: str, ports: list[int]) -> str:
        """Push a stand-in for ``image`` (any registry's name: the node pulls every name
        from the local registry) under the same repository and tag: with ``ports``, an
        HTTP server answering on each; without, a task that exits 0. Returns the pushed
        reference. Runs as the non-root SAMPLE_USER, like the samples."""
        crane = str(self.binaries / "crane")
        work = self.dir / "images"
        root = work / "stand-in-root"
        if not (root / "bin" / "task").exists():
            _busybox_root(root)
            (root / "www" / "cgi-bin").mkdir(parents=True, exist_ok=True)
            for path, text in (
                (root / "www" / "cgi-bin" / "index.cgi", STAND_IN_PAGE),
                (root / "bin" / "serve", STAND_IN_SERVE),
                (root / "bin" / "task", STAND_IN_TASK),
            ):
                path.write_text(text)
                path.chmod(0o755)
        repository = image_repository(image)
        entrypoint = ["/bin/serve", *map(str, ports)] if ports else ["/bin/task"]
        self._push(
            crane, work, repository, root, entrypoint, SAMPLE_USER, env={"CDP_SAMPLE_IMAGE": image}
        )
        return f"{self.registry}/{repository}"

    def _push_binary(self, crane: str, work: Path, binary: str, ref: str, user: str) -> None:
        """An image of one static binary alone at /<binary>, FROM scratch."""
        root = work / f"{binary}-root"
        root.mkdir(exist_ok=True)
        shutil.copy2(self.binaries / binary, root / binary)
        self._push(crane, work, ref, root, [f"/{binary}"], user)

    def _push(
        self,
        crane: str,
        work: Path,
        ref: str,
        root: Path,
        entrypoint: list[str],
        user: str,
        env: dict[str, str] | None = None,
    ) -> None:
        tar = work / (ref.replace("/", "_").replace(":", "_") + ".tar")
        oci_layer.write_layer(root, tar, mtime=0)
        full = f"{self.registry}/{ref}"
        crane_env = dict(os.environ, SOURCE_DATE_EPOCH="0")
        for args in (
            ["append", "--oci-empty-base", "-f", str(tar), "-t", full],
            [
                "mutate",
                full,
                "--set-platform=linux/amd64",
                f"--entrypoint={','.join(entrypoint)}",
                f"--user={user}",
                *[f"--env={k}={v}" for k, v in (env or {}).items()],
                "-t",
                full,
            ],
        ):
            proc = subprocess.run(
                [crane, "--insecure", *args],
                capture_output=True,
                text=True,
                env=crane_env,
                timeout=120,
            )
            if proc.returncode != 0:
                raise NodeError(f"crane {' '.join(args)} failed: {proc.stderr.strip()}")


def image_repository(image: str) -> str:
    """``registry.example.com/globex/orders:2.3.1`` -> ``globex/orders:2.3.1``: the
    repository and tag a node asks the registry for, by Docker's rule (the first
    part is a registry host when it has a dot or a port or is localhost; a name
    without one is Docker Hub's, where a single part lives under ``library/``)."""
    if "@" in image:
        raise NodeError(f"{image}: a stand-in cannot be pushed under a digest; use a tag")
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return rest
    return image if sep else f"library/{image}"


def _busybox_root(root: Path) -> Path:
    """A root filesystem of Debian's static busybox as /bin/busybox and /bin/sh, with
    an empty /www for httpd: what the sample, probe and stand-in images share."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "www").mkdir(exist_ok=True)
    (root / "bin" / "busybox").write_bytes(_busybox_static())
    (root / "bin" / "busybox").chmod(0o755)
    if not (root / "bin" / "sh").is_symlink():
        (root / "bin" / "sh").symlink_to("busybox")
    return root


def _busybox_static() -> bytes:
    """/bin/busybox of Debian's busybox-static, downloaded once into the cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cdp-operator" / "deb"
    binary = cache / "busybox"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        work = cache / "tmp"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()

        def download() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["apt-get", "download", "busybox-static"],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=300,
            )

        proc = download()
        if proc.returncode != 0:  # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
            proc = download()
        debs = list(work.glob("busybox-static_*.deb"))
        if proc.returncode != 0 or not debs:
            raise NodeError(
                f"cannot download Debian's busybox-static (apt-get download): {proc.stderr.strip()}"
            )
        _run("dpkg-deb", "-x", str(debs[0]), str(work / "x"))
        shutil.copy2(work / "x" / "bin" / "busybox", binary)
        shutil.rmtree(work)
    return binary.read_bytes()


def leftovers(state_dir: Path) -> list[str]:
    """What a stopped node would still hold on this host (empty when clean)."""
    found = [f"mount {m}" for m in _mounts_under(state_dir)]
    if _run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        found.append(f"interface {BRIDGE}")
    tables = _run("nft", "list", "tables", check=False).stdout.split("\n")
    for family, name in (("ip", NFT_TABLE), *KUBE_PROXY_TABLES):
        if f"table {family} {name}" in tables:
            found.append(f"nftables table {family} {name}")
    found += [f"iptables chain {c}" for c in _kube_router_chains()]
    found += [f"ipset {s}" for s in _ipsets() if s.startswith(KUBE_ROUTER_IPSET_PREFIXES)]
    found += [
        f"cgroup {h / CGROUP_ROOT.strip('/')}"
        for h in _cgroup_hierarchies()
        if (h / CGROUP_ROOT.strip("/")).exists()
    ]
    if RUN_DIR.exists():
        found.append(str(RUN_DIR))
    found += [f"shim pid {pid}" for pid in _shim_pids(CONTAINERD_SOCK)]
    return found


def _shim_pids(sock: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and str(sock).encode() in cmd:
            pids.append(int(proc.name))
    return pids


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    targets = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4].replace("\\040", " ")
        if target == str(path) or target.startswith(prefix):
            targets.append(target)
    return targets


def _remove_cgroup(path: Path, problems: list[str]) -> None:
    if not path.is_dir():
        return
    for child in path.iterdir():
        if child.is_dir():
            _remove_cgroup(child, problems)
    for _ in range(50):
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.1)
    problems.append(f"cannot remove cgroup {path}")


# ------------------------------------------------------------------ kube-router
def kube_router_rbac() -> list[tuple[str, dict[str, Any]]]:
    """kube-router's firewall reads pods, namespaces, NetworkPolicies and its Node; its
    informer factory also lists Services, Endpoints and EndpointSlices. Read only:
    upstream's ClusterRole also grants leases and services/status, which only its
    router and load-balancer controllers use (not run here)."""
    read = ["get", "list", "watch"]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": KUBE_ROUTER_ROLE},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
                "verbs": read,
            },
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": KUBE_ROUTER_ROLE},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": KUBE_ROUTER_ROLE,
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": KUBE_ROUTER_USER}
        ],
    }
    base = "/apis/rbac.authorization.k8s.io/v1"
    return [(f"{base}/clusterroles", role), (f"{base}/clusterrolebindings", binding)]


def _nft_tables() -> list[str]:
    out = _run("nft", "list", "tables", check=False).stdout
    return [line.strip() for line in out.splitlines() if line.startswith("table ")]


def _ipsets() -> list[str]:
    if shutil.which("ipset") is None:
        return []
    return _run("ipset", "list", "-n", check=False).stdout.split()


def _kube_router_chains() -> list[str]:
    if shutil.which("iptables-save") is None:
        return []
    out = _run("iptables-save", "-t", "filter", check=False).stdout
    return [
        line[1:].split()[0]
        for line in out.splitlines()
        if line.startswith(":") and line[1:].startswith(KUBE_ROUTER_CHAIN_PREFIXES)
    ]


def _remove_kube_router_state(
    tables_before: list[str] | None, ipsets_before: list[str]
) -> list[str]:
    """Remove kube-router's iptables rules and chains and its ipsets (upstream's
    --cleanup-config is not used: in v2.1.0 it runs on an empty controller).

    Tables that iptables-nft created for it (not there when the node started) go
    entirely; in a table that was there before, only kube-router's chains and the
    rules that jump to them."""
    problems: list[str] = []
    if shutil.which("iptables-save") is not None and _kube_router_chains():
        saved = _run("iptables-save", "-t", "filter", check=False).stdout
        kept = [
            line
            for line in saved.splitlines()
            if not any(prefix in line for prefix in KUBE_ROUTER_CHAIN_PREFIXES)
        ]
        proc = _run("iptables-restore", input="\n".join(kept) + "\n", check=False)
        if proc.returncode != 0:
            problems.append(f"iptables-restore of the filter table failed: {proc.stderr.strip()}")
    if tables_before is not None:
        for table in _nft_tables():  # "table <family> <name>"
            _, family, name = table.split()
            if table not in tables_before and family in ("ip", "ip6") and name in IPTABLES_TABLES:
                _run("nft", "delete", "table", family, name, check=False)
    for name in _ipsets():
        ours = name.startswith(KUBE_ROUTER_IPSET_PREFIXES) and name not in ipsets_before
        if ours and _run("ipset", "destroy", name, check=False).returncode != 0:
            problems.append(f"cannot destroy ipset {name}")
    return problems


# ---------------------------------------------------------------------- CoreDNS
def coredns_manifests(image: str) -> list[tuple[str, dict[str, Any]]]:
    """CoreDNS the way kubeadm deploys it (its RBAC, ConfigMap, Deployment and the
    kube-dns Service), in a restricted security context: it binds :53 as a non-root
    user through the safe sysctl net.ipv4.ip_unprivileged_port_start."""
    ns = "kube-system"
    labels = {"k8s-app": "kube-dns"}
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    read = ["list", "watch"]
    meta = {"name": "coredns", "namespace": ns, "labels": dict(labels)}
    return [
        (
            f"/api/v1/namespaces/{ns}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        ),
        (
            f"{rbac}/clusterroles",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "system:coredns"},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["endpoints", "services", "pods", "namespaces"],
                        "verbs": read,
                    },
                    {
                        "apiGroups": ["discovery.k8s.io"],
                        "resources": ["endpointslices"],
                        "verbs": read,
                    },
                ],
            },
        ),
        (
            f"{rbac}/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "system:coredns"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:coredns",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": ns}],
            },
        ),
        (
            f"/api/v1/namespaces/{ns}/configmaps",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta,
                "data": {"Corefile": COREFILE},
            },
        ),
        (
            f"/apis/apps/v1/namespaces/{ns}/deployments",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta,
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {
                            "serviceAccountName": "coredns",
                            "priorityClassName": "system-cluster-critical",
                            "dnsPolicy": "Default",
                            "nodeSelector": {"kubernetes.io/hostname": NODE_NAME},
                            "securityContext": {
                                "runAsNonRoot": True,
                                "seccompProfile": {"type": "RuntimeDefault"},
                                "sysctls": [
                                    {"name": "net.ipv4.ip_unprivileged_port_start", "value": "53"}
                                ],
                            },
                            "containers": [
                                {
                                    "name": "coredns",
                                    "image": image,
                                    "args": ["-conf", "/etc/coredns/Corefile"],
                                    "ports": [
                                        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                        {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                    ],
                                    "resources": {
                                        "requests": {"cpu": "50m", "memory": "40Mi"},
                                        "limits": {"memory": "170Mi"},
                                    },
                                    "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
                                    "securityContext": {
                                        "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]},
                                        "readOnlyRootFilesystem": True,
                                    },
                                    "volumeMounts": [
                                        {
                                            "name": "config",
                                            "mountPath": "/etc/coredns",
                                            "readOnly": True,
                                        }
                                    ],
                                }
                            ],
                            "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                        },
                    },
                },
            },
        ),
        (
            f"/api/v1/namespaces/{ns}/services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kube-dns", "namespace": ns, "labels": dict(labels)},
                "spec": {
                    "selector": dict(labels),
                    "clusterIP": DNS_SERVICE_IP,
                    "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                    ],
                },
            },
        ),
    ]
