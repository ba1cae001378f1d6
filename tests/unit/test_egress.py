"""Egress allowlists minus the DataPlane's cluster networks (render/egress.py).

Every `except` the render produces must pass the API server's rule for
ipBlock (pkg/apis/networking/validation: each except inside `cidr` with a
strictly longer prefix), checked here by `_valid_for_apiserver`, and the
ipBlock must then match exactly the entry's addresses outside the cluster
networks, checked address by address on small cases.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
from dataclasses import replace
from typing import Any

import pytest

from cdp_operator.models.resources import ComponentSpec, DataPlaneSpec, EnvironmentSpec
from cdp_operator.models.status import EGRESS_ALLOWLIST_EFFECTIVE
from cdp_operator.models.tiers import Tier
from cdp_operator.render.component_plan import egress_condition
from cdp_operator.render.context import Runtime
from cdp_operator.render.egress import AllowlistBlock, allowlist_block
from cdp_operator.render.policies import component_egress_policy_name, component_policies
from cdp_operator.render.verdict import ExtraCondition, Verdict

KUBEADM = ["10.244.0.0/16", "10.96.0.0/12"]  # pod and service CIDRs


def _valid_for_apiserver(block: dict[str, Any]) -> bool:
    """ValidateIPBlock: every except is a strict subset of cidr (same family, inside,
    longer prefix)."""
    cidr = ipaddress.ip_network(block["cidr"])
    for raw in block.get("except", []):
        exc = ipaddress.ip_network(raw)
        if exc.version != cidr.version or exc.network_address not in cidr:
            return False
        if exc.prefixlen <= cidr.prefixlen:
            return False
    return True


def _opened(block: dict[str, Any], address: str) -> bool:
    """What a NetworkPolicy ipBlock matches (the spec: cidr minus every except)."""
    ip = ipaddress.ip_address(address)
    cidr = ipaddress.ip_network(block["cidr"])
    if ip.version != cidr.version or ip not in cidr:
        return False
    return not any(ip in ipaddress.ip_network(e) for e in block.get("except", []))


# ------------------------------------------------------------------ the cases
def test_no_overlap_leaves_the_entry_as_it_is() -> None:
    block = allowlist_block("203.0.113.0/24", KUBEADM)
    assert block == AllowlistBlock("203.0.113.0/24")
    assert block.ip_block() == {"cidr": "203.0.113.0/24"}
    assert not block.opens_nothing


def test_no_cluster_networks_change_nothing() -> None:
    assert allowlist_block("0.0.0.0/0", []).ip_block() == {"cidr": "0.0.0.0/0"}


def test_everything_gets_every_cluster_network_as_except() -> None:
    block = allowlist_block("0.0.0.0/0", KUBEADM)
    assert block.ip_block() == {"cidr": "0.0.0.0/0", "except": ["10.96.0.0/12", "10.244.0.0/16"]}


def test_a_private_range_around_the_cluster_keeps_the_rest() -> None:
    # A VPC 10.0.0.0/8 holding the cluster: the database at 10.20.0.5 stays reachable.
    block = allowlist_block("10.0.0.0/8", KUBEADM)
    assert block.excluded == ("10.96.0.0/12", "10.244.0.0/16")
    assert _opened(block.ip_block(), "10.20.0.5")
    assert not _opened(block.ip_block(), "10.244.3.7")
    assert not _opened(block.ip_block(), "10.96.0.1")


def test_partial_overlap_excepts_only_the_networks_inside_the_entry() -> None:
    block = allowlist_block("10.96.0.0/11", KUBEADM)  # holds the service CIDR, not the pods
    assert block.ip_block() == {"cidr": "10.96.0.0/11", "except": ["10.96.0.0/12"]}


@pytest.mark.parametrize(
    ("cidr", "covered_by"),
    [
        ("10.244.0.0/16", ("10.244.0.0/16",)),  # the pod network itself (except == cidr is invalid)
        ("10.244.7.0/24", ("10.244.0.0/16",)),  # a slice of it
        ("10.96.0.10/32", ("10.96.0.0/12",)),  # the cluster DNS Service
        ("10.100.0.0/16", ("10.96.0.0/12",)),
    ],
)
def test_an_entry_inside_a_cluster_network_opens_nothing(
    cidr: str, covered_by: tuple[str, ...]
) -> None:
    block = allowlist_block(cidr, KUBEADM)
    assert block.opens_nothing
    assert block.covered_by == covered_by
    assert block.excluded == ()
    with pytest.raises(AssertionError):
        block.ip_block()


def test_nested_cluster_networks_are_named_once() -> None:
    networks = ["10.0.0.0/8", "10.244.0.0/16", "10.0.0.0/8"]
    assert allowlist_block("10.244.1.0/24", networks).covered_by == ("10.0.0.0/8",)
    assert allowlist_block("0.0.0.0/0", networks).excluded == ("10.0.0.0/8",)


def test_adjacent_networks_that_together_cover_the_entry_open_nothing() -> None:
    block = allowlist_block("10.0.0.0/8", ["10.0.0.0/9", "10.128.0.0/9"])
    assert block.opens_nothing
    assert block.covered_by == ("10.0.0.0/9", "10.128.0.0/9")


def test_adjacent_but_disjoint_ranges_do_not_overlap() -> None:
    # 10.243.0.0/16 ends where the pod network begins; 10.112.0.0/12 right after the services.
    assert allowlist_block("10.243.0.0/16", KUBEADM) == AllowlistBlock("10.243.0.0/16")
    assert allowlist_block("10.112.0.0/12", KUBEADM) == AllowlistBlock("10.112.0.0/12")
    # Two adjacent networks that leave part of the entry open are both excepted.
    block = allowlist_block("10.0.0.0/8", ["10.0.0.0/10", "10.64.0.0/10"])
    assert block.excluded == ("10.0.0.0/10", "10.64.0.0/10")
    assert _opened(block.ip_block(), "10.128.0.1")


def test_ipv6_and_mixed_families() -> None:
    networks = [*KUBEADM, "fd00:10:244::/56", "fd00:10:96::/112"]
    block = allowlist_block("::/0", networks)
    assert block.ip_block() == {"cidr": "::/0", "except": ["fd00:10:96::/112", "fd00:10:244::/56"]}
    # IPv4 networks never touch an IPv6 entry, nor IPv6 networks an IPv4 one.
    assert allowlist_block("2001:db8::/32", networks) == AllowlistBlock("2001:db8::/32")
    assert allowlist_block("0.0.0.0/0", networks).excluded == ("10.96.0.0/12", "10.244.0.0/16")
    assert allowlist_block("fd00:10:244:0:1::/80", networks).covered_by == ("fd00:10:244::/56",)
    # IPv6 spelled differently is still the same network; excepts come out canonical.
    assert allowlist_block("fd00::/8", ["FD00:0010:0244::/56"]).excluded == ("fd00:10:244::/56",)


def test_several_networks_come_out_sorted_by_address() -> None:
    networks = ["192.168.0.0/16", "10.244.0.0/16", "172.16.0.0/12", "10.96.0.0/12"]
    block = allowlist_block("0.0.0.0/0", networks)
    assert block.excluded == ("10.96.0.0/12", "10.244.0.0/16", "172.16.0.0/12", "192.168.0.0/16")


# --------------------------------------------- exhaustive check on a small space
_SMALL = [f"10.0.0.{a}/{p}" for p in range(28, 33) for a in range(0, 16, 2 ** (32 - p))]


@pytest.mark.parametrize("entry", ["10.0.0.0/28", "10.0.0.0/29", "10.0.0.8/30", "10.0.0.4/32"])
def test_every_combination_of_up_to_two_networks_opens_exactly_the_rest(entry: str) -> None:
    """Against every pair of CIDRs in 10.0.0.0/28: valid for the API server, and the
    ipBlock (or its absence) opens exactly the entry's addresses outside the networks."""
    addresses = [str(a) for a in ipaddress.ip_network("10.0.0.0/28")]
    for n in range(3):
        for networks in itertools.combinations(_SMALL, n):
            block = allowlist_block(entry, networks)
            nets = [ipaddress.ip_network(c) for c in networks]
            outside = {
                a
                for a in addresses
                if ipaddress.ip_address(a) in ipaddress.ip_network(entry)
                and not any(ipaddress.ip_address(a) in net for net in nets)
            }
            if block.opens_nothing:
                assert outside == set(), (entry, networks)
                continue
            ip_block = block.ip_block()
            assert _valid_for_apiserver(ip_block), (entry, networks, ip_block)
            assert {a for a in addresses if _opened(ip_block, a)} == outside, (entry, networks)


