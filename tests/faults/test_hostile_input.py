"""Hostile input from sites: oversize bodies, compression bombs, XML entity tricks."""

from __future__ import annotations

import gzip

import pytest

from crawler import feeds
from tests import sitegen
from tests.conftest import read_json, source
from tests.faults.audit import audit
from tests.faults.bombs import (GIB, billion_laughs, brotli_bomb, external_dtd_sitemap,
                                external_entity_sitemap, gzip_bomb, parameter_entity_feed, zstd_bomb)
from tests.faults.conftest import run_measured

MIB = 1024 * 1024
PEAK_RSS_BOUND = 400 * MIB  # a crawl process is ~130 MiB; each bomb inflates to 1 GiB


def only_run(store, source_name: str) -> dict:
    keys = [o.key for o in store.list(f"runs/{source_name}/")]
    assert len(keys) == 1, keys
    return read_json(store, keys[0])


@pytest.mark.slow
def test_oversize_pages_and_bombs_are_refused_recorded_and_memory_stays_bounded(
        site, file_target, write_config, tmp_path):
    news = sitegen.build(2, seed=5)
    sitegen.serve(site, news)
    zipped = sitegen.Article("/news/zipped/", "Zipped story", "Dana Whitfield", "2026-11-03T08:00:00+00:00",
                             ["A normal gzip-compressed article is archived decompressed, as received."] * 4)
    zipped_html = sitegen.article_html(zipped).encode()
    site.route("/news/zipped/", lambda req: req.gzip(zipped_html))
    site.page("/news/big/", b"<html><body>" + b"y" * (3 * MIB) + b"</body></html>")   # Content-Length says 3 MiB
    site.route("/news/endless/", lambda req: req.endless())                              # no length, no end
    site.route("/news/gzip-bomb/", lambda req: req.compressed(gzip_bomb(), "gzip"))      # 1 MiB -> 1 GiB
    site.route("/news/brotli-bomb/", lambda req: req.compressed(brotli_bomb(), "br"))    # 190 KiB -> 1 GiB
    site.route("/news/zstd-bomb/", lambda req: req.compressed(zstd_bomb(), "zstd"))      # 32 KiB -> 1 GiB
    hostile = ["/news/big/", "/news/endless/", "/news/gzip-bomb/", "/news/brotli-bomb/", "/news/zstd-bomb/"]
    links = [a.path for a in news.articles] + ["/news/zipped/"] + hostile
    site.page("/news/", "<html><body>" + "".join(f'<a href="{p}">{p}</a>' for p in links) + "</body></html>")
    config = write_config([
        source("small", site.url, max_body_bytes=2 * MIB, max_depth=1),
        # limits are per source: this one takes the 3 MiB page
        source("roomy", site.url, start_urls=[f"{site.url}/news/big/"], max_body_bytes=8 * MIB, max_depth=0),
    ], file_target.storage)

    done, peak = run_measured("crawl", "--config", config, cwd=tmp_path, env=file_target.env)
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"peak RSS of the crawl with three 1 GiB bombs: {peak / MIB:.0f} MiB")
    assert peak < PEAK_RSS_BOUND, f"a bomb was inflated: peak RSS {peak / MIB:.0f} MiB"

    store = file_target.store
    run = only_run(store, "small")
    assert run["outcome"] == "partial"
    assert run["errors"]["too_large"] == len(hostile)
    for path in hostile:
        assert any(site.url + path in s for s in run["error_samples"]["too_large"]), path
        assert len(site.hits(path)) == (2 if path == "/news/big/" else 1)  # refused, not retried (roomy fetches big once)
    archive = audit(store)
    archive.assert_sound()
    archived = {meta["url"] for meta in archive.raw.values() if meta["source"] == "small"}
    assert archived == {site.url + p for p in ["/news/", "/news/zipped/"] + [a.path for a in news.articles]}
    # a normal compressed page is archived as the bytes of the page, decompressed
    zipped_meta = next(m for m in archive.raw.values() if m["url"] == site.url + "/news/zipped/")
    assert store.get(zipped_meta["raw_key"]) == zipped_html
    assert "content-encoding" not in zipped_meta["headers"]
    # the roomier source archived the big page whole
    roomy = [m for m in archive.raw.values() if m["source"] == "roomy"]
    assert len(roomy) == 1 and roomy[0]["size"] == 3 * MIB + len(b"<html><body></body></html>")
    assert only_run(store, "roomy")["outcome"] == "ok"


