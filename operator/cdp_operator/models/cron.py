"""Cron schedules as Kubernetes CronJobs accept them: the regex and CEL the CRD uses.

A CronJob's schedule is parsed by robfig/cron v3's standard parser: five fields
(minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week
0-6 or SUN-SAT; names in any ASCII case), each a list of `*`, a value or a range
`a-b` (a <= b), optionally stepped with `/n` (n > 0), `?` meaning `*`; or one
of the @ descriptors. Kubernetes rejects a `TZ=` or `CRON_TZ=` prefix.

What this module accepts is a subset of that, so an admitted schedule always
makes a valid CronJob. Quirks the parser tolerates are rejected here: `?`
outside the day fields or with a step, `*-5`, `+5`, more than one leading
zero, empty list items, tabs and leading or trailing blanks, steps above 99,
and `@every <duration>` (not cron syntax).

A refused schedule gets a message naming the cron field and its range
(`problem`, and `MESSAGE_CEL` with the same text at admission), not the
grammar: `hour 25 is out of range 0-23`.

The grammar is one regular expression (RE2 and Python `re` alike: no
backslashes, so it embeds in a CEL string as it is); range order (a <= b) is
the one check a regex cannot make, done on the ranges it has matched.
"""

from __future__ import annotations

import re

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: Name -> number; month and day names are distinct, so one table serves both fields.
NAME_VALUES: dict[str, int] = {
    **{n: i + 1 for i, n in enumerate(MONTH_NAMES)},
    **{n: i for i, n in enumerate(DOW_NAMES)},
}


def _names(names: tuple[str, ...]) -> str:
    # Letter by letter, not (?i:...): case-insensitive matching folds Unicode too
    # (RE2 and Python match the long s "\u017f" for "s"), which the parser does not.
    return "|".join("".join(f"[{c}{c.upper()}]" for c in name) for name in names)


# One value of each field; at most one leading zero.
_MINUTE = "[0-5]?[0-9]"
_HOUR = "[01]?[0-9]|2[0-3]"
_DOM = "0?[1-9]|[12][0-9]|3[01]"
_MONTH = "0?[1-9]|1[0-2]|" + _names(MONTH_NAMES)
_DOW = "0?[0-6]|" + _names(DOW_NAMES)
_STEP = "[1-9][0-9]?"


def _field(value: str, question: bool = False) -> str:
    """A list of items: `*`, a value or a range, each optionally stepped; `?` if allowed."""
    item = f"(?:[*]|(?:{value})(?:-(?:{value}))?)(?:/{_STEP})?"
    if question:
        item = f"(?:{item}|[?])"
    return f"{item}(?:,{item})*"


FIELDS = (
    ("minute", _field(_MINUTE)),
    ("hour", _field(_HOUR)),
    ("day of month", _field(_DOM, question=True)),
    ("month", _field(_MONTH)),
    ("day of week", _field(_DOW, question=True)),
)

#: The whole grammar: a descriptor, or five fields separated by spaces.
PATTERN = "^(?:" + "|".join(DESCRIPTORS) + "|" + "[ ]+".join(f"(?:{f})" for _, f in FIELDS) + ")$"
_COMPILED = re.compile(PATTERN)


def _value(token: str) -> int:
    return int(token) if token.isdigit() else NAME_VALUES[token.lower()]


def _bounds(item: str) -> list[str]:
    return item.split("/")[0].split("-")


def _ranges_ordered(schedule: str) -> bool:
    for item in re.split("[ ,]", schedule):
        bounds = item.split("/")[0].split("-")
        if len(bounds) == 2 and _value(bounds[0]) > _value(bounds[1]):
            return False
    return True


def is_valid_schedule(schedule: str) -> bool:
    """Whether a CronJob accepts `schedule` (within the subset described above)."""
    return _COMPILED.fullmatch(schedule) is not None and _ranges_ordered(schedule)


def _cel_value(token: str) -> str:
    table = "{" + ", ".join(f"'{n}': {v}" for n, v in NAME_VALUES.items()) + "}"
    return f"({token}.matches('^[0-9]+$') ? int({token}) : {table}[{token}.lowerAscii()])"


#: The same check in CEL (`self` is the schedule). Items are split out in one level
#: (',' made a space, then split on spaces: nested splits cost too much for the
#: apiserver's estimator); a range "a-b" or "a-b/n" becomes [a, b(, n)]. The regex
#: guarantees every range bound is digits or a name, so the conversions cannot fail.
_BOUNDS = "x.replace('/', '-').split('-')"
CEL = (
    f"self.matches('{PATTERN}') && self.replace(',', ' ').split(' ').all(x, "
    f"!x.contains('-') || {_cel_value(_BOUNDS + '[0]')} <= {_cel_value(_BOUNDS + '[1]')})"
)

