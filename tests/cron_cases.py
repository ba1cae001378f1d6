"""Cron schedules: what a Kubernetes CronJob accepts, and a table of cases.

Three consumers: ``tests/unit/test_cron.py`` (the models' check against the
reference below), ``tests/e2e/test_admission.py`` (the reference against the
apiserver's own CronJob validation, and the CRD's CEL rule against the models).

``k8s_accepts`` is written from robfig/cron v3's ``ParseStandard`` (which the
apiserver's CronJob validation calls) and the apiserver's refusal of ``TZ`` in
a schedule, independently of ``cdp_operator.models.cron``; the e2e test checks
it against the real apiserver case by case, so it stays honest.
"""

from __future__ import annotations

import random
import re

_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_MONTHS = {
    n: i + 1
    for i, n in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DOWS = {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
#: (min, max, names) of minute, hour, day of month, month, day of week.
_BOUNDS: list[tuple[int, int, dict[str, int] | None]] = [
    (0, 59, None),
    (0, 23, None),
    (1, 31, None),
    (1, 12, _MONTHS),
    (0, 6, _DOWS),
]
#: time.ParseDuration's syntax (both micro signs).
_GO_DURATION = re.compile(
    "[-+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)"
)


def _atoi(text: str) -> int | None:
    """strconv.Atoi, then robfig's 'negative number not allowed'."""
    if not re.fullmatch(r"[+-]?[0-9]+", text, flags=re.ASCII):
        return None
    value = int(text)
    if not -(2**63) <= value < 2**63 or value < 0:
        return None
    return value


def _int_or_name(text: str, names: dict[str, int] | None) -> int | None:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    return _atoi(text)


def _range_ok(expr: str, lo: int, hi: int, names: dict[str, int] | None) -> bool:
    """robfig/cron v3 getRange."""
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    single = len(low_high) == 1
    if low_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        first = _int_or_name(low_high[0], names)
        if first is None:
            return False
        start = end = first
        if len(low_high) == 2:
            second = _int_or_name(low_high[1], names)
            if second is None:
                return False
            end = second
        elif len(low_high) > 2:
            return False
    step = 1
    if len(range_and_step) == 2:
        parsed = _atoi(range_and_step[1])
        if parsed is None:
            return False
        step = parsed
        if single:
            end = hi
    elif len(range_and_step) > 2:
        return False
    return lo <= start <= end <= hi and step > 0


def k8s_accepts(schedule: str) -> bool:
    """Whether the apiserver admits a new CronJob with this schedule."""
    if "TZ" in schedule or not schedule:
        return False
    if schedule.startswith("@"):
        if schedule.startswith("@every "):
            return _GO_DURATION.fullmatch(schedule[len("@every ") :]) is not None
        return schedule in _DESCRIPTORS
    fields = schedule.split()
    if len(fields) != 5:
        return False
    for text, (lo, hi, names) in zip(fields, _BOUNDS, strict=True):
        for expr in (e for e in text.split(",") if e):  # strings.FieldsFunc drops empties
            if not _range_ok(expr, lo, hi, names):
                return False
    return True


# ------------------------------------------------------------------- the table
#: Accepted by Kubernetes and by the models.
VALID = [
    "* * * * *",
    "0 * * * *",
    "*/5 * * * *",
    "*/1 * * * *",
    "*/99 * * * *",
    "0 0 * * *",
    "00 05 * * *",
    "59 23 31 12 6",
    "0 0 1 1 0",
    "30 2 * * 1-5",
    "0 9-17 * * MON-FRI",
    "0 9-17/2 * * mon-fri",
    "0 0 * * Sun",
    "0 0 * * sUn,SAT",
    "0 0 1 JAN *",
    "0 0 1 jan-dec/3 *",
    "0 0 1 Jan,Apr,Jul,Oct *",
    "0 0 1 1-12 *",
    "5/15 * * * *",
    "1,2,3,5,8,13,21,34,55 * * * *",
    "0-59 0-23 1-31 1-12 0-6",
    "0-59/7 * * * *",
    "0 0 ? * *",
    "0 0 * * ?",
    "0 0 ?,1 * *",
    "*,5 * * * *",
    "0 0 15 * *",
    "0 0 1-7 * 1",
    "0 12 * * 0,6",
    "0  0 * * *",
    "15 14 1 * *",
    "0 22 * * 1-5",
    "23 0-20/2 * * *",
    "5 4 * * sun",
    "0 0,12 1 */2 *",
    "0 4 8-14 * *",
    "0 0 1,15 * 3",
    "0 0 31 2 *",
    "5-5 * * * *",
    "0 0 * * 0-0",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
]

#: Rejected by Kubernetes and by the models.
INVALID = [
    "",
    " ",
    "99 99 99 99 99",
    "foo bar baz qux quux",
    "*/0 * * * *",
    "60 * * * *",
    "0 24 * * *",
    "0 0 0 * *",
    "0 0 32 * *",
    "0 0 * 0 *",
    "0 0 * 13 *",
    "0 0 * * 7",
    "-1 * * * *",
    "5-1 * * * *",
    "0 0 * * FRI-MON",
    "0 0 * DEC-JAN *",
    "1-5/0 * * * *",
    "* * * *",
    "* * * * * *",
    "0 * * * * *",
    "every day at noon",
    "@fortnightly",
    "@DAILY",
    "@Daily",
    " @daily",
    "@daily ",
    "TZ=UTC 0 * * * *",
    "CRON_TZ=UTC 0 * * * *",
    "TZ=Europe/Berlin @daily",
    "0 0 L * *",
    "0 0 * * 1#2",
    "0 0 * * 5L",
    "0 0 1W * *",
    "0 0 * JANUARY *",
    "0 0 * * MONDAY",
    "0 0 * * M",
    "0 0 * mon *",
    "0 0 * * jan",
    "1-2-3 * * * *",
    "*/5/5 * * * *",
    "*/a * * * *",
    "a * * * *",
    "0 0 \u017fun * *",
    "0 0 * * \u017fun",
    "0 0 * * \u0665",
    "0 0 1.5 * *",
    "0 0 * * 1;rm",
]

#: Accepted by Kubernetes, rejected by the models on purpose (parser quirks and
#: non-cron syntax; see models/cron.py). A CronJob would take them, so rejecting
#: them never breaks a schedule that would otherwise run.
STRICTER = [
    "? * * * *",
    "0 ? * * *",
    "?/5 * * * *",
    "*-5 * * * *",
    "+5 * * * *",
    "000 * * * *",
    "0 0 * * 00006",
    "*/05 * * * *",
    "*/100 * * * *",
    "1,,2 * * * *",
    ", * * * *",
    "1, * * * *",
    " 0 0 * * *",
    "0 0 * * * ",
    "0\t0 * * *",
    "@every 1h",
    "@every 30m",
]


# ------------------------------------------------------------- generated cases
_NAME_POOL = {3: list(_MONTHS), 4: list(_DOWS)}


def _value(rng: random.Random, field: int, clean: bool) -> str:
    lo, hi, _ = _BOUNDS[field]
    if field in _NAME_POOL and rng.random() < 0.3:
        pool = _NAME_POOL[7 - field] if rng.random() < 0.1 else _NAME_POOL[field]  # wrong kind
        name = rng.choice(pool)
        return "".join(c.upper() if rng.random() < 0.5 else c for c in name)
    value = rng.randint(lo, hi) if rng.random() < 0.9 else rng.choice([lo - 1, hi + 1, hi + 2])
    value = max(value, 0)
    text = str(value)
    if rng.random() < 0.15 and len(text) == 1:
        text = "0" + text
    if not clean and rng.random() < 0.05:
        text = rng.choice(["+", "00", "-"]) + text
    return text


def _item(rng: random.Random, field: int, clean: bool) -> str:
    roll = rng.random()
    if roll < 0.2:
        base = "*"
    elif roll < 0.25:
        base = "?" if field in (2, 4) or not clean else "*"
    elif roll < 0.6:
        base = _value(rng, field, clean)
    else:
        low, high = _value(rng, field, clean), _value(rng, field, clean)
        if rng.random() < 0.7 and low.isdigit() and high.isdigit() and int(low) > int(high):
            low, high = high, low  # mostly in order
        base = f"{low}-{high}"
    if base == "?" and clean:
        return base
    if rng.random() < 0.3:
        step = rng.choice([0, 1, 2, 3, 5, 7, 10, 15, 30, 59, 60, 99])
        if not clean:
            step = rng.choice([step, 100, 120])
        base += f"/{step}"
    if not clean and rng.random() < 0.03:
        base = rng.choice(["*-5", "?/2", "", base + "/"])
    return base


def generated(count: int, seed: int, clean: bool) -> list[str]:
    """Random schedules. `clean` ones stay inside the models' grammar (values may be
    out of range, ranges reversed, steps zero): there the models and Kubernetes must
    agree exactly. The others add the parser's quirks."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = 5 if clean or rng.random() < 0.9 else rng.choice([4, 6])
        fields = []
        for field in range(n):
            items = [_item(rng, min(field, 4), clean) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
            fields.append(",".join(items))
        sep = "  " if not clean and rng.random() < 0.05 else " "
        out.append(sep.join(fields))
    return out
