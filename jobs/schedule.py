"""When does a source run next?  Pure schedule arithmetic, wrapped as APScheduler triggers.

Cron follows the rules users know from Vixie cron, including its daylight-saving
rule, which APScheduler's own ``CronTrigger`` does not (it fires a ``30 2 * * *`` job
twice on a fall-back night):

* a **fixed-time** job (neither the minute nor the hour field starts with ``*``, e.g.
  ``30 2 * * *``) runs once on a fall-back day, at the first of the two 02:30s, and
  still runs once on a spring-forward day when its time falls in the skipped hour:
  at the moment the clocks jump (03:00 new time);
* a **wildcard** job (``0 * * * *``, ``*/15 * * * *``, ``*/5 2 * * *``) follows the
  clock: it runs in both copies of a repeated hour and not at all in a skipped one,
  so an hourly job runs once per elapsed hour.

``interval: 15m`` sources fire every interval from an anchor (the last run, or the
daemon's start).  Jitter delays each fire by a random amount up to the source's
``jitter``, capped at half the gap to the next fire so a jittered run never swallows
the next one; it never accumulates (fires stay on the un-jittered grid).

Everything here takes the time as an argument, so schedules are tested with a given
clock.  :func:`plan_run` is the missed-run policy: however many fire times were
missed (a restart, a stall), a source runs at most once for them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Callable, Optional, Sequence
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from crawler.cron import CronSpec, parse_cron, parse_interval

UTC = timezone.utc
_SEARCH_DAYS = 366 * 9  # "29 2 *" fires every 4 years, and 2100 is not a leap year
MISFIRE_POLICIES = ("coalesce", "skip")


def _aware(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError("schedule times must be timezone-aware")
    return ts


# -- cron in a time zone --------------------------------------------------------------

def _resolve(wall: datetime, tz: tzinfo) -> tuple[str, tuple[datetime, ...]]:
    """What a local wall-clock time is in real time.

    ``("normal", (t,))``, ``("fold", (first, second))`` for a time that happens twice
    (fall back), or ``("gap", (jump,))`` for a time that never happens (spring forward),
    where ``jump`` is the instant the clocks jump over it.
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return "normal", (first,)
    if first < second:
        return "fold", (first, second)
    # a gap: fold=0 reads the wall time with the old offset (later), fold=1 with the new one
    return "gap", (_transition(second, first, tz),)


def _transition(lo: datetime, hi: datetime, tz: tzinfo) -> datetime:
    """The first instant in (lo, hi] whose UTC offset is that of ``hi`` (to the second)."""
    target = hi.astimezone(tz).utcoffset()
    lo_s, hi_s = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == target:
            hi_s = mid
        else:
            lo_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


def _candidates(kind: str, instants: tuple[datetime, ...], fixed: bool) -> tuple[tuple[datetime, bool], ...]:
    """The fire instants of one matching wall time, each flagged ``True`` if it is the first occurrence."""
    if kind == "normal":
        return ((instants[0], True),)
    if kind == "fold":
        return ((instants[0], True),) if fixed else ((instants[0], True), (instants[1], False))
    return ((instants[0], True),) if fixed else ()  # gap: fixed jobs run at the jump, wildcards skip


def _first_later(items: list, later: Callable[[datetime], bool], reading: Callable[[int], datetime]) -> int:
    """Index of the first item whose (growing) latest reading is later; ``len(items)`` if none is."""
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if later(reading(items[mid])):
            hi = mid
        else:
            lo = mid + 1
    return lo


