"""Site faults: every one ends, is recorded, and costs a bounded number of requests and seconds."""

from __future__ import annotations

import time

import pytest

from crawler.breaker import FailureStreak, is_site_failure
from tests import sitegen
from tests.conftest import read_json, source
from tests.faults.audit import audit
from tests.servers.ports import free_ports

pytestmark = pytest.mark.slow


def run_record(store, name: str) -> dict:
    keys = [o.key for o in store.list(f"runs/{name}/")]
    assert len(keys) == 1, keys
    return read_json(store, keys[0])


def listing(site, links: list[str]) -> None:
    site.page("/news/", "<html><body>" + "".join(f'<a href="{u}">{u}</a>' for u in links) + "</body></html>")


def test_timeouts_resets_and_endless_bodies_end_and_are_recorded(site, file_target, write_config, cli):
    news = sitegen.build(3, seed=21)
    sitegen.serve(site, news)
    site.route("/news/hang/", lambda req: req.hang(30))                                 # headers never come
    site.route("/news/trickle/", lambda req: req.slow_body(10**6, 0.2))                 # a body without end, slowly
    site.route("/news/reset/", lambda req: req.reset())                                 # TCP reset, no answer
    flaky = sitegen.Article("/news/flaky/", "Flaky story", "Priya Raman", "2026-11-03T08:00:00+00:00",
                            news.articles[0].paragraphs)  # its own bytes: identical bytes are stored once
    site.route("/news/flaky/", lambda req: req.reset() if len(site.hits("/news/flaky/")) == 1
               else req.send(200, sitegen.article_html(flaky).encode()))                # fails once, then works
    faulty = ["/news/hang/", "/news/trickle/", "/news/reset/"]
    listing(site, [a.path for a in news.articles] + faulty + ["/news/flaky/"])
    dead = f"http://127.0.0.1:{free_ports(1)[0]}/feed.xml"  # nothing listens there: connection refused
    config = write_config([source("town", site.url, max_depth=1, download_timeout=1.5, retries=1, feeds=[dead])],
                          file_target.storage)
    started = time.monotonic()
    proc = cli("crawl", "--config", config, check=True)
    elapsed = time.monotonic() - started
    # each failure is a line naming its URL, not a traceback retelling the download
    assert "Traceback" not in proc.stderr and "/news/reset/" in proc.stderr and dead in proc.stderr

    run = run_record(file_target.store, "town")
    assert run["outcome"] == "partial"
    assert run["errors"]["timeout"] == 2 and run["errors"]["connection_lost"] == 1
    assert run["errors"]["connection_refused"] == 1 and run["error_samples"]["connection_refused"][0].startswith(dead)
    samples = " ".join(run["error_samples"]["timeout"] + run["error_samples"]["connection_lost"])
    for path in faulty:
        assert path in samples
        assert 2 <= len(site.hits(path)) <= 3  # tried, retried once (Twisted may retry a reset once more), given up
    # the page that failed once was retried and archived; the good pages too
    archive = audit(file_target.store)
    archive.assert_sound()
    assert {m["url"] for m in archive.raw.values()} == {
        site.url + p for p in ["/news/", "/news/flaky/"] + [a.path for a in news.articles]}
    assert elapsed < 30, f"{elapsed:.1f}s: the timeouts did not bound the run"


def test_redirect_loops_and_long_chains_are_recorded(site, file_target, write_config, cli):
    site.redirect("/news/loop-a/", "/news/loop-b/", 302)
    site.redirect("/news/loop-b/", "/news/loop-a/", 302)
    site.redirect("/news/self/", "/news/self/", 302)
    for i in range(20):
        site.redirect(f"/news/chain/{i}/", f"/news/chain/{i + 1}/", 302)
    listing(site, ["/news/loop-a/", "/news/self/", "/news/chain/0/"])
    config = write_config([source("town", site.url, max_depth=1)], file_target.storage)
    cli("crawl", "--config", config, check=True)

    run = run_record(file_target.store, "town")
    assert run["errors"]["redirect_loop"] == 2
    loops = " ".join(run["error_samples"]["redirect_loop"])
    assert "/news/loop-a/ -> " in loops and "/news/loop-b/ -> " in loops and "/news/self/ -> " in loops
    assert run["errors"]["too_many_redirects"] == 1
    assert len(site.hits("/news/loop-a/")) == 1 and len(site.hits("/news/self/")) == 1
    assert len([r for r in site.requests if r.path.startswith("/news/chain/")]) == 11  # REDIRECT_MAX_TIMES + 1


