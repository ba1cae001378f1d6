"""Image references as container runtimes parse them: github.com/distribution/reference.

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ host [ ":" port ] "/" ] path-component { "/" path-component }
    host       := domain-component { "." domain-component }
    path-component := [a-z0-9]+ { separator [a-z0-9]+ },  separator := "." | "_" | "__" | "-"+
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" [0-9a-fA-F]{32,}

Repository path components are lower case; only the registry host may have
upper-case letters. One regular expression, without backslashes, so it embeds
in a CEL string as it is (RE2 and Python `re` read it alike). Not accepted: an
IPv6 literal registry host (`[::1]:5000/app`), which nobody writes in a spec.
"""

from __future__ import annotations

import re

_DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = f"{_DOMAIN_COMPONENT}(?:[.]{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_TAG = "[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}"
_DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

PATTERN = f"^(?:{_HOST}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
_COMPILED = re.compile(PATTERN)

#: What a reference looks like, for messages and descriptions.
SHAPE = (
    "an image reference such as registry.example.com/team/app:1.2.0 or "
    "nginx@sha256:<64 hex digits>: an optional registry host[:port]/, a repository path "
    "of lower-case letters, digits and '.', '_', '-' separated by '/', then an optional "
    ":tag (letters, digits, '_', '.', '-', at most 128) and an optional @algorithm:digest"
)
MESSAGE = f"must be {SHAPE}"


def is_valid_reference(value: str) -> bool:
    return _COMPILED.fullmatch(value) is not None


#: The same check in CEL (`self` is the reference).
CEL = f"self.matches('{PATTERN}')"
