"""Redirect loops end with a recorded error instead of vanishing.

Scrapy's duplicate filter silently drops a redirect back to a URL already
requested (``/a -> /b -> /a``, or ``/a -> /a``), so a page caught in a loop
would leave no trace in the run record.  This downloader middleware sits just
before Scrapy's RedirectMiddleware and refuses a redirect whose target is
already in the request's own redirect chain; the spider's errback then records
it as ``redirect_loop``.  Long chains that never loop still end at
``REDIRECT_MAX_TIMES`` (recorded as ``too_many_redirects``).
"""

from __future__ import annotations

from urllib.parse import urljoin

from scrapy.exceptions import IgnoreRequest

from crawler.urls import normalize_url

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class RedirectLoop(IgnoreRequest):
    pass


def loop_in(chain: list[str], target: str) -> bool:
    """True if ``target`` was already visited in ``chain`` (URLs compared normalized)."""
    seen = {normalize_url(u) for u in chain}
    return normalize_url(target) in seen


class RedirectLoopMiddleware:
    """Place right after RedirectMiddleware (a higher order number: its process_response runs first)."""

    def process_response(self, request, response, spider=None):
        if response.status not in REDIRECT_STATUSES or b"Location" not in response.headers:
            return response
        if request.meta.get("dont_redirect"):
            return response
        location = response.headers.get(b"Location").decode("latin-1")
        target = urljoin(request.url, location)
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if loop_in(chain, target):
            hops = " -> ".join([*chain, target])
            raise RedirectLoop(f"redirect loop: {hops}")
        return response