def test_link_traps_are_bounded_by_depth_and_the_page_cap(site, file_target, write_config, cli):
    def month(req):
        y, m = (int(x) for x in req.path.strip("/").split("/")[1:3])
        prev = f"/calendar/{y - (m == 1)}/{12 if m == 1 else m - 1}/"
        nxt = f"/calendar/{y + (m == 12)}/{1 if m == 12 else m + 1}/"
        req.send(200, f'<html><body><a href="{prev}">prev</a> <a href="{nxt}">next</a></body></html>'.encode())

    def page(req):
        n = int(req.path.strip("/").rsplit("/", 1)[1])
        req.send(200, f'<html><body><p>page {n}</p><a href="/list/{n + 1}">next</a></body></html>'.encode())

    for y in range(1990, 2060):
        for m in range(1, 13):
            site.route(f"/calendar/{y}/{m}/", month)
    for n in range(1, 1000):
        site.route(f"/list/{n}", page)
    config = write_config([
        source("calendar", site.url, start_urls=[f"{site.url}/calendar/2026/6/"], max_depth=3, max_pages=1000),
        source("pages", site.url, start_urls=[f"{site.url}/list/1"], max_depth=50, max_pages=15),
    ], file_target.storage)
    cli("crawl", "--config", config, check=True)

    calendar = {r.path for r in site.requests if r.path.startswith("/calendar/")}
    assert calendar == {f"/calendar/2026/{m}/" for m in range(3, 10)}  # June +- 3 hops
    assert len([r for r in site.requests if r.path.startswith("/list/")]) == 15
    pages = run_record(file_target.store, "pages")
    assert pages["counts"]["page_cap_reached"] == 1 and pages["counts"]["skipped_page_cap"] >= 1
    assert pages["counts"]["raw_archived"] == 15
    assert run_record(file_target.store, "calendar")["counts"]["raw_archived"] == 7


def test_a_slow_site_is_stopped_by_the_run_time_cap(site, file_target, write_config, cli):
    def slow(req):
        n = int(req.path.strip("/").rsplit("/", 1)[1])
        time.sleep(0.3)
        req.send(200, f'<html><body><p>page {n}</p><a href="/slow/{n + 1}">next</a></body></html>'.encode())

    for n in range(1, 200):
        site.route(f"/slow/{n}", slow)
    config = write_config([source("slow", site.url, start_urls=[f"{site.url}/slow/1"], max_depth=50,
                                  max_run_seconds=2)], file_target.storage)
    started = time.monotonic()
    cli("crawl", "--config", config, check=True)
    elapsed = time.monotonic() - started

    run = run_record(file_target.store, "slow")
    assert run["outcome"] == "timed_out"
    assert run["message"] == "stopped after max_run_seconds=2"
    fetched = run["counts"]["pages_fetched"]
    assert 2 <= fetched <= 10 and len([r for r in site.requests if r.path.startswith("/slow/")]) < 15
    archive = audit(file_target.store)
    archive.assert_sound()  # what was fetched before the cap is archived whole
    assert len(archive.raw) == run["counts"]["raw_archived"] == fetched
    assert elapsed < 20


