"""The seed's table: component type x buildpack -> required build configurations.

Shared by the CRD's CEL rules, the operator's checks and the CLI, so there is
exactly one table.
"""

from __future__ import annotations

from enum import StrEnum

from .messages import nearest


class ComponentType(StrEnum):
    SERVICE = "service"
    WEB_APP = "web-app"
    WEBHOOK = "webhook"
    SCHEDULED_TASK = "scheduled-task"
    MANUAL_TASK = "manual-task"


class Buildpack(StrEnum):
    PYTHON = "python"
    NODEJS = "nodejs"
    JAVA = "java"
    GO = "go"
    PHP = "php"
    RUBY = "ruby"
    DOCKER = "docker"
    BALLERINA = "ballerina"
    WSO2_MI = "wso2-mi"
    DOTNET = "dotnet"
    STATIC_WEBSITE = "static-website"
    REACT = "react"
    ANGULAR = "angular"
    VUE = "vue"


#: What each required key means (the seed's wording), for help texts and errors.
CONFIG_KEY_DESCRIPTIONS: dict[str, str] = {
    "buildPackLangVersion": "Language Version",
    "port": "Port",
    "dockerFilePath": "Path to the docker file",
    "buildCommand": "Command to be used for building the component",
    "outputDirectory": "Output directory for the component build artifacts",
    "nodeVersion": "Node.js version used",
}

_LANG = ("buildPackLangVersion",)
_LANG_PORT = ("buildPackLangVersion", "port")
_DOCKER = ("dockerFilePath",)
_DOCKER_PORT = ("dockerFilePath", "port")
_SPA = ("buildCommand", "outputDirectory", "nodeVersion")
_NONE: tuple[str, ...] = ()

_T = ComponentType
_B = Buildpack

#: (component type, buildpack) -> required keys. A pair that is absent is not
#: a supported combination.
REQUIRED_BUILD_CONFIGS: dict[tuple[ComponentType, Buildpack], tuple[str, ...]] = {
    # Service
    (_T.SERVICE, _B.PYTHON): _LANG,
    (_T.SERVICE, _B.NODEJS): _LANG,
    (_T.SERVICE, _B.JAVA): _LANG,
    (_T.SERVICE, _B.GO): _LANG,
    (_T.SERVICE, _B.PHP): _LANG,
    (_T.SERVICE, _B.RUBY): _LANG,
    (_T.SERVICE, _B.DOCKER): _DOCKER,
    (_T.SERVICE, _B.BALLERINA): _NONE,
    (_T.SERVICE, _B.WSO2_MI): _NONE,
    (_T.SERVICE, _B.DOTNET): _LANG,
    # Web application
    (_T.WEB_APP, _B.PYTHON): _LANG_PORT,
    (_T.WEB_APP, _B.NODEJS): _LANG_PORT,
    (_T.WEB_APP, _B.GO): _LANG_PORT,
    (_T.WEB_APP, _B.PHP): _LANG_PORT,
    (_T.WEB_APP, _B.RUBY): _LANG_PORT,
    (_T.WEB_APP, _B.DOTNET): _LANG_PORT,
    (_T.WEB_APP, _B.DOCKER): _DOCKER_PORT,
    (_T.WEB_APP, _B.STATIC_WEBSITE): _NONE,
    (_T.WEB_APP, _B.REACT): _SPA,
    (_T.WEB_APP, _B.ANGULAR): _SPA,
    (_T.WEB_APP, _B.VUE): _SPA,
    # Webhook
    (_T.WEBHOOK, _B.PYTHON): _LANG,
    (_T.WEBHOOK, _B.NODEJS): _LANG,
    (_T.WEBHOOK, _B.JAVA): _LANG,
    (_T.WEBHOOK, _B.GO): _LANG,
    (_T.WEBHOOK, _B.PHP): _LANG,
    (_T.WEBHOOK, _B.RUBY): _LANG,
    (_T.WEBHOOK, _B.DOCKER): _DOCKER,
    (_T.WEBHOOK, _B.BALLERINA): _NONE,
    (_T.WEBHOOK, _B.WSO2_MI): _NONE,
    # Scheduled task
    (_T.SCHEDULED_TASK, _B.PYTHON): _LANG,
    (_T.SCHEDULED_TASK, _B.NODEJS): _LANG,
    (_T.SCHEDULED_TASK, _B.JAVA): _LANG,
    (_T.SCHEDULED_TASK, _B.GO): _LANG,
    (_T.SCHEDULED_TASK, _B.DOTNET): _LANG,
    (_T.SCHEDULED_TASK, _B.PHP): _LANG,
    (_T.SCHEDULED_TASK, _B.RUBY): _LANG,
    (_T.SCHEDULED_TASK, _B.DOCKER): _DOCKER,
    (_T.SCHEDULED_TASK, _B.BALLERINA): _NONE,
    (_T.SCHEDULED_TASK, _B.WSO2_MI): _NONE,
    # Manual task
    (_T.MANUAL_TASK, _B.PYTHON): _LANG,
    (_T.MANUAL_TASK, _B.NODEJS): _LANG,
    (_T.MANUAL_TASK, _B.JAVA): _LANG,
    (_T.MANUAL_TASK, _B.GO): _LANG,
    (_T.MANUAL_TASK, _B.DOTNET): _LANG,
    (_T.MANUAL_TASK, _B.PHP): _LANG,
    (_T.MANUAL_TASK, _B.RUBY): _LANG,
    (_T.MANUAL_TASK, _B.DOCKER): _DOCKER,
    (_T.MANUAL_TASK, _B.BALLERINA): _NONE,
    (_T.MANUAL_TASK, _B.WSO2_MI): _NONE,
}


