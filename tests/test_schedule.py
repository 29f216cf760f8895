"""Schedules as pure functions with a given clock: cron and DST, intervals, jitter, missed runs."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jobs.schedule import (CronSchedule, Due, IntervalSchedule, due_between, fires, plan_run,
                           schedule_for)
from crawler.config import SourceSettings

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
BG = ZoneInfo("Europe/Belgrade")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_day(ts: datetime, tz) -> date:
    return ts.astimezone(tz).date()


# -- cron basics -------------------------------------------------------------------------------

def test_next_fire_is_strictly_after_previous_and_inclusive_of_now():
    s = CronSchedule("0 * * * *")
    assert s.next_base(utc(2026, 5, 1, 10, 0)) == utc(2026, 5, 1, 11, 0)
    assert s.next_base(utc(2026, 5, 1, 10, 0), inclusive=True) == utc(2026, 5, 1, 10, 0)
    # APScheduler asks with previous=None for the first fire, then with the previous fire
    assert s.get_next_fire_time(None, utc(2026, 5, 1, 10, 0, 1)) == utc(2026, 5, 1, 11, 0)
    assert s.get_next_fire_time(utc(2026, 5, 1, 11, 0), utc(2026, 5, 1, 11, 0)) == utc(2026, 5, 1, 12, 0)


def test_vixie_rules_sunday_names_and_day_or_weekday():
    sat = utc(2026, 11, 28, 12)  # a Saturday
    assert CronSchedule("0 9 * * 0").next_base(sat) == utc(2026, 11, 29, 9)
    assert CronSchedule("0 9 * * 7").next_base(sat) == utc(2026, 11, 29, 9)
    assert CronSchedule("0 9 * * sun").next_base(sat) == utc(2026, 11, 29, 9)
    assert CronSchedule("0 9 * * mon-fri").next_base(sat) == utc(2026, 11, 30, 9)
    # day-of-month OR day-of-week when both are restricted: the 1st, or any Friday
    got = fires(CronSchedule("0 0 1 * fri"), utc(2026, 11, 25), utc(2026, 12, 12))
    assert got == [utc(2026, 11, 27), utc(2026, 12, 1), utc(2026, 12, 4), utc(2026, 12, 11)]
    # leap day: years apart, still found
    assert CronSchedule("0 0 29 2 *").next_base(utc(2026, 3, 1)) == utc(2028, 2, 29)


def test_nicknames_and_time_zone():
    s = CronSchedule("@daily", "Europe/Belgrade")
    assert s.next_base(utc(2026, 7, 1, 12)) == utc(2026, 7, 1, 22)  # midnight CEST
    assert s.next_base(utc(2026, 12, 1, 12)) == utc(2026, 12, 1, 23)  # midnight CET


# -- daylight saving: cron's rule, both ways, two zones ------------------------------------------------

@pytest.mark.parametrize("tz, spring, fall", [
    (NY, date(2026, 3, 8), date(2026, 11, 1)),   # 02:00 -> 03:00 and 02:00 -> 01:00
    (BG, date(2026, 3, 29), date(2026, 10, 25)),  # 02:00 -> 03:00 and 03:00 -> 02:00
])
@pytest.mark.parametrize("expr", ["30 2 * * *", "0 2 * * *", "59 2 * * *", "30 1 * * *", "0 3 * * *",
                                  "45 2 * * 0"])
def test_fixed_time_job_runs_exactly_once_every_day_through_both_changes(tz, spring, fall, expr):
    s = CronSchedule(expr, tz)
    start = datetime(2026, 1, 1, tzinfo=tz)
    got = fires(s, start, datetime(2027, 1, 1, tzinfo=tz))
    days = [local_day(t, tz) for t in got]
    assert len(days) == len(set(days)), "a fixed-time job ran twice on one day"
    expected_days = 365 if expr.endswith("* * *") else 52  # 2026 has 52 Sundays
    assert len(got) == expected_days, "a fixed-time job missed a day"
    assert spring in days and fall in days  # both change days are Sundays in 2026
    assert all(b > a for a, b in zip(got, got[1:]))


def test_new_york_spring_forward_skipped_time_runs_at_the_jump():
    s = CronSchedule("30 2 * * *", "America/New_York")
    got = fires(s, utc(2026, 3, 7), utc(2026, 3, 10))
    assert got == [utc(2026, 3, 7, 7, 30),    # 02:30 EST
                   utc(2026, 3, 8, 7, 0),     # 02:30 does not exist: at the jump, 03:00 EDT
                   utc(2026, 3, 9, 6, 30)]    # 02:30 EDT
    assert got[1].astimezone(NY).strftime("%H:%M %Z") == "03:00 EDT"


def test_new_york_fall_back_repeated_time_runs_once_at_the_first():
    s = CronSchedule("30 1 * * *", "America/New_York")
    got = fires(s, utc(2026, 10, 31), utc(2026, 11, 3))
    assert got == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]
    assert got[1].astimezone(NY).strftime("%H:%M %Z") == "01:30 EDT"  # not again at 01:30 EST


def test_belgrade_both_changes():
    s = CronSchedule("30 2 * * *", "Europe/Belgrade")
    spring = fires(s, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    assert spring == [utc(2026, 3, 29, 1, 0)]   # 03:00 CEST, the jump
    fall = fires(s, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert fall == [utc(2026, 10, 25, 0, 30)]   # 02:30 CEST only, not 02:30 CET (01:30Z)


@pytest.mark.parametrize("tz, spring, fall", [("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
                                              ("Europe/Belgrade", date(2026, 3, 29), date(2026, 10, 25))])
def test_hourly_job_runs_once_per_elapsed_hour(tz, spring, fall):
    zone = ZoneInfo(tz)
    s = CronSchedule("0 * * * *", tz)
    per_day = {}
    for day in (spring, fall):
        start = datetime.combine(day - timedelta(days=3), datetime.min.time(), zone)
        got = fires(s, start, start + timedelta(days=7))
        gaps = {b - a for a, b in zip(got, got[1:])}
        assert gaps == {timedelta(hours=1)}, "an hourly job must run every real hour, no more, no less"
        for t in got:
            per_day[local_day(t, zone)] = per_day.get(local_day(t, zone), 0) + 1
    assert per_day[spring] == 23 and per_day[fall] == 25
    assert per_day[spring - timedelta(days=1)] == 24 and per_day[fall + timedelta(days=1)] == 24


def test_wildcard_minute_job_follows_the_clock():
    spring = fires(CronSchedule("*/15 2 * * *", "America/New_York"), utc(2026, 3, 8, 4), utc(2026, 3, 8, 12))
    assert spring == []  # 02:xx does not exist that day
    fall = fires(CronSchedule("*/15 1 * * *", "America/New_York"), utc(2026, 11, 1, 4), utc(2026, 11, 1, 12))
    assert len(fall) == 8  # 01:00..01:45 EDT, then 01:00..01:45 EST
    assert all(b - a == timedelta(minutes=15) for a, b in zip(fall, fall[1:]))


def test_every_thirty_minutes_across_spring_forward():
    got = fires(CronSchedule("*/30 * * * *", "America/New_York"), utc(2026, 3, 8, 5, 45), utc(2026, 3, 8, 8, 0))
    local = [t.astimezone(NY).strftime("%H:%M") for t in got]
    assert local == ["01:00", "01:30", "03:00", "03:30", "04:00"]


# -- intervals -------------------------------------------------------------------------------------

def test_interval_fires_on_a_grid_from_its_anchor():
    anchor = utc(2026, 5, 1, 10, 0, 7)
    s = IntervalSchedule(timedelta(minutes=15), anchor)
    assert s.next_base(anchor) == anchor + timedelta(minutes=15)
    assert s.next_base(anchor, inclusive=True) == anchor + timedelta(minutes=15)  # the anchor is not a fire
    assert s.next_base(utc(2026, 5, 1, 11, 0)) == utc(2026, 5, 1, 11, 0, 7)
    assert s.next_base(utc(2026, 5, 1, 11, 0, 7)) == utc(2026, 5, 1, 11, 15, 7)
    assert s.base_at_or_before(utc(2026, 5, 1, 11, 0)) == utc(2026, 5, 1, 10, 45, 7)
    assert s.base_at_or_before(anchor + timedelta(minutes=1)) is None


def test_schedule_for_a_source_uses_interval_else_cron():
    now = utc(2026, 5, 1, 10)
    cron = schedule_for(SourceSettings(name="a", start_urls=["http://x.example/"], schedule="@hourly",
                                       timezone="Europe/Belgrade"), anchor=now)
    assert isinstance(cron, CronSchedule) and cron.next_base(now) == utc(2026, 5, 1, 11)
    every = schedule_for(SourceSettings(name="a", start_urls=["http://x.example/"], interval="90s"), anchor=now)
    assert every.next_base(now) == now + timedelta(seconds=90)


# -- jitter ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("jitter", [30, 120, 3600])
def test_cron_jitter_stays_in_bounds_and_never_skips_or_repeats_a_fire(jitter):
    s = CronSchedule("*/5 * * * *", jitter=jitter, rng=random.Random(7))
    cap = min(jitter, 150)  # never more than half the gap to the next fire
    t, now = None, utc(2026, 5, 1, 0, 0, 1)
    bases, offsets = [], []
    for _ in range(600):
        t = s.get_next_fire_time(t, now)  # chained as APScheduler does: previous is the jittered fire
        base = t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)
        bases.append(base)
        offsets.append((t - base).total_seconds())
    assert all(0 <= o <= cap for o in offsets)
    assert max(offsets) > 0.8 * cap and min(offsets) < 0.2 * cap  # the range is used
    assert all(b - a == timedelta(minutes=5) for a, b in zip(bases, bases[1:]))


def test_interval_jitter_does_not_drift():
    anchor = utc(2026, 5, 1)
    s = IntervalSchedule(timedelta(seconds=60), anchor, jitter=20, rng=random.Random(3))
    t = None
    for _ in range(1000):
        t = s.get_next_fire_time(t, anchor)
    base = anchor + timedelta(seconds=60 * 1000)
    assert base <= t <= base + timedelta(seconds=20)


def test_jitter_zero_means_on_the_dot():
    s = CronSchedule("0 * * * *", jitter=0)
    assert s.get_next_fire_time(None, utc(2026, 5, 1, 10, 30)) == utc(2026, 5, 1, 11)


# -- missed runs -------------------------------------------------------------------------------------

def test_a_stall_gives_one_run_for_all_missed_fire_times():
    s = CronSchedule("0 * * * *")
    last, now = utc(2026, 5, 1, 10, 0, 30), utc(2026, 5, 1, 15, 20)
    due = due_between(s, last, now)
    assert (due.first, due.last, due.count) == (utc(2026, 5, 1, 11), utc(2026, 5, 1, 15), 5)
    plan = plan_run(due, now, policy="coalesce", grace_s=300)
    assert plan.run and plan.trigger_time == utc(2026, 5, 1, 15) and plan.missed == 4
    assert "missed 5 scheduled run(s)" in plan.reason and "coalesce" in plan.reason
    assert plan.info["missed_fire_times"] == 4 and plan.info["late_s"] == 1200


def test_skip_policy_runs_within_grace_and_skips_beyond():
    due = Due.of([utc(2026, 5, 1, 11), utc(2026, 5, 1, 12)])
    on_time = plan_run(due, utc(2026, 5, 1, 12, 4), policy="skip", grace_s=300)
    assert on_time.run and on_time.trigger_time == utc(2026, 5, 1, 12) and on_time.missed == 1
    late = plan_run(due, utc(2026, 5, 1, 12, 6), policy="skip", grace_s=300)
    assert not late.run and late.missed == 2 and "misfire: skip" in late.reason
    # one fire, a bit late, coalesce: runs, no complaint
    plain = plan_run(Due.of([utc(2026, 5, 1, 12)]), utc(2026, 5, 1, 12, 0, 2), policy="coalesce")
    assert plain.run and plain.missed == 0 and plain.reason == ""


def test_nothing_missed_before_the_next_fire():
    s = CronSchedule("0 * * * *")
    assert due_between(s, utc(2026, 5, 1, 10, 0, 30), utc(2026, 5, 1, 10, 59)) is None


def test_a_long_outage_of_a_fast_interval_is_counted_cheaply():
    anchor = utc(2026, 5, 1)
    s = IntervalSchedule(timedelta(seconds=1), anchor)
    now = anchor + timedelta(days=30, seconds=0.5)
    due = due_between(s, anchor, now, limit=100)
    assert due.capped and due.count == 100
    assert due.last == anchor + timedelta(days=30)  # the run serves the latest fire time
    assert plan_run(due, now).info["missed_fire_times"] == 99


# -- against a brute-force reference ------------------------------------------------------------

def reference_fires(expr: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Minute by minute through real time: cron's rule written the slow, obvious way."""
    from crawler.cron import parse_cron

    spec, zone = parse_cron(expr), ZoneInfo(tz)
    out = []
    t = start.replace(second=0, microsecond=0)
    prev_wall = None
    while t <= end:
        wall = t.astimezone(zone)  # fold=1 marks the second reading of a repeated time
        matches = lambda w: (w.minute in spec.minutes and w.hour in spec.hours
                             and spec.matches_day(w.day, w.month, (w.weekday() + 1) % 7))
        fire = matches(wall) and (wall.fold == 0 or not spec.fixed_time)
        if spec.fixed_time and prev_wall is not None and not fire:
            # the clocks jumped forward just now: a fixed-time job in the skipped minutes runs at the jump
            skipped = prev_wall.replace(tzinfo=None) + timedelta(minutes=1)
            while skipped < wall.replace(tzinfo=None):
                if matches(skipped):
                    fire = True
                    break
                skipped += timedelta(minutes=1)
        if fire:
            out.append(t)
        prev_wall, t = wall, t + timedelta(minutes=1)
    return out


