"""One generic spider, driven by a source's configuration.

Entry points are fetched first by priority: feeds and sitemaps (their entries
next), then start pages, then links.  Links are followed when they stay on the
source's hosts and match ``follow`` or ``articles`` (every on-host link when
both are empty), up to ``max_depth`` and the per-run page cap.  Each HTML page
becomes a :class:`~crawler.records.FetchedPage` for the pipeline.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

import scrapy
from scrapy.http import HtmlResponse
from scrapy.selector import Selector
from scrapy.utils.response import get_base_url

from crawler import feeds
from crawler.errors import classify_failure
from crawler.links import select_links
from crawler.netscope import host_in_scope
from crawler.records import FetchedPage
from crawler.urls import normalize_url

log = logging.getLogger(__name__)

PRIO_DOC = 100      # feeds and sitemaps
PRIO_ENTRY = 50     # their entries
PRIO_START = 10     # start pages
PRIO_LINK = 0       # links found on pages


class SourceSpider(scrapy.Spider):
    name = "source"

    def __init__(self, *args, context=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ctx = context
        self.source = context.source
        self.name = self.source.name
        self.allowed_hosts = self.source.hosts()
        self._articles = [re.compile(p) for p in self.source.articles]
        self._follow = [re.compile(p) for p in [*self.source.follow, *self.source.articles]]
        self.pages_requested = 0
        self._requested: set[str] = set()  # so duplicates never count against max_pages
        self.cap_reached = False

    # -- entry points -------------------------------------------------------------
    async def start(self):
        for url in self.source.feeds:
            yield self._doc_request(url, self.parse_feed)
        for url in self.source.sitemaps:
            yield self._doc_request(url, self.parse_sitemap)
        for url in self.source.start_urls:
            req = self._page_request(url, depth=0, priority=PRIO_START, via="start")
            if req is not None:
                yield req

    def _doc_request(self, url: str, callback) -> scrapy.Request:
        self.ctx.count("documents_requested")
        return scrapy.Request(url, callback=callback, errback=self.on_error, priority=PRIO_DOC,
                              meta={"archiver_kind": "document",
                                    "download_maxsize": self.source.max_document_bytes},
                              dont_filter=True)

    def _page_request(self, url: str, *, depth: int, priority: int, via: str):
        if depth > self.source.max_depth:
            return None
        url = normalize_url(url)
        if url in self._requested:
            return None
        if self.pages_requested >= self.source.max_pages:
            if not self.cap_reached:
                self.cap_reached = True
                log.info("page cap of %d reached for %s", self.source.max_pages, self.name)
            self.ctx.count("skipped_page_cap")
            return None
        self._requested.add(url)
        self.pages_requested += 1
        return scrapy.Request(url, callback=self.parse_page, errback=self.on_error, priority=priority,
                              meta={"archiver_depth": depth, "archiver_via": via, "archiver_kind": "page"})

    # -- callbacks ----------------------------------------------------------------
    def is_article(self, url: str) -> bool:
        return not self._articles or any(p.search(url) for p in self._articles)

    def parse_page(self, response):
        depth = response.meta.get("archiver_depth", 0)
        redirects = list(response.meta.get("redirect_urls", []))
        original = redirects[0] if redirects else response.request.url
        self.ctx.count("pages_fetched")
        if not isinstance(response, HtmlResponse):
            self.ctx.count("skipped_not_html")
            log.debug("not HTML, skipped: %s", response.url)
            return
        headers = {k.decode("latin-1").lower(): [v.decode("latin-1") for v in vs]
                   for k, vs in response.headers.items()}
        yield FetchedPage(
            source=self.name,
            url=original,
            final_url=response.url,
            status=response.status,
            headers=headers,
            body=response.body,
            fetched_at=datetime.now(timezone.utc),
            is_article=self.is_article(response.url) or self.is_article(original),
            depth=depth,
            redirect_urls=redirects,
            discovered_via=response.meta.get("archiver_via", "link"),
            request_headers={k.decode("latin-1"): [v.decode("latin-1") for v in vs]
                             for k, vs in response.request.headers.items()},
        )
        if depth >= self.source.max_depth:
            return
        # a Selector of our own, not response.selector: the cached tree (~10x the body) would
        # live as long as Scrapy holds the response
        hrefs = Selector(response=response).xpath("//a/@href | //area/@href").getall()
        for url in select_links(hrefs, get_base_url(response), self._follow,
                                lambda host: host_in_scope(host, self.ctx.scope)):
            req = self._page_request(url, depth=depth + 1, priority=PRIO_LINK, via="link")
            if req is not None:
                yield req

    def _entries(self, response, kind: str):
        try:
            parsed = feeds.parse(response.body, response.url, limit=self.ctx.max_document_bytes)
        except feeds.FeedError as exc:
            self.ctx.error(f"bad_{kind}", f"{response.url}: {exc}")
            return None
        self.ctx.count(f"{kind}s_parsed")
        return parsed

    def parse_feed(self, response):
        parsed = self._entries(response, "feed")
        if parsed is None:
            return
        for entry in parsed.entries:
            yield from self._entry_request(entry.url, "feed")

    def parse_sitemap(self, response):
        parsed = self._entries(response, "sitemap")
        if parsed is None:
            return
        if parsed.kind == "sitemapindex":
            for entry in parsed.entries:
                if host_in_scope(_host(entry.url), self.ctx.scope):
                    yield self._doc_request(entry.url, self.parse_sitemap)
            return
        for entry in parsed.entries:
            yield from self._entry_request(entry.url, "sitemap")

    def _entry_request(self, url: str, via: str):
        if not host_in_scope(_host(url), self.ctx.scope):
            self.ctx.count("skipped_offsite")
            return
        req = self._page_request(url, depth=0, priority=PRIO_ENTRY, via=via)  # entry points, like start pages
        if req is not None:
            yield req

    def on_error(self, failure):
        request = failure.request
        kind, message = classify_failure(failure)
        if kind == "site_failing":  # not requested: the site was failing (crawler.breaker)
            self.ctx.count("skipped_site_failing")
            return
        refused = self.ctx.scope_refusals.get(_host(request.url))
        if kind == "dns" and refused:  # the resolver refused the address the name leads to
            kind, message = "out_of_scope", f"refused: {refused}"
        self.ctx.error(kind, f"{request.url}: {message}")
        if request.meta.get("archiver_kind") == "page":
            self.ctx.count("pages_failed")


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""

