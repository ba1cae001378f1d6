"""The hostile input catalogue against the real apiserver, with the operator running.

Every case of ``tests/hostile_cases.py`` is applied (server-side, as a user
would) and must be either rejected at admission with the field named in
kubectl's error, in words (no raw validation wording such as "should match
'^...$'"), or accepted and reported in status with a reason, with nothing
partial written for it. Afterwards the operator is the same process (no crash,
no restart) and the only reconciles that failed belong to the known findings.

Cases that fail today because of an operator bug are strict xfails that name
the finding (``hostile_cases.FINDINGS``); they turn into failures (XPASS) once
the bug is fixed, so the mark can go.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from cdp_operator.models.resources import parse_spec
from hostile_cases import CASES, FINDINGS, ORG_A, RAW_WORDING, Case, Either, Rejected, Stalled
from hostile_cases import Ready as ReadyExpect
from kit import Kube

from .conftest import manifest
from .operator_harness import OperatorProcess

pytestmark = pytest.mark.e2e

API_VERSION = "cdp.dev/v1alpha1"
WORKLOAD_KINDS = "deployments,services,ingresses,cronjobs,jobs,networkpolicies,poddisruptionbudgets"


@dataclass
class World:
    kube: Kube
    operator: OperatorProcess
    pid: int
    run: str
    org_a: str
    ns_a: str
    org_b: str
    ns_b: str
    plain: str
    log_start: int
    #: Cluster-scoped objects the cases created: (kind, name), deleted at the end.
    created: list[tuple[str, str]] = field(default_factory=list)
    #: Ids of the cases that ran.
    ran: set[str] = field(default_factory=set)

    def new_log(self) -> str:
        return self.operator.logs()[self.log_start :]

    def failed_reconciles(self) -> dict[str, int]:
        """Reconcile keys that raised since the catalogue started -> attempts."""
        counts: dict[str, int] = {}
        for m in re.finditer(r"reconcile of (\(.*?\)) failed", self.new_log()):
            counts[m[1]] = counts.get(m[1], 0) + 1
        return counts


def _org(kube: Kube, name: str, tier: str) -> str:
    kube.apply(manifest("Organization", name, tier=tier, defaultDataPlane="us"))
    ns = f"cdp-org-{name}"
    kube.wait_for(lambda: kube.get("namespace", ns), 60, f"namespace {ns}")
    return ns


@pytest.fixture(scope="module")
def world(kube: Kube, operator: OperatorProcess) -> Iterator[World]:
    run = uuid.uuid4().hex[:5]
    org_a, org_b = f"ha{run}", f"hb{run}"
    ns_a = _org(kube, org_a, "payg")
    ns_b = _org(kube, org_b, "developer")
    plain = f"hostile-plain-{run}"
    kube.run("create", "namespace", plain)
    kube.apply(manifest("Project", "p", ns_a))
    kube.apply(manifest("Project", "marsproj", ns_a, dataPlane="mars"))
    kube.apply(manifest("Project", "bproj", ns_b))
    kube.wait_condition("project", "p", ns_a)
    kube.wait_condition("project", "bproj", ns_b)
    kube.wait_condition("project", "marsproj", ns_a, "False", "DataPlaneNotFound")
    assert operator.proc is not None
    w = World(
        kube,
        operator,
        operator.proc.pid,
        run,
        org_a,
        ns_a,
        org_b,
        ns_b,
        plain,
        len(operator.logs()),
    )
    yield w
    for kind, name in w.created:
        kube.delete(kind, name, wait=False)
    kube.delete("organization", org_a, wait=False)
    kube.delete("organization", org_b, wait=False)
    kube.delete("namespace", plain, wait=False)


# ----------------------------------------------------------------- helpers
def body(case: Case, w: World, spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": case.object_name(w.run)}
    if case.namespaced:
        meta["namespace"] = w.ns_a if case.where == ORG_A else w.plain
    if case.annotations:
        meta["annotations"] = dict(case.annotations)
    obj: dict[str, Any] = {"apiVersion": API_VERSION, "kind": case.kind, "metadata": meta}
    if spec is not None:
        obj["spec"] = spec
    return obj


def namespace_of(case: Case, w: World) -> str | None:
    if not case.namespaced:
        return None
    return w.ns_a if case.where == ORG_A else w.plain


def written_for(case: Case, w: World) -> list[str]:
    """Objects the operator materialised for this case's object (should be none)."""
    kube, name = w.kube, case.object_name(w.run)
    if case.kind == "Component":
        found = kube.list(WORKLOAD_KINDS, selector=f"cdp.dev/component={name}")
    elif case.kind == "Project":
        found = kube.list(
            "namespaces", selector=f"cdp.dev/organization={w.org_a},cdp.dev/project={name}"
        )
    elif case.kind == "Environment":
        found = kube.list(
            "namespaces", selector=f"cdp.dev/organization={w.org_a},cdp.dev/environment={name}"
        )
    elif case.kind == "Organization":
        found = kube.list(
            "namespaces", selector=f"cdp.dev/organization={name},cdp.dev/role=runtime"
        )
    else:
        found = []
    return [
        f"{o['kind']} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in found
    ]