# ------------------------------------------------------ policy and condition
def _runtime(cluster_networks: list[str]) -> Runtime:
    dp = DataPlaneSpec.model_validate(
        {
            "region": "US East 2",
            "egressCIDRs": ["20.22.170.144/28"],
            "clusterNetworks": cluster_networks,
            "ingress": {"baseDomain": "us.example.com"},
        }
    )
    return Runtime(
        organization="acme",
        tier=Tier.PAYG,
        data_plane_name="us",
        data_plane=dp,
        project="shop",
        environment="development",
        environment_spec=EnvironmentSpec(data_plane="us"),
    )


def _component(egress: list[dict[str, Any]]) -> ComponentSpec:
    return ComponentSpec.model_validate(
        {"project": "shop", "type": "service", "image": "x:1", "egress": egress}
    )


def _egress_rules(rt: Runtime, spec: ComponentSpec) -> list[dict[str, Any]] | None:
    for policy in component_policies(rt, "api", spec):
        if policy["metadata"]["name"] == component_egress_policy_name("api"):
            rules: list[dict[str, Any]] = policy["spec"]["egress"]
            return rules
    return None


def test_the_policy_leaves_out_entries_inside_and_excepts_the_rest() -> None:
    spec = _component(
        [
            {"cidr": "0.0.0.0/0", "ports": [443]},
            {"cidr": "10.244.0.0/16", "ports": [8080]},
            {"cidr": "203.0.113.10/32", "ports": [5432]},
        ]
    )
    assert _egress_rules(_runtime(KUBEADM), spec) == [
        {
            "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.96.0.0/12", "10.244.0.0/16"]}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.10/32"}}],
            "ports": [{"protocol": "TCP", "port": 5432}],
        },
    ]
    # Without cluster networks the entries apply as written (the behaviour before).
    assert [r["to"][0]["ipBlock"] for r in _egress_rules(_runtime([]), spec) or []] == [
        {"cidr": "0.0.0.0/0"},
        {"cidr": "10.244.0.0/16"},
        {"cidr": "203.0.113.10/32"},
    ]


