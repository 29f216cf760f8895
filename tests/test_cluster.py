"""Replicas agreeing on fire times and leases through a real Redis (the scheduler's side)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crawler.config import CoordinationSettings, SourceSettings
from crawler.runlease import LeaseLost, keep_lease
from jobs.cluster import Cluster, crawl_id_for, fire_id

FIRE = datetime(2026, 11, 25, 14, 0, tzinfo=timezone.utc)


@pytest.fixture
def replicas(coordination):
    settings = CoordinationSettings(**coordination)
    made = [Cluster(settings, replica=name) for name in ("a", "b", "c")]
    yield made
    for cluster in made:
        cluster.close()


def src(name="town", **kw) -> SourceSettings:
    return SourceSettings(name=name, start_urls=["http://127.0.0.1/"], **kw)


def test_fire_times_are_named_the_same_everywhere():
    belgrade = FIRE.astimezone(timezone(timedelta(hours=1)))
    assert fire_id(FIRE) == fire_id(belgrade) == "20261125T140000Z"
    assert crawl_id_for(FIRE) == "fire-20261125T140000Z"


def test_each_fire_time_is_claimed_by_exactly_one_replica(replicas):
    a, b, c = replicas
    assert a.claim("town", FIRE) is None
    assert b.claim("town", FIRE) == "a" and c.claim("town", FIRE) == "a"
    assert c.claim("town", FIRE + timedelta(hours=1)) is None  # the next fire time is a new claim
    assert b.claim("county", FIRE) is None  # and so is another source


def test_no_overlap_across_replicas_and_the_lease_goes_back_after_the_run(replicas):
    a, b, _ = replicas
    first = a.start(src(), FIRE, run_id="r1")
    assert first.ok and first.crawl_id is None
    blocked = b.start(src(), FIRE + timedelta(hours=1))
    assert not blocked.ok and blocked.holder["holder"] == "a" and blocked.holder["run_id"] == "r1"
    a.finish(first)
    assert b.start(src(), FIRE + timedelta(hours=1)).ok


def test_a_distributed_fire_is_joined_by_all_and_blocks_the_next_one(replicas):
    a, b, c = replicas
    big = src("big", distributed=True)
    one, two = a.start(big, FIRE), b.start(big, FIRE)
    assert one.ok and two.ok and one.crawl_id == two.crawl_id == "fire-20261125T140000Z"
    assert one.lease.token == two.lease.token
    later = c.start(big, FIRE + timedelta(minutes=5))
    assert not later.ok and later.holder["holder"] == "crawl:fire-20261125T140000Z"
    env = a.child_env(one)
    assert env["ARCHIVER_CRAWL_ID"] == "fire-20261125T140000Z" and "ARCHIVER_LEASE" in env


def test_replicas_share_an_interval_anchor(replicas):
    a, b, _ = replicas
    assert a.anchor("town", FIRE) == FIRE
    assert b.anchor("town", FIRE + timedelta(seconds=7)) == FIRE
    b.forget_anchor("town")
    assert b.anchor("town", FIRE + timedelta(seconds=7)) == FIRE + timedelta(seconds=7)


def test_the_crawl_process_adopts_the_lease_or_refuses_to_crawl(replicas, coordination):
    a, b, _ = replicas
    settings = CoordinationSettings(**coordination)
    start = a.start(src(), FIRE)
    keeper = keep_lease(settings, a.child_env(start))
    assert keeper is not None and not keeper.lost.is_set()
    keeper.stop(release=True)
    assert b.start(src(), FIRE).ok  # released by the crawl process at its end
    with pytest.raises(LeaseLost):
        keep_lease(settings, a.child_env(start))  # a's lease is gone: b holds the source
    assert keep_lease(settings, {}) is None