def next_cron_time(spec: CronSpec, tz: tzinfo, after: datetime, *, inclusive: bool = False) -> Optional[datetime]:
    """The first fire time of ``spec`` in ``tz`` strictly after ``after`` (or at it, if ``inclusive``)."""
    after = _aware(after).astimezone(UTC)
    fixed = spec.fixed_time
    minutes, hours = sorted(spec.minutes), sorted(spec.hours)

    def later(t: datetime) -> bool:
        return t > after or (inclusive and t == after)

    local = after.astimezone(tz)
    # a repeated hour can put the end of the day before in real time after ``after``
    day = local.date() - timedelta(days=1 if local.hour < 4 else 0)
    for _ in range(_SEARCH_DAYS):
        if spec.matches_day(day.day, day.month, (day.weekday() + 1) % 7):
            best: Optional[datetime] = None
            # skip the hours whose every fire is too early: the latest reading of an hour's
            # last minute bounds its fires, and grows with the hour
            start = _first_later(hours, later,
                                 lambda h: _resolve(datetime.combine(day, time(h, minutes[-1])), tz)[1][-1])
            for hour in hours[start:]:
                # first readings grow with the wall time: nothing from here on can beat ``best``
                if best is not None and _resolve(datetime.combine(day, time(hour, minutes[0])), tz)[1][0] >= best:
                    break
                # likewise the minutes of this hour
                lo = _first_later(minutes, later,
                                  lambda m: _resolve(datetime.combine(day, time(hour, m)), tz)[1][-1])
                for minute in minutes[lo:]:
                    kind, instants = _resolve(datetime.combine(day, time(hour, minute)), tz)
                    found_first = False
                    for t, first in _candidates(kind, instants, fixed):
                        if later(t):
                            if best is None or t < best:
                                best = t
                            found_first = found_first or first
                    if found_first:
                        break  # later minutes of this hour only fire later
            if best is not None:
                return best
        day += timedelta(days=1)
    return None


# -- schedules (APScheduler triggers) ------------------------------------------------

class Schedule(BaseTrigger):
    """A source's fire times: ``next_base`` is the un-jittered grid; APScheduler sees jittered fires."""

    __slots__ = ("jitter", "rng")

    def __init__(self, jitter: float = 0, rng: Optional[random.Random] = None):
        self.jitter = float(jitter or 0)
        self.rng = rng or random.Random()

    # the grid ---------------------------------------------------------------------
    def next_base(self, after: datetime, *, inclusive: bool = False) -> Optional[datetime]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def base_at_or_before(self, at: datetime) -> Optional[datetime]:
        """The latest un-jittered fire time at or before ``at`` (None if there is none in ~10 years)."""
        at = _aware(at)
        window = timedelta(minutes=1)
        while window < timedelta(days=3700):
            t = self.next_base(at - window, inclusive=True)
            if t is not None and t <= at:
                while True:
                    n = self.next_base(t)
                    if n is None or n > at:
                        return t
                    t = n
            window *= 2
        return None

    def period_at(self, base: datetime) -> Optional[timedelta]:
        """Time from the fire at ``base`` to the one after it."""
        following = self.next_base(base)
        return None if following is None else following - base

    # jitter -----------------------------------------------------------------------
    def jitter_cap(self, base: datetime) -> float:
        """The most jitter a fire at ``base`` may get: ``jitter``, at most half the gap to the next fire."""
        if not self.jitter:
            return 0.0
        period = self.period_at(base)
        return self.jitter if period is None else min(self.jitter, period.total_seconds() / 2)

    def jittered(self, base: Optional[datetime]) -> Optional[datetime]:
        if base is None or not self.jitter:
            return base
        return base + timedelta(seconds=self.rng.uniform(0, self.jitter_cap(base)))

    # APScheduler ----------------------------------------------------------------------
    def get_next_fire_time(self, previous_fire_time, now):
        # ``previous_fire_time`` may carry jitter; it is less than half a gap past its base,
        # so the next base after it is the next grid point.
        if previous_fire_time is not None:
            return self.jittered(self.next_base(previous_fire_time))
        return self.jittered(self.next_base(now, inclusive=True))

    def __str__(self) -> str:
        return self.describe()


class CronSchedule(Schedule):
    __slots__ = ("spec", "tz")

    def __init__(self, expr: str, tz: str | tzinfo = "UTC", *, jitter: float = 0,
                 rng: Optional[random.Random] = None):
        super().__init__(jitter, rng)
        self.spec = parse_cron(expr)
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz

    def next_base(self, after: datetime, *, inclusive: bool = False) -> Optional[datetime]:
        return next_cron_time(self.spec, self.tz, after, inclusive=inclusive)

    def describe(self) -> str:
        return f"cron '{self.spec.expr}' {self.tz}"


