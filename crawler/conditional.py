"""Conditional GET: a Scrapy downloader middleware over the source's state.

Before a page or feed/sitemap request goes out, the validators the state
remembers for its URL (``ETag``, ``Last-Modified``) are sent as
``If-None-Match`` / ``If-Modified-Since``, unless :func:`crawler.revisit.conditional_headers`
says a 304 would hide links still to follow.  A ``304 Not Modified`` answer
is let through to the spider (which stores nothing for it), counted as
``pages_not_modified`` / ``documents_not_modified`` in the run record, and
noted in the state as a check.

The state key of a request is its URL before redirects, as for the pipeline.
Enabled when the spider's crawl context has a state and the source has
``conditional_requests: true``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from scrapy.exceptions import NotConfigured

from crawler.revisit import conditional_headers

KINDS = {"page": "pages", "document": "documents"}


def state_key(request) -> str:
    """The URL a request is remembered by: the one asked for before any redirect."""
    redirects = request.meta.get("redirect_urls")
    return redirects[0] if redirects else request.url


def response_headers(response) -> dict[str, list[str]]:
    return {k.decode("latin-1").lower(): [v.decode("latin-1") for v in vs] for k, vs in response.headers.items()}


class ConditionalGetMiddleware:
    def __init__(self, ctx):
        self.ctx = ctx

    @classmethod
    def from_crawler(cls, crawler):
        ctx = getattr(crawler.spider, "ctx", None)
        if ctx is None or ctx.state is None or not ctx.source.conditional_requests:
            raise NotConfigured("no incremental state or conditional_requests is off")
        return cls(ctx)

    def process_request(self, request, spider=None):
        if request.meta.get("archiver_kind") not in KINDS or request.meta.get("archiver_conditional"):
            return None  # not ours, or a redirect of a request that already carries them
        record = self.ctx.state.url(state_key(request))
        # with an incomplete state (a save failed half-way) a 304 could hide links to pages it lost
        trust_links = self.ctx.source.revisit.known_pages and not self.ctx.state.incomplete
        depth = request.meta.get("archiver_depth", 0)
        follows_links = request.meta.get("archiver_kind") == "document" or depth < self.ctx.source.max_depth
        headers = conditional_headers(record, depth, trust_links=trust_links, follows_links=follows_links)
        if headers:
            for name, value in headers.items():
                request.headers[name] = value
            request.meta["archiver_conditional"] = True
            allowed = request.meta.get("handle_httpstatus_list", [])
            request.meta["handle_httpstatus_list"] = [*allowed, 304]
        return None

    def process_response(self, request, response, spider=None):
        if response.status == 304 and request.meta.get("archiver_conditional"):
            kind = request.meta.get("archiver_kind")
            self.ctx.count(f"{KINDS[kind]}_not_modified")
            old = self.ctx.state.url(state_key(request)) or {}
            self.ctx.state.record_unchanged(state_key(request), at=datetime.now(timezone.utc), status=304,
                                            headers=response_headers(response), kind=old.get("kind", "page"))
        return response
