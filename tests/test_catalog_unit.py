"""Pure parts of the catalog and of the archive reader."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from crawler import catalog, keys
from jobs import archive_reader as reader


def row(url, fetched, text, version=1, **kw):
    r = catalog.empty_row()
    r.update(source="town", url=url, final_url=url, fetched_at=fetched, clean_key=f"clean/{text}-{fetched}",
             text_sha256=text, extraction="ok", version=version)
    r.update(kw)
    return r


def test_rows_round_trip_with_fixed_columns_and_bad_lines_reported():
    rows = [row("http://a/1", "2026-11-01T00:00:00Z", "t1"), {"source": "town", "url": "x"}]
    data = catalog.encode(rows)
    lines = data.decode().splitlines()
    assert all(list(__import__("json").loads(line)) == list(catalog.COLUMNS) for line in lines)
    decoded, bad = catalog.decode(data + b"{not json\n[1]\n")
    assert [r["url"] for r in decoded] == ["http://a/1", "x"] and bad == [3, 4]
    assert catalog.encode([]) == b""


def test_write_outcome_is_the_worst():
    assert catalog.write_outcome(["stored", "exists"]) == "stored"
    assert catalog.write_outcome(["stored", "spooled"]) == "spooled"
    assert catalog.write_outcome(["spooled", "lost", "stored"]) == "lost"


def test_stored_version_numbers_are_shown_as_stored():
    # what the crawl numbered: an empty first extraction is v1, a headline-only edit (same text) is v3
    rows = [row("http://a/1", "2026-11-01T00:00:00Z", "e", 1, extraction="empty"),
            row("http://a/1", "2026-11-02T00:00:00Z", "t1", 2),
            row("http://a/1", "2026-11-03T00:00:00Z", "t1", 3, title="New headline"),
            row("http://a/1", "2026-11-03T00:00:00Z", "t2", 4, origin="re-extract")]  # same fetch, re-made
    rows[1]["clean_key"] = "clean/k2"
    assert [(v.number, v.stored) for v in reader.build_versions(rows[::-1])] == [(1, True), (2, True), (3, True),
                                                                               (4, True)]
    # a key catalogued twice (a row re-stored) is one version
    assert len(reader.build_versions(rows + [dict(rows[1])])) == 4


def test_objects_without_a_number_are_numbered_after_the_stored_ones():
    rows = [row("http://a/1", "2026-11-01T00:00:00Z", "t1", 1),
            row("http://a/1", "2026-11-02T00:00:00Z", "t2", None),  # stored while the state was unreadable
            row("http://a/1", "2026-11-03T00:00:00Z", "t2", None),  # the same text again: the same version
            row("http://a/1", "2026-11-04T00:00:00Z", "t3", 2),
            row("http://a/1", "2026-11-05T00:00:00Z", "t4", 2)]     # a number an earlier object holds
    got = [(v.number, v.row["text_sha256"], v.stored) for v in reader.build_versions(rows)]
    assert got == [(1, "t1", True), (3, "t2", False), (2, "t3", True), (4, "t4", False)]


def test_unnumbered_archives_count_distinct_texts_in_fetch_order():
    rows = [row("http://a/1", "2026-11-03T00:00:00Z", "t2", None), row("http://a/1", "2026-11-01T00:00:00Z", "t1", None),
            row("http://a/1", "2026-11-02T00:00:00Z", "t1", None),  # the same text again: not a version
            row("http://a/1", "2026-11-04T00:00:00Z", "t1", None)]  # back to the old text: a new version
    versions = reader.build_versions(rows)
    assert [(v.number, v.row["text_sha256"]) for v in versions] == [(1, "t1"), (2, "t2"), (3, "t1")]
    empty = row("http://a/2", "2026-11-01T00:00:00Z", "e", None, extraction="empty")
    assert reader.build_versions([empty]) == []


def test_a_reextraction_of_the_same_fetch_comes_after_it():
    rows = [row("http://a/1", "2026-11-02T00:00:00Z", "t2", 2), row("http://a/1", "2026-11-02T00:00:00Z", "t1", 1)]
    assert [(v.number, v.row["text_sha256"]) for v in reader.build_versions(rows)] == [(1, "t1"), (2, "t2")]


def test_articles_group_by_final_url_newest_first():
    rows = [row("http://a/1", "2026-11-01T00:00:00Z", "t1", 1), row("http://a/2", "2026-11-02T00:00:00Z", "t2", 1),
            row("http://a/1", "2026-11-03T00:00:00Z", "t3", 2)]
    articles = reader.group_articles(rows)
    assert [a.id for a in articles] == ["http://a/1", "http://a/2"]
    assert len(articles[0].versions) == 2
    with pytest.raises(reader.NotArchived, match="no version 9; versions: 1, 2"):
        articles[0].version(9)


def test_pages_of_one_article_url_are_one_history():
    story = "http://a/story/"
    rows = [row(story, "2026-11-01T00:00:00Z", "t1", 1, article_url=story),
            # the AMP page (canonical: the story) brought the edit; a tracking-parameter link the next one
            row("http://a/amp/story/", "2026-11-02T00:00:00Z", "t2", 2, article_url=story),
            row("http://a/story/?utm_source=x", "2026-11-03T00:00:00Z", "t3", 3, final_url=story + "?utm_source=x"),
            # new bytes, same text: no clean object, still the story's page
            row("http://a/amp/story/", "2026-11-04T00:00:00Z", None, None, clean_key=None, article_url=story),
            row("http://a/other/", "2026-11-01T00:00:00Z", "o1", 1, canonical_url=story)]  # canonical: unvetted
    articles = reader.group_articles(rows)
    assert [(a.id, [v.number for v in a.versions]) for a in articles] == [(story, [1, 2, 3]),
                                                                         ("http://a/other/", [1])]
    assert [p["fetched_at"] for p in articles[0].pages] == ["2026-11-04T00:00:00Z"]
    assert {"http://a/amp/story/", story} <= articles[0].urls


def test_catalog_keys_parse_and_sort():
    started = datetime(2026, 11, 25, 23, 59, tzinfo=timezone.utc)
    key = keys.catalog_key("town", "20261125T235900Z-abc123", started)
    assert key == "catalog/town/2026/11/25/20261125T235900Z-abc123.jsonl" and keys.is_safe_key(key)
    parsed = reader.parse_catalog_key(key)
    assert parsed.source == "town" and parsed.day == date(2026, 11, 25)
    assert reader.parse_catalog_key("catalog/town/2026/13/01/x.jsonl") is None
    with pytest.raises(ValueError):
        keys.catalog_key("../x", "r", started)


def test_since_accepts_dates_times_and_relative_ages():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    assert reader.parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert reader.parse_since("7d", now=now) == datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc)
    assert reader.parse_since("12h", now=now) == datetime(2026, 11, 25, 0, 0, tzinfo=timezone.utc)
    assert reader.parse_since("2026-11-02T08:00:00Z").hour == 8
    with pytest.raises(ValueError, match="not a date"):
        reader.parse_since("last tuesday")


def test_url_variants_match_with_or_without_slash_and_tracking():
    v = reader.url_variants("HTTP://Example.org/news/a?utm_source=x")
    assert "http://example.org/news/a" in v and "http://example.org/news/a/" in v


def test_journal_keeps_whole_rows_and_is_found_by_the_next_run(tmp_path):
    journal = catalog.Journal(tmp_path, "town", "20261125T120000Z-aaaaaa")
    journal.add(row("http://a/1", "2026-11-25T12:00:01Z", "t1"))
    journal.add(row("http://a/2", "2026-11-25T12:00:02Z", "t2"))
    with open(journal.path, "ab") as fh:
        fh.write(b'{"format":1,"source":"town","url":"http://a/3"')  # cut short by a kill
    rows, bad = catalog.decode(journal.read())
    assert [r["url"] for r in rows] == ["http://a/1", "http://a/2"] and bad == []
    left = catalog.leftover_journals(tmp_path, "town", current_run_id="20261125T130000Z-bbbbbb")
    assert [j.run_id for j in left] == ["20261125T120000Z-aaaaaa"]
    assert catalog.leftover_journals(tmp_path, "town", current_run_id="20261125T120000Z-aaaaaa") == []
    assert catalog.run_started(left[0].run_id) == datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    journal.remove()
    assert not journal.path.exists()
