"""An independent NetworkPolicy evaluator, written from the Kubernetes API reference.

Source: the networking.k8s.io/v1 NetworkPolicy API reference and the concepts
page "Network Policies" (kubernetes.io/docs/concepts/services-networking/
network-policies/). Nothing here is taken from the operator's render code; it
only reads the objects that are in the cluster.

The rules it implements, as the reference states them:

* A pod is *isolated for ingress* when at least one NetworkPolicy in its
  namespace selects it (``spec.podSelector``) and has ``Ingress`` in
  ``policyTypes``; likewise for egress. A pod that no policy isolates in a
  direction allows everything in that direction.
* ``policyTypes`` missing: ``Ingress`` is always assumed, ``Egress`` only when
  the policy has an ``egress`` section. (The apiserver writes this default into
  stored objects; the evaluator applies it for hand-written ones too.)
* Policies are additive: an isolated pod admits a connection when *any* rule
  of *any* policy that selects it (for that direction) allows it.
* A connection from pod A to pod B needs both: A's egress allows it and B's
  ingress allows it.
* A rule with ``from``/``to`` missing or empty matches every peer; with
  ``ports`` missing or empty it matches every port. ``ingress: []`` (or no
  ``ingress`` at all) in an Ingress policy allows nothing.
* A peer with only ``podSelector`` selects pods in the *policy's* namespace;
  only ``namespaceSelector`` selects every pod of the matching namespaces; both
  in **one** peer select the matching pods *in* the matching namespaces (AND),
  while two separate peers are OR-ed. An empty selector (``{}``) selects all.
* ``ipBlock``: ``cidr`` minus every ``except`` block. Whether it applies to
  pod IPs is implementation-defined (the reference: "should be cluster-external
  IPs"); ``ipblock_matches_pods`` chooses (True is the conservative reading for
  an isolation check: it can only allow more).
* A port: ``protocol`` (default TCP) and ``port`` (a number or the name of a
  container port of the destination pod); ``endPort`` makes ``port..endPort`` a
  range (numeric ``port`` only). ``port`` missing: every port of the protocol.
* Label selectors: ``matchLabels`` and ``matchExpressions`` (In, NotIn, Exists,
  DoesNotExist) are ANDed; an empty selector matches everything, a missing
  ``podSelector`` inside a peer means "not set" (see the peer rule above).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
Labels = Mapping[str, str]


# ------------------------------------------------------------------- the world
@dataclass(frozen=True)
class ContainerPort:
    port: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Labels = field(default_factory=dict)

    @property
    def all_labels(self) -> dict[str, str]:
        # The apiserver sets kubernetes.io/metadata.name on every namespace.
        return {NAMESPACE_NAME_LABEL: self.name, **self.labels}


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Labels = field(default_factory=dict)
    ip: str | None = None
    ports: tuple[ContainerPort, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class External:
    """An address outside the cluster (no pod, no policies of its own)."""

    ip: str

    @property
    def key(self) -> str:
        return self.ip


Endpoint = Pod | External


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    egress: bool  # the source's egress side allows it
    ingress: bool  # the destination's ingress side allows it
    #: The policies whose rules allowed each side ("not isolated" when none applied).
    egress_by: tuple[str, ...] = ()
    ingress_by: tuple[str, ...] = ()


# ------------------------------------------------------------------ selectors
def selector_matches(selector: Mapping[str, Any] | None, labels: Labels) -> bool:
    """metav1.LabelSelector semantics. ``None`` here means an empty selector."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], list(expr.get("values") or [])
        present = key in labels
        if op == "In":
            if not present or labels[key] not in values:
                return False
        elif op == "NotIn":
            if present and labels[key] in values:
                return False
        elif op == "Exists":
            if not present:
                return False
        elif op == "DoesNotExist":
            if present:
                return False
        else:
            raise ValueError(f"unknown selector operator {op!r}")
    return True


def in_ip_block(ip: str, block: Mapping[str, Any]) -> bool:
    addr = ipaddress.ip_address(ip)
    net = ipaddress.ip_network(block["cidr"], strict=False)
    if addr.version != net.version or addr not in net:
        return False
    for exc in block.get("except") or []:
        if addr in ipaddress.ip_network(exc, strict=False):
            return False
    return True


