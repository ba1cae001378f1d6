"""Component schedules: the models accept what a Kubernetes CronJob accepts (a subset).

The reference, ``cron_cases.k8s_accepts``, is checked against the real apiserver
by ``tests/e2e/test_admission.py``; the CRD's CEL rule against these models too.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cdp_operator.models import cron
from cdp_operator.models.resources import ComponentSpec
from cron_cases import INVALID, STRICTER, VALID, generated, k8s_accepts


def task(schedule: Any) -> dict[str, Any]:
    return {"project": "p", "type": "scheduled-task", "image": "x:1", "schedule": schedule}


def test_the_table_is_consistent() -> None:
    assert not set(VALID) & set(INVALID)
    assert not set(VALID) & set(STRICTER)
    assert not set(INVALID) & set(STRICTER)
    assert len(VALID) + len(INVALID) + len(STRICTER) >= 100


@pytest.mark.parametrize("schedule", VALID)
def test_valid_schedules(schedule: str) -> None:
    assert k8s_accepts(schedule)
    assert cron.is_valid_schedule(schedule)
    ComponentSpec.model_validate(task(schedule))


@pytest.mark.parametrize("schedule", INVALID)
def test_invalid_schedules_are_rejected_naming_the_field(schedule: str) -> None:
    assert not k8s_accepts(schedule)
    assert not cron.is_valid_schedule(schedule)
    with pytest.raises(ValidationError) as info:
        ComponentSpec.model_validate(task(schedule))
    assert "schedule" in str(info.value)


@pytest.mark.parametrize("schedule", STRICTER)
def test_parser_quirks_are_rejected_although_kubernetes_takes_them(schedule: str) -> None:
    assert k8s_accepts(schedule)
    assert not cron.is_valid_schedule(schedule)


def test_the_findings_of_the_hostile_catalogue() -> None:
    for schedule in ("99 99 99 99 99", "foo bar baz qux quux", "*/0 * * * *", "60 * * * *"):
        assert not cron.is_valid_schedule(schedule), schedule
        assert schedule in INVALID


def test_inside_the_grammar_the_models_agree_with_kubernetes() -> None:
    """Random schedules built from the models' grammar (values out of range, ranges
    reversed, steps of zero, names in any case and in the wrong field)."""
    cases = generated(20_000, seed=1, clean=True)
    disagree = [s for s in cases if cron.is_valid_schedule(s) != k8s_accepts(s)]
    assert not disagree, disagree[:20]
    accepted = sum(map(cron.is_valid_schedule, cases))
    assert 0.1 * len(cases) < accepted < 0.9 * len(cases), accepted  # both verdicts occur


def test_whatever_the_models_accept_kubernetes_accepts() -> None:
    """Random schedules with the parser's quirks and malformed fields: never admitted by
    the models unless a CronJob takes them."""
    cases = generated(20_000, seed=2, clean=False)
    unsound = [s for s in cases if cron.is_valid_schedule(s) and not k8s_accepts(s)]
    assert not unsound, unsound[:20]


def test_the_pattern_has_no_backslash() -> None:
    # It is embedded in a CEL string literal, where backslashes are escapes.
    assert "\\" not in cron.PATTERN
    assert cron.PATTERN in cron.CEL


def test_non_strings_are_rejected() -> None:
    for schedule in (5, None, ["0", "*"]):
        spec = task(schedule)
        with pytest.raises(ValidationError):
            ComponentSpec.model_validate(spec)


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ("0 25 * * *", "hour 25 is out of range 0-23"),
        ("60 * * * *", "minute 60 is out of range 0-59"),
        ("0 0 32 * *", "day of month 32 is out of range 1-31"),
        ("0 0 1 0 *", "month 0 is out of range 1-12"),
        ("0 0 * * 1-7", "day of week 7 is out of range 0-6"),
        ("0 1,2,30 * * *", "hour 30 is out of range 0-23"),
        ("0 0 * * 1#2", "day of week '1#2' is invalid: write *, a value 0-6 or SUN-SAT"),
        ("*/0 * * * *", "minute '*/0' is invalid"),
        ("0 0 * * FRI-MON", "range FRI-MON is reversed: write the smaller value first"),
        ("@fortnightly", "'@fortnightly' is not a schedule: a schedule is 5 fields"),
        ("TZ=UTC 0 * * * *", "a TZ= or CRON_TZ= prefix is not allowed"),
        (" 0 * * * *", "must not start or end with a space"),
        ("* * * *", "a schedule is 5 fields separated by spaces"),
    ],
)
def test_an_invalid_schedule_names_the_cron_field_and_its_range(schedule: str, says: str) -> None:
    assert says in (cron.problem(schedule) or "")
    with pytest.raises(ValidationError) as info:
        ComponentSpec.model_validate(task(schedule))
    (error,) = info.value.errors()
    assert error["loc"] == ("schedule",) and says in error["msg"]
    assert len(error["msg"]) < 250, "a message, not the grammar"


@pytest.mark.parametrize(
    "schedule",
    [
        *VALID,
        *INVALID,
        *STRICTER,
        *generated(300, seed=5, clean=True),
        *generated(300, seed=6, clean=False),
    ],
)
def test_problem_is_none_exactly_for_valid_schedules(schedule: str) -> None:
    problem = cron.problem(schedule)
    assert (problem is None) == cron.is_valid_schedule(schedule), problem