def buildpacks_for(component_type: ComponentType | str) -> list[Buildpack]:
    t = ComponentType(component_type)
    return [b for (ct, b) in REQUIRED_BUILD_CONFIGS if ct == t]


def _takes(component_type: ComponentType, buildpack: Buildpack) -> str:
    required = REQUIRED_BUILD_CONFIGS.get((component_type, buildpack))
    if required is None:
        return "known keys are " + ", ".join(CONFIG_KEY_DESCRIPTIONS)
    return f"type '{component_type.value}' with buildpack '{buildpack.value}' takes " + (
        ", ".join(required) if required else "no build configs"
    )


def unknown_config_message(
    component_type: ComponentType, buildpack: Buildpack, key: str, near: str | None
) -> str:
    """The message for an unknown build config key (at admission, without `near`)."""
    hint = f" (did you mean '{near}'?)" if near else ""
    return f"build config '{key}' is unknown{hint}: {_takes(component_type, buildpack)}"


def build_config_errors(
    component_type: ComponentType | str, buildpack: Buildpack | str, configs: dict[str, str]
) -> list[str]:
    """Human-readable problems with a build configuration; empty when valid."""
    t, b = ComponentType(component_type), Buildpack(buildpack)
    required = REQUIRED_BUILD_CONFIGS.get((t, b))
    if required is None:
        allowed = ", ".join(buildpacks_for(t))
        return [f"buildpack {b.value!r} is not supported for type {t.value!r} (allowed: {allowed})"]
    return [
        unknown_config_message(t, b, key, nearest(key, CONFIG_KEY_DESCRIPTIONS))
        for key in configs
        if key not in CONFIG_KEY_DESCRIPTIONS
    ] + [
        f"build config {key!r} ({CONFIG_KEY_DESCRIPTIONS[key]}) is required "
        f"for type {t.value!r} with buildpack {b.value!r}"
        for key in required
        if not configs.get(key)
    ]


# ------------------------------------------------------------ CEL for the CRD
# The same checks as build_config_errors, generated from REQUIRED_BUILD_CONFIGS
# for the Component spec's x-kubernetes-validations (`self` is the spec). The
# messages are built to read exactly like build_config_errors' messages.


def _cel_list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _pairs_condition(pairs: list[tuple[ComponentType, Buildpack]]) -> str:
    """CEL: the spec's (type, buildpack) is one of `pairs` (grouped by type)."""
    by_type: dict[ComponentType, list[str]] = {}
    for t, b in pairs:
        by_type.setdefault(t, []).append(b.value)
    return " || ".join(
        f"(self.type == '{t.value}' && self.build.buildpack in {_cel_list(bs)})"
        for t, bs in by_type.items()
    )


def build_config_cel_rules() -> list[dict[str, str]]:
    """x-kubernetes-validations for a Component spec, from the one table.

    One rule per component type (its supported buildpacks) and one per config
    key (the (type, buildpack) pairs that require it). A spec without `build`
    passes: the image is then built elsewhere.
    """
    known = _cel_list(list(CONFIG_KEY_DESCRIPTIONS))
    takes = (
        "{"
        + ", ".join(f"'{t.value}/{b.value}': \"{_takes(t, b)}\"" for t, b in REQUIRED_BUILD_CONFIGS)
        + "}"
    )
    pair = "self.type + '/' + self.build.buildpack"
    rules: list[dict[str, str]] = [
        {
            "rule": f"!has(self.build) || !has(self.build.configs) "
            f"|| self.build.configs.all(k, k in {known})",
            "message": "build config keys must be among: " + ", ".join(CONFIG_KEY_DESCRIPTIONS),
            # unknown_config_message without the nearest key (CEL cannot rank them).
            "messageExpression": '"build config \'" + '
            f'self.build.configs.filter(k, !(k in {known}))[0] + "\' is unknown: " + '
            f"({pair} in {takes} ? {takes}[{pair}] : "
            f"'known keys are {', '.join(CONFIG_KEY_DESCRIPTIONS)}')",
            "fieldPath": ".build.configs",
        }
    ]
    for t in ComponentType:
        allowed = [b.value for b in buildpacks_for(t)]
        rules.append(
            {
                "rule": f"self.type != '{t.value}' || !has(self.build) "
                f"|| self.build.buildpack in {_cel_list(allowed)}",
                "message": f"buildpack is not supported for type {t.value!r} "
                f"(allowed: {', '.join(allowed)})",
                "messageExpression": f'"buildpack \'" + self.build.buildpack + '
                f"\"' is not supported for type '{t.value}' (allowed: {', '.join(allowed)})\"",
                "fieldPath": ".build.buildpack",
            }
        )
    for key, description in CONFIG_KEY_DESCRIPTIONS.items():
        pairs = [pair for pair, required in REQUIRED_BUILD_CONFIGS.items() if key in required]
        if not pairs:
            continue
        rules.append(
            {
                "rule": f"!has(self.build) || !({_pairs_condition(pairs)}) "
                f"|| (has(self.build.configs) && '{key}' in self.build.configs)",
                "message": f"build config {key!r} ({description}) is required for this type "
                "and buildpack",
                "messageExpression": f"\"build config '{key}' ({description}) is required for "
                'type \'" + self.type + "\' with buildpack \'" + self.build.buildpack + "\'"',
                "fieldPath": f".build.configs['{key}']",
                "reason": "FieldValueRequired",
            }
        )
    return rules
