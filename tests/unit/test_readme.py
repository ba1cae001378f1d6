"""README.md's commands are the project's real ones.

Its `cdp` examples are run by tests/unit/test_cli.py (exact output); its kubectl
examples outside the demo's recorded output by tests/e2e/test_readme.py; here: the
make targets and chart values it names exist. The demo's output block (`make demo`,
hack/demo.sh) is a recording of a real run and is not compared here."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def code(text: str) -> str:
    """Everything in code: fenced blocks and inline spans."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)
    spans = re.findall(
        r"`([^`\n]+(?:\n[^`\n]+)?)`", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    )
    return "\n".join(blocks + spans)


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", code(README)))
    assert {"demo", "test", "cluster-down", "install", "run"} <= named, named
    assert named <= targets, f"README names make targets that do not exist: {named - targets}"


def test_the_helm_values_the_readme_sets_exist() -> None:
    values = yaml.safe_load((REPO / "charts" / "cdp-operator" / "values.yaml").read_text())
    chart = re.findall(r"helm install \S+ (\S+)", code(README))
    assert chart == ["charts/cdp-operator"], chart
    keys = re.findall(r"--set ([a-zA-Z.]+)=", code(README))
    assert keys
    for key in keys:
        node = values
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"README sets {key}: not a chart value"
            node = node[part]


def test_the_readme_paths_exist() -> None:
    """Files and folders the README points at in code or links."""
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    spans = re.findall(
        r"`((?:docs|tests|hack|charts|crds|admission|examples|operator)/[^`\s:]*)`", README
    )
    missing = [p for p in links + spans if not (REPO / p.split("::")[0]).exists()]
    assert not missing, missing


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_anchors_exist() -> None:
    links = re.findall(r"\]\(([^)#]*)#([^)]+)\)", README)
    assert links
    for path, anchor in links:
        text = (REPO / path).read_text() if path else README
        headings = {slug(h) for h in re.findall(r"^#+ (.*)$", text, re.M)}
        assert anchor in headings, f"{path}#{anchor}: no such heading"
