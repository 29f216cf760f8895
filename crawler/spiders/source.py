"""One generic spider, driven by a source's configuration.

Discovery runs in stages: feeds and sitemaps first (sitemap indexes followed),
and only when they are read the start pages; their entries and new URLs go
before links and known ones by priority.  Links are followed when they stay on
the source's hosts and match ``follow`` or ``articles`` (every on-host link when
both are empty), up to ``max_depth`` and the per-run page cap.  Each HTML page
becomes a :class:`~crawler.records.FetchedPage` for the pipeline.

With incremental state (:mod:`crawler.state`) every discovered URL goes through
:func:`crawler.revisit.decide` (sitemap ``lastmod`` older than our last check,
or not due under the revisit policy: not requested).  New URLs are requested at
once; known ones are held back until discovery runs dry, so under the page cap
new pages win, and are then requested most urgent first (sitemap says changed,
links left over by the cap, then due), together with known pages nothing
offered in this run that are due (:func:`crawler.revisit.due_known`).  A 304
answer is parsed for nothing.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import HtmlResponse
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.response import get_base_url
from twisted.internet.defer import Deferred

from crawler import feeds, keys
from crawler.conditional import response_headers, state_key
from crawler.errors import classify_failure
from crawler.links import page_hrefs, select_links
from crawler.netscope import host_in_scope
from crawler.records import FetchedPage
from crawler.revisit import Policy, decide, due_known
from crawler.urls import normalize_url

log = logging.getLogger(__name__)

PRIO_DOC = 100      # feeds and sitemaps
PRIO_ENTRY = 50     # their entries
PRIO_START = 10     # start pages
PRIO_LINK = 0       # links found on pages
PRIO_KNOWN = -10    # known pages, requested once discovery runs dry
URGENCY = {"pending": 0, "lastmod_changed": 0, "due": 1, "known": 2}


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
        self.cap_reached = False
        self.state = context.state
        self.policy = Policy.from_settings(self.source.revisit)
        self._entry_points = {normalize_url(u) for u in
                              [*self.source.start_urls, *self.source.feeds, *self.source.sitemaps]}
        # URLs requested or decided in this run; entry points are kept for their own stage (a link
        # back to the start page found early must not take it at a greater depth)
        self._handled: set[str] = set(self._entry_points)
        self._pending: set[str] = set()        # pages whose links the page cap cut short
        self._docs_open = 0
        self._docs_read: Deferred = Deferred()
        self._known: list[tuple] = []          # (urgency, url, depth, kind, via): held back known URLs
        self._revisited = False

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    # -- entry points -------------------------------------------------------------
    async def start(self):
        for url in self.source.feeds:
            req = self._doc_request(url, "feed", entry=True)
            if req is not None:
                yield req
        for url in self.source.sitemaps:
            req = self._doc_request(url, "sitemap", entry=True)
            if req is not None:
                yield req
        # feeds and sitemaps first: their entries are queued before listings.  Not in a crawl shared
        # with other replicas: another replica may read them (the shared queue orders them first)
        if self._docs_open and self.crawler.settings.get("ARCHIVER_FRONTIER") is None:
            await maybe_deferred_to_future(self._docs_read)
        for url in self.source.start_urls:
            req = self._page_request(url, depth=0, priority=PRIO_START, via="start")
            if req is not None:
                yield req

    def _now(self) -> datetime:
        return datetime.now(timezone.utc)

    def _decide(self, url: str, *, lastmod: str | None, entry: bool) -> str | None:
        """Request this (normalized) URL in this run?  The reason if so; counts what it skips."""
        if url in self._handled and not entry:
            return None
        self._handled.add(url)
        if self.state is None:
            return "new"
        record = self.state.url(url)
        article = self.state.article(record["article"]) if record and record.get("article") else None
        decision = decide(record, article, now=self._now(), policy=self.policy, lastmod=lastmod,
                          entry_point=entry)
        if not decision:
            self.ctx.count(f"skipped_{decision.reason}")
            return None
        return decision.reason

    def _doc_request(self, url: str, kind: str, *, entry: bool = False, lastmod: str | None = None):
        url = normalize_url(url)
        if self._decide(url, lastmod=lastmod, entry=entry) is None:
            return None
        return self._make_doc_request(url, kind)

    def _make_doc_request(self, url: str, kind: str, *, priority: int = PRIO_DOC) -> scrapy.Request:
        self.ctx.count("documents_requested")
        self._docs_open += 1
        callback = self.parse_feed if kind == "feed" else self.parse_sitemap
        return scrapy.Request(url, callback=callback, errback=self.on_error, priority=priority,
                              meta={"archiver_kind": "document", "archiver_doc": kind,
                                    "download_maxsize": self.source.max_document_bytes},
                              dont_filter=True)

    def _doc_closed(self) -> None:
        self._docs_open -= 1
        if self._docs_open <= 0 and not self._docs_read.called:
            self._docs_read.callback(None)

    def _page_request(self, url: str, *, depth: int, priority: int, via: str, parent: str | None = None,
                      lastmod: str | None = None):
        if depth > self.source.max_depth:
            return None
        url = normalize_url(url)
        if url not in self._handled and self._over_cap():
            known = self.state is not None and (self.state.url(url) or {}).get("checked")
            if parent and not known:  # a new link left unfollowed: the parent is read in full next run
                self._pending.add(parent)
            return None
        reason = self._decide(url, lastmod=lastmod, entry=via == "start")
        if reason is None:
            return None
        if reason != "new" and via != "start":  # known: after the new ones
            self._known.append((URGENCY.get(reason, 1), url, depth, "page", via))
            return None
        return self._make_page_request(url, depth=depth, priority=priority, via=via)

    def _over_cap(self) -> bool:
        if self.pages_requested < self.source.max_pages:
            return False
        if not self.cap_reached:
            self.cap_reached = True
            log.info("page cap of %d reached for %s", self.source.max_pages, self.name)
        self.ctx.count("skipped_page_cap")
        return True

    def _make_page_request(self, url: str, *, depth: int, priority: int, via: str) -> scrapy.Request:
        self.pages_requested += 1
        return scrapy.Request(url, callback=self.parse_page, errback=self.on_error, priority=priority,
                              meta={"archiver_depth": depth, "archiver_via": via, "archiver_kind": "page"})

    # -- known pages, once discovery runs dry -----------------------------------------
    def on_idle(self, spider=None):
        if self.state is None:
            return
        batch, self._known = self._known, []
        if not self._revisited:  # once: known pages nothing offered in this run
            self._revisited = True
            due = due_known(self.state.urls.items(), self.state.articles, now=self._now(), policy=self.policy,
                            max_depth=self.source.max_depth, skip=self._handled)
            if due:
                self.ctx.count("known_revisited", len(due))
            self._handled.update(url for url, _ in due)
            batch += [(URGENCY["known"], url, record.get("depth", 1), record.get("kind", "page"), "known")
                      for url, record in due]
        queued = 0
        for _, url, depth, kind, via in sorted(batch, key=lambda t: t[0]):
            if not host_in_scope(_host(url), self.ctx.scope) or not self.state.requestable(url):
                continue  # out of scope now, or stored with a secret masked: rediscovered, not revisited
            if kind == "sitemap":
                req = self._make_doc_request(url, "sitemap", priority=PRIO_KNOWN)
            elif self._over_cap():
                continue  # known pages are in the state: the policy brings them back later
            else:
                req = self._make_page_request(url, depth=depth, priority=PRIO_KNOWN, via=via)
            self.crawler.engine.crawl(req)
            queued += 1
        if queued:
            raise DontCloseSpider

    # -- callbacks ----------------------------------------------------------------
    def is_article(self, url: str) -> bool:
        return not self._articles or any(p.search(url) for p in self._articles)

    def parse_page(self, response):
        if response.status == 304:
            return  # not modified: counted and noted by the conditional middleware
        depth = response.meta.get("archiver_depth", 0)
        redirects = list(response.meta.get("redirect_urls", []))
        original = redirects[0] if redirects else response.request.url
        self.ctx.count("pages_fetched")
        headers = response_headers(response)
        if not isinstance(response, HtmlResponse):
            self.ctx.count("skipped_not_html")
            log.debug("not HTML, skipped: %s", response.url)
            if self.state is not None:  # remembered, so that it is revisited by the policy, not every run
                self.state.record_unchanged(original, at=datetime.now(timezone.utc), status=response.status,
                                            headers=headers)
            return
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
        if depth < self.source.max_depth:
            # not response.selector: its cached tree (~10x the body) would live as long as Scrapy
            # holds the response, and it makes an object of every href
            hrefs = page_hrefs(response.text)
            for url in select_links(hrefs, get_base_url(response), self._follow,
                                    lambda host: host_in_scope(host, self.ctx.scope)):
                req = self._page_request(url, depth=depth + 1, priority=PRIO_LINK, via="link", parent=original)
                if req is not None:
                    yield req
        self._note_links(original, depth)

    def _note_links(self, url: str, depth: int) -> None:
        """Remember at which depth the page's links were followed, and whether the cap cut them."""
        if self.state is not None:
            self.state.note_links(url, depth=depth, pending=url in self._pending)

    def _entries(self, response, kind: str):
        if self.state is not None:
            self.state.record_fetch(state_key(response.request), at=datetime.now(timezone.utc),
                                    status=response.status, headers=response_headers(response),
                                    sha=keys.sha256_hex(response.body), raw=None, kind=kind)
        try:
            parsed = feeds.parse(response.body, response.url, limit=self.ctx.max_document_bytes)
        except feeds.FeedError as exc:
            self.ctx.error(f"bad_{kind}", f"{response.url}: {exc}")
            return None
        self.ctx.count(f"{kind}s_parsed")
        return parsed

    @contextlib.contextmanager
    def _document(self, response, kind: str):
        """The parsed feed or sitemap (None: 304 or unreadable); the document counts as read after."""
        try:
            yield None if response.status == 304 else self._entries(response, kind)
        finally:
            self._doc_closed()

    def parse_feed(self, response):
        with self._document(response, "feed") as parsed:
            if parsed is None:
                return
            doc = state_key(response.request)
            for entry in parsed.entries:
                yield from self._entry_request(entry.url, "feed", doc)
            self._note_links(doc, 0)

    def parse_sitemap(self, response):
        with self._document(response, "sitemap") as parsed:
            if parsed is None:
                return
            doc = state_key(response.request)
            if parsed.kind == "sitemapindex":
                # an incomplete state may lack the entries of a sitemap it says is unchanged: read it
                trust = not self.state.incomplete if self.state is not None else True
                for entry in parsed.entries:
                    if host_in_scope(_host(entry.url), self.ctx.scope):
                        req = self._doc_request(entry.url, "sitemap", lastmod=entry.lastmod if trust else None)
                        if req is not None:
                            yield req
                return
            for entry in parsed.entries:
                # only a sitemap's <lastmod> says when a page changed (a feed's dates are publication dates)
                yield from self._entry_request(entry.url, "sitemap", doc, lastmod=entry.lastmod)
            self._note_links(doc, 0)

    def _entry_request(self, url: str, via: str, doc: str, lastmod: str | None = None):
        if not host_in_scope(_host(url), self.ctx.scope):
            self.ctx.count("skipped_offsite")
            return
        # entry points, like start pages
        req = self._page_request(url, depth=0, priority=PRIO_ENTRY, via=via, parent=doc, lastmod=lastmod)
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
        if request.meta.get("archiver_kind") in ("page", "document") and self.state is not None:
            response = getattr(failure.value, "response", None)
            self.state.record_failure(state_key(request), status=getattr(response, "status", None),
                                      kind=request.meta.get("archiver_doc", "page"))
        if request.meta.get("archiver_kind") == "document":
            self._doc_closed()


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""

