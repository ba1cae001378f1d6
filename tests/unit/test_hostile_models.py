"""The hostile input catalogue through the pydantic models: the unit-level twin.

The models mirror the CRD's schema and CEL rules (the CLI validates with them
before sending, the operator parses with them). For every case of
``tests/hostile_cases.py`` the models must reach the same accept/reject decision
as the apiserver (the ``admitted`` column, which the e2e test checks against the
real apiserver).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cdp_operator.models.resources import name_errors, parse_spec, transition_errors
from hostile_cases import CASES, RAW_WORDING, Case, Either, Rejected

#: Cases where the models and the apiserver disagree today (case id -> finding and why).
#: Empty: M1 (pydantic's lax mode coerced "3", "8080" and "yes" the apiserver rejects)
#: is fixed by strict integers and booleans in the models.
MISMATCHES: dict[str, str] = {}


def model_errors(case: Case) -> list[str]:
    """What the models reject in this case (empty: they admit it)."""
    errors = list(name_errors(case.kind, case.object_name("x")))
    try:
        new = parse_spec(case.kind, case.spec)
    except (ValidationError, ValueError, TypeError) as exc:
        return [*errors, str(exc)]
    if case.before is not None:
        errors += transition_errors(case.kind, parse_spec(case.kind, case.before), new)
    return errors


def _params() -> list[Any]:
    params = []
    for case in CASES:
        marks = []
        if case.id in MISMATCHES:
            marks.append(pytest.mark.xfail(strict=True, reason=MISMATCHES[case.id]))
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


@pytest.mark.parametrize("case", _params())
def test_models_agree_with_the_apiserver(case: Case) -> None:
    errors = model_errors(case)
    if case.admitted:
        assert not errors, f"the apiserver admits {case.id} but the models reject it: {errors}"
    else:
        assert errors, f"the apiserver rejects {case.id} but the models admit it"


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id) for c in CASES if isinstance(c.expect, Rejected)]
)
def test_model_errors_name_the_field(case: Case) -> None:
    """The models' message names the same field the apiserver names (its last path part)."""
    if case.id in MISMATCHES:
        pytest.skip(MISMATCHES[case.id])
    assert isinstance(case.expect, Rejected)
    wanted = case.expect.field.rsplit(".", 1)[-1].split("[")[0]
    if wanted == "spec":
        pytest.skip("the models validate the spec itself; its absence is the apiserver's to name")
    # What a user reads (the CLI's errors, the operator's InvalidSpec message), not
    # pydantic's repr of the error.
    text = " ".join([*name_errors(case.kind, case.object_name("x")), *shown_messages(case)])
    # "configs" (the path) is "build config ..." in the shared message.
    assert wanted.removesuffix("s").lower() in text.lower(), f"{wanted!r} not named in: {text}"


def shown_messages(case: Case) -> list[str]:
    """The models' messages as users see them: `spec.<field>: <message>`, as the operator's
    InvalidSpec status and the CLI print them (metadata.name errors are the CLI's own)."""
    try:
        new = parse_spec(case.kind, case.spec)
    except ValidationError as exc:
        return [
            f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        ]
    if case.before is not None:
        return transition_errors(case.kind, parse_spec(case.kind, case.before), new)
    return []


_REJECTED_BY_MODELS = [
    pytest.param(c, id=c.id)
    for c in CASES
    if isinstance(c.expect, Rejected) and c.spec is not None and c.expect.field != "metadata.name"
]


@pytest.mark.parametrize("case", _REJECTED_BY_MODELS)
def test_model_messages_are_in_words_people_read(case: Case) -> None:
    """No raw pydantic wording ("String should match pattern '^\\S+$'", "Input should be less
    than or equal to 65535", "Value error, ") reaches a user."""
    if not isinstance(case.spec, dict):
        pytest.skip("a spec that is not an object is the apiserver's to refuse")
    shown = shown_messages(case)
    assert shown, f"the models admit {case.id}"
    for message in shown:
        for raw in (*RAW_WORDING, "should have at", "Extra inputs", "Field required"):
            assert raw not in message, f"{case.id}: raw wording in {message!r}"


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id) for c in CASES if isinstance(c.expect, Rejected) and c.expect.says],
)
def test_model_messages_say_what_the_apiserver_says(case: Case) -> None:
    """The catalogue's `says` (checked against the apiserver by the e2e test) is in the
    models' message too, at the field the apiserver names."""
    assert isinstance(case.expect, Rejected) and case.expect.says
    shown = shown_messages(case)
    wanted = case.expect.field.split("[")[0] if case.expect.field.startswith("spec.") else None
    hits = [m for m in shown if case.expect.says in m]
    assert hits, f"{case.expect.says!r} not in {shown}"
    if wanted:
        assert any(m.startswith(wanted) for m in hits), f"{wanted} not named in {hits}"


def test_the_catalogue_is_large_and_covers_every_class() -> None:
    groups: dict[str, int] = {}
    for case in CASES:
        groups[case.group] = groups.get(case.group, 0) + 1
    assert len(CASES) >= 60
    for group in (
        "wrong type",
        "missing required field",
        "invalid name",
        "oversize",
        "invalid CIDR",
        "invalid port",
        "invalid cron schedule",
        "build configuration",
        "unknown or foreign reference",
        "unicode",
        "bad env var name",
        "duplicate",
        "type/field combination",
        "immutable field",
        "image reference",
        "web-app endpoint",
        "unknown build config key",
        "constraint in words",
    ):
        assert groups.get(group, 0) >= 3, (group, groups)
    # Every Either case names a finding.
    from hostile_cases import FINDINGS

    for case in CASES:
        if isinstance(case.expect, Either):
            assert case.expect.finding in FINDINGS
