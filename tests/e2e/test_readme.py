"""README.md's kubectl examples, run as written against the real control plane.

The README's prose and code name kubectl commands on the demo's objects
(organization globex, its service `orders` and manual task `reindex`). Each one
is taken from the README text (so a changed or removed command is noticed), its
placeholders filled in (`NAME`, `N`, `<any new value>`), the demo's organization
renamed to one of this test's own, and run with the operator working; the test
then checks what the README says the command does. The demo's recorded output
(`make demo`) is not compared here: hack/demo.sh records it.
"""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path
from typing import Any

import pytest

from kit import Kube

from .conftest import MANAGED, manifest
from .operator_harness import OperatorProcess

pytestmark = pytest.mark.e2e

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_kubectl_commands() -> list[str]:
    """kubectl commands on Components that the README shows, in code blocks or spans."""
    blocks = re.findall(r"^```sh\n(.*?)^```", README, re.S | re.M)
    spans = re.findall(r"`(kubectl [^`]+)`", re.sub(r"^```.*?^```", "", README, flags=re.S | re.M))
    found = [line.strip() for b in blocks for line in b.splitlines()] + spans
    return [" ".join(c.split()) for c in found if re.match(r"kubectl \S+ (\S+ )?component\b", c)]


def test_the_readmes_kubectl_examples_do_what_it_says(
    kube: Kube, operator: OperatorProcess, make_org: Any
) -> None:
    commands = readme_kubectl_commands()
    verbs = sorted(c.split()[1] for c in commands)
    assert verbs == ["annotate", "get", "scale", "wait"], commands

    org = f"rdm{uuid.uuid4().hex[:6]}"
    ns = make_org(org, tier="payg")
    kube.apply(manifest("Project", "shop", ns))
    image = "registry.example.com/globex/orders:1"
    web = [{"name": "http", "port": 8080, "visibility": "public"}]
    kube.apply(
        manifest(
            "Component", "orders", ns, project="shop", type="service", image=image, endpoints=web
        )
    )
    kube.apply(
        manifest("Component", "reindex", ns, project="shop", type="manual-task", image=image)
    )

    def run(command: str, name: str) -> str:
        command = command.replace("globex", org).replace("NAME", name).replace(" N", " 3")
        command = command.replace("<any new value>", "readme-1")
        argv = shlex.split(command)[1:]
        if "-n" not in argv:
            argv += ["-n", ns]
        if argv[0] == "wait":
            argv.append("--timeout=120s")  # kwok's pods: readiness takes a few seconds
        return kube.run(*argv).stdout

    by_verb = {c.split()[1]: c for c in commands}
    # `kubectl wait --for=condition=Ready component/orders -n cdp-org-globex`
    run(by_verb["wait"], "orders")
    kube.wait_condition("component", "reindex", ns)

    # "shows, per environment, the runtime namespace and each endpoint's in-cluster
    # address (api.globex-shop-production.svc:8080) and public URL"
    shown = run(by_verb["get"], "orders")
    envs = {e["name"]: e for e in kube.get("component", "orders", ns)["status"]["environments"]}  # type: ignore[index]
    assert set(envs) == {"development", "production"}
    for env, where in envs.items():
        assert where["namespace"] == f"{org}-shop-{env}" and where["namespace"] in shown
        (endpoint,) = where["endpoints"]
        assert endpoint["address"] == f"orders.{org}-shop-{env}.svc:8080"
        assert f"://orders-{env}.{org}." in endpoint["url"]

    # "`kubectl scale component NAME --replicas N` works (a scale subresource on spec.replicas)"
    run(by_verb["scale"], "orders")
    assert kube.get("component", "orders", ns)["spec"]["replicas"] == 3  # type: ignore[index]

    # "each run is a Job in every environment of the component"
    run(by_verb["annotate"], "reindex")
    for env in ("development", "production"):
        kube.wait_for(
            lambda e=env: kube.list("jobs", f"{org}-shop-{e}", MANAGED), 60, f"run Job in {env}"
        )
