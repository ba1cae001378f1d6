"""The NetworkPolicy evaluator against hand-written examples of the Kubernetes spec.

Each test is a small scenario from the API reference or the "Network Policies"
concepts page, with the answer the documentation gives.
"""

from __future__ import annotations

from typing import Any

import pytest

from isolation.netpol_eval import (
    Cluster,
    ContainerPort,
    External,
    Namespace,
    Pod,
    in_ip_block,
    selector_matches,
)


def policy(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


# A small world: namespace "prod" (user=alice) and "dev" (user=bob), and "other".
NAMESPACES = [
    Namespace("prod", {"user": "alice", "project": "myproject"}),
    Namespace("dev", {"user": "bob"}),
    Namespace("other", {}),
]
DB = Pod("prod", "db", {"role": "db"}, "10.0.0.10", (ContainerPort(6379, "TCP", "redis"),))
FRONTEND = Pod("prod", "frontend", {"role": "frontend"}, "10.0.0.11")
CLIENT_PROD = Pod("prod", "client", {"role": "client"}, "10.0.0.12")
CLIENT_DEV = Pod("dev", "client", {"role": "client"}, "10.0.1.12")
WEB_DEV = Pod("dev", "web", {"role": "web"}, "10.0.1.13")
STRANGER = Pod("other", "x", {"role": "client"}, "172.17.1.5")
PODS = [DB, FRONTEND, CLIENT_PROD, CLIENT_DEV, WEB_DEV, STRANGER]


def world(*policies: dict[str, Any], **kw: Any) -> Cluster:
    return Cluster(NAMESPACES, PODS, policies, **kw)


def prod_egress_only(*rules: dict[str, Any]) -> Cluster:
    """The world with one policy: every pod of prod may send only what ``rules`` allow."""
    return world(policy("prod", "p", podSelector={}, policyTypes=["Egress"], egress=list(rules)))


# ------------------------------------------------------------------ basics
def test_no_policies_allow_everything() -> None:
    c = world()
    for src in PODS:
        for dst in PODS:
            assert c.allowed(src, dst, 80)
    assert c.allowed(DB, External("8.8.8.8"), 53, "UDP")


def test_default_deny_ingress_isolates_only_ingress_of_its_namespace() -> None:
    c = world(policy("prod", "deny", podSelector={}, policyTypes=["Ingress"]))
    assert not c.allowed(CLIENT_DEV, DB, 6379)
    assert not c.allowed(FRONTEND, DB, 6379)  # same namespace too
    assert c.allowed(DB, CLIENT_DEV, 80)  # egress of prod is not isolated
    assert c.allowed(CLIENT_DEV, WEB_DEV, 80)  # dev has no policy


def test_default_deny_egress() -> None:
    c = world(policy("prod", "deny", podSelector={}, policyTypes=["Egress"]))
    assert not c.allowed(DB, CLIENT_DEV, 80)
    assert not c.allowed(DB, External("1.1.1.1"), 443)
    assert c.allowed(CLIENT_DEV, DB, 6379)  # ingress of prod is not isolated


def test_allow_all_ingress_rule_and_empty_ingress_list() -> None:
    allow_all = world(
        policy("prod", "deny", podSelector={}, policyTypes=["Ingress"]),
        policy("prod", "all", podSelector={}, ingress=[{}]),
    )
    assert allow_all.allowed(STRANGER, DB, 1)
    none = world(policy("prod", "none", podSelector={}, policyTypes=["Ingress"], ingress=[]))
    assert not none.allowed(FRONTEND, DB, 6379)


def test_policy_types_default_egress_section_also_isolates_ingress() -> None:
    """Without policyTypes, every policy affects ingress; one with an egress section
    affects egress too. So an 'egress-only' policy written without policyTypes denies
    all ingress to the pods it selects: a classic mistake."""
    c = world(
        policy(
            "prod",
            "egress-only",
            podSelector={"matchLabels": {"role": "db"}},
            egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}]}],
        )
    )
    assert Cluster.policy_types(c.policies[0]) == {"Ingress", "Egress"}
    assert not c.allowed(FRONTEND, DB, 6379)  # ingress isolated, no ingress rules
    assert c.allowed(DB, FRONTEND, 80)  # 10.0.0.11 in 10.0.0.0/24
    assert not c.allowed(DB, CLIENT_DEV, 80)  # 10.0.1.12 not
    # Without an egress section, only ingress is affected.
    only_ingress = world(policy("prod", "p", podSelector={}))
    assert Cluster.policy_types(only_ingress.policies[0]) == {"Ingress"}
    assert only_ingress.allowed(DB, External("1.1.1.1"), 443)


