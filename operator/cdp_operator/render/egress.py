"""Egress allowlists minus the cluster's own networks.

A Component's allowlist names destinations outside the cluster. Where the
network plugin applies NetworkPolicy `ipBlock` to pod IPs (Calico and Cilium
do), an entry such as 0.0.0.0/0 or 10.0.0.0/8 would also open every pod in
namespaces without ingress policies: kube-system, the ingress gateway, other
tenants' unisolated pods. The DataPlane's `clusterNetworks` (pod and service
CIDRs) are therefore taken out of every allowlist entry:

- a cluster network strictly inside the entry becomes an `except` of its
  ipBlock (the API requires each `except` to be a strict subset of `cidr`:
  inside it and with a longer prefix);
- an entry inside one cluster network, or covered by several together, opens
  nothing: it is left out of the policy and reported in the Component's status.

Two CIDRs either nest or are disjoint, so the part of a cluster network inside
an entry is always the whole network (or the whole entry). Networks of the
other IP family never overlap an entry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AllowlistBlock:
    """What one allowlist CIDR opens once the cluster's networks are taken out."""

    cidr: str
    #: Cluster networks strictly inside `cidr`: the ipBlock's `except` entries
    #: (none nested in another, sorted).
    excluded: tuple[str, ...] = ()
    #: Cluster networks that contain `cidr` or together cover it: then it opens nothing.
    covered_by: tuple[str, ...] = ()

    @property
    def opens_nothing(self) -> bool:
        return bool(self.covered_by)

    def ip_block(self) -> dict[str, object]:
        """The NetworkPolicy peer's ipBlock (only for a block that opens something)."""
        assert not self.opens_nothing, f"{self.cidr} opens nothing"
        block: dict[str, object] = {"cidr": self.cidr}
        if self.excluded:
            block["except"] = list(self.excluded)
        return block


def _network(cidr: str) -> Network:
    return ipaddress.ip_network(cidr, strict=False)


def _inside(inner: Network, outer: Network) -> bool:
    """`inner` is `outer` or a subnet of it (same family)."""
    return (
        inner.version == outer.version
        and inner.prefixlen >= outer.prefixlen
        and int(inner.network_address) >> (inner.max_prefixlen - outer.prefixlen)
        == int(outer.network_address) >> (outer.max_prefixlen - outer.prefixlen)
    )


def _outermost(networks: Iterable[Network]) -> list[Network]:
    """The distinct networks that are not inside another one of them, in address order."""
    unique = sorted(set(networks), key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    return [n for n in unique if not any(m != n and _inside(n, m) for m in unique)]


def allowlist_block(cidr: str, cluster_networks: Iterable[str]) -> AllowlistBlock:
    """`cidr` with the cluster networks taken out (see the module docstring)."""
    entry = _network(cidr)
    networks = [_network(c) for c in cluster_networks]
    containing = _outermost(n for n in networks if _inside(entry, n))
    if containing:
        return AllowlistBlock(cidr, covered_by=tuple(str(n) for n in containing))
    inside = _outermost(n for n in networks if _inside(n, entry))
    # The outermost networks are disjoint: they cover the entry when their sizes add
    # up to it (e.g. 10.0.0.0/8 against 10.0.0.0/9 and 10.128.0.0/9).
    if sum(n.num_addresses for n in inside) == entry.num_addresses:
        return AllowlistBlock(cidr, covered_by=tuple(str(n) for n in inside))
    return AllowlistBlock(cidr, excluded=tuple(str(n) for n in inside))
