"""Pure parts: keys, cron, URLs, feeds, network scope, secrets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from crawler import feeds, keys
from crawler.cron import parse_cron, parse_interval
from crawler.netscope import ScopePolicy, check_ip, check_url, own_hosts_private
from crawler.secrets import mask
from crawler.urls import normalize_url

T = datetime(2026, 11, 25, 23, 30, tzinfo=timezone.utc)


# -- keys ------------------------------------------------------------------------------
def test_keys_layout_and_determinism():
    sha = "ab" * 32
    k = keys.raw_key("town-news", "https://example.org/news/2026/city-council/", T, sha, "text/html; charset=utf-8")
    assert k.startswith("raw/town-news/2026/11/25/news-2026-city-council-")
    assert k.endswith(f"-{sha[:12]}.html")
    assert k == keys.raw_key("town-news", "https://example.org/news/2026/city-council/", T, sha, "text/html")
    assert keys.clean_key("town-news", "https://example.org/a", T, sha).startswith("clean/town-news/2026/11/25/a-")
    # the day is the UTC day
    local = datetime.fromisoformat("2026-11-26T00:30:00+01:00")
    assert "/2026/11/25/" in keys.raw_key("s", "http://x/", local, sha)
    assert keys.meta_key(k) == k + ".meta.json"


@pytest.mark.parametrize("url", [
    "http://x/../../etc/passwd", "http://x/%2e%2e/%2e%2e/secret", "http://x/a%2Fb%00c\x01d",
    "http://x/" + "a" * 5000, "http://x/\u202e\u0000..\\..\\windows", "http://x/..;/..;/", "http://x",
])
def test_hostile_urls_make_safe_keys(url):
    key = keys.raw_key("s", url, T, "0" * 64)
    assert keys.is_safe_key(key)
    assert ".." not in key and "\x00" not in key and len(key) < 200


def test_unsafe_components_refused():
    for bad in ["../x", "a/b", "", ".hidden", "x\x00"]:
        with pytest.raises(ValueError):
            keys.check_component(bad)
    with pytest.raises(ValueError):
        keys.raw_key("../up", "http://x/", T, "0" * 64)
    assert not keys.is_safe_key("/abs") and not keys.is_safe_key("a/../b") and not keys.is_safe_key("a//b")


def test_run_ids_sort_by_time():
    a = keys.new_run_id(T, "aaaaaa")
    b = keys.new_run_id(datetime(2026, 11, 26, tzinfo=timezone.utc), "000000")
    assert a == "20261125T233000Z-aaaaaa" and a < b


# -- cron --------------------------------------------------------------------------------
def test_cron_vixie_rules():
    spec = parse_cron("30 2 * * 0")
    assert spec.weekdays == {0} and spec.minutes == {30} and spec.hours == {2}
    assert parse_cron("0 0 * * 7").weekdays == {0}                  # 7 is Sunday too
    assert parse_cron("0 0 * * mon-fri").weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("*/15 * * * *").minutes == {0, 15, 30, 45}
    assert parse_cron("@hourly").expr == "0 * * * *"
    both = parse_cron("0 0 13 * 5")                                  # the 13th OR a Friday
    assert both.matches_day(13, 1, 3) and both.matches_day(2, 1, 5) and not both.matches_day(2, 1, 3)
    only_dom = parse_cron("0 0 13 * *")
    assert only_dom.matches_day(13, 1, 3) and not only_dom.matches_day(2, 1, 5)


def test_intervals():
    assert parse_interval("15m").total_seconds() == 900
    assert parse_interval("2h").total_seconds() == 7200
    with pytest.raises(ValueError):
        parse_interval("soon")


# -- URLs ----------------------------------------------------------------------------------
def test_normalize_url_drops_tracking_and_fragments():
    assert normalize_url("HTTPS://Example.ORG:443/News/a?utm_source=x&id=3&fbclid=y#top") == \
        "https://example.org/News/a?id=3"
    assert normalize_url("http://example.org") == "http://example.org/"
    assert normalize_url("http://127.0.0.1:8080/a?b=1") == "http://127.0.0.1:8080/a?b=1"


# -- feeds and sitemaps -------------------------------------------------------------------
def test_rss_atom_and_sitemaps():
    rss = b'<rss version="2.0"><channel><item><title>A</title><link>/a</link><pubDate>Mon</pubDate></item>' \
          b'<item><guid isPermaLink="false">x</guid></item></channel></rss>'
    parsed = feeds.parse(rss, "https://e.org/feed")
    assert parsed.kind == "rss" and [e.url for e in parsed.entries] == ["https://e.org/a"]
    atom = b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="alternate" href="https://e.org/b"/>' \
           b'<updated>2026-01-01</updated></entry></feed>'
    assert feeds.parse(atom, "https://e.org/").entries[0].lastmod == "2026-01-01"
    index = b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>https://e.org/s1.xml' \
            b'</loc></sitemap></sitemapindex>'
    assert feeds.parse(index, "https://e.org/").kind == "sitemapindex"
    news = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://e.org/n</loc>'
            b'<news:news><news:publication_date>2026-11-01T10:00:00Z</news:publication_date>'
            b'<news:title>N</news:title></news:news></url></urlset>')
    entry = feeds.parse(news, "https://e.org/").entries[0]
    # a publication date is not a modification date: taken as lastmod it would hide later edits
    assert (entry.url, entry.lastmod, entry.published, entry.title) == ("https://e.org/n", None,
                                                                        "2026-11-01T10:00:00Z", "N")


def test_a_malformed_entry_url_is_skipped_not_the_whole_document():
    urls = ["https://e.org/a", "http://[::1/b", "http://[x]y/c", "https://e.org:99999/d", "https://e.org/e"]
    sitemap = ("<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
               + "".join(f"<url><loc>{u}</loc></url>" for u in urls) + "</urlset>").encode()
    assert [e.url for e in feeds.parse(sitemap, "https://e.org/").entries] == ["https://e.org/a", "https://e.org/e"]
    rss = ("<rss><channel>" + "".join(f"<item><link>{u}</link></item>" for u in urls) + "</channel></rss>").encode()
    assert [e.url for e in feeds.parse(rss, "https://e.org/").entries] == ["https://e.org/a", "https://e.org/e"]


def test_hostile_xml_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>' \
           b'<rss><channel><item><link>&b;</link></item></channel></rss>'
    with pytest.raises(feeds.FeedError, match="unsafe XML"):
        feeds.parse(bomb, "https://e.org/")
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss>&x;</rss>'
    with pytest.raises(feeds.FeedError, match="unsafe XML"):
        feeds.parse(xxe, "https://e.org/")
    import gzip
    gz = gzip.compress(b"<urlset>" + b" " * (2 * 1024 * 1024) + b"</urlset>")
    with pytest.raises(feeds.FeedError, match="compression bomb"):
        feeds.parse(gz, "https://e.org/", limit=1024 * 1024)
    with pytest.raises(feeds.FeedError, match="unknown document type"):
        feeds.parse(b"<html></html>", "https://e.org/")


# -- network scope (decisions only: nothing here connects anywhere) ------------------------
PUBLIC = ScopePolicy.build(["news.example", "cdn.example"])
PRIVATE_OK = ScopePolicy.build(["127.0.0.1"], allow_private=True, forbid_networks=["127.0.0.2/32"])


@pytest.mark.parametrize("ip, allowed", [
    ("169.254.169.254", False), ("fd00:ec2::254", False), ("fe80::1", False), ("100.100.100.200", False),
    ("10.1.2.3", False), ("192.168.1.1", False), ("127.0.0.1", False), ("::1", False),
    ("::ffff:169.254.169.254", False), ("::ffff:10.0.0.1", False), ("0.0.0.0", False),
    ("93.184.216.34", True), ("2606:4700::1", True),
])
def test_addresses_for_a_public_source(ip, allowed):
    assert bool(check_ip(ip, PUBLIC)) is allowed


def test_private_source_may_reach_private_but_never_metadata_or_forbidden():
    assert check_ip("127.0.0.1", PRIVATE_OK)
    assert check_ip("10.0.0.5", PRIVATE_OK)
    assert not check_ip("127.0.0.2", PRIVATE_OK)
    assert not check_ip("169.254.169.254", PRIVATE_OK)


def test_urls_stay_on_the_sources_hosts():
    assert check_url("https://news.example/a", PUBLIC)
    assert check_url("https://www.news.example/a", PUBLIC)          # subdomain
    assert not check_url("https://evilnews.example/a", PUBLIC)      # not a subdomain
    assert not check_url("https://news.example.evil.org/", PUBLIC)
    assert not check_url("ftp://news.example/", PUBLIC)
    assert not check_url("http://169.254.169.254/latest/meta-data/", ScopePolicy.build(["169.254.169.254"]))
    assert "private" in check_url("http://127.0.0.1/", ScopePolicy.build(["127.0.0.1"])).reason
    assert own_hosts_private({"127.0.0.1": ["127.0.0.1"]}) and not own_hosts_private({"e": ["93.184.216.34"]})


# -- secrets ---------------------------------------------------------------------------------
def test_masking():
    env = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG"}
    text = "PUT failed for https://user:hunter2@h/x?token=abc&x=1 with wJalrXUtnFEMI/K7MDENG Authorization: AWS4 k"
    out = mask(text, env)
    for secret in ("hunter2", "abc", "wJalrXUtnFEMI/K7MDENG", "AWS4 k"):
        assert secret not in out
    assert "x=1" in out and "user:***@" in out
