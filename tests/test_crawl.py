"""End to end: `archiver crawl` against the local site, into each real store."""

from __future__ import annotations

import json

import pytest

from tests import sitegen
from tests.conftest import keys_under, read_json, source

pytestmark = pytest.mark.slow


def publish(site, n=12):
    news = sitegen.serve(site, sitegen.build(n, seed=3))
    # a redirect, a 404 link, a non-UTF-8 page and a page with no article text
    site.redirect("/news/old-url/", "/news/2026/11/moved/")
    moved = sitegen.Article("/news/2026/11/moved/", "Moved story", "Marcus Lee", "2026-11-02T08:00:00+00:00",
                            [sitegen.paragraph(__import__("random").Random(9)) for _ in range(3)])
    site.page(moved.path, sitegen.article_html(moved))
    latin = ("<html><head><meta charset='iso-8859-1'><title>Caf\xe9 reopens</title></head><body><article>"
             "<h1>Caf\xe9 reopens on Main Street</h1>"
             + "".join(f"<p>The caf\xe9 na\xefve cr\xe8me br\xfbl\xe9e paragraph {i} tells how the owners "
                       f"rebuilt the kitchen after the fire and reopened for breakfast.</p>" for i in range(6))
             + "</article></body></html>").encode("iso-8859-1")
    site.page("/news/2026/11/cafe/", latin, content_type="text/html")  # charset only in <meta>
    site.page("/news/2026/11/empty/", "<html><body><nav><a href='/news/'>News</a></nav></body></html>")
    listing = sitegen.listing_html(news, 0).replace(
        "</ul>", '<li><a href="/news/old-url/">old</a></li><li><a href="/news/2026/11/missing/">gone</a></li>'
                 '<li><a href="/news/2026/11/cafe/">cafe</a></li><li><a href="/news/2026/11/empty/">e</a></li>'
                 '<li><a href="https://elsewhere.example/news/2026/x/">offsite</a></li></ul>')
    site.page("/news/", listing)
    return news


def test_crawl_archives_raw_and_clean(site, target, write_config, cli):
    news = publish(site)
    config = write_config(
        [source("town", site.url, feeds=[f"{site.url}/feed.xml"], sitemaps=[f"{site.url}/sitemap_index.xml"],
                follow=["/news/"], articles=[r"/news/\d{4}/"], max_depth=2)],
        target.storage)
    proc = cli("crawl", "--config", config, env=target.env, check=True)
    assert "town" in proc.stdout and " ok " in proc.stdout or " partial " in proc.stdout, proc.stdout

    store = target.store
    raw = [k for k in keys_under(store, "raw/town/") if not k.endswith(".meta.json")]
    clean = keys_under(store, "clean/town/")
    records = [read_json(store, k) for k in clean]
    by_url = {r["final_url"]: r for r in records}
    for article in news.articles:
        record = by_url[site.url + article.path]
        assert record["extraction"]["status"] == "ok"
        assert record["extraction"]["extractor"] == "trafilatura"
        for paragraph in article.paragraphs:
            assert paragraph in record["text"]
        assert "Cron Job Starts" not in record["text"]
        assert record["title"] == article.title
        assert record["author"] == article.author
        assert store.exists(record["raw_key"])
        for field in ("url", "source", "fetched_at", "title", "text", "author", "published", "language",
                      "canonical_url", "raw_key", "content_sha256"):
            assert field in record
    # raw bytes are the bytes served, with a sidecar saying how they came
    one = by_url[site.url + news.articles[1].path]
    assert store.get(one["raw_key"]) == sitegen.article_html(news.articles[1]).encode()
    meta = read_json(store, one["raw_key"] + ".meta.json")
    assert meta["status"] == 200 and meta["url"] == site.url + news.articles[1].path
    assert meta["headers"]["content-type"] == ["text/html; charset=utf-8"]
    assert meta["fetched_at"].endswith("Z")

    # the charset came from <meta>, not a guess
    cafe = by_url[site.url + "/news/2026/11/cafe/"]
    assert "Café reopens on Main Street" in cafe["text"] or cafe["title"].startswith("Café")
    assert "crème brûlée" in cafe["text"]
    # a page without article text is archived raw and recorded as empty
    empty = by_url[site.url + "/news/2026/11/empty/"]
    assert empty["extraction"]["status"] == "empty" and empty["text"] == ""
    assert store.exists(empty["raw_key"])
    # redirects: the record knows where it started and where it ended
    redirected = [r for r in records if r["url"].endswith("/news/old-url/")]
    assert redirected and redirected[0]["final_url"] == site.url + "/news/2026/11/moved/"
    assert redirected[0]["title"] == "Moved story"
    assert read_json(store, redirected[0]["raw_key"] + ".meta.json")["redirect_urls"] == [
        site.url + "/news/old-url/"]
    # the listing page is archived raw but gets no clean object (not an article URL)
    assert any("news-" in k and k.count("/") == 5 for k in raw)
    assert not any(r["final_url"] == site.url + "/news/" for r in records)
    # nothing off-site was requested
    assert not any("elsewhere" in r.path for r in site.requests)

    runs = keys_under(store, "runs/town/")
    assert len(runs) == 1
    run = read_json(store, runs[0])
    assert run["outcome"] == "partial"  # the 404 link
    assert run["errors"]["http_404"] == 1
    assert run["counts"]["clean_archived"] == len(records)
    assert run["counts"]["raw_archived"] == len(raw)
    assert run["versions"]["trafilatura"]