# ---------------------------------------------------------------- the cluster
class Cluster:
    def __init__(
        self,
        namespaces: Iterable[Namespace],
        pods: Iterable[Pod],
        policies: Iterable[Mapping[str, Any]],
        *,
        ipblock_matches_pods: bool = True,
    ) -> None:
        self.namespaces = {ns.name: ns for ns in namespaces}
        self.pods = list(pods)
        self.policies = list(policies)
        self.ipblock_matches_pods = ipblock_matches_pods

    # -------------------------------------------------------------- from kubectl
    @classmethod
    def from_kubernetes(
        cls,
        namespaces: Sequence[Mapping[str, Any]],
        pods: Sequence[Mapping[str, Any]],
        policies: Sequence[Mapping[str, Any]],
        **kw: Any,
    ) -> Cluster:
        """From the ``items`` of ``kubectl get namespaces|pods|networkpolicies -A -o json``."""
        nss = [
            Namespace(n["metadata"]["name"], dict(n["metadata"].get("labels") or {}))
            for n in namespaces
        ]
        out = []
        for p in pods:
            ports = []
            for c in (p.get("spec") or {}).get("containers") or []:
                for cp in c.get("ports") or []:
                    ports.append(
                        ContainerPort(
                            cp["containerPort"], cp.get("protocol", "TCP"), cp.get("name")
                        )
                    )
            out.append(
                Pod(
                    p["metadata"]["namespace"],
                    p["metadata"]["name"],
                    dict(p["metadata"].get("labels") or {}),
                    (p.get("status") or {}).get("podIP"),
                    tuple(ports),
                )
            )
        return cls(nss, out, policies, **kw)

    # ------------------------------------------------------------------ queries
    def namespace_labels(self, name: str) -> dict[str, str]:
        ns = self.namespaces.get(name) or Namespace(name)
        return ns.all_labels

    @staticmethod
    def policy_types(policy: Mapping[str, Any]) -> set[str]:
        spec = policy.get("spec") or {}
        types = spec.get("policyTypes")
        if types:
            return set(types)
        out = {"Ingress"}
        if spec.get("egress"):
            out.add("Egress")
        return out

    def policies_selecting(self, pod: Pod, direction: str) -> list[Mapping[str, Any]]:
        return [
            pol
            for pol in self.policies
            if pol["metadata"].get("namespace") == pod.namespace
            and direction in self.policy_types(pol)
            and selector_matches((pol.get("spec") or {}).get("podSelector"), pod.labels)
        ]

    def peer_matches(self, peer: Mapping[str, Any], policy_ns: str, other: Endpoint) -> bool:
        """Does one NetworkPolicyPeer (of a policy in policy_ns) select `other`?"""
        if "ipBlock" in peer and peer["ipBlock"] is not None:
            if isinstance(other, External):
                return in_ip_block(other.ip, peer["ipBlock"])
            return (
                self.ipblock_matches_pods
                and other.ip is not None
                and in_ip_block(other.ip, peer["ipBlock"])
            )
        if isinstance(other, External):
            return False  # selectors select pods only
        ns_sel = peer.get("namespaceSelector")
        pod_sel = peer.get("podSelector")
        if ns_sel is None and pod_sel is None:
            return False  # an empty peer is invalid; it selects nothing
        if ns_sel is None:
            ns_ok = other.namespace == policy_ns
        else:
            ns_ok = selector_matches(ns_sel, self.namespace_labels(other.namespace))
        pod_ok = pod_sel is None or selector_matches(pod_sel, other.labels)
        return ns_ok and pod_ok

    @staticmethod
    def port_matches(
        rule_ports: Sequence[Mapping[str, Any]] | None,
        port: int,
        protocol: str,
        destination: Endpoint,
    ) -> bool:
        if not rule_ports:
            return True
        for rp in rule_ports:
            if rp.get("protocol", "TCP") != protocol:
                continue
            want = rp.get("port")
            if want is None:
                return True
            if isinstance(want, str) and not want.isdigit():
                # A named port: the destination pod's container port of that name.
                if isinstance(destination, Pod) and any(
                    cp.name == want and cp.port == port and cp.protocol == protocol
                    for cp in destination.ports
                ):
                    return True
                continue
            low = int(want)
            high = int(rp.get("endPort") or low)
            if low <= port <= high:
                return True
        return False

    def _side(
        self,
        subject: Pod,
        direction: str,
        other: Endpoint,
        port: int,
        protocol: str,
        destination: Endpoint,
    ) -> tuple[bool, tuple[str, ...]]:
        selecting = self.policies_selecting(subject, direction)
        if not selecting:
            return True, ("not isolated",)
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        by = []
        for pol in selecting:
            for rule in (pol.get("spec") or {}).get(rules_key) or []:
                peers = rule.get(peers_key) or []
                if peers and not any(self.peer_matches(p, subject.namespace, other) for p in peers):
                    continue
                if not self.port_matches(rule.get("ports"), port, protocol, destination):
                    continue
                by.append(pol["metadata"]["name"])
                break
        return bool(by), tuple(by)

    def verdict(self, src: Pod, dst: Endpoint, port: int, protocol: str = "TCP") -> Verdict:
        """May `src` open a connection to `dst` on port/protocol?"""
        eg, eg_by = self._side(src, "Egress", dst, port, protocol, dst)
        ing_by: tuple[str, ...]
        if isinstance(dst, External):
            ing, ing_by = True, ("external",)
        else:
            ing, ing_by = self._side(dst, "Ingress", src, port, protocol, dst)
        return Verdict(eg and ing, eg, ing, eg_by, ing_by)

    def allowed(self, src: Pod, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        return self.verdict(src, dst, port, protocol).allowed
