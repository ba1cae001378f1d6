"""Derived names: bounded, stable, and no two inputs share one (finding T1).

Runtime namespaces are cluster-wide, so the name one organization's input gives
must never be the name of another organization's input, nor an organization
namespace. Property-style checks run over many generated name triples (fixed
seeds, so failures reproduce).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import random
import re

import pytest

from cdp_operator.models.naming import (
    bounded_name,
    default_environment_names,
    looks_hashed,
    organization_namespace_name,
    runtime_namespace_name,
)
from cdp_operator.models.resources import NAME_RULES, name_errors

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@functools.cache
def valid(kind: str, name: str) -> bool:
    return not name_errors(kind, name)


def sha8(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# ------------------------------------------------------------- stable names
@pytest.mark.parametrize(
    ("org", "project", "env", "name"),
    [
        ("globex", "shop", "production", "globex-shop-production"),
        ("hobby", "blog", "development", "hobby-blog-development"),
        ("acme", "shop", "production", "acme-shop-production"),
        ("t1234567", "p", "development", "t1234567-p-development"),
        ("tabcdef0", "shop", "development-eu", "tabcdef0-shop-development-eu"),
        ("t1234567", "p", "staging-2", "t1234567-p-staging-2"),
    ],
)
def test_names_that_are_safe_stay_readable(org: str, project: str, env: str, name: str) -> None:
    assert runtime_namespace_name(org, project, env) == name


def test_hashed_names_keep_their_form() -> None:
    # Unchanged by the look-alike rule: a '-' in the organization or project, or too long.
    assert runtime_namespace_name("a-b", "c", "d") == f"a-b-c-d-{sha8('a-b/c/d')}"
    long = ("o" * 30, "p" * 30, "e" * 40)
    name = runtime_namespace_name(*long)
    assert name == f"{'-'.join(long)[:54]}-{sha8('/'.join(long))}"


def test_organization_namespace_and_default_environments_are_unchanged() -> None:
    assert organization_namespace_name("t1234567") == "cdp-org-t1234567"
    assert organization_namespace_name("o" * 30) == "cdp-org-" + "o" * 30
    assert default_environment_names("us", is_org_default=True) == ("development", "production")
    assert default_environment_names("eu", is_org_default=False) == (
        "development-eu",
        "production-eu",
    )
    # A data plane named like a hash still gives plain, valid Environment names.
    for dp in ("deadbeef", "x-0123abcd", "d" * 19 + "-abcdef01"):
        assert valid("DataPlane", dp)
        dev, prod = default_environment_names(dp, is_org_default=False)
        assert (dev, prod) == (f"development-{dp}", f"production-{dp}")
        assert valid("Environment", dev) and valid("Environment", prod)


def test_single_part_names_are_only_hashed_when_too_long() -> None:
    # Policy, CronJob and Job names: one part, kept as they are even when they end
    # like a hash (a manual run's Job is "<component>-run-<hash of the token>").
    assert bounded_name("api-run-0123abcd") == "api-run-0123abcd"
    assert bounded_name("c" * 64) == "c" * 54 + "-" + sha8("c" * 64)


def test_looks_hashed() -> None:
    assert looks_hashed("a-0123abcd")
    assert looks_hashed("-deadbeef")
    assert not looks_hashed("deadbeef")
    assert not looks_hashed("a-0123abc")
    assert not looks_hashed("a-0123ABCD")
    assert not looks_hashed("a-0123abcg")
    assert not looks_hashed("a-0123abcde")  # nine hex characters
    # The name itself then ends with '-'+8 hex: exactly the tail of a hashed name.
    assert looks_hashed(bounded_name("a-b", "c"))


# ----------------------------------------------------------- the two findings
def test_a_plain_join_never_takes_the_hashed_name_of_another_input() -> None:
    """T1: org t… with project corp and an environment named like the hash of org
    t…-corp's runtime namespace; that environment name is a valid Environment name."""
    org = "t1234567"
    victim = runtime_namespace_name(f"{org}-corp", "p", "development")
    assert victim == f"{org}-corp-p-development-{sha8(f'{org}-corp/p/development')}"
    env = victim.removeprefix(f"{org}-corp-")
    assert valid("Environment", env) and valid("Project", "corp")
    squat = runtime_namespace_name(org, "corp", env)
    assert squat != victim
    assert squat == f"{org}-corp-{env}"[:54] + "-" + sha8(f"{org}/corp/{env}")