def test_crawl_is_idempotent_on_the_same_day(site, file_target, write_config, cli):
    publish(site, n=5)
    config = write_config([source("town", site.url, articles=[r"/news/\d{4}/"])], file_target.storage)
    cli("crawl", "--config", config, check=True)
    first = sorted(keys_under(file_target.store, "clean/")) + sorted(keys_under(file_target.store, "raw/"))
    cli("crawl", "--config", config, check=True)
    second = sorted(keys_under(file_target.store, "clean/")) + sorted(keys_under(file_target.store, "raw/"))
    assert first == second  # deterministic keys: the same content is not stored twice
    assert len(keys_under(file_target.store, "runs/")) == 2


def test_robots_txt_is_obeyed(site, file_target, write_config, cli):
    publish(site, n=3)
    site.page("/robots.txt", "User-agent: *\nDisallow: /news/2026/\n", "text/plain")
    config = write_config([source("town", site.url, articles=[r"/news/\d{4}/"])], file_target.storage)
    cli("crawl", "--config", config, check=True)
    assert not any(r.path.startswith("/news/2026/") for r in site.requests)
    assert keys_under(file_target.store, "clean/") == []
    run = read_json(file_target.store, keys_under(file_target.store, "runs/")[0])
    assert run["errors"].get("robots_disallowed", 0) >= 3


def test_only_named_sources_are_crawled(site, file_target, write_config, cli):
    publish(site, n=2)
    config = write_config([source("one", site.url), source("two", site.url)], file_target.storage)
    cli("crawl", "--config", config, "--source", "two", check=True)
    assert keys_under(file_target.store, "runs/one/") == []
    assert len(keys_under(file_target.store, "runs/two/")) == 1
    bad = cli("crawl", "--config", config, "--source", "tow")
    assert bad.returncode == 2
    assert "no source named 'tow' (did you mean 'two'?)" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_crawl_json_output(site, file_target, write_config, cli):
    publish(site, n=2)
    config = write_config([source("town", site.url)], file_target.storage)
    proc = cli("crawl", "--config", config, "--json", check=True)
    records = json.loads(proc.stdout)
    assert records[0]["source"] == "town" and records[0]["kind"] == "run"


def test_feeds_and_sitemaps_alone_reach_every_article(site, file_target, write_config, cli):
    import gzip

    news = sitegen.serve(site, sitegen.build(25, seed=5), per_sitemap=10)
    # a gzip-compressed sitemap behind the index, as big sites publish them
    site.page("/sitemaps/articles-3.xml", gzip.compress(sitegen.sitemap_xml(site.url, news.articles[20:]).encode()),
              "application/x-gzip")
    config = write_config([
        {**source("maps", site.url, articles=[r"/news/\d{4}/"], max_depth=0), "start_urls": [],
         "sitemaps": [f"{site.url}/sitemap_index.xml"]},
        {**source("feed", site.url, articles=[r"/news/\d{4}/"], max_depth=0), "start_urls": [],
         "feeds": [f"{site.url}/feed.xml"]},
    ], file_target.storage)
    cli("crawl", "--config", config, check=True)
    store = file_target.store
    maps = {read_json(store, k)["url"] for k in keys_under(store, "clean/maps/")}
    assert maps == {site.url + a.path for a in news.articles}
    fed = {read_json(store, k)["url"] for k in keys_under(store, "clean/feed/")}
    assert fed == {site.url + a.path for a in news.articles[:20]}  # the feed lists the latest 20
    run = read_json(store, keys_under(store, "runs/maps/")[0])
    assert run["counts"]["sitemaps_parsed"] == 4 and run["outcome"] == "ok"


def test_concurrency_per_host_holds_even_without_a_delay(site, file_target, write_config, cli):
    import threading
    import time as clock

    news = sitegen.build(8, seed=11)
    sitegen.serve(site, news)
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def slow(path, body):
        def answer(req):
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            clock.sleep(0.3)  # the server is slow, so requests overlap if the crawler lets them
            with lock:
                state["now"] -= 1
            req.send(200, body.encode())
        return answer

    for article in news.articles:
        site.route(article.path, slow(article.path, sitegen.article_html(article)))
    config = write_config([source("town", site.url, concurrency=2, delay=0, obey_robots=False,
                                  articles=[r"/news/\d{4}/"])],
                          file_target.storage)
    cli("crawl", "--config", config, check=True)
    assert len(keys_under(file_target.store, "clean/town/")) == 8
    assert state["max"] == 2
