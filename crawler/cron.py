"""Pure parsing of schedule expressions: 5-field cron, nicknames, intervals, time zones.

Cron follows the classic (Vixie) rules users know from crontab: day-of-week 0 and 7
are Sunday, names (``mon``, ``jan``) are accepted, and when both day-of-month and
day-of-week are restricted a day matches if *either* matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_FIELDS = (  # name, low, high, names
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
_INTERVAL_RE = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|hr|d|day)s?\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400}


@dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression: the allowed values of each field."""

    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    day_restricted: bool
    weekday_restricted: bool

    def matches_day(self, day: int, month: int, weekday_sun0: int) -> bool:
        """True if a calendar day (weekday with 0 = Sunday) is a firing day."""
        if month not in self.months:
            return False
        if self.day_restricted and self.weekday_restricted:
            return day in self.days or weekday_sun0 in self.weekdays
        return day in self.days and weekday_sun0 in self.weekdays

    @property
    def fixed_time(self) -> bool:
        """Vixie cron's "fixed-time" job: neither the minute nor the hour field starts with ``*``.

        Around daylight-saving changes a fixed-time job runs once (the first of a repeated
        time; at the jump for a skipped one); a wildcard job follows the clock.
        """
        minute, hour = self.expr.split()[:2]
        return not (minute.startswith("*") or hour.startswith("*"))


def _value(token: str, low: int, high: int, names: dict | None, field: str) -> int:
    t = token.lower()
    if names and t in names:
        return names[t]
    if not t.isdigit():
        raise ValueError(f"{field}: '{token}' is not a number" + (
            f" or a name ({', '.join(names)})" if names else ""))
    v = int(t)
    if not low <= v <= high:
        raise ValueError(f"{field}: {v} is out of range {low}-{high}")
    return v


def _parse_field(text: str, low: int, high: int, names: dict | None, field: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ValueError(f"{field}: empty item in '{text}'")
        step = 1
        if "/" in part:
            part, _, step_text = part.partition("/")
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{field}: bad step '/{step_text}'")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, _, b = part.partition("-")
            start, end = _value(a, low, high, names, field), _value(b, low, high, names, field)
            if start > end:
                raise ValueError(f"{field}: range {a}-{b} runs backwards")
        else:
            start = _value(part, low, high, names, field)
            end = high if step > 1 else start
        out.update(range(start, end + 1, step))
    return out


def parse_cron(expr: str) -> CronSpec:
    """Parse a 5-field cron expression or a nickname; raises ValueError with a clear reason."""
    text = " ".join(expr.split())
    text = NICKNAMES.get(text.lower(), text)
    if text.startswith("@"):
        raise ValueError(f"unknown nickname '{expr}'; use one of {', '.join(NICKNAMES)}")
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValueError(f"'{expr}' has {len(fields)} fields; cron needs 5: minute hour day-of-month month day-of-week")
    values = [_parse_field(f, lo, hi, names, name) for f, (name, lo, hi, names) in zip(fields, _FIELDS)]
    weekdays = {d % 7 for d in values[4]}
    return CronSpec(
        expr=text,
        minutes=frozenset(values[0]),
        hours=frozenset(values[1]),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=frozenset(weekdays),
        day_restricted=not fields[2].startswith("*"),
        weekday_restricted=not fields[4].startswith("*"),
    )


def validate_cron(expr: str) -> str:
    """Return the expression unchanged if it parses (raises ValueError otherwise)."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("empty schedule; write a 5-field cron like '0 * * * *' or '@hourly'")
    spec = parse_cron(expr)
    if spec.day_restricted and not spec.weekday_restricted and not any(
            d <= _days_in_month_max(m) for m in spec.months for d in spec.days):
        raise ValueError(f"'{expr}' never fires (no such date)")
    return expr.strip()


def _days_in_month_max(month: int) -> int:
    return {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}.get(month, 31)


def parse_interval(text: str) -> timedelta:
    """Parse ``15m``, ``2h``, ``90s``, ``1d`` into a timedelta (at least 1 second)."""
    m = _INTERVAL_RE.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not an interval like 30s, 15m, 2h or 1d")
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
    if seconds < 1:
        raise ValueError("an interval must be at least 1s")
    return timedelta(seconds=seconds)


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        import difflib

        hint = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else " (use an IANA name like Europe/Belgrade or UTC)"
        raise ValueError(f"unknown time zone '{name}'{extra}") from None
    return name
