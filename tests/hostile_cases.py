"""The hostile input catalogue: malformed or hostile resources and what must happen to each.

One table, two consumers:

* ``tests/e2e/test_hostile_inputs.py`` sends every case to the real apiserver
  with the operator running and checks the outcome (rejected at admission with
  the field named, or accepted and reported in status with a reason; nothing
  partial written; the operator still running).
* ``tests/unit/test_hostile_models.py`` sends the same cases through the
  pydantic models, which mirror the CRD's schema and CEL rules, and checks that
  they agree with the apiserver on accept/reject.

Conventions of the table:

* Namespaced cases live in the organization namespace of a test organization
  ``A`` (payg, default data plane ``us``) that has a Project ``p``. A second
  organization ``B`` (developer tier) owns a Project ``bproj``; A never can.
* ``admitted`` is what the apiserver does with the case today (the e2e test
  checks it, so the column stays honest); ``expect`` is what must happen.
* ``Either`` marks input the apiserver admits although it is invalid (a
  known gap, see the finding it names): the case passes if it is rejected at
  admission naming the field, or if the operator reports it as Stalled with the
  field in the message and writes nothing for it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from build_cases import CONFIG_VALUES, configs_for
from cdp_operator.models.buildconfigs import (
    CONFIG_KEY_DESCRIPTIONS,
    REQUIRED_BUILD_CONFIGS,
    Buildpack,
    ComponentType,
    buildpacks_for,
)
from cdp_operator.models.resources import NAME_RULES


# ---------------------------------------------------------------- expectations
@dataclass(frozen=True)
class Rejected:
    """Rejected at admission; kubectl's stderr contains ``field`` (the field's path).

    ``says``: a part of the message that tells what is wrong and the fix; the
    apiserver's message (kubectl's stderr) and the models' message both contain it."""

    field: str
    says: str | None = None


@dataclass(frozen=True)
class Stalled:
    """Accepted; the operator reports Ready=False with ``reason`` (and Stalled=True)."""

    reason: str
    stalled: bool = True
    #: A substring of the Ready message (names the offending field or reference).
    mentions: str | None = None


@dataclass(frozen=True)
class Ready:
    """Accepted and harmless: the operator reconciles it to Ready=True.

    ``condition``: (type, status, reason) of a further condition the operator sets,
    whose message contains ``mentions``."""

    condition: tuple[str, str, str] | None = None
    mentions: str | None = None


@dataclass(frozen=True)
class Either:
    """Invalid input the apiserver admits today (see ``finding``): it must be rejected at
    admission naming ``field``, or reported Stalled naming ``field`` with nothing written."""

    field: str
    finding: str


Expect = Rejected | Stalled | Ready | Either

# Where a namespaced case is created.
ORG_A = "org-a"  # the organization namespace of A
PLAIN = "plain"  # an ordinary namespace that belongs to no organization


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    spec: dict[str, Any] | None
    expect: Expect
    #: What the apiserver does with it today: True = admitted.
    admitted: bool
    #: metadata.name; None: derived from the id (valid and unique).
    name: str | None = None
    #: Applied first (same kind and name): the case is then an update.
    before: dict[str, Any] | None = None
    where: str = ORG_A
    annotations: dict[str, str] = field(default_factory=dict)
    #: A class for the report ("wrong type", "missing field", ...).
    group: str = ""
    #: A finding (FINDINGS) that makes the operator fail this case today: the e2e
    #: test is then a strict xfail that starts passing when the bug is fixed.
    known: str | None = None

    @property
    def namespaced(self) -> bool:
        return self.kind in ("Environment", "Project", "Component")

    def object_name(self, run: str = "") -> str:
        """The name to create the object with: unique per run (`run`), so reruns never meet
        leftovers of an earlier run that are still being deleted."""
        if self.name is not None:
            return self.name
        stem = re.sub(r"[^a-z0-9-]+", "-", self.id.lower()).strip("-")
        digest = hashlib.sha256(f"{run}/{self.id}".encode()).hexdigest()[:5]
        if self.namespaced:
            keep = NAME_RULES[self.kind].max_length - len(digest) - 1
            return f"{stem[:keep].rstrip('-')}-{digest}"
        # Cluster-scoped: unique per run (DataPlane names are at most 28 characters).
        return f"h{run}{digest}"[:28]


# ------------------------------------------------------------------ building blocks
IMAGE = "registry.example.com/app:1"
INGRESS = {"className": "nginx", "baseDomain": "h.example.com", "gatewayNamespace": "ingress-nginx"}


def svc(**extra: Any) -> dict[str, Any]:
    """A valid service Component spec in project p, with `extra` merged in."""
    spec: dict[str, Any] = {"project": "p", "type": "service", "image": IMAGE}
    spec.update(extra)
    return {k: v for k, v in spec.items() if v is not None}


def task(**extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "project": "p",
        "type": "scheduled-task",
        "image": IMAGE,
        "schedule": "@daily",
    }
    spec.update(extra)
    return {k: v for k, v in spec.items() if v is not None}


def ep(name: str = "http", port: Any = 8080, **extra: Any) -> dict[str, Any]:
    return {"name": name, "port": port, **extra}


def dataplane(**extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"region": "Test", "egressCIDRs": ["192.0.2.0/28"], "ingress": INGRESS}
    spec.update(extra)
    return {k: v for k, v in spec.items() if v is not None}


RTL = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
EMOJI = "\U0001f680"
ZWJ = "\u200d"

# What the messages of the constrained fields say, in the models and at admission alike.
_IMAGE = "must be an image reference"
_PORT = "must be a port number from 1 to 65535"
_REPLICAS = "must be a number of replicas from 0 to 100"
_ENV_NAME = "must be letters, digits, '-', '.' and '_', not starting with a digit, e.g. LOG_LEVEL"
_ENDPOINT_NAME = "must be lower-case letters, digits and single '-', starting with a letter"
_DNS_LABEL = "lower-case letters, digits and '-', starting and ending with a letter or digit"

