"""Messages people read: image references, nearest keys and no raw pydantic wording."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cdp_operator.models import imageref
from cdp_operator.models.messages import nearest
from cdp_operator.models.resources import ComponentSpec

VALID_REFERENCES = [
    "nginx",
    "nginx:1.27",
    "library/nginx:latest",
    "registry.example.com/team/app:1.2.0",
    "localhost:5000/a/b:c",
    "ghcr.io/acme/orders:1.5.0-rc1",
    "Registry.Example.COM/app",  # upper case is allowed in the host only
    "a__b/c---d/e.f_g",
    "app:" + "t" * 128,
    "app@sha256:" + "0" * 64,
    "app:1@sha256:" + "f" * 64,
]
INVALID_REFERENCES = [
    "UPPER/Case::1",
    "registry.example.com/Team/app",
    "App",
    "app:" + "t" * 129,
    "app:-1",
    "app:.1",
    "app@sha256:abc",
    "app@:" + "0" * 64,
    "registry.example.com/",
    "/app",
    "app/",
    "a//b",
    "a..b",
    "nginx latest",
    "app:1:2",
    "-app",
    "app-",
    "http://registry.example.com/app",
]


@pytest.mark.parametrize("reference", VALID_REFERENCES)
def test_valid_references(reference: str) -> None:
    assert imageref.is_valid_reference(reference)
    ComponentSpec.model_validate({"project": "p", "type": "service", "image": reference})


@pytest.mark.parametrize("reference", INVALID_REFERENCES)
def test_invalid_references_name_the_field_and_the_shape(reference: str) -> None:
    assert not imageref.is_valid_reference(reference)
    for spec, loc in (
        ({"image": reference}, ("image",)),
        (
            {"image": "x:1", "overrides": [{"environment": "dev", "image": reference}]},
            ("overrides", 0, "image"),
        ),
    ):
        with pytest.raises(ValidationError) as info:
            ComponentSpec.model_validate({"project": "p", "type": "service", **spec})
        (error,) = info.value.errors()
        assert error["loc"] == loc
        assert error["msg"].startswith("must be an image reference such as ")


def test_the_image_pattern_embeds_in_cel() -> None:
    assert "\\" not in imageref.PATTERN and "'" not in imageref.PATTERN


@pytest.mark.parametrize(
    ("word", "known", "expected"),
    [
        ("buildPackLangVerison", ["buildPackLangVersion", "port"], "buildPackLangVersion"),
        ("dockerfilePath", ["dockerFilePath", "port"], "dockerFilePath"),
        ("Port", ["port", "nodeVersion"], "port"),
        ("zzz", ["port", "nodeVersion"], None),
    ],
)
def test_nearest(word: str, known: list[str], expected: str | None) -> None:
    assert nearest(word, known) == expected


@pytest.mark.parametrize(
    ("spec", "loc", "message"),
    [
        ({"image": "x 1"}, ("image",), "must be an image reference"),
        ({"endpoints": [{"name": "HTTP", "port": 80}]}, ("endpoints", 0, "name"), "lower-case"),
        (
            {"endpoints": [{"name": "http", "port": 65536}]},
            ("endpoints", 0, "port"),
            "must be a port number from 1 to 65535",
        ),
        ({"replicas": "3"}, ("replicas",), "must be a whole number"),
        ({"replica": 3}, ("replica",), "is not a field of this object"),
        ({"type": "lambda"}, ("type",), "must be one of: service, web-app"),
        ({"env": [{"name": "1X"}]}, ("env", 0, "name"), "not starting with a digit"),
        ({"resources": {"cpu": "1e3"}}, ("resources", "cpu"), "a CPU quantity"),
    ],
)
def test_no_raw_pydantic_wording(
    spec: dict[str, object], loc: tuple[object, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ComponentSpec.model_validate({"project": "p", "type": "service", "image": "x:1", **spec})
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [loc]
    assert message in errors[0]["msg"]
    for raw in ("should", "Value error", "Input", "String"):
        assert raw not in errors[0]["msg"]