#: Each field: its name, its range, and its names if any (for messages).
RANGES = (
    ("minute", 0, 59, ""),
    ("hour", 0, 23, ""),
    ("day of month", 1, 31, ""),
    ("month", 1, 12, " or JAN-DEC"),
    ("day of week", 0, 6, " or SUN-SAT"),
)
_FORMS = "/".join(DESCRIPTORS)
_FIVE = (
    "a schedule is 5 fields separated by spaces (minute hour day-of-month month "
    f"day-of-week, e.g. '30 2 * * *') or one of {_FORMS}"
)
_TZ = "a TZ= or CRON_TZ= prefix is not allowed (Kubernetes rejects it): schedules run in UTC"
_BLANKS = "must not start or end with a space"
#: Numbers that are values (not steps) in a field: at its start or after ',' or '-'.
_VALUES = "(^|[,-])[0-9]{1,9}"

#: The static message, when the precise one (MESSAGE_CEL) cannot be computed.
MESSAGE = (
    "must be a cron schedule: 5 fields separated by spaces (minute 0-59, hour 0-23, day of "
    "month 1-31, month 1-12 or JAN-DEC, day of week 0-6 or SUN-SAT), or one of " + _FORMS
)


def _how_to_write(lo: int, hi: int, names: str) -> str:
    return (
        f"write *, a value {lo}-{hi}{names}, a range a-b, a list a,b or a step /n (n from 1 to 99)"
    )


def _field_problem(name: str, lo: int, hi: int, names: str, field: str) -> str:
    values = [m.group(0).lstrip(",-") for m in re.finditer(_VALUES, field)]
    out = [v for v in values if not lo <= int(v) <= hi]
    if out:
        return f"{name} {out[0]} is out of range {lo}-{hi}"
    return f"{name} '{field}' is invalid: {_how_to_write(lo, hi, names)}"


def problem(schedule: str) -> str | None:
    """What is wrong with `schedule`, naming the cron field and its range; None if valid.

    The same text, case for case, as MESSAGE_CEL computes at admission."""
    if is_valid_schedule(schedule):
        return None
    if schedule.startswith("@"):
        return f"'{schedule}' is not a schedule: {_FIVE}"
    if schedule.startswith(("TZ=", "CRON_TZ=")):
        return _TZ
    if schedule.startswith(" ") or schedule.endswith(" "):
        return _BLANKS
    fields = schedule.split(" ")
    if len(fields) != 5:
        return _FIVE
    for (name, pattern), (_, lo, hi, names), field in zip(FIELDS, RANGES, fields, strict=True):
        if not re.fullmatch(f"(?:{pattern})", field):
            return _field_problem(name, lo, hi, names, field)
    reversed_ = [
        item
        for item in re.split("[ ,]", schedule)
        if "-" in item and _value(_bounds(item)[0]) > _value(_bounds(item)[1])
    ]
    return f"range {reversed_[0]} is reversed: write the smaller value first"


def _cel_field_problem(i: int) -> str:
    name, lo, hi, names = RANGES[i]
    f = f"self.split(' ')[{i}]"
    values = f"{f}.findAll('{_VALUES}').map(t, t.replace(',', '').replace('-', ''))"
    out = f"int(t) < {lo} || int(t) > {hi}"
    invalid = f"' is invalid: {_how_to_write(lo, hi, names)}"
    return (
        f"{values}.exists(t, {out}) ? '{name} ' + {values}.filter(t, {out})[0] + "
        f'\' is out of range {lo}-{hi}\' : "{name} \'" + {f} + "{invalid}"'
    )


#: The precise message in CEL (a messageExpression): the same text as `problem`.
_FIELD_CHECKS = " : ".join(
    f"!self.split(' ')[{i}].matches('^(?:{pattern})$') ? ({_cel_field_problem(i)})"
    for i, (_, pattern) in enumerate(FIELDS)
)
MESSAGE_CEL = (
    f"self.startsWith('@') ? \"'\" + self + \"' is not a schedule: {_FIVE}\" : "
    f"self.startsWith('TZ=') || self.startsWith('CRON_TZ=') ? '{_TZ}' : "
    f"self.startsWith(' ') || self.endsWith(' ') ? '{_BLANKS}' : "
    f"size(self.split(' ')) != 5 ? \"{_FIVE}\" : "
    f"{_FIELD_CHECKS} : 'range ' + "
    f"self.replace(',', ' ').split(' ').filter(x, x.contains('-') && "
    f"{_cel_value(_BOUNDS + '[0]')} > {_cel_value(_BOUNDS + '[1]')})[0] + "
    "' is reversed: write the smaller value first'"
)