# ------------------------------------------------------------------ the table
_CASES: list[Case] = []


def _add(group: str, *cases: Case) -> None:
    for c in cases:
        _CASES.append(
            Case(**{**c.__dict__, "group": group})  # type: ignore[arg-type]
        )


def C(
    id: str,
    kind: str,
    spec: dict[str, Any] | None,
    expect: Expect,
    *,
    admitted: bool | None = None,
    **kw: Any,
) -> Case:
    if admitted is None:
        admitted = not isinstance(expect, Rejected)
    return Case(id, kind, spec, expect, admitted, **kw)


R = Rejected

_add(
    "wrong type",
    C("replicas-string", "Component", svc(replicas="three"), R("spec.replicas")),
    C("replicas-float", "Component", svc(replicas=1.5), R("spec.replicas")),
    C("replicas-numeric-string", "Component", svc(replicas="3"), R("spec.replicas")),
    C("replicas-bool", "Component", svc(replicas=True), R("spec.replicas")),
    C(
        "override-replicas-numeric-string",
        "Component",
        svc(overrides=[{"environment": "development", "replicas": "2"}]),
        R("replicas"),
    ),
    C(
        "egress-port-numeric-string",
        "Component",
        svc(egress=[{"cidr": "203.0.113.0/24", "ports": ["443"]}]),
        R("ports"),
    ),
    C("image-number", "Component", svc(image=42), R("spec.image")),
    C("endpoints-string", "Component", svc(endpoints="http:8080"), R("spec.endpoints")),
    C("env-map", "Component", svc(env={"A": "b"}), R("spec.env")),
    C("endpoint-port-string", "Component", svc(endpoints=[ep(port="8080")]), R("port")),
    C(
        "config-port-int",
        "Component",
        svc(build={"buildpack": "ballerina", "configs": {"port": 8080}}),
        R("spec.build.configs"),
    ),
    C(
        "environment-production-string",
        "Environment",
        {"dataPlane": "us", "production": "yes"},
        R("spec.production"),
    ),
    C(
        "environment-production-number",
        "Environment",
        {"dataPlane": "us", "production": 1},
        R("spec.production"),
    ),
    C("component-type-enum", "Component", svc(type="daemon"), R("spec.type")),
    C("protocol-enum", "Component", svc(endpoints=[ep(protocol="SCTP")]), R("protocol")),
    C("visibility-enum", "Component", svc(endpoints=[ep(visibility="private")]), R("visibility")),
    C("buildpack-enum", "Component", svc(build={"buildpack": "cobol"}), R("spec.build.buildpack")),
    C(
        "organization-tier-enum",
        "Organization",
        {"tier": "gold", "defaultDataPlane": "us"},
        R("spec.tier"),
    ),
    C(
        "organization-allow-paid-string",
        "Organization",
        {"tier": "developer", "defaultDataPlane": "us", "allowPaidComponents": "yes"},
        R("spec.allowPaidComponents"),
    ),
    C(
        "organization-allow-paid-number",
        "Organization",
        {"tier": "developer", "defaultDataPlane": "us", "allowPaidComponents": 1},
        R("spec.allowPaidComponents"),
    ),
    C(
        "organization-allow-paid-typo",
        "Organization",
        {"tier": "developer", "defaultDataPlane": "us", "allowPaidComponent": True},
        R("allowPaidComponent"),
    ),
    C("unknown-field-typo", "Component", svc(replica=3), R("replica")),
    C("spec-not-an-object", "Component", "just a string", R("spec")),  # type: ignore[arg-type]
)

_add(
    "missing required field",
    C("no-spec", "Component", None, R("spec")),
    C("no-project", "Component", svc(project=None), R("spec.project")),
    C("no-type", "Component", svc(type=None), R("spec.type")),
    C("no-image", "Component", svc(image=None), R("spec.image")),
    C("empty-image", "Component", svc(image=""), R("spec.image", _IMAGE)),
    C("endpoint-no-port", "Component", svc(endpoints=[{"name": "http"}]), R("port")),
    C("endpoint-no-name", "Component", svc(endpoints=[{"port": 8080}]), R("name")),
    C("egress-no-cidr", "Component", svc(egress=[{"ports": [443]}]), R("cidr")),
    C("override-no-environment", "Component", svc(overrides=[{"replicas": 2}]), R("environment")),
    C("build-no-buildpack", "Component", svc(build={"configs": {}}), R("spec.build.buildpack")),
    C("scheduled-task-no-schedule", "Component", task(schedule=None), R("spec.schedule")),
    C("environment-no-dataplane", "Environment", {"production": True}, R("spec.dataPlane")),
    C(
        "organization-no-default-dataplane",
        "Organization",
        {"tier": "payg"},
        R("spec.defaultDataPlane"),
    ),
    C("dataplane-no-ingress", "DataPlane", dataplane(ingress=None), R("spec.ingress")),
    C("dataplane-no-region", "DataPlane", dataplane(region=None), R("spec.region")),
    C(
        "dataplane-no-base-domain",
        "DataPlane",
        dataplane(ingress={"className": "nginx"}),
        R("baseDomain"),
    ),
    C(
        "env-var-empty-name",
        "Component",
        svc(env=[{"name": "", "value": "x"}]),
        R("spec.env[0].name", _ENV_NAME),
    ),
)

