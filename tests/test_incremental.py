"""End to end: repeated `archiver crawl` runs against the local site store only what changed."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest

from crawler.state import article_history
from tests import sitegen
from tests.conftest import keys_under, make_target, read_json, source

pytestmark = pytest.mark.slow

ARTICLES = r"/news/\d{4}/"


@pytest.fixture(params=["file", "seaweedfs"])
def store_target(request, tmp_path):
    """The local folder and a real S3 server (SeaweedFS enforces conditional writes and checksums)."""
    return make_target(request.param, tmp_path)


def crawl(cli, config, target, cwd=None) -> dict:
    if cwd is not None:
        cwd.mkdir(exist_ok=True)
    proc = cli("crawl", "--config", config, "--json", env=target.env, cwd=cwd, check=True)
    return json.loads(proc.stdout)[0]


def objects(store, *prefixes) -> dict:
    """key -> last-modified of every object under the prefixes (a rewrite changes it)."""
    return {o.key: o.modified for p in prefixes for o in store.list(p)}


def town(site, **kw) -> dict:
    return source("town", site.url, follow=["/news/"], articles=[ARTICLES], **kw)


def clean_records(store) -> list[dict]:
    return [read_json(store, k) for k in keys_under(store, "clean/town/")]


def test_unchanged_site_answers_304_and_stores_nothing(site, target, write_config, cli):
    news = sitegen.serve(site, sitegen.build(8, seed=5))
    config = write_config([town(site, feeds=[f"{site.url}/feed.xml"], sitemaps=[f"{site.url}/sitemap_index.xml"],
                                revisit={"old_every": "0"})], target.storage)
    first = crawl(cli, config, target)
    assert first["counts"]["articles_new"] == 8
    assert keys_under(target.store, "state/town/urls/") and keys_under(target.store, "state/town/articles/")
    before = objects(target.store, "raw/", "clean/")

    # the second run is another worker: another directory, another spool; the state is in the store
    elsewhere = target.storage["spool_dir"] + "-worker2"
    config = write_config([town(site, feeds=[f"{site.url}/feed.xml"], sitemaps=[f"{site.url}/sitemap_index.xml"],
                                revisit={"old_every": "0"})], dict(target.storage, spool_dir=elsewhere),
                          name="worker2.yaml")
    site.clear_log()
    second = crawl(cli, config, target, cwd=config.parent / "worker2")
    counts = second["counts"]
    assert objects(target.store, "raw/", "clean/") == before  # nothing new, nothing rewritten
    assert counts["store_objects_stored"] == 0 and counts["store_objects_existing"] == 0
    assert counts.get("pages_fetched", 0) == 0
    assert counts["pages_not_modified"] == len(news.articles) + 1  # the articles and the listing
    assert counts["documents_not_modified"] == 3                   # feed, sitemap index, its sitemap
    pages = [r for r in site.requests if r.path.startswith("/news/")]
    assert len(pages) == len(news.articles) + 1
    assert all(r.headers.get("If-None-Match") for r in pages)
    assert second["outcome"] == "ok" and len(keys_under(target.store, "runs/town/")) == 2
    assert counts["state_urls_known"] == len(news.articles) + 4 and "state_save" not in second["errors"]


def ad_page(article, ad: str, token: str) -> str:
    html = sitegen.article_html(article, extra=f'<div class="ad-slot"><a href="/ads/{token}">{ad}</a>'
                                               f'<p>Advertisement</p></div>')
    return html.replace('<meta charset="utf-8">', f'<meta charset="utf-8"><meta name="csrf-token" '
                                                  f'content="{token}"><script>var t="{token}";</script>')


def test_a_changed_ad_is_no_new_version(site, file_target, write_config, cli):
    store_target = file_target
    news = sitegen.serve(site, sitegen.build(3, seed=6))
    story = news.articles[1]
    site.page(story.path, ad_page(story, "Buy fresh tires at Valley Motors today", "tok111"))
    config = write_config([town(site, revisit={"old_every": "0"})], store_target.storage)
    crawl(cli, config, store_target)
    clean_before = keys_under(store_target.store, "clean/town/")
    raw_before = keys_under(store_target.store, "raw/town/")

    site.page(story.path, ad_page(story, "Summer sale on garden furniture at Hometown Depot", "tok222"))
    counts = crawl(cli, config, store_target)["counts"]
    assert counts["pages_fetched"] == 1                 # the only page whose ETag changed
    assert counts["raw_archived"] == 1                  # its new bytes are archived raw...
    assert len(keys_under(store_target.store, "raw/town/")) == len(raw_before) + 2  # page + sidecar
    assert counts["articles_unchanged"] == 1            # ...but the article was checked and is the same
    assert "articles_changed" not in counts and "clean_archived" not in counts
    assert keys_under(store_target.store, "clean/town/") == clean_before
    history = article_history(store_target.store, "town", site.url + story.path)
    assert len(history.versions) == 1  # the check itself is in the run record (articles_unchanged)


def test_an_edited_article_is_exactly_one_new_linked_version(site, store_target, write_config, cli):
    news = sitegen.serve(site, sitegen.build(4, seed=7))
    config = write_config([town(site, revisit={"old_every": "0"})], store_target.storage)
    crawl(cli, config, store_target)
    store = store_target.store
    story = news.articles[2]
    url = site.url + story.path
    (v1,) = [r for r in clean_records(store) if r["url"] == url]
    assert (v1["version"], v1["previous_key"], v1["article_url"]) == (1, None, url)
    v1_key = [k for k in keys_under(store, "clean/town/") if read_json(store, k)["url"] == url][0]

    story.paragraphs[1] = "Correction: the county board voted six to one, not five to two, on the trail budget."
    site.page(story.path, sitegen.article_html(story))
    counts = crawl(cli, config, store_target)["counts"]
    assert counts["articles_changed"] == 1 and counts["clean_archived"] == 1
    assert counts["pages_not_modified"] == len(news.articles)  # the listing and the other articles
    mine = {k: read_json(store, k) for k in keys_under(store, "clean/town/") if read_json(store, k)["url"] == url}
    assert len(mine) == 2
    v2_key = next(k for k, r in mine.items() if r["version"] == 2)
    v2 = mine[v2_key]
    assert v2["previous_key"] == v1_key and v2["article_url"] == url
    assert "six to one" in v2["text"] and "six to one" not in mine[v1_key]["text"]
    assert mine[v1_key] == v1  # the first version is untouched
    history = article_history(store, "town", url)
    assert [(v.number, v.key) for v in history.versions] == [(1, v1_key), (2, v2_key)]

    crawl(cli, config, store_target)  # and nothing more once it stays as edited
    assert len(keys_under(store, "clean/town/")) == len(news.articles) + 1


def test_an_article_reached_by_several_urls_is_archived_once(site, file_target, write_config, cli):
    store_target = file_target
    story = sitegen.build(1, seed=8).articles[0]
    html = sitegen.article_html(story)                          # <link rel=canonical href=story.path>
    print_path = story.path + "print/"
    amp_path = "/news/2026/amp/" + story.path.rstrip("/").rsplit("/", 1)[1] + "/"
    site.page(story.path, html)
    site.page(print_path, html)                                 # the same bytes at a second URL
    site.page(amp_path, sitegen.article_html(story, clutter=False).replace("<footer>", "<p>AMP</p><footer>"))
    links = [story.path, print_path, amp_path, story.path + "?utm_source=newsletter&utm_medium=email",
             story.path + "#comments"]
    site.page("/news/", "<html><body>" + "".join(f'<a href="{p}">x</a>' for p in links) + "</body></html>")
    config = write_config([town(site)], store_target.storage)
    counts = crawl(cli, config, store_target)["counts"]

    records = clean_records(store_target.store)
    assert len(records) == 1 and records[0]["article_url"] == site.url + story.path
    assert counts["articles_new"] == 1 and counts["articles_unchanged"] == 2  # print and AMP pages
    raws = [k for k in keys_under(store_target.store, "raw/town/") if not k.endswith(".meta.json")]
    same_bytes = [k for k in raws if store_target.store.get(k) == html.encode()]
    assert len(same_bytes) == 1 and counts["raw_duplicate"] == 1
    assert not any("utm_" in r.path for r in site.requests)
    assert len(site.hits(story.path)) == 1
    history = article_history(store_target.store, "town", site.url + print_path)
    assert len(history.versions) == 1
    assert sorted(history.urls) == sorted(site.url + p for p in (story.path, print_path, amp_path))


def test_sitemap_lastmod_older_than_the_last_fetch_is_not_refetched(site, file_target, write_config, cli):
    news = sitegen.build(6, seed=9)
    for a in news.articles:
        site.page(a.path, sitegen.article_html(a))

    def publish(lastmods: dict):
        urls = "".join(f"<url><loc>{site.url}{p}</loc><lastmod>{m}</lastmod></url>" for p, m in lastmods.items())
        site.page("/sitemap.xml", f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                                  f'sitemap/0.9">{urls}</urlset>', "application/xml")

    lastmods = {a.path: a.published for a in news.articles}
    publish(lastmods)
    # every page is "old" and not due for a day: only lastmod can bring one back
    config = write_config([source("town", site.url, start_urls=[], sitemaps=[f"{site.url}/sitemap.xml"],
                                  articles=[ARTICLES], revisit={"recent_days": 0, "old_every": "1d"})],
                          file_target.storage)
    assert crawl(cli, config, file_target)["counts"]["articles_new"] == 6

    edited, added = news.articles[0], sitegen.Article("/news/2026/11/new-story/", "A new story", "Rosa Delgado",
                                                      "2026-11-24T08:00:00+00:00", news.articles[1].paragraphs[:1])
    edited.paragraphs[0] = "An updated first paragraph about the bridge repairs and the detour on Main Street."
    site.page(edited.path, sitegen.article_html(edited))
    site.page(added.path, sitegen.article_html(added))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lastmods[edited.path] = now
    lastmods[added.path] = now
    # a page edited the day of our last fetch, with a date-only lastmod, is fetched too (it may be newer)
    lastmods[news.articles[1].path] = datetime.now(timezone.utc).date().isoformat()
    publish(lastmods)
    site.clear_log()
    counts = crawl(cli, config, file_target)["counts"]
    fetched = {r.path for r in site.requests if r.path.startswith("/news/")}
    assert fetched == {edited.path, added.path, news.articles[1].path}
    assert counts["skipped_lastmod_unchanged"] == 4
    assert counts["articles_new"] == 1 and counts["articles_changed"] == 1


def test_old_articles_are_revisited_less_often(site, file_target, write_config, cli):
    now = datetime.now(timezone.utc)
    fresh = sitegen.Article("/news/2026/11/fresh/", "Fresh story", "Marcus Lee", now.isoformat(timespec="seconds"),
                            sitegen.build(1, seed=10).articles[0].paragraphs)
    old = sitegen.Article("/news/2019/03/old/", "Old story", "Ellen Baptiste", "2019-03-01T08:00:00+00:00",
                          sitegen.build(1, seed=11).articles[0].paragraphs)
    for a in (fresh, old):
        site.page(a.path, sitegen.article_html(a))

    def listing(extra: str = "") -> None:
        site.page("/news/", f'<html><body><a href="{fresh.path}">f</a><a href="{old.path}">o</a>{extra}</body></html>')

    listing()
    config = write_config([town(site, revisit={"recent_days": 7, "recent_every": "0", "old_every": "1d"})],
                          file_target.storage)
    crawl(cli, config, file_target)
    site.clear_log()
    listing("<p>a new teaser</p>")  # the listing changed: both links are offered again
    counts = crawl(cli, config, file_target)["counts"]
    assert len(site.hits(fresh.path)) == 1 and site.hits(fresh.path)[0].headers.get("If-None-Match")
    assert site.hits(old.path) == []
    assert counts["skipped_not_due"] == 1
    # the same when the listing answers 304: the fresh article is still checked, from the state
    site.clear_log()
    counts = crawl(cli, config, file_target)["counts"]
    assert len(site.hits(fresh.path)) == 1 and site.hits(old.path) == []
    assert counts["known_revisited"] == 1


def test_the_page_cap_is_continued_by_the_next_run(site, file_target, write_config, cli):
    news = sitegen.serve(site, sitegen.build(7, seed=12))
    config = write_config([town(site, max_pages=4, revisit={"old_every": "0"})], file_target.storage)
    runs = [crawl(cli, config, file_target)["counts"] for _ in range(3)]
    # each run: the listing, then new articles before known ones; known ones fill what is left
    assert [c.get("articles_new", 0) for c in runs] == [3, 3, 1]
    assert runs[0]["page_cap_reached"] == 1 and runs[2]["pages_not_modified"] == 2
    urls = {r["url"] for r in clean_records(file_target.store)}
    assert urls == {site.url + a.path for a in news.articles}


def test_feeds_and_sitemaps_go_first_and_a_link_back_does_not_take_the_start_page(site, file_target,
                                                                                   write_config, cli):
    news = sitegen.serve(site, sitegen.build(12, seed=14))
    # the sitemap answers only once a feed article has been answered: the feed's articles (which link
    # back to /news/) are parsed while the sitemap is still being read
    article_answered = threading.Event()
    first = news.articles[0]
    first_body = sitegen.article_html(first).encode()
    site.route(first.path, lambda req: (req.send(200, first_body), article_answered.set()))
    sitemap = site.routes["/sitemaps/articles-1.xml"]
    site.route("/sitemaps/articles-1.xml", lambda req: (article_answered.wait(20), time.sleep(0.3),
                                                        req.send(200, sitemap.body, sitemap.content_type)))
    only_listed = sitegen.Article("/news/2026/11/only-on-the-listing/", "Only on the listing", "Luis Ortega",
                                  "2026-11-24T08:00:00+00:00", news.articles[0].paragraphs[:2])
    site.page(only_listed.path, sitegen.article_html(only_listed))
    site.page("/news/", sitegen.listing_html(news, 0).replace("</ul>", f'<li><a href="{only_listed.path}">'
                                                                      f'x</a></li></ul>'))
    config = write_config([town(site, feeds=[f"{site.url}/feed.xml"], sitemaps=[f"{site.url}/sitemap_index.xml"],
                                max_depth=1)], file_target.storage)
    crawl(cli, config, file_target)
    assert article_answered.is_set()  # the race was on
    sitemap_asked = site.hits("/sitemaps/articles-1.xml")[0].time
    assert site.hits("/news/")[0].time > site.hits(first.path)[0].time > sitemap_asked  # listings after
    urls = {r["url"] for r in clean_records(file_target.store)}
    assert site.url + only_listed.path in urls  # the start page was read at depth 0, its links followed
    assert len(urls) == len(news.articles) + 1


def test_two_replicas_share_the_state_of_a_distributed_source(site, tmp_path, write_config, coordination):
    """Feeds and sitemaps read by whichever replica, then an unchanged re-crawl by both: all 304."""
    from tests.test_distributed_crawl import finish, start_replica

    news = sitegen.serve(site, sitegen.build(12, seed=15))
    target = make_target("seaweedfs", tmp_path)
    config = write_config([town(site, distributed=True, feeds=[f"{site.url}/feed.xml"],
                                sitemaps=[f"{site.url}/sitemap_index.xml"])], target.storage,
                          coordination=coordination)
    for fire in ("fire-1", "fire-2"):
        site.clear_log()
        finish([start_replica(config, "town", fire, target.env, tmp_path / f"{fire}-{i}") for i in range(2)])
    store = target.store
    assert {r["url"] for r in clean_records(store)} == {site.url + a.path for a in news.articles}
    runs = [read_json(store, k) for k in keys_under(store, "runs/town/")]
    second = [r for r in runs if r["distributed"]["crawl_id"] == "fire-2"]
    assert len(second) == 2
    # the second fire found every page in the state the two replicas of the first one wrote
    pages = len(news.articles) + len(news.listing_pages)
    assert all(r["counts"]["state_urls_known"] == pages + 3 for r in second)  # + feed, index, sitemap
    assert sum(r["counts"].get("pages_fetched", 0) for r in second) == 0
    assert sum(r["counts"].get("pages_not_modified", 0) for r in second) == pages  # each page once
    assert all(r["counts"]["store_objects_stored"] == 0 for r in second)


def test_a_crawl_after_a_re_extraction_continues_the_same_history(site, file_target, write_config, cli):
    from tests.test_reextract import age_one_article

    news = sitegen.serve(site, sitegen.build(2, seed=16))
    config = write_config([town(site)], file_target.storage)
    crawl(cli, config, file_target)
    store = file_target.store
    story = news.articles[0]
    url = site.url + story.path
    v1_key, _ = age_one_article(store, url)  # as if an older extractor had made version 1
    cli("re-extract", "town", "--config", config, check=True)
    history = article_history(store, "town", url)
    assert [v.number for v in history.versions] == [1, 2]
    v2_key = history.versions[1].key

    story.paragraphs[0] = "An editor added this first paragraph after the story was re-extracted."
    site.page(story.path, sitegen.article_html(story))
    counts = crawl(cli, config, file_target)["counts"]
    assert counts["articles_changed"] == 1
    history = article_history(store, "town", url)
    assert [v.number for v in history.versions] == [1, 2, 3]
    v3 = read_json(store, history.versions[2].key)
    assert v3["version"] == 3 and v3["previous_key"] == v2_key and history.versions[0].key == v1_key


def test_a_text_that_changed_only_because_the_extractor_did_is_no_new_version(site, file_target, write_config, cli):
    news = sitegen.serve(site, sitegen.build(3, seed=8))
    story, edited = news.articles[0], news.articles[1]
    sponsor = "Residents can read the full agenda of every council meeting at the Hillside library on Main Street."
    site.page(story.path, ad_page(story, "Tires", "a1").replace("</article>", f"<p>{sponsor}</p></article>"))
    site.page(edited.path, ad_page(edited, "Tires", "b1"))
    config = write_config([town(site, revisit={"old_every": "0"})], file_target.storage)
    first = crawl(cli, config, file_target)
    assert first["counts"]["articles_new"] == 3
    assert all(sponsor in r["text"] for r in clean_records(file_target.store) if r["url"].endswith(story.path))

    # the source learns a rule (the extractor changed); the pages' bytes change (an ad), and one
    # article is really edited
    config = write_config([town(site, revisit={"old_every": "0"}, extract={"exclude_text": ["Hillside library"]})],
                          file_target.storage)
    site.page(story.path, ad_page(story, "Garden sale", "a2").replace("</article>", f"<p>{sponsor}</p></article>"))
    edited.paragraphs[0] = edited.paragraphs[0] + " The council will vote again in March."
    site.page(edited.path, ad_page(edited, "Garden sale", "b2"))
    counts = crawl(cli, config, file_target)["counts"]
    assert counts["articles_extractor_changed"] == 1 and counts["articles_changed"] == 1
    assert counts["versions_rechecked"] == 2  # each text that differed was checked against its old page
    versions = {r["url"]: r["version"] for r in clean_records(file_target.store) if r["version"] == 2}
    assert list(versions) == [site.url + edited.path]  # the edit is a version, the rule change is not

    # the next change of the ad costs no second look: the latest version knows the new text
    site.page(story.path, ad_page(story, "Winter tires", "a3").replace("</article>", f"<p>{sponsor}</p></article>"))
    counts = crawl(cli, config, file_target)["counts"]
    assert counts["articles_unchanged"] >= 1 and "versions_rechecked" not in counts and "articles_changed" not in counts
