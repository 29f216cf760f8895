"""The daemon's decisions with a given clock: no overlap, missed runs, health; the scheduler config."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from crawler.config import ConfigError, parse_config
from jobs.dispatch import Dispatcher, Slots
from jobs.health import SourceView, evaluate
from jobs.httpd import parse_listen, probe_url
from jobs.schedule import CronSchedule, Due, IntervalSchedule, due_between

UTC = timezone.utc


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw) -> datetime:
        self.t += timedelta(**kw)
        return self.t


def at(h, m=0, s=0) -> datetime:
    return datetime(2026, 5, 1, h, m, s, tzinfo=UTC)


def test_a_source_still_running_is_not_started_twice():
    clock = Clock(at(10))
    d = Dispatcher(clock=clock)
    first = d.due("town", Due.of([at(10)]))
    assert first.action == "start"
    d.started("town", "run-1", 4242)
    clock.advance(minutes=15)
    second = d.due("town", Due.of([at(10, 15)]))
    assert second.action == "skip_running" and second.first_skip
    assert second.active.run_id == "run-1" and second.active.pid == 4242
    clock.advance(minutes=15)
    third = d.due("town", Due.of([at(10, 30)]))
    assert third.action == "skip_running" and not third.first_skip
    # another source is not held up
    assert d.due("county", Due.of([at(10, 30)])).action == "start"
    done = d.finished("town")
    assert done.skips == 2 and done.first_skipped_fire == at(10, 15) and done.last_skip == at(10, 30)
    clock.advance(minutes=15)
    assert d.due("town", Due.of([at(10, 45)])).action == "start"


def test_a_source_waiting_for_a_slot_is_not_queued_twice():
    clock = Clock(at(10))
    d = Dispatcher(clock=clock)
    assert d.due("town", Due.of([at(10)])).action == "start"  # claimed, not started yet
    again = d.due("town", Due.of([at(10, 1)]))
    assert again.action == "skip_running" and again.active.run_id is None


def test_after_a_stall_the_missed_fire_times_make_one_run_not_a_burst():
    schedule = CronSchedule("*/10 * * * *")
    clock = Clock(at(10))
    d = Dispatcher(clock=clock, policy="coalesce", grace_s=60)
    assert d.due("town", Due.of([at(10)])).action == "start"
    d.finished("town")
    # the process is frozen for 3 hours; when it thaws, 18 fire times are due at once
    clock.advance(hours=3, seconds=5)
    due = due_between(schedule, at(10), clock())
    assert due.count == 18
    decisions = [d.due("town", due)]
    assert [x.action for x in decisions] == ["start"]
    plan = decisions[0].plan
    assert plan.trigger_time == at(13) and plan.missed == 17 and plan.late_s == 5
    # and nothing more until the next fire time
    assert d.due("town", Due.of([at(13, 10)])).action == "skip_running"


def test_skip_policy_after_a_stall_records_a_skip_instead_of_running_late():
    clock = Clock(at(13, 30))
    d = Dispatcher(clock=clock, policy="skip", grace_s=300)
    decision = d.due("town", Due.of([at(11), at(12), at(13)]))
    assert decision.action == "skip_missed" and decision.plan.missed == 3
    assert "misfire_grace_seconds=300" in decision.plan.reason
    assert d.active() == {}  # nothing claimed


def test_waiting_too_long_for_a_slot_under_skip_policy_means_no_run():
    clock = Clock(at(10))
    d = Dispatcher(clock=clock, policy="skip", grace_s=60)
    assert d.due("town", Due.of([at(10)])).action == "start"
    clock.advance(seconds=30)
    assert d.recheck("town").run
    clock.advance(seconds=60)
    assert not d.recheck("town").run
    d.configure(policy="coalesce", grace_s=60)
    assert d.recheck("town").run  # coalesce runs however late


def test_slots_bound_runs_and_resize_and_cancel():
    slots, cancel = Slots(1), threading.Event()
    assert slots.acquire(cancel)
    got = []
    waiter = threading.Thread(target=lambda: got.append(slots.acquire(cancel)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # waits for a free slot
    slots.resize(2)
    waiter.join(2)
    assert got == [True] and slots.used == 2
    third = threading.Thread(target=lambda: got.append(slots.acquire(cancel)))
    third.start()
    cancel.set()
    slots.wake()
    third.join(2)
    assert got == [True, False]  # shutdown: the waiter gives up


# -- health -----------------------------------------------------------------------------------------

def view(last, **kw):
    return SourceView("town", CronSchedule("0 * * * *"), last, **kw)


def test_health_fails_when_a_source_misses_its_schedule_by_more_than_the_factor():
    last = at(10, 0, 30)
    assert evaluate(at(10, 59), [view(last)], factor=2).ok           # not due yet
    ok = evaluate(at(12, 59), [view(last)], factor=2)                # due 11:00, 1h59m late
    assert ok.ok and ok.sources["town"]["due_since"] == "2026-05-01T11:00:00.000Z"
    late = evaluate(at(13, 1), [view(last)], factor=2)               # 2h01m late
    assert not late.ok and "source town has not started since it was due at 2026-05-01T11:00" in late.problems[0]
    assert late.sources["town"]["state"] == "overdue"
    assert evaluate(at(13, 1), [view(last, running=True)], factor=2).ok   # a long run is not late
    assert not evaluate(at(13, 1), [view(last, waiting=True)], factor=2).ok  # starved of slots is
    assert evaluate(at(13, 1), [view(last)], factor=3).ok


def test_health_fails_when_the_scheduler_is_dead_or_stuck():
    assert not evaluate(at(10), [], factor=2, scheduler_alive=False).ok
    stuck = evaluate(at(10), [], factor=2, heartbeat_age_s=120)
    assert not stuck.ok and "not ticked" in stuck.problems[0]
    assert evaluate(at(10), [], factor=2, heartbeat_age_s=3).ok


def test_health_allows_jitter_on_top_of_the_factor():
    s = IntervalSchedule(timedelta(seconds=60), at(10), jitter=30)
    v = SourceView("fast", s, at(10))
    assert evaluate(at(10, 3, 30), [v], factor=2).ok           # due 10:01, 2.5 min late <= 2x60 + 30 + 5
    assert not evaluate(at(10, 3, 40), [v], factor=2).ok


# -- listen addresses, the config section ------------------------------------------------------------------

def test_parse_listen():
    assert parse_listen("8080") == ("127.0.0.1", 8080)
    assert parse_listen(":9000") == ("127.0.0.1", 9000)
    assert parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    for bad in ("", "x", "host:", "1:99999"):
        with pytest.raises(ValueError):
            parse_listen(bad)
    assert probe_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/healthz"
    assert probe_url("::", 8080) == "http://[::1]:8080/healthz"


SOURCES = "sources:\n  - name: a\n    start_urls: [http://127.0.0.1/]\n"


def test_scheduler_section_defaults_and_validation():
    s = parse_config(SOURCES).scheduler
    assert (s.max_concurrent_runs, s.misfire, s.misfire_grace_seconds) == (2, "coalesce", 300)
    assert (s.http.enabled, s.http.host, s.http.port) == (True, "127.0.0.1", 8080)
    s = parse_config("scheduler:\n  misfire: skip\n  http: {host: 0.0.0.0, port: 9100}\n" + SOURCES).scheduler
    assert s.misfire == "skip" and s.http.host == "0.0.0.0" and s.http.port == 9100
    cases = {
        "scheduler:\n  misfire: burst\n": "x.yaml:2: scheduler.misfire: Input should be 'coalesce' or 'skip'",
        "scheduler:\n  max_concurent_runs: 3\n":
            "x.yaml:2: scheduler.max_concurent_runs: unknown key (did you mean 'max_concurrent_runs'?)",
        "scheduler:\n  http:\n    prot: 9\n": "x.yaml:3: scheduler.http.prot: unknown key (did you mean 'port'?)",
        "scheduler:\n  misfire_grace_seconds: 0\n": "x.yaml:2: scheduler.misfire_grace_seconds: Input should be",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError) as err:
            parse_config(text + SOURCES, file="x.yaml")
        assert str(err.value).startswith(message), str(err.value)