_add(
    "invalid name",
    C("name-uppercase", "Component", svc(), R("metadata.name"), name="Api"),
    C("name-starts-with-digit", "Component", svc(), R("metadata.name"), name="1api"),
    C("name-41-chars", "Component", svc(), R("metadata.name"), name="c" * 41),
    C("name-underscore", "Project", {}, R("metadata.name"), name="my_project"),
    C("project-name-31-chars", "Project", {}, R("metadata.name"), name="p" * 31),
    C(
        "environment-name-dot",
        "Environment",
        {"dataPlane": "us"},
        R("metadata.name"),
        name="dev.prod",
    ),
    C(
        "environment-name-41-chars",
        "Environment",
        {"dataPlane": "us"},
        R("metadata.name"),
        name="e" * 41,
    ),
    C(
        "organization-name-31-chars",
        "Organization",
        {"defaultDataPlane": "us"},
        R("metadata.name"),
        name="o" * 31,
    ),
    C("dataplane-name-29-chars", "DataPlane", dataplane(), R("metadata.name"), name="d" * 29),
    # Reserved: no runtime namespace may be named like an organization namespace (T1).
    C(
        "organization-name-cdp",
        "Organization",
        {"defaultDataPlane": "us"},
        R("metadata.name"),
        name="cdp",
    ),
    C(
        "organization-name-cdp-prefix",
        "Organization",
        {"defaultDataPlane": "us"},
        R("metadata.name"),
        name="cdp-org",
    ),
    C("name-trailing-dash", "Component", svc(), R("metadata.name"), name="api-"),
    C(
        "project-ref-uppercase",
        "Component",
        svc(project="Shop"),
        R("spec.project", "must be the name of a Project: lower-case letters, digits and '-'"),
    ),
    C("project-ref-31-chars", "Component", svc(project="p" * 31), R("spec.project")),
    C(
        "environment-ref-bad",
        "Component",
        svc(environments=["Dev"]),
        R("spec.environments[0]", "must be the name of an Environment"),
    ),
    C(
        "dataplane-ref-bad",
        "Project",
        {"dataPlane": "US East"},
        R("spec.dataPlane", "must be the name of a DataPlane"),
    ),
    C(
        "endpoint-name-uppercase",
        "Component",
        svc(endpoints=[ep(name="HTTP")]),
        R("spec.endpoints[0].name", _ENDPOINT_NAME),
    ),
    C(
        "endpoint-name-16-chars",
        "Component",
        svc(endpoints=[ep(name="abcdefghijklmnop")]),
        R("name"),
    ),
    C("endpoint-name-double-dash", "Component", svc(endpoints=[ep(name="a--b")]), R("name")),
    C(
        "gateway-namespace-bad",
        "DataPlane",
        dataplane(ingress={**INGRESS, "gatewayNamespace": "Ingress_NGINX"}),
        R("spec.ingress.gatewayNamespace", "must be a DNS label: lower-case letters"),
    ),
    C(
        "base-domain-uppercase",
        "DataPlane",
        dataplane(ingress={**INGRESS, "baseDomain": "Example.COM"}),
        R("spec.ingress.baseDomain", "must be a lower-case DNS name"),
    ),
)

_add(
    "oversize",
    C("image-513", "Component", svc(image="r/" + "i" * 511), R("spec.image")),
    C(
        "endpoints-17",
        "Component",
        svc(endpoints=[ep(f"e{i}", 8000 + i) for i in range(17)]),
        R("spec.endpoints"),
    ),
    C("env-129", "Component", svc(env=[{"name": f"V{i}"} for i in range(129)]), R("spec.env")),
    C("env-value-32769", "Component", svc(env=[{"name": "BIG", "value": "x" * 32769}]), R("value")),
    C(
        "egress-33",
        "Component",
        svc(egress=[{"cidr": f"198.51.100.{i}/32"} for i in range(33)]),
        R("spec.egress"),
    ),
    C(
        "egress-ports-17",
        "Component",
        svc(egress=[{"cidr": "198.51.100.0/24", "ports": list(range(1, 18))}]),
        R("ports"),
    ),
    C(
        "environments-33",
        "Component",
        svc(environments=[f"e{i}" for i in range(33)]),
        R("spec.environments"),
    ),
    C(
        "overrides-33",
        "Component",
        svc(overrides=[{"environment": f"e{i}"} for i in range(33)]),
        R("spec.overrides"),
    ),
    C("path-257", "Component", svc(endpoints=[ep(path="/" + "p" * 256)]), R("path")),
    C("display-name-257", "Project", {"displayName": "d" * 257}, R("spec.displayName")),
    C(
        "schedule-129",
        "Component",
        task(schedule="*/1 * * * " + "1," * 60 + "1"),
        R("spec.schedule"),
    ),
    C(
        "egress-cidrs-33",
        "DataPlane",
        dataplane(egressCIDRs=[f"192.0.2.{i}/32" for i in range(33)]),
        R("spec.egressCIDRs"),
    ),
    C(
        "config-value-1025",
        "Component",
        svc(build={"buildpack": "docker", "configs": {"dockerFilePath": "D" * 1025}}),
        R("spec.build.configs"),
    ),
    C("replicas-101", "Component", svc(replicas=101), R("spec.replicas", _REPLICAS)),
    C("replicas-negative", "Component", svc(replicas=-1), R("spec.replicas", _REPLICAS)),
    C(
        "override-replicas-negative",
        "Component",
        svc(overrides=[{"environment": "development", "replicas": -1}]),
        R("spec.overrides[0].replicas", _REPLICAS),
    ),
    C(
        "memory-unit-Ti",
        "Component",
        svc(resources={"memory": "1Ti"}),
        R("spec.resources.memory", "must be a memory quantity"),
    ),
    C(
        "cpu-exponent",
        "Component",
        svc(resources={"cpu": "1e3"}),
        R("spec.resources.cpu", "must be a CPU quantity"),
    ),
    C(
        "body-size-words",
        "DataPlane",
        dataplane(maxRequestBodySize="10 MB"),
        R("spec.maxRequestBodySize", "must be a size in nginx syntax"),
    ),
)