# --------------------------------------------------- the documentation's example
DOC_EXAMPLE = policy(
    "prod",
    "test-network-policy",
    podSelector={"matchLabels": {"role": "db"}},
    policyTypes=["Ingress", "Egress"],
    ingress=[
        {
            "from": [
                {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                {"podSelector": {"matchLabels": {"role": "frontend"}}},
            ],
            "ports": [{"protocol": "TCP", "port": 6379}],
        }
    ],
    egress=[
        {"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5978}]}
    ],
)


def test_documentation_example() -> None:
    c = world(DOC_EXAMPLE)
    assert c.allowed(FRONTEND, DB, 6379)  # podSelector role=frontend (same namespace)
    assert c.allowed(CLIENT_PROD, DB, 6379)  # namespace project=myproject
    assert not c.allowed(FRONTEND, DB, 6380)  # port
    assert not c.allowed(FRONTEND, DB, 6379, "UDP")  # protocol
    assert not c.allowed(CLIENT_DEV, DB, 6379)  # other namespace, not in ipBlock
    assert not c.allowed(STRANGER, DB, 6379)  # 172.17.1.5 is in the except block
    inside = Pod("other", "y", {}, "172.17.2.5")
    c2 = Cluster(NAMESPACES, [*PODS, inside], [DOC_EXAMPLE])
    assert c2.allowed(inside, DB, 6379)  # ipBlock minus except
    # Egress of db: only 10.0.0.0/24 on 5978.
    assert c.verdict(DB, External("10.0.0.200"), 5978).egress
    assert not c.verdict(DB, External("10.0.0.200"), 5979).egress
    assert not c.verdict(DB, External("10.0.1.1"), 5978).egress
    # Pods the policy does not select are untouched.
    assert c.allowed(CLIENT_DEV, FRONTEND, 1)


def test_ipblock_on_pod_ips_is_an_option() -> None:
    pol = policy(
        "prod",
        "p",
        podSelector={"matchLabels": {"role": "db"}},
        ingress=[{"from": [{"ipBlock": {"cidr": "10.0.1.0/24"}}]}],
    )
    assert world(pol, ipblock_matches_pods=True).allowed(CLIENT_DEV, DB, 6379)
    assert not world(pol, ipblock_matches_pods=False).allowed(CLIENT_DEV, DB, 6379)


# ---------------------------------------------------------- the AND/OR pitfall
AND_PEER = [
    {
        "namespaceSelector": {"matchLabels": {"user": "alice"}},
        "podSelector": {"matchLabels": {"role": "client"}},
    }
]
OR_PEERS = [
    {"namespaceSelector": {"matchLabels": {"user": "alice"}}},
    {"podSelector": {"matchLabels": {"role": "client"}}},
]


@pytest.mark.parametrize(
    ("peers", "src", "expected"),
    [
        # One peer with both selectors: role=client pods IN namespaces with user=alice.
        (AND_PEER, CLIENT_PROD, True),
        (AND_PEER, FRONTEND, False),  # right namespace, wrong pod
        (AND_PEER, CLIENT_DEV, False),  # right pod labels, wrong namespace
        (AND_PEER, STRANGER, False),
        # Two peers: any pod in user=alice namespaces, OR role=client pods in the
        # policy's own namespace (a bare podSelector never reaches other namespaces).
        (OR_PEERS, CLIENT_PROD, True),
        (OR_PEERS, FRONTEND, True),
        (OR_PEERS, CLIENT_DEV, False),
        (OR_PEERS, STRANGER, False),
    ],
)
def test_namespace_and_pod_selector_in_one_peer_vs_two_peers(
    peers: list[dict[str, Any]], src: Pod, expected: bool
) -> None:
    c = world(
        policy("prod", "p", podSelector={"matchLabels": {"role": "db"}}, ingress=[{"from": peers}])
    )
    assert c.allowed(src, DB, 6379) is expected


def test_or_peers_from_a_policy_in_another_namespace() -> None:
    # The same OR peers on a policy in dev: the bare podSelector now means dev's pods.
    c = world(
        policy(
            "dev", "p", podSelector={"matchLabels": {"role": "web"}}, ingress=[{"from": OR_PEERS}]
        )
    )
    assert c.allowed(CLIENT_DEV, WEB_DEV, 80)  # role=client in dev
    assert c.allowed(FRONTEND, WEB_DEV, 80)  # any pod in user=alice
    assert not c.allowed(STRANGER, WEB_DEV, 80)


def test_empty_selectors() -> None:
    all_ns = world(
        policy("prod", "p", podSelector={}, ingress=[{"from": [{"namespaceSelector": {}}]}])
    )
    assert all_ns.allowed(STRANGER, DB, 1)  # every pod of every namespace
    same_ns = world(policy("prod", "p", podSelector={}, ingress=[{"from": [{"podSelector": {}}]}]))
    assert same_ns.allowed(FRONTEND, DB, 1)
    assert not same_ns.allowed(CLIENT_DEV, DB, 1)
    empty_from = world(
        policy("prod", "p", podSelector={}, ingress=[{"from": [], "ports": [{"port": 1}]}])
    )
    assert empty_from.allowed(STRANGER, DB, 1)  # empty from: every source
    assert not empty_from.allowed(STRANGER, DB, 2)


# ------------------------------------------------------------------- ports
def test_port_ranges_with_end_port() -> None:
    c = prod_egress_only(
        {
            "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 32000, "endPort": 32768}],
        }
    )
    for port, ok in ((31999, False), (32000, True), (32500, True), (32768, True), (32769, False)):
        assert c.verdict(FRONTEND, External("10.0.0.1"), port).egress is ok, port
    assert not c.verdict(FRONTEND, External("10.0.0.1"), 32500, "UDP").egress


def test_port_without_number_and_protocol_defaults() -> None:
    c = world(policy("prod", "p", podSelector={}, ingress=[{"ports": [{"protocol": "UDP"}]}]))
    assert c.allowed(STRANGER, DB, 53, "UDP")
    assert c.allowed(STRANGER, DB, 9999, "UDP")
    assert not c.allowed(STRANGER, DB, 53, "TCP")
    tcp_default = world(policy("prod", "p", podSelector={}, ingress=[{"ports": [{"port": 80}]}]))
    assert tcp_default.allowed(STRANGER, DB, 80, "TCP")
    assert not tcp_default.allowed(STRANGER, DB, 80, "UDP")


def test_named_ports_resolve_on_the_destination_pod() -> None:
    c = world(policy("prod", "p", podSelector={}, ingress=[{"ports": [{"port": "redis"}]}]))
    assert c.allowed(STRANGER, DB, 6379)  # db names 6379 "redis"
    assert not c.allowed(STRANGER, DB, 6380)
    assert not c.allowed(STRANGER, FRONTEND, 6379)  # frontend has no port named redis


# --------------------------------------------------------- additive and both sides
def test_policies_are_additive() -> None:
    c = world(
        policy(
            "prod",
            "a",
            podSelector={"matchLabels": {"role": "db"}},
            ingress=[{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}]}],
        ),
        policy(
            "prod",
            "b",
            podSelector={"matchLabels": {"role": "db"}},
            ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"user": "bob"}}}]}],
        ),
    )
    assert c.allowed(FRONTEND, DB, 1)
    assert c.allowed(CLIENT_DEV, DB, 1)
    assert not c.allowed(CLIENT_PROD, DB, 1)
    v = c.verdict(CLIENT_DEV, DB, 1)
    assert v.ingress_by == ("b",)