def reconcile_key(case: Case, w: World) -> str:
    """The operator's work-queue key that handles this case's object."""
    name = case.object_name(w.run)
    if case.kind == "Component":
        return f"('component', '{namespace_of(case, w)}', '{name}')"
    if case.kind == "DataPlane":
        return f"('dataplane', '{name}')"
    return f"('org', '{w.org_a if case.namespaced else name}')"


#: Ready reasons that mean "not judged yet".
# WaitingForProject/WaitingForEnvironment: a missing reference, for 10 s (docs/install.md).
TRANSIENT = {
    "WaitingForNamespace",
    "Progressing",
    "WaitingForProject",
    "WaitingForEnvironment",
    "WaitingForDataPlane",
}


def wait_verdict(
    case: Case, w: World, timeout: float = 90, transient: frozenset[str] = frozenset(TRANSIENT)
) -> dict[str, Any]:
    """Wait until the operator has judged the object (a settled Ready condition for this
    generation), or has visibly failed to: a failed reconcile of its key in the log is an
    error too (a bug must not cost the suite a timeout)."""
    kube, name, ns = w.kube, case.object_name(w.run), namespace_of(case, w)
    key = reconcile_key(case, w)

    def judged() -> dict[str, Any] | None:
        obj = kube.get(case.kind.lower(), name, ns)
        assert obj is not None, f"{case.kind} {name} vanished"
        status = obj.get("status") or {}
        ready = kube.condition(obj)
        current = status.get("observedGeneration") == obj["metadata"].get("generation")
        if ready and current and ready["reason"] not in transient:
            return obj
        if f"reconcile of {key} failed" in w.new_log():
            raise _ReconcileFailed(key, status)
        return None

    try:
        result: dict[str, Any] = kube.wait_for(judged, timeout, f"a verdict on {case.id}")
    except _ReconcileFailed as exc:
        pytest.fail(
            f"{case.id}: the operator's reconcile of {exc.key} raised instead of reporting "
            f"in status (status: {json.dumps(exc.status)[:400]}); last error: "
            f"{_last_error(w, exc.key)}; written meanwhile: {written_for(case, w)}"
        )
    return result


class _ReconcileFailed(Exception):
    def __init__(self, key: str, status: dict[str, Any]) -> None:
        super().__init__(key)
        self.key = key
        self.status = status


def _last_error(w: World, key: str) -> str:
    log = w.new_log()
    at = log.rfind(f"reconcile of {key} failed")
    bodies = re.findall(r'HTTP response body: (\{.*?"code":\d+\})', log[at:])
    if bodies:
        try:
            return str(json.loads(bodies[0]).get("message"))[:400]
        except json.JSONDecodeError:
            return bodies[0][:400]
    lines = [ln for ln in log[at:].splitlines() if ln and not ln.startswith(" ")]
    return " | ".join(lines[1:4])[:400]


def _params() -> list[Any]:
    out = []
    for case in CASES:
        marks = []
        if case.known:
            marks.append(
                pytest.mark.xfail(strict=True, reason=f"{case.known}: {FINDINGS[case.known]}")
            )
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