def test_no_egress_policy_when_every_entry_opens_nothing() -> None:
    spec = _component([{"cidr": "10.244.0.0/16"}, {"cidr": "10.96.0.10/32", "ports": [53]}])
    assert _egress_rules(_runtime(KUBEADM), spec) is None  # default deny stays in force


def test_condition_names_the_entry_the_network_and_the_data_plane() -> None:
    spec = _component(
        [
            {"cidr": "10.1.0.0/16", "ports": [5432]},
            {"cidr": "10.1.0.0/16", "ports": [5433]},  # reported once
            {"cidr": "0.0.0.0/0", "ports": [443]},
        ]
    )
    cond = egress_condition(spec, "us", _runtime(["10.0.0.0/8"]).data_plane)
    assert cond.type == EGRESS_ALLOWLIST_EFFECTIVE
    assert (cond.status, cond.reason) == (False, "InsideClusterNetwork")
    assert cond.message == (
        "egress 10.1.0.0/16 lies inside the cluster network 10.0.0.0/8 of DataPlane us and "
        "opens nothing; egress 0.0.0.0/0 excludes the cluster network 10.0.0.0/8 of DataPlane us"
    )


def test_condition_when_every_entry_opens_something() -> None:
    data_plane = _runtime(KUBEADM).data_plane
    cond = egress_condition(_component([{"cidr": "0.0.0.0/0"}]), "us", data_plane)
    assert (cond.status, cond.reason) == (True, "ClusterNetworksExcluded")
    assert cond.message == (
        "egress 0.0.0.0/0 excludes the cluster networks 10.96.0.0/12, 10.244.0.0/16 of DataPlane us"
    )
    cond = egress_condition(_component([{"cidr": "203.0.113.0/24"}]), "us", data_plane)
    assert (cond.status, cond.reason) == (True, "OutsideClusterNetworks")
    cond = egress_condition(_component([{"cidr": "0.0.0.0/0"}]), "us", _runtime([]).data_plane)
    assert (cond.status, cond.reason) == (True, "ClusterNetworksUnset")
    assert "DataPlane us declares no clusterNetworks" in cond.message


# --------------------------------------------------------- the status write
class _StatusClient:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    async def patch_status(self, kind: Any, namespace: Any, name: str, status: Any) -> None:
        self.patches.append(status)


def _component_obj(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "cdp.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "api", "namespace": "cdp-org-acme", "generation": 3},
        "status": {"observedGeneration": 3, "conditions": conditions},
    }


def test_the_reconciler_writes_the_condition_and_removes_it_when_it_no_longer_applies() -> None:
    from cdp_operator.apply.reconciler import Reconciler

    client = _StatusClient()
    reconciler = Reconciler(client)  # type: ignore[arg-type]
    cond = ExtraCondition(EGRESS_ALLOWLIST_EFFECTIVE, False, "InsideClusterNetwork", "egress ...")
    available = Verdict(True, "Available", "ready in 1 environment(s)")
    foreign = {
        "type": "Other",
        "status": "True",
        "reason": "SetBySomeoneElse",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }

    asyncio.run(
        reconciler.status.write(_component_obj([foreign]), replace(available, conditions=(cond,)))
    )
    (written,) = client.patches
    by_type = {c["type"]: c for c in written["conditions"]}
    assert set(by_type) == {"Other", "Ready", "Reconciling", "Stalled", EGRESS_ALLOWLIST_EFFECTIVE}
    assert by_type["Ready"]["status"] == "True"
    egress = by_type[EGRESS_ALLOWLIST_EFFECTIVE]
    assert (egress["status"], egress["reason"], egress["observedGeneration"]) == (
        "False",
        "InsideClusterNetwork",
        3,
    )

    # The same verdict again: nothing to write.
    asyncio.run(
        reconciler.status.write(
            _component_obj(written["conditions"]), replace(available, conditions=(cond,))
        )
    )
    assert len(client.patches) == 1

    # The allowlist is gone (or the component is no longer admitted): so is the condition;
    # conditions the operator does not own are kept.
    asyncio.run(reconciler.status.write(_component_obj(written["conditions"]), available))
    assert [c["type"] for c in client.patches[-1]["conditions"]] == [
        "Other",
        "Ready",
        "Reconciling",
        "Stalled",
    ]
