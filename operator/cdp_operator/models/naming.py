"""Names the operator derives. Stable, at most 63 characters, collision-proof."""

from __future__ import annotations

import functools
import hashlib
import re

DNS_LABEL_MAX = 63
_HASH_LEN = 8
#: The tail of every hashed name: '-' and the hash (lower-case hex).
_HASHED_TAIL = re.compile(f"-[0-9a-f]{{{_HASH_LEN}}}")


def _short_hash(full: str) -> str:
    return hashlib.sha256(full.encode()).hexdigest()[:_HASH_LEN]


def looks_hashed(name: str) -> bool:
    """Whether `name` ends like a hashed name: '-' and 8 lower-case hex characters."""
    return _HASHED_TAIL.fullmatch(name[-(_HASH_LEN + 1) :]) is not None


def bounded_name(*parts: str, limit: int = DNS_LABEL_MAX) -> str:
    """Join parts with '-'; unless that join is safe, cut it and add a hash of the full input.

    The plain join is used only when it fits in `limit` and names exactly one
    input, so no other input's name can equal it:

    * no part but the last contains '-': "a-b" + "c" and "a" + "b-c" both join
      to "a-b-c", so a join of parts with '-' in them is hashed;
    * (joins of several parts) it does not end in '-' + 8 hex characters, the
      tail of every hashed name: otherwise a join could be chosen to equal the
      hashed name of other parts ("t1-corp" + "p" + "development" hashes to
      "t1-corp-p-development-<hash>", which "t1" + "corp" +
      "p-development-<hash>" would join to).

    Hashed names are the join cut to `limit` - 9 characters, '-' and the first 8
    hex characters of sha256 of the parts joined with '/' (which cannot occur
    in a name), so two inputs that share a prefix, or join alike, still differ.
    A single part is only hashed when too long; the operator's single-part
    names (`cdp-org-<org>`, policy, CronJob and Job names) always fit, given
    the name rules (resources.NAME_RULES).
    """
    joined = "-".join(parts)
    if len(joined) <= limit and _unambiguous(parts, joined):
        return joined
    digest = _short_hash("/".join(parts))
    head = joined[: limit - _HASH_LEN - 1].rstrip("-")
    return f"{head}-{digest}"


def _unambiguous(parts: tuple[str, ...], joined: str) -> bool:
    if len(parts) == 1:
        return True
    return all("-" not in p for p in parts[:-1]) and not looks_hashed(joined)


def organization_namespace_name(organization: str) -> str:
    # A single variable part: unambiguous, hashed only when too long (never: at
    # most 8 + 30 characters). No runtime namespace starts with "cdp-org-",
    # since organization names may not be "cdp" nor start with "cdp-".
    return bounded_name(f"cdp-org-{organization}")


def organization_of_namespace(namespace: str) -> str | None:
    """The organization whose namespace `namespace` is by its name (the inverse of
    organization_namespace_name), or None when it is no organization's namespace."""
    organization = namespace.removeprefix("cdp-org-")
    if organization and organization_namespace_name(organization) == namespace:
        return organization
    return None


@functools.lru_cache(maxsize=8192)
def runtime_namespace_name(organization: str, project: str, environment: str) -> str:
    # Memoised: every reconcile names the namespaces of its component's environments
    # again (68,000 calls in a pass over shared N=3,000); a data plane has a few
    # thousand of them.
    return bounded_name(organization, project, environment)


def default_environment_names(data_plane: str, is_org_default: bool) -> tuple[str, str]:
    """(development, production) environment names for a data plane."""
    if is_org_default:
        return ("development", "production")
    # One part each: "development-" + a DataPlane name (at most 28) always fits
    # in an Environment name (40) and is never hashed.
    return (
        bounded_name(f"development-{data_plane}", limit=DNS_LABEL_MAX),
        bounded_name(f"production-{data_plane}", limit=DNS_LABEL_MAX),
    )