# ------------------------------------------------------------------ the catalogue
@pytest.mark.parametrize("case", _params())
def test_hostile_input(world: World, case: Case) -> None:
    w, kube = world, world.kube
    w.ran.add(case.id)
    name, ns = case.object_name(w.run), namespace_of(case, w)
    if not case.namespaced:
        w.created.append((case.kind.lower(), name))
    if case.before is not None:
        kube.apply(yaml.safe_dump(body(case, w, case.before)))
    result = kube.apply(json.dumps(body(case, w, case.spec)), check=False)
    admitted = result.returncode == 0
    assert admitted == case.admitted, (
        f"{case.id}: the apiserver {'admitted' if admitted else 'rejected'} it; "
        f"the table says otherwise. stderr: {result.stderr}"
    )
    expect = case.expect

    if not admitted:
        field_ = expect.field if isinstance(expect, (Rejected, Either)) else ""
        assert field_ and field_ in result.stderr, f"field {field_!r} not named: {result.stderr}"
        says = expect.says if isinstance(expect, Rejected) else None
        assert says is None or says in result.stderr, f"{says!r} not said: {result.stderr}"
        assert_in_words(result.stderr)
        assert_the_models_say_it_too(case, result.stderr)
        live = kube.get(case.kind.lower(), name, ns)
        if case.before is None:
            assert live is None, f"{case.id}: rejected, yet {case.kind} {name} exists"
        else:
            assert live is not None and live["spec"] == {**live["spec"], **case.before}
        return

    if isinstance(expect, ReadyExpect):
        # A component is judged once its workloads are written: whether kwok has
        # made the pods ready yet (Progressing) depends on the machine, not on us.
        progressing_ok = case.kind == "Component"
        obj = wait_verdict(
            case, w, transient=frozenset({"WaitingForNamespace"} if progressing_ok else TRANSIENT)
        )
        ready = kube.condition(obj)
        assert ready is not None
        accepted = {"True"} if not progressing_ok else {"True", "False"}
        assert ready["status"] in accepted, f"{case.id}: {ready}"
        if ready["status"] == "False":
            assert ready["reason"] == "Progressing", f"{case.id}: {ready}"
        if expect.condition is not None:
            ctype, status, reason = expect.condition
            cond = kube.condition(obj, ctype)
            assert cond is not None, f"{case.id}: no {ctype} condition: {obj['status']}"
            assert (cond["status"], cond["reason"]) == (status, reason), f"{case.id}: {cond}"
            assert expect.mentions is None or expect.mentions in cond["message"], cond
        if case.kind == "Component":
            _assert_values_preserved(w, case)
        return

    obj = wait_verdict(case, w)
    ready = kube.condition(obj)
    stalled = kube.condition(obj, "Stalled")
    assert ready is not None and stalled is not None

    # Accepted but not admissible: reported in status, nothing materialised.
    assert ready["status"] == "False", f"{case.id}: Ready {ready}"
    if isinstance(expect, Stalled):
        assert ready["reason"] == expect.reason, f"{case.id}: {ready}"
        assert stalled["status"] == ("True" if expect.stalled else "False"), stalled
        if expect.mentions:
            assert expect.mentions in ready["message"], ready
    else:
        assert isinstance(expect, Either)
        assert stalled["status"] == "True", f"{case.id}: not Stalled: {ready}"
        assert expect.field in ready["message"], f"{case.id}: field not named: {ready}"
    assert not written_for(case, w), f"{case.id}: written although not admitted"


def assert_in_words(stderr: str) -> None:
    """No raw validation wording in a rejection: patterns, ranges and emptiness answer with
    the models' messages (CEL rules). What the apiserver still words itself, by decision
    (docs/cli.md, "Errors at admission"): enums ("Unsupported value: ...: supported
    values: ..." lists every allowed value), wrong JSON types, missing required fields,
    maxLength/maxItems (the CEL cost bounds) and duplicate list keys."""
    for raw in RAW_WORDING:
        assert raw not in stderr, f"raw validation wording {raw!r} in: {stderr}"
    for line in stderr.splitlines():
        if "Unsupported value" in line:
            assert "supported values: " in line, f"an enum error that lists no values: {line}"


def assert_the_models_say_it_too(case: Case, stderr: str) -> None:
    """Every message of the models' own rules for this case is what the apiserver said
    (one Rule, two implementations). Where the models know more, the apiserver's words are
    the models' less the extra: "(did you mean ...)" (CEL cannot rank names) and the
    network of a CIDR with host bits (too costly to compute in CEL). Duplicates are the
    apiserver's list-type checks, in its own words."""
    if not isinstance(case.spec, dict):
        return
    try:
        parse_spec(case.kind, case.spec)
    except ValidationError as exc:
        ours = [e["msg"] for e in exc.errors() if e["type"] in ("cdp_invalid", "cdp_value_error")]
    else:
        return
    for message in ours:
        for part in message.split("; "):
            if "must be unique" in part:
                continue
            part = re.sub(r" \(did you mean '[^']*'\?\)", "", part)
            part = re.sub(r"(write the network address \(those bits cleared\)): \S+$", r"\1", part)
            assert part in stderr, f"{case.id}: the models say {part!r}; the apiserver: {stderr}"