def test_a_5xx_storm_stops_the_run_instead_of_hammering_the_site(site, file_target, write_config, cli):
    news = sitegen.build(2, seed=22)
    sitegen.serve(site, news)
    storm = [f"/news/down/{i}/" for i in range(60)]
    broken = [f"/missing/{i}/" for i in range(30)]  # 404s say nothing about the site's health
    for path in storm:
        site.route(path, lambda req: req.send(503, b"<html>busy</html>"))
    listing(site, [a.path for a in news.articles] + storm)
    site.page("/broken/", "<html><body>" + "".join(f'<a href="{u}">x</a>' for u in broken) + "</body></html>")
    config = write_config([
        source("town", site.url, max_depth=1, retries=1, max_consecutive_errors=10, concurrency=2),
        source("broken", site.url, start_urls=[f"{site.url}/broken/"], max_depth=1, max_consecutive_errors=10),
    ], file_target.storage)
    proc = cli("crawl", "--config", config)
    assert proc.returncode == 0, proc.stderr

    run = run_record(file_target.store, "town")
    assert run["outcome"] == "partial"
    assert run["message"] == "stopped: the site failed 10 requests in a row (last: http_503)"
    hits = len([r for r in site.requests if r.path.startswith("/news/down/")])
    # the streak, plus what was already queued for download (CONCURRENT_REQUESTS): not 60 pages x 2 tries
    assert hits <= 10 + 16, f"{hits} requests to a failing site"
    assert "the site failed 10 requests in a row" in proc.stdout
    # a site full of broken links is not a failing site: every link is tried and recorded
    broken_run = run_record(file_target.store, "broken")
    assert broken_run["outcome"] == "partial" and broken_run["errors"]["http_404"] == len(broken)


def test_failure_streak_counts_only_site_failures():
    streak = FailureStreak(3)
    assert [streak.failure(k) for k in ("http_503", "http_404", "out_of_scope", "timeout")] == [
        False, False, False, False]
    streak.success()
    assert [streak.failure(k) for k in ("http_500", "connection_lost", "http_429", "dns")] == [
        False, False, True, False]
    assert streak.tripped and streak.describe() == "the site failed 3 requests in a row (last: http_429)"
    assert FailureStreak(0).failure("http_503") is False
    assert is_site_failure("http_502") and not is_site_failure("http_404") and not is_site_failure("http_5xx")


def test_a_cookie_check_redirect_needs_cookies_and_a_real_loop_still_ends(site, file_target, write_config, cli):
    story = sitegen.Article("/news/check/", "Council approves budget", "Priya Raman", "2026-11-03T08:00:00+00:00",
                            sitegen.build(1, seed=23).articles[0].paragraphs)

    def check(req):  # the site wants a cookie: it sets one and sends the browser back to the same page
        if "seen=1" in req.headers.get("cookie", ""):
            req.send(200, sitegen.article_html(story).encode())
        else:
            req.send(302, b"", headers={"Location": "/news/check/", "Set-Cookie": "seen=1; Path=/"})

    site.route("/news/check/", check)
    site.route("/news/always/", lambda req: req.send(302, b"", headers={"Location": "/news/always/",
                                                                        "Set-Cookie": "n=1; Path=/"}))
    listing(site, ["/news/check/", "/news/always/"])

    without = write_config([source("town", site.url, max_depth=1)], file_target.storage, name="off.yaml")
    cli("crawl", "--config", without, check=True)
    run = run_record(file_target.store, "town")
    assert run["errors"]["redirect_loop"] == 2  # cookies are off by default: the check cannot pass

    with_cookies = write_config([source("town2", site.url, max_depth=1, cookies=True)], file_target.storage,
                                name="on.yaml")
    cli("crawl", "--config", with_cookies, check=True)
    run = run_record(file_target.store, "town2")
    assert run["errors"]["redirect_loop"] == 1 and "/news/always/" in run["error_samples"]["redirect_loop"][0]
    clean = [read_json(file_target.store, o.key) for o in file_target.store.list("clean/town2/")]
    checked = [c for c in clean if c["final_url"] == site.url + "/news/check/"]
    assert [c["title"] for c in checked] == [story.title] and "Council" in checked[0]["text"]
