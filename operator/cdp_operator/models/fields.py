"""Field types the specs share (CIDRs, ports, replicas, strict booleans) and the `Spec`
base model: frozen, camelCase aliases, errors in the project's words."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    ValidationError,
    model_validator,
)

from .messages import humanize
from .rules import checked, range_rule

_HOST_BITS = " has bits set after the prefix length: write the network address (those bits cleared)"


def _cidr_fix(value: str) -> str | None:
    """The fix for an address without a prefix, or a CIDR with host bits set."""
    if "/" not in value:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
        if "%" in value or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped):
            return None
        return f"{value} has no prefix length: write {value}/{address.max_prefixlen}"
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        return None
    if network.network_address != ipaddress.ip_interface(value).ip:
        # The apiserver cannot name the network: string() of a CIDR is too costly for its
        # estimator. The models can.
        return f"{value}{_HOST_BITS}: {network}"
    return None


def _check_cidr(value: str) -> str:
    fix = _cidr_fix(value)
    if fix:
        raise ValueError(fix)
    if "/" not in value:
        raise ValueError(CIDR_MESSAGE)
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(CIDR_MESSAGE) from None
    # CEL's cidr() refuses IPv4-mapped IPv6 (::ffff:a.b.c.d), as NetworkPolicy ipBlock does.
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.network_address.ipv4_mapped is not None
    ):
        raise ValueError(CIDR_MESSAGE)
    return value


CIDR_MESSAGE = (
    "must be a CIDR in canonical form (network address/prefix length), e.g. 20.22.170.144/28"
)
_CIDR_RULE = {
    # isCIDR first: cidr() errors on anything else. masked() == self rejects host bits.
    "rule": "isCIDR(self) && cidr(self) == cidr(self).masked()",
    "message": CIDR_MESSAGE,
    # The same text as _cidr_fix, else the message.
    "messageExpression": "!self.contains('/') && isIP(self) ? self + ' has no prefix length: "
    "write ' + self + (ip(self).family() == 4 ? '/32' : '/128') : isCIDR(self) ? self + "
    f"'{_HOST_BITS}' : "
    f"'{CIDR_MESSAGE}'",
}
CIDR = Annotated[
    str,
    StringConstraints(max_length=43),
    AfterValidator(_check_cidr),
    Field(json_schema_extra={"x-kubernetes-validations": [_CIDR_RULE]}),
]


def _integral_float(value: Any) -> Any:
    # The apiserver takes 3.0 (and 1e1) for an integer field; so do the models.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Integers as the apiserver's schema validation sees them: a JSON number with no
# fraction. Strict, so "3" and true are rejected as they are at admission (pydantic's
# lax mode would turn them into 3 and 1). The bounds are CEL rules (checked above).
Port = Annotated[
    int,
    Strict(),
    *checked(range_rule(1, 65535, "a port number")),
    BeforeValidator(_integral_float),
]
Replicas = Annotated[
    int,
    Strict(),
    *checked(range_rule(0, 100, "a number of replicas")),
    BeforeValidator(_integral_float),
]
#: A JSON boolean only: "yes", "true" and 1 are rejected, as at admission.
Boolean = StrictBool


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="wrap")
    @classmethod
    def _human_messages(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        # Every error in the project's words, whichever nested model raised it.
        try:
            return handler(data)
        except ValidationError as exc:
            raise humanize(exc) from None