def test_organization_cdp_cannot_exist() -> None:
    """T1: org cdp, project org, environment <x> joined to cdp-org-<x>, the organization
    namespace of org <x>. Such organization names are rejected."""
    assert runtime_namespace_name("cdp", "org", "victim") == "cdp-org-victim"  # the naming
    assert organization_namespace_name("victim") == "cdp-org-victim"
    for name in ("cdp", "cdp-org", "cdp-x", "cdp-"):
        errors = name_errors("Organization", name)
        assert any("must not be 'cdp' nor start with 'cdp-'" in e for e in errors), name
    for name in ("cdpx", "cd", "acdp", "x-cdp", "t1234567", "globex"):
        assert valid("Organization", name), name
    # Other kinds may use the word.
    assert valid("Project", "cdp") and valid("Environment", "cdp-org") and valid("Project", "org")


# ------------------------------------------------------------ property checks
def _words(rng: random.Random) -> list[str]:
    hexes = [f"{rng.getrandbits(32):08x}" for _ in range(6)]
    return ["a", "b", "ab", "p", "org", "cdp", "corp", "dev", "development", "x1", *hexes]


def _name(rng: random.Random, words: list[str], max_length: int) -> str:
    while True:
        name = "-".join(rng.choice(words) for _ in range(rng.choice([1, 1, 2, 3, 4])))
        if rng.random() < 0.1:
            name = rng.choice("abcdefghz") * rng.randint(max_length - 12, max_length)
        if len(name) <= max_length:
            return name


def _triples(seed: int, count: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    words = _words(rng)
    out = []
    while len(out) < count:
        org = _name(rng, words, NAME_RULES["Organization"].max_length)
        project = _name(rng, words, NAME_RULES["Project"].max_length)
        env = _name(rng, words, NAME_RULES["Environment"].max_length)
        if valid("Organization", org) and valid("Project", project) and valid("Environment", env):
            out.append((org, project, env))
    return out


def _splits(name: str) -> list[tuple[str, str, str]]:
    """Every (org, project, environment) of valid names whose plain join is `name`."""
    dashes = [i for i, c in enumerate(name) if c == "-"]
    out = []
    for i, j in itertools.combinations(dashes, 2):
        triple = (name[:i], name[i + 1 : j], name[j + 1 :])
        if all(
            valid(kind, part)
            for kind, part in zip(("Organization", "Project", "Environment"), triple, strict=True)
        ):
            out.append(triple)
    return out


def test_runtime_names_are_bounded_dns_labels() -> None:
    for triple in _triples(seed=1, count=5000):
        name = runtime_namespace_name(*triple)
        assert len(name) <= 63 and DNS_LABEL.fullmatch(name), (triple, name)
        assert runtime_namespace_name(*triple) == name  # stable


def test_plain_and_hashed_names_never_coincide() -> None:
    triples = set(_triples(seed=2, count=20_000))
    plain, hashed = {}, {}
    for triple in triples:
        name = runtime_namespace_name(*triple)
        (plain if name == "-".join(triple) else hashed)[name] = triple
    assert len(plain) > 1000 and len(hashed) > 1000, (len(plain), len(hashed))
    assert not set(plain) & set(hashed)
    assert not any(looks_hashed(name) for name in plain)
    assert all(looks_hashed(name) for name in hashed)
    # No two inputs share a name at all.
    assert len(plain) + len(hashed) == len(triples)


def test_no_other_input_joins_to_a_name() -> None:
    """For each name given out, every other input whose plain join is that name (all the
    ways to cut it into valid organization, project and environment names, including
    the hashed names of others) gets a different name."""
    for triple in _triples(seed=3, count=3000):
        name = runtime_namespace_name(*triple)
        for other in _splits(name):
            if other != triple:
                assert runtime_namespace_name(*other) != name, (triple, other, name)


def test_hashed_names_of_every_organization_cannot_be_joined_by_another() -> None:
    """The squatting of T1 generalised: victims with a '-' in the organization name, the
    attacker any valid split of the victim's hashed name."""
    rng = random.Random(4)
    for _ in range(2000):
        org = f"t{rng.getrandbits(28):07x}"
        victim = (f"{org}-{rng.choice(['corp', 'a', 'x-y'])}", rng.choice(["p", "shop"]), "dev")
        target = runtime_namespace_name(*victim)
        assert looks_hashed(target)
        for other in _splits(target):
            assert runtime_namespace_name(*other) != target, (victim, other)


def test_no_runtime_namespace_is_named_like_an_organization_namespace() -> None:
    rng = random.Random(5)
    words = [*_words(rng), "cdp", "org", "cdp-org"]
    orgs = {"cdp", "cdp-org", "cdpx", "cd", *(_name(rng, words, 30) for _ in range(3000))}
    checked = 0
    for org in orgs:
        for project in ("org", "p", "org-x", "shop"):
            for env in ("victim", "development", "x-0123abcd"):
                name = runtime_namespace_name(org, project, env)
                if valid("Organization", org):
                    assert not name.startswith("cdp-org-"), (org, project, env)
                    checked += 1
                elif name.startswith("cdp-org-"):
                    assert org == "cdp" or org.startswith("cdp-")
    assert checked > 1000