def _assert_values_preserved(w: World, case: Case) -> None:
    """What a user wrote reaches the workload byte for byte (unicode included)."""
    assert case.spec is not None
    runtime_ns = f"{w.org_a}-p-development"
    deploy = w.kube.wait_for(
        lambda: w.kube.get("deployment", case.object_name(w.run), runtime_ns), 30, "deployment"
    )
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == case.spec["image"]
    for var in case.spec.get("env") or []:
        live = {v["name"]: v.get("value", "") for v in container.get("env") or []}
        assert live[var["name"]] == var["value"]


# ---------------------------------------------------- names that collide when cut
def test_long_names_sharing_a_prefix_get_distinct_names(
    kube: Kube, operator: OperatorProcess, make_org: Any, org_name: str
) -> None:
    """Runtime namespaces and Ingress hosts of names longer than a DNS label are cut and
    hashed: two inputs that share the first 55+ characters still get distinct names."""
    ns = make_org(org_name, tier="payg")
    project = "q" * 30
    envs = ["e" * 39 + "1", "e" * 39 + "2"]
    comps = ["c" * 39 + "a", "c" * 39 + "b"]
    kube.apply(manifest("Project", project, ns))
    for env in envs:
        kube.apply(manifest("Environment", env, ns, dataPlane="us"))
    for comp in comps:
        kube.apply(
            manifest(
                "Component",
                comp,
                ns,
                project=project,
                type="service",
                image="registry.example.com/x:1",
                endpoints=[{"name": "http", "port": 8080, "visibility": "public"}],
            )
        )
    proj = kube.wait_condition("project", project, ns, timeout=120)
    by_env = {e["environment"]: e["namespace"] for e in proj["status"]["namespaces"]}
    names = [by_env[e] for e in envs]
    full = [f"{org_name}-{project}-{e}" for e in envs]
    assert full[0][:55] == full[1][:55] and len(full[0]) > 63
    assert names[0] != names[1], names
    for got, env in zip(names, envs, strict=True):
        assert len(got) <= 63
        live = kube.get("namespace", got)
        assert live is not None
        assert live["metadata"]["labels"]["cdp.dev/environment"] == env
        assert live["metadata"]["labels"]["cdp.dev/project"] == project
    hosts = set()
    for got in names:
        for comp in comps:
            ing = kube.wait_for(
                lambda comp=comp, got=got: kube.get("ingress", comp, got), 120, f"ingress {comp}"
            )
            host = ing["spec"]["rules"][0]["host"]
            assert len(host.split(".")[0]) <= 63
            hosts.add(host)
    assert len(hosts) == 4, hosts


# ---------------------------------------- unicode and length in data-plane settings
def _wait_project_or_failure(
    kube: Kube, operator: OperatorProcess, org: str, ns: str, start: int
) -> dict[str, Any]:
    def judged() -> dict[str, Any] | None:
        proj = kube.get("project", "p", ns)
        if kube.condition(proj) is not None:
            return proj
        if f"reconcile of ('org', '{org}') failed" in operator.logs()[start:]:
            pytest.fail(f"the reconcile of organization {org} raised; no status written")
        return None

    result: dict[str, Any] = kube.wait_for(judged, 90, "project status")
    return result


def data_plane(name: str, region: str, base_domain: str) -> str:
    return manifest("DataPlane", name, region=region, ingress={"baseDomain": base_domain})


def org_with_project_p(kube: Kube, org: str, data_plane: str) -> str:
    """A payg Organization on ``data_plane`` with Project p; its namespace."""
    kube.apply(manifest("Organization", org, tier="payg", defaultDataPlane=data_plane))
    ns = f"cdp-org-{org}"
    kube.wait_for(lambda: kube.get("namespace", ns), 60, "org namespace")
    kube.apply(manifest("Project", "p", ns))
    return ns


def test_emoji_in_a_data_plane_region(kube: Kube, operator: OperatorProcess) -> None:
    """The region becomes the cdp.dev/region annotation of every runtime namespace."""
    run = uuid.uuid4().hex[:5]
    dp, org = f"hemoji{run}", f"hemoji{run}"
    kube.apply(data_plane(dp, "Z\u00fcrich \U0001f3d4", "z.example.com"))
    start = len(operator.logs())
    try:
        ns = org_with_project_p(kube, org, dp)
        proj = _wait_project_or_failure(kube, operator, org, ns, start)
        assert kube.condition(proj)["status"] == "True"  # type: ignore[index]
        live = kube.get("namespace", f"{org}-p-development")
        assert live is not None
        assert live["metadata"]["annotations"]["cdp.dev/region"] == "Z\u00fcrich \U0001f3d4"
    finally:
        kube.delete("organization", org, wait=False)
        kube.delete("dataplane", dp, wait=False)