_add(
    "invalid CIDR",
    C(
        "cidr-host-bits",
        "Component",
        svc(egress=[{"cidr": "10.0.0.1/8"}]),
        R("cidr", says="10.0.0.1/8 has bits set after the prefix length: write the network"),
    ),
    C("cidr-garbage", "Component", svc(egress=[{"cidr": "not-a-cidr"}]), R("cidr")),
    C("cidr-octet-256", "Component", svc(egress=[{"cidr": "256.1.1.0/24"}]), R("cidr")),
    C(
        "cidr-no-prefix",
        "Component",
        svc(egress=[{"cidr": "203.0.113.10"}]),
        R("spec.egress[0].cidr", says="203.0.113.10 has no prefix length: write 203.0.113.10/32"),
    ),
    C(
        "cidr-ipv6-no-prefix",
        "Component",
        svc(egress=[{"cidr": "2001:db8::10"}]),
        R("spec.egress[0].cidr", says="write 2001:db8::10/128"),
    ),
    C(
        "dataplane-egress-cidr-no-prefix",
        "DataPlane",
        dataplane(egressCIDRs=["192.0.2.10"]),
        R("spec.egressCIDRs[0]", says="192.0.2.10 has no prefix length: write 192.0.2.10/32"),
    ),
    C(
        "cluster-network-no-prefix",
        "DataPlane",
        dataplane(clusterNetworks=["10.96.0.1"]),
        R("spec.clusterNetworks[0]", says="write 10.96.0.1/32"),
    ),
    C("cidr-prefix-33", "Component", svc(egress=[{"cidr": "203.0.113.0/33"}]), R("cidr")),
    C("cidr-leading-zero", "Component", svc(egress=[{"cidr": "010.0.0.0/8"}]), R("cidr")),
    C("cidr-ipv6-host-bits", "Component", svc(egress=[{"cidr": "2001:db8::1/32"}]), R("cidr")),
    C("cidr-negative-prefix", "Component", svc(egress=[{"cidr": "10.0.0.0/-1"}]), R("cidr")),
    # An IPv4 range spelled as IPv6 would slip past the IPv4 cluster networks.
    C(
        "cidr-ipv4-mapped-ipv6",
        "Component",
        svc(egress=[{"cidr": "::ffff:10.244.0.0/112"}]),
        R("cidr"),
    ),
    C(
        "dataplane-cidr-host-bits",
        "DataPlane",
        dataplane(egressCIDRs=["20.22.170.145/28"]),
        R("spec.egressCIDRs"),
    ),
    C(
        "dataplane-cidr-duplicate",
        "DataPlane",
        dataplane(egressCIDRs=["192.0.2.0/28", "192.0.2.0/28"]),
        R("spec.egressCIDRs"),
    ),
    C(
        "cluster-network-host-bits",
        "DataPlane",
        dataplane(clusterNetworks=["10.244.0.1/16"]),
        R("spec.clusterNetworks"),
    ),
    C(
        "cluster-network-garbage",
        "DataPlane",
        dataplane(clusterNetworks=["pods"]),
        R("spec.clusterNetworks"),
    ),
    C(
        "cluster-network-duplicate",
        "DataPlane",
        dataplane(clusterNetworks=["10.96.0.0/12", "10.96.0.0/12"]),
        R("spec.clusterNetworks"),
    ),
    C(
        "cluster-networks-17",
        "DataPlane",
        dataplane(clusterNetworks=[f"10.{i}.0.0/16" for i in range(17)]),
        R("spec.clusterNetworks"),
    ),
)

# The e2e DataPlane us declares the test cluster's pod and service networks
# (10.244.0.0/16, 10.96.0.0/16): an allowlist never opens them.
_EGRESS = "EgressAllowlistEffective"
_add(
    "egress allowlist into the cluster",
    C(
        "egress-everything",
        "Component",
        svc(egress=[{"cidr": "0.0.0.0/0"}, {"cidr": "::/0"}]),
        Ready((_EGRESS, "True", "ClusterNetworksExcluded"), mentions="10.244.0.0/16"),
    ),
    C(
        "egress-pod-network",
        "Component",
        svc(egress=[{"cidr": "10.244.0.0/16", "ports": [8080]}]),
        Ready(
            (_EGRESS, "False", "InsideClusterNetwork"),
            mentions="egress 10.244.0.0/16 lies inside the cluster network 10.244.0.0/16 "
            "of DataPlane us and opens nothing",
        ),
    ),
    C(
        "egress-kubernetes-service",
        "Component",
        svc(egress=[{"cidr": "10.96.0.1/32", "ports": [443]}, {"cidr": "203.0.113.0/24"}]),
        Ready((_EGRESS, "False", "InsideClusterNetwork"), mentions="10.96.0.1/32"),
    ),
    C(
        "cluster-networks-everything",
        "DataPlane",
        dataplane(clusterNetworks=["0.0.0.0/0", "::/0"]),
        Ready(),
    ),
)