class IntervalSchedule(Schedule):
    """Every ``every`` from ``anchor`` (the anchor itself is not a fire)."""

    __slots__ = ("every", "anchor")

    def __init__(self, every: timedelta, anchor: datetime, *, jitter: float = 0,
                 rng: Optional[random.Random] = None):
        super().__init__(jitter, rng)
        if every <= timedelta(0):
            raise ValueError("an interval must be positive")
        self.every = every
        self.anchor = _aware(anchor).astimezone(UTC)

    def next_base(self, after: datetime, *, inclusive: bool = False) -> Optional[datetime]:
        elapsed = (_aware(after) - self.anchor) / self.every
        k = math.ceil(elapsed) if inclusive else math.floor(elapsed) + 1
        return self.anchor + max(k, 1) * self.every

    def base_at_or_before(self, at: datetime) -> Optional[datetime]:
        k = math.floor((_aware(at) - self.anchor) / self.every)
        return self.anchor + k * self.every if k >= 1 else None

    def describe(self) -> str:
        return f"every {_human(self.every)}"


def _human(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0 and s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def schedule_for(source, *, anchor: datetime, rng: Optional[random.Random] = None) -> Schedule:
    """The schedule of a configured source: ``interval`` if set, else its cron ``schedule``.

    ``anchor`` matters only for intervals: the last run's start, or now for a source
    that never ran.
    """
    if source.interval:
        return IntervalSchedule(parse_interval(source.interval), anchor, jitter=source.jitter, rng=rng)
    return CronSchedule(source.schedule or "0 * * * *", source.timezone, jitter=source.jitter, rng=rng)


# -- missed runs -------------------------------------------------------------------------

@dataclass(frozen=True)
class Due:
    """Fire times that have come due for one source (oldest first): one, or several after a stall."""

    first: datetime
    last: datetime
    count: int
    capped: bool = False  # more than ``count`` were due

    @classmethod
    def of(cls, times: Sequence[datetime]) -> "Due":
        if not times:
            raise ValueError("no fire times")
        return cls(times[0], times[-1], len(times))


def due_between(schedule: Schedule, after: datetime, now: datetime, *, limit: int = 1000) -> Optional[Due]:
    """The un-jittered fire times in (after, now], e.g. those missed while the daemon was down."""
    first = schedule.next_base(after)
    if first is None or first > now:
        return None
    count, t = 1, first
    while count < limit:
        n = schedule.next_base(t)
        if n is None or n > now:
            return Due(first, t, count)
        count, t = count + 1, n
    return Due(first, schedule.base_at_or_before(now) or t, count, capped=True)


@dataclass(frozen=True)
class Plan:
    """What to do about fire times that came due: run once (for the latest) or skip them all."""

    run: bool
    trigger_time: datetime
    late_s: float
    missed: int            # fire times that get no run of their own (coalesced or skipped)
    reason: str = ""
    info: dict = field(default_factory=dict)


def plan_run(due: Due, now: datetime, *, policy: str = "coalesce", grace_s: float = 300.0) -> Plan:
    """The missed-run policy, as a pure function.

    * ``coalesce``: one run for all of them, however late (never a burst of catch-up runs);
    * ``skip``: one run if the latest is at most ``grace_s`` late, else none (the caller
      records the skip); older fire times are never run on their own.
    """
    if policy not in MISFIRE_POLICIES:
        raise ValueError(f"unknown misfire policy '{policy}'")
    late = max(0.0, (now - due.last).total_seconds())
    count = f"{due.count}{'+' if due.capped else ''}"
    info = {"scheduled_for": due.last, "late_s": round(late, 3)}
    if due.count > 1:
        info.update(missed_fire_times=due.count - 1, missed_since=due.first, misfire_policy=policy)
    if late <= grace_s:
        reason = f"{count} fire times came due at once; running once" if due.count > 1 else ""
        return Plan(True, due.last, late, due.count - 1, reason, info)
    if policy == "coalesce":
        info["misfire_policy"] = policy
        reason = (f"missed {count} scheduled run(s) since {_short(due.first)} (latest {_human_s(late)} ago); "
                  "running once now (misfire: coalesce)")
        return Plan(True, due.last, late, due.count - 1, reason, info)
    info["misfire_policy"] = policy
    reason = (f"missed {count} scheduled run(s) since {_short(due.first)} by more than "
              f"misfire_grace_seconds={grace_s:g} (latest {_human_s(late)} ago); skipped (misfire: skip)")
    return Plan(False, due.last, late, due.count, reason, info)


def _short(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def fires(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Every un-jittered fire time in (start, end]."""
    out: list[datetime] = []
    t = schedule.next_base(start)
    while t is not None and t <= end:
        out.append(t)
        t = schedule.next_base(t)
    return out