def test_both_sides_must_allow() -> None:
    c = world(
        policy("dev", "deny-egress", podSelector={}, policyTypes=["Egress"]),
        policy("prod", "allow-in", podSelector={}, ingress=[{}]),
    )
    v = c.verdict(CLIENT_DEV, DB, 6379)
    assert v.ingress and not v.egress and not v.allowed
    c2 = world(
        policy("dev", "allow-out", podSelector={}, policyTypes=["Egress"], egress=[{}]),
        policy("prod", "deny-in", podSelector={}, policyTypes=["Ingress"]),
    )
    v2 = c2.verdict(CLIENT_DEV, DB, 6379)
    assert v2.egress and not v2.ingress and not v2.allowed


def test_selectors_only_select_pods_not_external_addresses() -> None:
    c = prod_egress_only({"to": [{"namespaceSelector": {}}]})
    assert c.allowed(DB, CLIENT_DEV, 80)
    assert not c.allowed(DB, External("10.0.1.12"), 80)


# ------------------------------------------------------------ selector details
def test_match_expressions() -> None:
    labels = {"env": "prod", "tier": "db"}
    assert selector_matches(
        {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "qa"]}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, labels
    )
    assert selector_matches(
        {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, labels
    )
    assert selector_matches({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, labels)
    assert not selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, labels
    )
    # matchLabels and matchExpressions are ANDed.
    assert not selector_matches(
        {
            "matchLabels": {"env": "prod"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}],
        },
        labels,
    )
    assert selector_matches({}, labels) and selector_matches(None, {})


def test_namespace_name_label_is_implicit() -> None:
    c = world(
        policy(
            "prod",
            "p",
            podSelector={},
            ingress=[
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "dev"}
                            }
                        }
                    ]
                }
            ],
        )
    )
    assert c.allowed(CLIENT_DEV, DB, 1)
    assert not c.allowed(STRANGER, DB, 1)


def test_ip_blocks() -> None:
    block = {"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}
    assert in_ip_block("203.0.113.10", block)
    assert not in_ip_block("203.0.113.200", block)
    assert not in_ip_block("198.51.100.1", block)
    assert not in_ip_block("2001:db8::1", block)
    assert in_ip_block("2001:db8::1", {"cidr": "2001:db8::/32"})
    assert in_ip_block("203.0.113.10", {"cidr": "203.0.113.10/32"})
    assert not in_ip_block("203.0.113.11", {"cidr": "203.0.113.10/32"})


def test_from_kubernetes_objects() -> None:
    c = Cluster.from_kubernetes(
        [{"metadata": {"name": "a", "labels": {"x": "1"}}}],
        [
            {
                "metadata": {"namespace": "a", "name": "p", "labels": {"app": "p"}},
                "spec": {
                    "containers": [
                        {"ports": [{"containerPort": 53, "protocol": "UDP", "name": "dns"}]}
                    ]
                },
                "status": {"podIP": "10.1.1.1"},
            }
        ],
        [],
    )
    assert c.namespace_labels("a") == {"kubernetes.io/metadata.name": "a", "x": "1"}
    assert c.pods[0].ports == (ContainerPort(53, "UDP", "dns"),)
    assert c.pods[0].ip == "10.1.1.1"