_add(
    "invalid port",
    C(
        "endpoint-port-0",
        "Component",
        svc(endpoints=[ep(port=0)]),
        R("spec.endpoints[0].port", _PORT),
    ),
    C(
        "endpoint-port-65536",
        "Component",
        svc(endpoints=[ep(port=65536)]),
        R("spec.endpoints[0].port", _PORT),
    ),
    C(
        "egress-port-0",
        "Component",
        svc(egress=[{"cidr": "203.0.113.0/24", "ports": [0]}]),
        R("spec.egress[0].ports[0]", _PORT),
    ),
    C(
        "egress-port-65536",
        "Component",
        svc(egress=[{"cidr": "203.0.113.0/24", "ports": [65536]}]),
        R("spec.egress[0].ports[0]", _PORT),
    ),
    C(
        "egress-port-string",
        "Component",
        svc(egress=[{"cidr": "203.0.113.0/24", "ports": ["https"]}]),
        R("ports"),
    ),
    C(
        "config-port-0",
        "Component",
        svc(
            type="web-app",
            build={"buildpack": "go", "configs": {"buildPackLangVersion": "1.22", "port": "0"}},
        ),
        R("port"),
    ),
    C(
        "config-port-65536",
        "Component",
        svc(
            type="web-app",
            build={"buildpack": "go", "configs": {"buildPackLangVersion": "1.22", "port": "65536"}},
        ),
        R("port"),
    ),
    C(
        "config-port-word",
        "Component",
        svc(
            type="web-app",
            build={"buildpack": "go", "configs": {"buildPackLangVersion": "1.22", "port": "http"}},
        ),
        R("port"),
    ),
    C(
        "config-port-arabic-digits",
        "Component",
        svc(
            type="web-app",
            build={
                "buildpack": "go",
                "configs": {"buildPackLangVersion": "1.22", "port": "\u0668\u0660"},
            },
        ),
        R("port"),
    ),
)

_add(
    "invalid cron schedule",
    C(
        "cron-words",
        "Component",
        task(schedule="every day at noon"),
        R("spec.schedule", says="a schedule is 5 fields separated by spaces"),
    ),
    C("cron-4-fields", "Component", task(schedule="* * * *"), R("spec.schedule")),
    C("cron-6-fields", "Component", task(schedule="0 * * * * *"), R("spec.schedule")),
    C("cron-timezone-prefix", "Component", task(schedule="TZ=UTC 0 * * * *"), R("spec.schedule")),
    C(
        "cron-unknown-macro",
        "Component",
        task(schedule="@fortnightly"),
        R("spec.schedule", says="'@fortnightly' is not a schedule"),
    ),
    C("cron-empty", "Component", task(schedule=""), R("spec.schedule")),
    # Were H1 (the CRD's cron pattern admitted schedules a CronJob rejects).
    C("cron-out-of-range", "Component", task(schedule="99 99 99 99 99"), R("spec.schedule")),
    C(
        "cron-letters-in-fields",
        "Component",
        task(schedule="foo bar baz qux quux"),
        R("spec.schedule"),
    ),
    C("cron-step-zero", "Component", task(schedule="*/0 * * * *"), R("spec.schedule")),
    C(
        "cron-minute-60",
        "Component",
        task(schedule="60 * * * *"),
        R("spec.schedule", says="minute 60 is out of range 0-59"),
    ),
    C(
        "cron-hour-25",
        "Component",
        task(schedule="0 25 * * *"),
        R("spec.schedule", says="hour 25 is out of range 0-23"),
    ),
    C(
        "cron-hour-25-in-a-list",
        "Component",
        task(schedule="0 1,25 * * *"),
        R("spec.schedule", says="hour 25 is out of range 0-23"),
    ),
    C(
        "cron-month-13-in-a-range",
        "Component",
        task(schedule="0 0 1 6-13 *"),
        R("spec.schedule", says="month 13 is out of range 1-12"),
    ),
    C(
        "cron-reversed-range",
        "Component",
        task(schedule="0 0 * * FRI-MON"),
        R("spec.schedule", says="range FRI-MON is reversed"),
    ),
    C(
        "cron-day-of-week-7",
        "Component",
        task(schedule="0 0 * * 7"),
        R("spec.schedule", says="day of week 7 is out of range 0-6"),
    ),
    C(
        "cron-day-of-month-0",
        "Component",
        task(schedule="0 0 0 * *"),
        R("spec.schedule", says="day of month 0 is out of range 1-31"),
    ),
    C(
        "cron-step-zero-says-the-field",
        "Component",
        task(schedule="0 */0 * * *"),
        R("spec.schedule", says="hour '*/0' is invalid"),
    ),
    C("cron-quartz-hash", "Component", task(schedule="0 0 * * 1#2"), R("spec.schedule")),
    C(
        "cron-crontz-prefix",
        "Component",
        task(schedule="CRON_TZ=UTC 0 * * * *"),
        R("spec.schedule"),
    ),
)

_add(
    "type/field combination",
    C("schedule-on-service", "Component", svc(schedule="@daily"), R("spec.schedule")),
    C(
        "schedule-on-manual-task",
        "Component",
        svc(type="manual-task", schedule="@daily"),
        R("spec.schedule"),
    ),
    C("endpoints-on-scheduled-task", "Component", task(endpoints=[ep()]), R("spec.endpoints")),
    C(
        "endpoints-on-manual-task",
        "Component",
        svc(type="manual-task", endpoints=[ep()]),
        R("spec.endpoints"),
    ),
    C(
        "unknown-build-config-key",
        "Component",
        svc(
            build={"buildpack": "docker", "configs": {"dockerFilePath": "D", "dockerfilePath": "D"}}
        ),
        R("spec.build.configs"),
    ),
    C(
        "empty-required-config",
        "Component",
        svc(build={"buildpack": "python", "configs": {"buildPackLangVersion": ""}}),
        R(
            "spec.build.configs[buildPackLangVersion]",
            "must not be empty: give the build config a value, or leave it out",
        ),
    ),
)

_add(
    "duplicate",
    C(
        "duplicate-endpoint-names",
        "Component",
        svc(endpoints=[ep("http", 8080), ep("http", 8081)]),
        R("spec.endpoints"),
    ),
    C(
        "duplicate-endpoint-port",
        "Component",
        svc(endpoints=[ep("a", 8080), ep("b", 8080)]),
        R("spec.endpoints"),
    ),
    C(
        "duplicate-env-names",
        "Component",
        svc(env=[{"name": "A"}, {"name": "A", "value": "2"}]),
        R("spec.env"),
    ),
    C(
        "duplicate-override-environment",
        "Component",
        svc(overrides=[{"environment": "development"}, {"environment": "development"}]),
        R("spec.overrides"),
    ),
    C(
        "duplicate-egress-ports",
        "Component",
        svc(egress=[{"cidr": "203.0.113.0/24", "ports": [443, 443]}]),
        R("ports"),
    ),
    C(
        "duplicate-environments",
        "Component",
        svc(environments=["development", "development"]),
        R("spec.environments"),
    ),
    C(
        "duplicate-override-env-names",
        "Component",
        svc(overrides=[{"environment": "development", "env": [{"name": "A"}, {"name": "A"}]}]),
        R("env"),
    ),
)

