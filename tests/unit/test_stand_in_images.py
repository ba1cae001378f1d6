"""The stand-in images of `make demo`: which repository each name is pulled from,
and what each Component of examples/ gets (hack/localnode.py, hack/stand_in_images.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import localnode
import stand_in_images

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("registry.example.com/globex/orders:2.3.1", "globex/orders:2.3.1"),
        ("127.0.0.1:5000/a/b:1", "a/b:1"),
        ("localhost/app:2", "app:2"),
        ("globex/orders:2", "globex/orders:2"),  # Docker Hub: no host part
        ("busybox:1.36", "library/busybox:1.36"),
    ],
)
def test_the_repository_a_node_asks_for(image: str, repository: str) -> None:
    assert localnode.image_repository(image) == repository


def test_a_digest_is_refused_with_the_name() -> None:
    with pytest.raises(localnode.NodeError, match=re.escape("registry.example.com/a@sha256:00")):
        localnode.image_repository("registry.example.com/a@sha256:00")


def test_every_example_component_gets_a_stand_in_serving_its_tcp_endpoints() -> None:
    docs = [
        d
        for path in sorted((REPO / "examples").glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d
    ]
    images = stand_in_images.stand_ins(docs)
    components = [d for d in docs if d["kind"] == "Component"]
    assert set(images) == {c["spec"]["image"] for c in components}
    assert images["registry.example.com/globex/orders:2.3.1"] == [8080, 9090]
    assert images["registry.example.com/globex/storefront:5.0.0"] == [3000]
    assert images["registry.example.com/globex/reindex:0.3.0"] == []  # a task
    assert images["registry.example.com/initech/tps-reports:1.0.0"] == []


def test_a_udp_endpoint_gets_no_http_server_and_overrides_get_one_too() -> None:
    component = {
        "kind": "Component",
        "spec": {
            "type": "service",
            "image": "r.example.com/a:1",
            "endpoints": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "http", "port": 8080},
            ],
            "overrides": [{"environment": "dev", "image": "r.example.com/a:2"}],
        },
    }
    assert stand_in_images.stand_ins([component]) == {
        "r.example.com/a:1": [8080],
        "r.example.com/a:2": [8080],
    }
