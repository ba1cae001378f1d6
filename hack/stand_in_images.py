#!/usr/bin/env python3
"""Push a stand-in for every image the given manifests' Components name.

    stand_in_images.py [--dir .localcluster] examples/*.yaml

The samples name images as a user's build would push them
(``registry.example.com/globex/orders:2.3.1``); no such images exist here. The
real node pulls every image name from the local registry, so this pushes, under
each name's repository and tag, a small image built from Debian's busybox (user
65532, like the other samples; ``hack/localnode.py``): for a Component with TCP
endpoints, an HTTP server answering on each endpoint's port with a page that
names the image and the pod; otherwise a task that prints and exits 0. The
manifests stay as a user writes them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import localcluster  # noqa: E402

LONG_RUNNING = {"service", "web-app", "webhook"}


def stand_ins(docs: list[dict[str, Any]]) -> dict[str, list[int]]:
    """image -> the TCP ports its stand-in serves (empty: a task)."""
    images: dict[str, list[int]] = {}
    for doc in docs:
        if doc.get("kind") != "Component":
            continue
        spec = doc.get("spec") or {}
        ports = (
            sorted(
                {
                    int(e["port"])
                    for e in spec.get("endpoints") or []
                    if e.get("protocol", "TCP") == "TCP"
                }
            )
            if spec.get("type") in LONG_RUNNING
            else []
        )
        names = [spec["image"], *(o["image"] for o in spec.get("overrides") or [] if "image" in o)]
        for image in names:
            images[image] = sorted({*images.get(image, []), *ports})
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifests", nargs="+", type=Path)
    parser.add_argument("--dir", default=str(localcluster.DEFAULT_DIR), help="cluster state dir")
    args = parser.parse_args(argv)
    cluster = localcluster.LocalCluster(args.dir)
    if not cluster.real_node or not cluster.is_up():
        print(f"error: no running cluster with a real node in {cluster.dir}", file=sys.stderr)
        return 1
    docs = [d for path in args.manifests for d in yaml.safe_load_all(path.read_text()) if d]
    node = cluster.node
    for image, ports in stand_ins(docs).items():
        pushed = node.push_stand_in(image, ports)
        what = f"HTTP on {', '.join(map(str, ports))}" if ports else "a task that exits 0"
        print(f"{image:48} -> {pushed} ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