_add(
    "bad env var name",
    C(
        "env-name-space",
        "Component",
        svc(env=[{"name": "MY VAR"}]),
        R("spec.env[0].name", _ENV_NAME),
    ),
    C("env-name-equals", "Component", svc(env=[{"name": "A=B"}]), R("spec.env[0].name")),
    C("env-name-digit-first", "Component", svc(env=[{"name": "1VAR"}]), R("spec.env[0].name")),
    C("env-name-unicode", "Component", svc(env=[{"name": "\u00c4PFEL"}]), R("spec.env[0].name")),
    C("env-name-emoji", "Component", svc(env=[{"name": f"VAR{EMOJI}"}]), R("spec.env[0].name")),
    C(
        "env-name-shell-injection",
        "Component",
        svc(env=[{"name": "$(rm -rf /)"}]),
        R("spec.env[0].name"),
    ),
)

_add(
    "unicode",
    C("name-unicode", "Component", svc(), R("metadata.name"), name="caf\u00e9"),
    C("name-emoji", "Component", svc(), R("metadata.name"), name=f"api{EMOJI}"),
    C("name-rtl-override", "Component", svc(), R("metadata.name"), name=f"api{RTL}ipa"),
    C("name-cyrillic-homoglyph", "Project", {}, R("metadata.name"), name="\u0440roject"),
    C("image-with-space", "Component", svc(image="nginx latest"), R("spec.image")),
    C("project-ref-unicode", "Component", svc(project="p\u00e9"), R("spec.project")),
    C("endpoint-name-unicode", "Component", svc(endpoints=[ep(name="h\u00e9")]), R("name")),
    C(
        "display-name-rtl-emoji",
        "Project",
        {"displayName": f"{RTL}tcejorp {EMOJI}{ZWJ}\u05e9\u05dc\u05d5\u05dd"},
        Ready(),
    ),
    C(
        "env-value-unicode",
        "Component",
        svc(
            env=[
                {
                    "name": "GREETING",
                    "value": f"\u05e9\u05dc\u05d5\u05dd {RTL}olleh{ZWJ} \u0000\u2028",
                }
            ]
        ),
        Ready(),
    ),
    C(
        "env-value-emoji",
        "Component",
        svc(env=[{"name": "GREETING", "value": f"hello {EMOJI}"}]),
        Ready(),
    ),
    C(
        "image-emoji",
        "Component",
        svc(image=f"registry.example.com/{EMOJI}:1"),
        R("spec.image", says="must be an image reference"),
    ),
    # An Ingress path of letters, digits, '.', '_', '-' only (what ingress-nginx takes).
    C(
        "ingress-path-emoji",
        "Component",
        svc(endpoints=[ep(visibility="public", path=f"/{EMOJI}")]),
        R("path"),
    ),
    C("region-unicode", "DataPlane", dataplane(region=f"Z\u00fcrich {EMOJI}"), Ready()),
)

_add(
    "unknown or foreign reference",
    C(
        "project-missing",
        "Component",
        svc(project="ghost"),
        Stalled("ProjectNotFound", mentions="ghost"),
    ),
    C(
        "project-of-other-org",
        "Component",
        svc(project="bproj"),
        Stalled("ProjectNotFound", mentions="bproj"),
    ),
    C(
        "override-unknown-environment",
        "Component",
        svc(overrides=[{"environment": "staging", "replicas": 3}]),
        Stalled("EnvironmentNotFound", mentions="staging"),
    ),
    C(
        "environments-unknown",
        "Component",
        svc(environments=["nowhere"]),
        Stalled("EnvironmentNotFound", mentions="nowhere"),
    ),
    C(
        "environments-empty",
        "Component",
        svc(environments=[]),
        Stalled("NoEnvironments", stalled=False),
    ),
    C(
        "project-unknown-dataplane",
        "Project",
        {"dataPlane": "mars"},
        Stalled("DataPlaneNotFound", mentions="mars"),
    ),
    C(
        "environment-unknown-dataplane",
        "Environment",
        {"dataPlane": "mars"},
        Stalled("DataPlaneNotFound", mentions="mars"),
    ),
    C(
        "organization-unknown-dataplane",
        "Organization",
        {"tier": "payg", "defaultDataPlane": "mars"},
        Stalled("DataPlaneNotFound", mentions="mars"),
    ),
    C(
        "component-outside-org-namespace",
        "Component",
        svc(),
        Stalled("NotInOrganizationNamespace"),
        where=PLAIN,
    ),
    C(
        "project-on-unknown-dataplane-ref",
        "Component",
        svc(project="marsproj"),
        Stalled("ProjectNotReady", mentions="marsproj"),
    ),
)

_add(
    "immutable field",
    C(
        "environment-dataplane-changed",
        "Environment",
        {"dataPlane": "eu"},
        R("spec.dataPlane"),
        before={"dataPlane": "us"},
    ),
    C(
        "project-dataplane-changed",
        "Project",
        {"dataPlane": "eu"},
        R("spec.dataPlane"),
        before={"dataPlane": "us"},
    ),
    C("project-dataplane-removed", "Project", {}, R("spec.dataPlane"), before={"dataPlane": "us"}),
    # Created on the organization's defaultDataPlane: adding one later would move it.
    C("project-dataplane-added", "Project", {"dataPlane": "eu"}, R("spec.dataPlane"), before={}),
    C(
        "organization-default-dataplane-changed",
        "Organization",
        {"tier": "payg", "defaultDataPlane": "eu"},
        R("spec.defaultDataPlane"),
        before={"tier": "payg", "defaultDataPlane": "us"},
    ),
)