@pytest.mark.parametrize("tz, day", [("America/New_York", date(2026, 3, 8)), ("America/New_York", date(2026, 11, 1)),
                                     ("Europe/Belgrade", date(2026, 3, 29)), ("Europe/Belgrade", date(2026, 10, 25)),
                                     ("Australia/Lord_Howe", date(2026, 4, 5)),   # a 30-minute change
                                     ("Australia/Lord_Howe", date(2026, 10, 4))])
@pytest.mark.parametrize("expr", ["30 2 * * *", "0 * * * *", "*/20 * * * *", "15,45 1-3 * * *", "*/10 2 * * *",
                                  "0 3 * * *", "59 1 * * *"])
def test_matches_a_minute_by_minute_reference_around_each_change(tz, day, expr):
    zone = ZoneInfo(tz)
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    end = start + timedelta(days=2)
    expected = reference_fires(expr, tz, start, end)
    s = CronSchedule(expr, tz)
    assert fires(s, start - timedelta(minutes=1), end) == expected
    # and from any point in between, the next fire is the reference's next
    rng = random.Random(hash((tz, expr)) & 0xFFFF)
    for _ in range(40):
        after = start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))
        nxt = next((t for t in expected if t > after), None)
        if nxt is not None:
            assert s.next_base(after) == nxt, after
