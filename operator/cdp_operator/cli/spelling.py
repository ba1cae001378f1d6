"""Accept the seed's spellings of component types and buildpacks.

The seed FAQ writes "Web Application", "Webapp", "Node.js", ".Net", "WSO2 MI",
"Static website"; the CRDs use the enum values of models.buildconfigs
("web-app", "nodejs", "dotnet", "wso2-mi", "static-website"). Matching ignores
case, spaces and punctuation, so every one of those spellings (and the enum
values themselves) maps to the enum. This module only maps names; which
combinations are valid stays in models.buildconfigs.REQUIRED_BUILD_CONFIGS.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TypeVar

from ..models.buildconfigs import Buildpack, ComponentType
from ..models.resources import Visibility

#: The seed's display names (used for matching and in `cdp buildpacks`).
TYPE_DISPLAY: dict[ComponentType, str] = {
    ComponentType.SERVICE: "Service",
    ComponentType.WEB_APP: "Web Application",
    ComponentType.WEBHOOK: "Webhook",
    ComponentType.SCHEDULED_TASK: "Scheduled Task",
    ComponentType.MANUAL_TASK: "Manual Task",
}

BUILDPACK_DISPLAY: dict[Buildpack, str] = {
    Buildpack.PYTHON: "Python",
    Buildpack.NODEJS: "Node.js",
    Buildpack.JAVA: "Java",
    Buildpack.GO: "Go",
    Buildpack.PHP: "PHP",
    Buildpack.RUBY: "Ruby",
    Buildpack.DOCKER: "Docker",
    Buildpack.BALLERINA: "Ballerina",
    Buildpack.WSO2_MI: "WSO2 MI",
    Buildpack.DOTNET: ".Net",
    Buildpack.STATIC_WEBSITE: "Static website",
    Buildpack.REACT: "React",
    Buildpack.ANGULAR: "Angular",
    Buildpack.VUE: "Vue",
}

_TYPE_EXTRA = {
    "webapp": ComponentType.WEB_APP,  # the seed's table says "Webapp"
    "web": ComponentType.WEB_APP,
    "scheduled": ComponentType.SCHEDULED_TASK,
    "cron": ComponentType.SCHEDULED_TASK,
    "manual": ComponentType.MANUAL_TASK,
}

_BUILDPACK_EXTRA = {
    "node": Buildpack.NODEJS,
    "golang": Buildpack.GO,
    "net": Buildpack.DOTNET,  # ".Net"
    "csharp": Buildpack.DOTNET,
    "mi": Buildpack.WSO2_MI,
    "static": Buildpack.STATIC_WEBSITE,
    "dockerfile": Buildpack.DOCKER,
    "vuejs": Buildpack.VUE,
}

_VISIBILITY_EXTRA = {
    # The seed's words: an internal API is reachable from the organization,
    # an external API from the internet.
    "internal": Visibility.ORGANIZATION,
    "org": Visibility.ORGANIZATION,
    "external": Visibility.PUBLIC,
}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


E = TypeVar("E", bound=StrEnum)


def _index(members: list[E], display: dict[E, str], extra: dict[str, E]) -> dict[str, E]:
    index: dict[str, E] = {}
    for member in members:
        index[_key(member.value)] = member
        if member in display:
            index[_key(display[member])] = member
    for alias, member in extra.items():
        index.setdefault(_key(alias), member)
    return index


_TYPES = _index(list(ComponentType), TYPE_DISPLAY, _TYPE_EXTRA)
_BUILDPACKS = _index(list(Buildpack), BUILDPACK_DISPLAY, _BUILDPACK_EXTRA)
_VISIBILITIES = _index(list(Visibility), {}, _VISIBILITY_EXTRA)


class UnknownName(ValueError):
    """A spelling that matches no enum value; the message lists the valid ones."""


def _lookup(index: dict[str, E], members: type[E], text: str, what: str, note: str = "") -> E:
    """The member `text` spells, or UnknownName listing the valid values."""
    try:
        return index[_key(text)]
    except KeyError:
        allowed = ", ".join(m.value for m in members)
        raise UnknownName(f"unknown {what} {text!r} (allowed: {allowed}{note})") from None


def component_type(text: str) -> ComponentType:
    return _lookup(_TYPES, ComponentType, text, "component type")


def buildpack(text: str) -> Buildpack:
    return _lookup(_BUILDPACKS, Buildpack, text, "buildpack")


def visibility(text: str) -> Visibility:
    note = "; 'internal' means organization, 'external' means public"
    return _lookup(_VISIBILITIES, Visibility, text, "visibility", note)