_add(
    "rendered object rejected downstream",
    # Were H2 (endpoint paths the CRD admitted and the Ingress rejected).
    *(
        C(
            f"ingress-path-{name}",
            "Component",
            svc(endpoints=[ep(visibility="public", path=path)]),
            R("path"),
        )
        for name, path in (
            ("double-slash", "/a//b"),
            ("dot-dot", "/api/../admin"),
            ("encoded-slash", "/a%2Fb"),
            ("trailing-dot", "/a/."),
            ("space", "/a b"),
            ("relative", "api"),
            ("nginx-forbidden", "/etc/nginx"),
        )
    ),
    # Was H5: a long baseDomain made Ingress hosts longer than 253 characters.
    C(
        "base-domain-159",
        "DataPlane",
        dataplane(ingress={**INGRESS, "baseDomain": ".".join(["d" * 49] * 3 + ["d" * 9])}),
        R("baseDomain"),
    ),
    C(
        "base-domain-label-64",
        "DataPlane",
        dataplane(ingress={**INGRESS, "baseDomain": "d" * 64 + ".example.com"}),
        R("baseDomain"),
    ),
    C(
        "run-request-token-300-chars",
        "Component",
        svc(type="manual-task"),
        Stalled("InvalidRunRequest", mentions="run-request"),
        annotations={"cdp.dev/run-request": "r" * 300},
    ),
)


# ------------------------------------------------- build configurations, generated
def _build_cases() -> list[Case]:
    """Every wrong (type, buildpack, config) class from REQUIRED_BUILD_CONFIGS."""
    out = []
    for t in ComponentType:
        base: dict[str, Any] = {"project": "p", "type": t.value, "image": IMAGE}
        if t is ComponentType.SCHEDULED_TASK:
            base["schedule"] = "@daily"
        for b in Buildpack:
            required = REQUIRED_BUILD_CONFIGS.get((t, b))
            if required is None:
                # Unsupported pair: give it every key, so only the pair is wrong.
                spec = {**base, "build": {"buildpack": b.value, "configs": dict(CONFIG_VALUES)}}
                out.append(
                    C(
                        f"build-{t.value}-{b.value}-unsupported",
                        "Component",
                        spec,
                        R("spec.build.buildpack"),
                    )
                )
                continue
            for missing in required:
                configs = configs_for(k for k in required if k != missing)
                spec = {**base, "build": {"buildpack": b.value, "configs": configs}}
                out.append(
                    C(f"build-{t.value}-{b.value}-no-{missing}", "Component", spec, R(missing))
                )
    assert len(out) == sum(len(v) for v in REQUIRED_BUILD_CONFIGS.values()) + sum(
        len(Buildpack) - len(buildpacks_for(t)) for t in ComponentType
    )
    assert set(CONFIG_VALUES) == set(CONFIG_KEY_DESCRIPTIONS)
    return out


_add("build configuration", *_build_cases())