@pytest.mark.slow
def test_feed_and_sitemap_size_limits(site, file_target, write_config, cli):
    news = sitegen.build(3, seed=6)
    sitegen.serve(site, news)
    # a sitemap served as a .gz file (no Content-Encoding): inflated by the parser, with a cap
    site.page("/sitemap-bomb.xml.gz", gzip_bomb(), "application/x-gzip")
    # a feed with Content-Encoding: gzip inflated by the downloader, with a cap
    site.route("/feed-bomb.xml", lambda req: req.compressed(gzip_bomb(), "gzip", "application/rss+xml"))
    good = gzip.compress(sitegen.sitemap_xml(site.url, news.articles).encode())
    site.page("/sitemap-good.xml.gz", good, "application/x-gzip")
    config = write_config([source(
        "docs", site.url, start_urls=[], feeds=[f"{site.url}/feed-bomb.xml"], max_document_bytes=2 * MIB, max_depth=0,
        sitemaps=[f"{site.url}/sitemap-bomb.xml.gz", f"{site.url}/sitemap-good.xml.gz"])], file_target.storage)
    cli("crawl", "--config", config, check=True)
    run = only_run(file_target.store, "docs")
    assert run["errors"]["bad_sitemap"] == 1
    assert "compression bomb" in run["error_samples"]["bad_sitemap"][0]
    assert run["errors"]["too_large"] == 1 and "feed-bomb.xml" in run["error_samples"]["too_large"][0]
    # the good compressed sitemap still works
    assert run["counts"]["sitemaps_parsed"] == 1
    assert run["counts"]["raw_archived"] == len(news.articles)


@pytest.mark.slow
def test_xml_entity_tricks_are_refused_and_recorded(site, file_target, write_config, cli, tmp_path):
    news = sitegen.build(2, seed=7)
    sitegen.serve(site, news)
    marker = "LOCAL-FILE-CONTENT-7f3a"
    secret_file = tmp_path / "local-secret.txt"
    secret_file.write_text(marker)
    dtd = f"{site.url}/evil.dtd"
    site.page("/evil.dtd", f'<!ENTITY leak "{marker}">', "application/xml-dtd")
    site.page("/feed-laughs.xml", billion_laughs(), "application/rss+xml")
    site.page("/feed-pe.xml", parameter_entity_feed(dtd), "application/rss+xml")
    site.page("/sitemap-xxe.xml", external_entity_sitemap(str(secret_file)), "application/xml")
    site.page("/sitemap-dtd.xml", external_dtd_sitemap(dtd), "application/xml")
    site.page("/news/dtd/", sitegen.article_html(news.articles[0]))
    config = write_config([source(
        "xml", site.url, start_urls=[],
        feeds=[f"{site.url}/feed-laughs.xml", f"{site.url}/feed-pe.xml", f"{site.url}/feed.xml"],
        sitemaps=[f"{site.url}/sitemap-xxe.xml", f"{site.url}/sitemap-dtd.xml"])], file_target.storage)
    proc = cli("crawl", "--config", config, check=True)

    run = only_run(file_target.store, "xml")
    assert run["errors"]["bad_feed"] == 2 and run["errors"]["bad_sitemap"] == 1
    for sample in run["error_samples"]["bad_feed"] + run["error_samples"]["bad_sitemap"]:
        assert "refused unsafe XML" in sample
    assert site.hits("/evil.dtd") == []          # no external DTD or entity was fetched
    assert run["counts"]["feeds_parsed"] == 1     # the honest feed still works
    assert run["counts"]["sitemaps_parsed"] == 1  # a DTD reference alone is harmless: parsed, not fetched
    assert site.hits("/news/dtd/")
    archive = audit(file_target.store)
    archive.assert_sound()
    for info in file_target.store.list(""):
        assert marker.encode() not in file_target.store.get(info.key), info.key
    assert marker not in proc.stdout + proc.stderr


@pytest.mark.parametrize("document", [
    billion_laughs(),
    billion_laughs("urlset"),
    external_entity_sitemap("/etc/passwd"),
    parameter_entity_feed("http://127.0.0.1:9/x.dtd"),
])
def test_feed_parser_refuses_entities(document):
    with pytest.raises(feeds.FeedError, match="refused unsafe XML"):
        feeds.parse(document.encode(), "http://127.0.0.1/")


def test_feed_parser_caps_gzip_inflation():
    with pytest.raises(feeds.FeedError, match="compression bomb"):
        feeds.parse(gzip_bomb(), "http://127.0.0.1/", limit=4 * MIB)
    assert len(gzip_bomb()) < 2 * MIB and GIB // len(gzip_bomb()) > 500
