"""The seed's build-configuration table as the tests use it (models, CLI, admission and
hostile-input tests alike): its rows, the (type, buildpack) pairs it leaves out, and a
valid value for every configuration key a row can require."""

from __future__ import annotations

from collections.abc import Iterable

from cdp_operator.models.buildconfigs import (
    REQUIRED_BUILD_CONFIGS,
    Buildpack,
    ComponentType,
)

#: A valid value for each configuration key the table can require.
CONFIG_VALUES = {
    "buildPackLangVersion": "3.12",
    "port": "8080",
    "dockerFilePath": "Dockerfile",
    "buildCommand": "npm run build",
    "outputDirectory": "dist",
    "nodeVersion": "20",
}

#: ((type, buildpack), required keys) of every row, in a stable order.
ROWS = sorted(REQUIRED_BUILD_CONFIGS.items(), key=lambda kv: (kv[0][0].value, kv[0][1].value))

#: The (type, buildpack) pairs the table does not support.
UNSUPPORTED = [
    (t, b) for t in ComponentType for b in Buildpack if (t, b) not in REQUIRED_BUILD_CONFIGS
]


def configs_for(keys: Iterable[str]) -> dict[str, str]:
    """Valid values for ``keys`` (e.g. a row's required keys, or all but one of them)."""
    return {k: CONFIG_VALUES[k] for k in keys}