def web_app(configs: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """A web-app built with the python buildpack, on build config port 8080 by default."""
    configs = configs or {"buildPackLangVersion": "3.12", "port": "8080"}
    return svc(type="web-app", build={"buildpack": "python", "configs": configs}, **extra)


_add(
    "image reference",
    C("image-upper-double-colon", "Component", svc(image="UPPER/Case::1"), R("spec.image", _IMAGE)),
    C(
        "image-upper-repository",
        "Component",
        svc(image="registry.example.com/Team/app:1"),
        R("spec.image", _IMAGE),
    ),
    C("image-tag-129", "Component", svc(image="app:" + "t" * 129), R("spec.image", _IMAGE)),
    C("image-tag-dash-first", "Component", svc(image="app:-1"), R("spec.image", _IMAGE)),
    C("image-short-digest", "Component", svc(image="app@sha256:abc"), R("spec.image", _IMAGE)),
    C(
        "image-trailing-slash",
        "Component",
        svc(image="registry.example.com/"),
        R("spec.image", _IMAGE),
    ),
    C(
        "override-image-invalid",
        "Component",
        svc(overrides=[{"environment": "development", "image": "UPPER/Case::1"}]),
        R("spec.overrides[0].image", _IMAGE),
    ),
    # Valid by the grammar: a registry with a port, nested paths, separators, a digest.
    C(
        "image-registry-port-digest",
        "Component",
        svc(image="localhost:5000/team/my__app.v2/x-y:1.0_rc-1@sha256:" + "0" * 64),
        Ready(),
    ),
)

_add(
    "web-app endpoint",
    C(
        "web-app-port-without-endpoint",
        "Component",
        web_app(),
        R(
            "spec.endpoints",
            "a web-app needs an endpoint on its build config port 8080: add endpoints: "
            "[{name: http, port: 8080, visibility: public}]",
        ),
    ),
    C(
        "web-app-endpoint-port-mismatch",
        "Component",
        web_app(endpoints=[ep(port=8081, visibility="public")]),
        R(
            "spec.endpoints",
            "no endpoint is on the build config port 8080: set an endpoint's port to 8080 or "
            "change build config 'port'",
        ),
    ),
    C(
        "web-app-endpoint-on-port-and-another",
        "Component",
        web_app(endpoints=[ep(port=8080, visibility="public"), ep("metrics", 9090)]),
        Ready(),
    ),
)

_add(
    "unknown build config key",
    C(
        "config-key-typo",
        "Component",
        web_app({"buildPackLangVerison": "3.12", "port": "8080"}, endpoints=[ep()]),
        R(
            "spec.build.configs",
            "build config 'buildPackLangVerison' is unknown",
        ),
    ),
    C(
        "config-key-unknown-lists-the-keys",
        "Component",
        svc(build={"buildpack": "docker", "configs": {"dockerFilePath": "D", "context": "."}}),
        R(
            "spec.build.configs",
            "build config 'context' is unknown: type 'service' with buildpack 'docker' takes "
            "dockerFilePath",
        ),
    ),
    C(
        "config-key-case",
        "Component",
        svc(build={"buildpack": "go", "configs": {"buildPackLangVersion": "1.22", "Port": "1"}}),
        R("spec.build.configs", "build config 'Port' is unknown"),
    ),
)

# Every field with a pattern, range or non-empty constraint answers in words at admission
# (a CEL rule with a message, the same text as the models'): no "should match '^...$'"
# nor "should be less than or equal to". The cases above cover the others.
_add(
    "constraint in words",
    C(
        "override-replicas-101",
        "Component",
        svc(overrides=[{"environment": "development", "replicas": 101}]),
        R("spec.overrides[0].replicas", _REPLICAS),
    ),
    C(
        "override-environment-uppercase",
        "Component",
        svc(overrides=[{"environment": "Production", "replicas": 2}]),
        R("spec.overrides[0].environment", f"must be the name of an Environment: {_DNS_LABEL}"),
    ),
    C(
        "override-env-name-digit-first",
        "Component",
        svc(overrides=[{"environment": "development", "env": [{"name": "1X"}]}]),
        R("spec.overrides[0].env[0].name", _ENV_NAME),
    ),
    C(
        "override-cpu-words",
        "Component",
        svc(overrides=[{"environment": "development", "resources": {"cpu": "two cores"}}]),
        R(
            "spec.overrides[0].resources.cpu",
            "must be a CPU quantity: cores (e.g. 1 or 0.5) or millicores (e.g. 100m)",
        ),
    ),
    C(
        "override-memory-gigabytes",
        "Component",
        svc(overrides=[{"environment": "development", "resources": {"memory": "1GB"}}]),
        R(
            "spec.overrides[0].resources.memory",
            "must be a memory quantity: bytes or a number with Ki, Mi or Gi, e.g. 128Mi",
        ),
    ),
    C(
        "cidr-empty",
        "Component",
        svc(egress=[{"cidr": ""}]),
        R("spec.egress[0].cidr", "must be a CIDR"),
    ),
    C(
        "endpoint-name-empty",
        "Component",
        svc(endpoints=[ep(name="")]),
        R("spec.endpoints[0].name", _ENDPOINT_NAME),
    ),
    C(
        "organization-default-dataplane-uppercase",
        "Organization",
        {"defaultDataPlane": "US"},
        R("spec.defaultDataPlane", f"must be the name of a DataPlane: {_DNS_LABEL}"),
    ),
    C(
        "environment-dataplane-underscore",
        "Environment",
        {"dataPlane": "north_europe"},
        R("spec.dataPlane", f"must be the name of a DataPlane: {_DNS_LABEL}"),
    ),
    C(
        "project-ref-empty",
        "Component",
        svc(project=""),
        R("spec.project", f"must be the name of a Project: {_DNS_LABEL}"),
    ),
    C(
        "dataplane-region-empty",
        "DataPlane",
        dataplane(region=""),
        R("spec.region", "must not be empty: a human-readable region, e.g. US East 2"),
    ),
    C(
        "dataplane-ingress-class-uppercase",
        "DataPlane",
        dataplane(ingress={**INGRESS, "className": "NGINX"}),
        R("spec.ingress.className", "must be the name of an IngressClass"),
    ),
    C(
        "dataplane-gateway-namespace-empty",
        "DataPlane",
        dataplane(ingress={**INGRESS, "gatewayNamespace": ""}),
        R("spec.ingress.gatewayNamespace", f"must be a DNS label: {_DNS_LABEL}"),
    ),
    C(
        "dataplane-base-domain-trailing-dot",
        "DataPlane",
        dataplane(ingress={**INGRESS, "baseDomain": "apps.example.com."}),
        R("spec.ingress.baseDomain", "must be a lower-case DNS name"),
    ),
    C(
        "dataplane-body-size-unit-MB",
        "DataPlane",
        dataplane(maxRequestBodySize="10MB"),
        R(
            "spec.maxRequestBodySize",
            "must be a size in nginx syntax: a number with k, m or g, e.g. 10m",
        ),
    ),
    C(
        "config-value-empty",
        "Component",
        svc(build={"buildpack": "docker", "configs": {"dockerFilePath": ""}}),
        R("spec.build.configs[dockerFilePath]", "must not be empty"),
    ),
)

#: Phrases of the apiserver's and pydantic's own validation wording that no rejection of
#: the catalogue may show: every constrained field answers with a message of ours.
RAW_WORDING = (
    "should match",
    "in body should",
    "should be less than",
    "should be greater than",
    "must be less than or equal",
    "must be greater than or equal",
    "chars long",
    "Input should",
    "String should",
    "Value error",
)

CASES: tuple[Case, ...] = tuple(_CASES)
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"

#: Findings the Either cases and known failures refer to (details in the e2e module and
#: the report). Fixed, and now Rejected cases: H1 (cron schedules a CronJob rejects), H2
#: (endpoint paths an Ingress rejects), H5 (Ingress hosts over 253 characters).
FINDINGS = {
    "H3": "a run-request token longer than status.lastRun.token's maxLength (253) creates "
    "the Job, then every status write fails; the operator retries forever",
    "H4": "a character outside the Basic Multilingual Plane (an emoji) in any rendered value "
    "makes every server-side apply of that object fail (json.dumps escapes it as a surrogate "
    "pair, which the apiserver's YAML decoder rejects); the operator retries forever",
}
