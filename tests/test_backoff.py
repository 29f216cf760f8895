"""Pure per-host backoff: Retry-After parsing and pauses, on a given clock."""

from __future__ import annotations

from datetime import datetime, timezone

from crawler.backoff import HostBackoff, parse_retry_after

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def test_parse_retry_after():
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after(" 0 ", NOW) == 0
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", NOW) == 30
    assert parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", NOW) == 0  # in the past: go now
    for bad in (None, "", "-5", "soon", "1.5"):
        assert parse_retry_after(bad, NOW) is None


def test_retry_after_pauses_the_host_for_exactly_that_long():
    backoff = HostBackoff(max_wait=300)
    verdict = backoff.throttled("a.example", 100.0, 30)
    assert (verdict.wait, verdict.give_up) == (30, False)
    assert backoff.wait("a.example", 100.0) == 30
    assert backoff.wait("a.example", 129.5) == 0.5
    assert backoff.wait("a.example", 130.0) == 0
    assert backoff.wait("b.example", 100.0) == 0  # other hosts are not paused
    # a shorter Retry-After does not shorten a pause already running
    assert backoff.throttled("a.example", 110.0, 5).wait == 20


def test_without_retry_after_the_pause_doubles_and_resets():
    backoff = HostBackoff(base=1, cap=8)
    waits = [backoff.throttled("a.example", t, None).wait for t in (0.0, 10.0, 20.0, 30.0, 40.0, 50.0)]
    assert waits == [1, 2, 4, 8, 8, 8]
    backoff.answered("a.example")
    assert backoff.throttled("a.example", 60.0, None).wait == 1


def test_answers_already_on_the_wire_do_not_lengthen_the_round():
    backoff = HostBackoff(base=1, cap=60)
    assert backoff.throttled("a.example", 0.0, None).wait == 1
    # three more 429s to requests sent before the pause began: still the first round
    assert [round(backoff.throttled("a.example", t, None).wait, 3) for t in (0.1, 0.2, 0.3)] == [0.9, 0.8, 0.7]
    assert backoff.throttled("a.example", 1.5, None).wait == 2  # after the pause: the next round


def test_a_longer_wait_than_allowed_abandons_the_host_for_the_run():
    backoff = HostBackoff(max_wait=60)
    verdict = backoff.throttled("a.example", 0.0, 3600)
    assert verdict.give_up and verdict.asked == 3600
    assert backoff.abandoned("a.example") and not backoff.abandoned("b.example")
