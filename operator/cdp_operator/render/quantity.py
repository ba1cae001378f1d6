"""Resource quantities exactly as the API server stores them in a pod (template).

Rendering the stored form keeps "desired is a subset of live" true by plain
string comparison, so a reconcile makes no write. What the server does, in
k8s.io/apimachinery (resource.ParseQuantity, Quantity.String) and
k8s.io/kubernetes (SetDefaults_ResourceList), for the non-negative decimal and
binary-SI quantities our specs allow:

1. Parsing keeps the text as given when it is already canonical in value
   ("11.644", "100m", "0100m", "1Mi"); otherwise the text is dropped.
2. Every resource list is rounded up to milli precision ("0.0001" -> "1m");
   a value that needs rounding loses its text.
3. Serialising writes the kept text, or else the canonical form
   ("0.5" -> "500m", "1000m" -> "1", "1024Mi" -> "1Gi", "1000" -> "1k").
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction

_QUANTITY = re.compile(r"(?P<num>[0-9]*)(?:\.(?P<denom>[0-9]*))?(?P<suffix>[KMGTPE]i|[numkMGTPE]?)")
_DECIMAL_EXPONENT = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL_EXPONENT.items()}
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_INT64_MAX = 2**63 - 1
_MAX_INT64_FACTORS = 18
_NANO = -9
_MILLI = -3


@functools.lru_cache(maxsize=1024)  # a handful of distinct quantities, rendered again and again
def canonical_quantity(text: str) -> str:
    """The string the API server stores for the container resource quantity `text`."""
    match = _QUANTITY.fullmatch(text)
    if match is None or not (match["num"] or match["denom"]):
        raise ValueError(f"not a non-negative resource quantity: {text!r}")
    if text == "0":
        return text
    num = match["num"].lstrip("0") or "0"
    denom = match["denom"] or ""
    suffix = match["suffix"]
    binary = suffix.endswith("i")
    exponent = 10 * _BINARY_SUFFIXES.index(suffix) if binary else _DECIMAL_EXPONENT[suffix]

    # resource.ParseQuantity: the int64 fast path, which may keep the text.
    if binary:
        scale = 0
        precision = 15 - len(num) - exponent * 3 // 10 - 1 if not denom else -1
    else:
        scale = exponent
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
    if precision >= 0 and scale - len(denom) >= _NANO:
        scale -= len(denom)
        shifted = num + denom
        value = int(shifted)
        result = value << exponent if binary else value
        if result <= _INT64_MAX:
            if binary:
                keeps_text = exponent % 10 == 0 and value & 0x07 != 0
            else:
                keeps_text = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
            amount = Fraction(result) * Fraction(10) ** scale
            if scale >= _MILLI:  # RoundUp(milli) leaves it, text and all
                return text if keeps_text else _canonical(amount, binary)
            return _canonical(_round_up(amount, _MILLI), binary)

    # The arbitrary-precision path: rounded up to nano, never keeps the text.
    amount = Fraction(int(num + denom), 10 ** len(denom))
    amount *= 2**exponent if binary else Fraction(10) ** exponent
    amount = _round_up(amount, _NANO)
    return _canonical(_round_up(amount, _MILLI), binary)


def _round_up(amount: Fraction, scale: int) -> Fraction:
    unit = Fraction(10) ** scale
    return math.ceil(amount / unit) * unit


def _canonical(amount: Fraction, binary: bool) -> str:
    """Quantity.CanonicalizeBytes for a non-negative amount with at most nano precision."""
    if amount == 0:
        return "0"
    if binary and amount >= 1024 and amount.denominator == 1:
        return _binary(amount.numerator)
    return _decimal(amount)


def _binary(amount: int) -> str:
    exponent = 0
    while amount % 1024 == 0 and exponent < len(_BINARY_SUFFIXES) - 1:
        amount //= 1024
        exponent += 1
    return f"{amount}{_BINARY_SUFFIXES[exponent]}"


def _decimal(amount: Fraction) -> str:
    nanos = amount * 10**9
    if nanos.denominator != 1:
        raise ValueError(f"resource quantity below nano precision: {amount}")
    mantissa, exponent = nanos.numerator, _NANO
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    mantissa *= 10**shift
    exponent -= shift
    if exponent not in _DECIMAL_SUFFIX:
        raise ValueError(f"resource quantity out of range: {mantissa}e{exponent}")
    return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"
