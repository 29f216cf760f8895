"""End to end: a site that says "429, Retry-After" is left alone for exactly that long."""

from __future__ import annotations

import json
import time

import pytest

from tests import sitegen
from tests.conftest import source

pytestmark = pytest.mark.slow

ARTICLES = r"/news/\d{4}/"


def serve_slowly(site, news, delay: float = 0.3):
    """Articles that take ``delay`` to answer, so requests queue up behind each other."""
    for a in news.articles:
        body = sitegen.article_html(a).encode()
        site.route(a.path, lambda req, body=body: (time.sleep(delay), req.send(200, body)))


def throttle_nth(site, news, n: int, retry_after: str):
    """The ``n``-th article request (whichever it is) answers 429 with ``Retry-After``."""
    count = {"n": 0}
    for a in news.articles:
        body = sitegen.article_html(a).encode()

        def answer(req, body=body):
            count["n"] += 1
            if count["n"] == n:
                req.send(429, b"slow down", headers={"Retry-After": retry_after})
            else:
                time.sleep(0.3)
                req.send(200, body)
        site.route(a.path, answer)


def crawl(cli, config) -> dict:
    return json.loads(cli("crawl", "--config", config, "--json", check=True).stdout)[0]


def article_hits(site) -> list:
    return [r for r in site.requests if r.path.startswith("/news/2026/")]


def test_retry_after_pauses_the_whole_host(site, file_target, write_config, cli):
    news = sitegen.serve(site, sitegen.build(8, seed=20))
    throttle_nth(site, news, 3, "2")
    config = write_config([source("town", site.url, articles=[ARTICLES], concurrency=2, retries=2)],
                          file_target.storage)
    run = crawl(cli, config)
    hits = article_hits(site)
    throttled = hits[2]
    again = [r for r in hits[3:] if r.path == throttled.path]
    assert len(again) == 1 and again[0].time - throttled.time >= 2.0       # retried after the pause
    # nothing new reached the host during the pause, though requests were waiting for it
    during = [r for r in site.requests if throttled.time + 0.1 < r.time < throttled.time + 2.0]
    assert during == []
    assert len([r for r in hits if r.time >= throttled.time + 2.0]) >= 3
    assert site.max_in_flight <= 2                                          # the source's concurrency
    assert run["counts"]["throttled_429"] == 1
    assert run["counts"]["articles_new"] == len(news.articles) and run["outcome"] == "ok"


def test_a_host_asking_for_too_long_a_pause_is_left_for_this_run(site, file_target, write_config, cli):
    news = sitegen.serve(site, sitegen.build(6, seed=21))
    throttle_nth(site, news, 2, "3600")
    config = write_config([source("town", site.url, articles=[ARTICLES], concurrency=1, retries=2,
                                  max_retry_after=60)], file_target.storage)
    started = time.monotonic()
    run = crawl(cli, config)
    assert time.monotonic() - started < 60  # it did not sit out the hour
    hits = article_hits(site)
    assert len(hits) == 2                                  # one archived, one 429, then no more
    assert run["errors"]["host_backoff"] >= 1 and run["outcome"] == "partial"
    assert run["counts"]["skipped_host_backoff"] == len(news.articles) - 2
    assert run["counts"]["articles_new"] == 1
    assert "Retry-After 3600s" in json.dumps(run["error_samples"])
