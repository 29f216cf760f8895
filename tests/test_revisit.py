"""Pure decisions of incremental crawling: times, revisit policy, conditional headers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crawler.revisit import (Policy, conditional_headers, decide, due_known, is_due, parse_duration,
                             parse_time)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("text, start, end", [
    ("2026-11-05", "2026-11-05T00:00:00+00:00", "2026-11-05T23:59:59.999999+00:00"),
    ("2026-11", "2026-11-01T00:00:00+00:00", "2026-11-30T23:59:59.999999+00:00"),
    ("2026", "2026-01-01T00:00:00+00:00", "2026-12-31T23:59:59.999999+00:00"),
    ("2026-11-05T08:00:00+01:00", "2026-11-05T07:00:00+00:00", "2026-11-05T07:00:00.999999+00:00"),
    ("2026-11-05T08:00Z", "2026-11-05T08:00:00+00:00", "2026-11-05T08:00:59.999999+00:00"),
    ("2026-11-05T08:00:00.5-0230", "2026-11-05T10:30:00.500000+00:00", "2026-11-05T10:30:01.499999+00:00"),
    ("Thu, 05 Nov 2026 08:00:00 GMT", "2026-11-05T08:00:00+00:00", "2026-11-05T08:00:00.999999+00:00"),
])
def test_parse_time_knows_how_precise_a_date_is(text, start, end):
    moment = parse_time(text)
    assert moment.start.isoformat() == start
    assert moment.end.isoformat() == end


@pytest.mark.parametrize("text", [None, "", "yesterday", "2026-13-01", "2026-02-30T00:00Z"])
def test_parse_time_refuses_nonsense(text):
    assert parse_time(text) is None


def test_parse_duration():
    assert parse_duration("0") == timedelta(0)
    assert parse_duration(0) == timedelta(0)
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("1d") == timedelta(days=1)
    with pytest.raises(ValueError):
        parse_duration("soon")


POLICY = Policy(recent_days=7, recent_every=timedelta(0), old_every=timedelta(days=1))


def page(checked: datetime, **kw) -> dict:
    return {"kind": "page", "checked": iso(checked), "changed": iso(checked - timedelta(days=30)), **kw}


def test_new_urls_and_entry_points_are_always_fetched():
    assert decide(None, None, now=NOW, policy=POLICY).reason == "new"
    assert decide({"depth": 1}, None, now=NOW, policy=POLICY).reason == "new"  # known, never answered
    fresh = page(NOW - timedelta(minutes=5))
    assert decide(fresh, None, now=NOW, policy=POLICY, entry_point=True).reason == "entry"


def test_sitemap_lastmod_older_than_the_last_check_skips_the_page():
    checked = NOW - timedelta(hours=2)
    record = page(checked)
    assert not decide(record, None, now=NOW, policy=POLICY, lastmod=iso(checked - timedelta(minutes=1)))
    changed = decide(record, None, now=NOW, policy=POLICY, lastmod=iso(checked + timedelta(minutes=1)))
    assert changed.fetch and changed.reason == "lastmod_changed"
    # a bare date means "some time that day": checked the same day is not proof of no change
    assert decide(record, None, now=NOW, policy=POLICY, lastmod=checked.date().isoformat())
    assert not decide(record, None, now=NOW, policy=POLICY,
                      lastmod=(checked - timedelta(days=1)).date().isoformat())
    # a lastmod in the future is bogus: the revisit policy decides
    fresh = page(NOW - timedelta(minutes=5))
    assert decide(fresh, None, now=NOW, policy=Policy(old_every=timedelta(days=1)),
                  lastmod=iso(NOW + timedelta(days=3))).reason == "not_due"
    # lastmod wins over the revisit interval both ways
    old_article = {"versions": [{"at": "2020-01-01T00:00:00Z"}], "published": "2020-01-01"}
    assert decide(record, old_article, now=NOW, policy=POLICY, lastmod=iso(NOW - timedelta(minutes=1)))


def test_old_articles_are_checked_less_often():
    checked = NOW - timedelta(hours=3)
    record = page(checked, article="http://x/a/")
    recent = {"versions": [{"at": iso(NOW - timedelta(days=2))}], "published": "2026-11-20"}
    old = {"versions": [{"at": iso(NOW - timedelta(days=40))}], "published": "2026-10-01"}
    assert decide(record, recent, now=NOW, policy=POLICY).reason == "due"
    assert decide(record, old, now=NOW, policy=POLICY).reason == "not_due"
    a_day_later = page(NOW - timedelta(days=1, minutes=1), article="http://x/a/")
    assert decide(a_day_later, old, now=NOW, policy=POLICY).reason == "due"
    # archiving an old article for the first time does not make it recent; no date: first seen counts
    first_seen = {"versions": [{"at": iso(NOW - timedelta(hours=4))}], "published": "2019-03-01"}
    assert not is_due(POLICY, record, first_seen, NOW)
    assert is_due(POLICY, record, {"versions": [{"at": iso(NOW - timedelta(hours=4))}]}, NOW)
    # an old article edited recently is recent again
    edited = {"versions": [{"at": iso(NOW - timedelta(days=40))}, {"at": iso(NOW - timedelta(days=1))}],
              "published": "2026-10-01"}
    assert is_due(POLICY, record, edited, NOW)
    # pages that are not articles age by when their bytes last changed
    listing = page(checked)
    assert not is_due(POLICY, listing, None, NOW)
    listing["changed"] = iso(NOW - timedelta(hours=5))
    assert is_due(POLICY, listing, None, NOW)


def test_pending_pages_are_always_due():
    record = page(NOW - timedelta(minutes=1), pending=True)
    assert decide(record, None, now=NOW, policy=POLICY).reason == "pending"


def test_conditional_headers_only_when_a_304_costs_nothing():
    record = {"etag": '"abc"', "last_modified": "Wed, 25 Nov 2026 10:00:00 GMT", "depth": 1}
    assert conditional_headers(record, 1) == {"If-None-Match": '"abc"',
                                              "If-Modified-Since": "Wed, 25 Nov 2026 10:00:00 GMT"}
    assert conditional_headers(record, 2)  # deeper than before: links were followed already
    assert conditional_headers(record, 0) == {}  # closer to the start: its links may now be followed
    assert conditional_headers({**record, "pending": True}, 1) == {}  # the page cap cut its links
    assert conditional_headers(None, 1) == {}
    assert conditional_headers({"depth": 1}, 1) == {}  # no validators
    # when known pages are not revisited (or the state is incomplete) a 304 would hide links:
    # only pages whose links are not followed (at max_depth) go conditional
    assert conditional_headers(record, 1, trust_links=False) == {}
    assert conditional_headers({**record, "article": "http://x/a/"}, 1, trust_links=False) == {}
    assert conditional_headers(record, 1, trust_links=False, follows_links=False)


def test_due_known_picks_due_pages_most_overdue_first():
    records = {
        "http://x/a/": page(NOW - timedelta(hours=1), article="http://x/a/"),     # recent article: due
        "http://x/b/": page(NOW - timedelta(hours=5), article="http://x/b/"),     # due, more overdue
        "http://x/old/": page(NOW - timedelta(hours=5), article="http://x/old/"),  # old article: not due
        "http://x/gone/": page(NOW - timedelta(days=9), status=404),
        "http://x/deep/": page(NOW - timedelta(days=9), depth=5),
        "http://x/feed.xml": {"kind": "feed", "checked": iso(NOW - timedelta(days=9))},
        "http://x/seen/": page(NOW - timedelta(days=9)),
        "http://x/never/": {"kind": "page", "depth": 1},
        "http://x/sitemap-2.xml": {"kind": "sitemap", "checked": iso(NOW - timedelta(days=2)),
                                   "changed": iso(NOW - timedelta(days=30))},
    }
    articles = {
        "http://x/a/": {"versions": [{"at": iso(NOW - timedelta(days=1))}]},
        "http://x/b/": {"versions": [{"at": iso(NOW - timedelta(days=1))}]},
        "http://x/old/": {"versions": [{"at": iso(NOW - timedelta(days=60))}]},
    }
    due = due_known(records.items(), articles, now=NOW, policy=POLICY, max_depth=2, skip={"http://x/seen/"})
    assert [url for url, _ in due] == ["http://x/sitemap-2.xml", "http://x/b/", "http://x/a/"]
    assert due_known(records.items(), articles, now=NOW, policy=Policy(known_pages=False), max_depth=2,
                     skip=set()) == []