def test_ingress_hosts_always_fit_in_253(kube: Kube, operator: OperatorProcess) -> None:
    """Was H5: a 199-character baseDomain was admitted, and with long component and
    environment names the Ingress host exceeded 253 characters (the Ingress was rejected,
    the operator retried forever). baseDomain is now at most 158 characters: with the
    longest organization name (30) and a host label cut at 63, the host is 253 at most."""
    run = uuid.uuid4().hex[:5]
    too_long = ".".join(["d" * 49] * 3 + ["d" * 9])  # 159
    rejected = kube.apply(data_plane(f"hlong{run}", "x", too_long), check=False)
    assert rejected.returncode != 0 and "baseDomain" in rejected.stderr, rejected.stderr
    assert kube.get("dataplane", f"hlong{run}") is None

    dp, org = f"hmax{run}", f"h{run}".ljust(30, "o")
    base = ".".join(["d" * 49] * 3 + ["d" * 8])  # 158: the longest admitted
    comp, env = "a" * 40, ("e" * 40)[:-5] + run
    kube.apply(data_plane(dp, "x", base))
    start = len(operator.logs())
    try:
        ns = org_with_project_p(kube, org, dp)
        kube.apply(manifest("Environment", env, ns, dataPlane=dp))
        kube.apply(
            manifest(
                "Component",
                comp,
                ns,
                project="p",
                type="service",
                image="registry.example.com/x:1",
                endpoints=[{"name": "http", "port": 80, "visibility": "public"}],
                environments=[env],
            )
        )
        key = f"reconcile of ('component', '{ns}', '{comp}') failed"

        def ingress() -> dict[str, Any] | None:
            found = kube.list("ingresses", selector=f"cdp.dev/component={comp}")
            if key in operator.logs()[start:]:
                pytest.fail("the component's reconcile raised")
            return found[0] if found else None

        ing = kube.wait_for(ingress, 120, "the component's Ingress")
        host = ing["spec"]["rules"][0]["host"]
        assert len(host) == 253, host  # every part at its longest
        assert host.endswith(f".{org}.{base}")
    finally:
        kube.delete("organization", org, wait=False)
        kube.delete("dataplane", dp, wait=False)


# ------------------------------------------------------------------ afterwards
def test_the_operator_survived_the_catalogue(world: World) -> None:
    """Same process, still running; reconcile failures only where a finding says so."""
    w = world
    assert w.operator.running, w.operator.logs()[-3000:]
    assert w.operator.proc is not None and w.operator.proc.pid == w.pid
    known_keys = {reconcile_key(c, w) for c in CASES if c.known and c.id in w.ran}
    failed = w.failed_reconciles()
    unexpected = {k: n for k, n in failed.items() if k not in known_keys and w.run in k}
    assert not unexpected, f"reconciles failed outside the known findings: {unexpected}"
    # Everything the table admitted is still there and judged; a healthy object of
    # organization A is still reconciled (the operator is not wedged).
    w.kube.apply(manifest("Project", "afterwards", w.ns_a))
    w.kube.wait_condition("project", "afterwards", w.ns_a)
    summary: dict[str, dict[str, int]] = {}
    for case in CASES:
        kind = type(case.expect).__name__
        summary.setdefault(case.group, {}).setdefault(kind, 0)
        summary[case.group][kind] += 1
    print("\nhostile input catalogue:", json.dumps(summary, indent=1))
    print("reconcile failures (known findings):", json.dumps(failed, indent=1))
    # The cases' objects do not leak into organization B.
    # (The organization namespace's own default-deny and DNS policies are expected.)
    leaked = [
        o
        for o in w.kube.list(WORKLOAD_KINDS, w.ns_b)
        if not (o["kind"] == "NetworkPolicy" and "cdp.dev/component" not in o["metadata"]["labels"])
    ]
    assert not leaked
    for rt in w.kube.list("namespaces", selector=f"cdp.dev/organization={w.org_b}"):
        objs = w.kube.list(WORKLOAD_KINDS, rt["metadata"]["name"])
        assert all(o["kind"] == "NetworkPolicy" for o in objs), objs
