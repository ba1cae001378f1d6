"""Names the operator derives. Stable, at most 63 characters, collision-proof."""

from __future__ import annotations

import hashlib

DNS_LABEL_MAX = 63
_HASH_LEN = 8


def _short_hash(full: str) -> str:
    return hashlib.sha256(full.encode()).hexdigest()[:_HASH_LEN]


def bounded_name(*parts: str, limit: int = DNS_LABEL_MAX) -> str:
    """Join parts with '-'; when too long, truncate and add a hash of the full input.

    The hash covers the parts joined with '/', which cannot occur inside a name,
    so ("a-b", "c") and ("a", "b-c") hash differently even though both join to
    "a-b-c"; that joined form is only used as-is when it fits.
    """
    joined = "-".join(parts)
    if len(joined) <= limit and _unambiguous(parts):
        return joined
    digest = _short_hash("/".join(parts))
    head = joined[: limit - _HASH_LEN - 1].rstrip("-")
    return f"{head}-{digest}"


def _unambiguous(parts: tuple[str, ...]) -> bool:
    # "a-b" + "c" and "a" + "b-c" both join to "a-b-c". Names of the inner
    # parts are DNS labels that may contain '-', so a plain join is only safe
    # when no part but the last contains '-'. Otherwise the hash disambiguates.
    return all("-" not in p for p in parts[:-1])


def organization_namespace_name(organization: str) -> str:
    # A single variable part: unambiguous, hashed only when too long.
    return bounded_name(f"cdp-org-{organization}")


def runtime_namespace_name(organization: str, project: str, environment: str) -> str:
    return bounded_name(organization, project, environment)


def default_environment_names(data_plane: str, is_org_default: bool) -> tuple[str, str]:
    """(development, production) environment names for a data plane."""
    if is_org_default:
        return ("development", "production")
    return (
        bounded_name("development", data_plane, limit=DNS_LABEL_MAX),
        bounded_name("production", data_plane, limit=DNS_LABEL_MAX),
    )
