"""Redirect loops end with a recorded error instead of vanishing.

Scrapy's duplicate filter silently drops a redirect back to a URL already
requested (``/a -> /b -> /a``, or ``/a -> /a``), so a page caught in a loop
would leave no trace in the run record.  This downloader middleware sits just
before Scrapy's RedirectMiddleware and refuses a redirect whose target is
already in the request's own redirect chain; the spider's errback then records
it as ``redirect_loop``.  Long chains that never loop still end at
``REDIRECT_MAX_TIMES`` (recorded as ``too_many_redirects``).

With cookies on (a source's ``cookies: true``), a redirect that sets a cookie may
come back once to a URL of its chain: that is a site checking that the browser
keeps cookies (``/a`` sets one and redirects to ``/a``), not a loop.  The request
is then let past Scrapy's duplicate filter; a second return is a loop.
"""

from __future__ import annotations

from urllib.parse import urljoin

from scrapy.exceptions import IgnoreRequest

from crawler.urls import normalize_url

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class RedirectLoop(IgnoreRequest):
    pass


def loop_in(chain: list[str], target: str, *, cookie_check: bool = False) -> bool:
    """True if ``target`` was already visited in ``chain`` (URLs compared normalized).

    ``cookie_check``: the redirect sets a cookie and cookies are kept: one return to a URL
    of the chain is allowed, a second is a loop.
    """
    target = normalize_url(target)
    visits = sum(normalize_url(u) == target for u in chain)
    return visits > (1 if cookie_check else 0)


class RedirectLoopMiddleware:
    """Place right after RedirectMiddleware (a higher order number: its process_response runs first)."""

    def __init__(self, cookies: bool = False):
        self.cookies = cookies

    @classmethod
    def from_crawler(cls, crawler):
        return cls(cookies=crawler.settings.getbool("COOKIES_ENABLED"))

    def process_response(self, request, response, spider=None):
        if response.status not in REDIRECT_STATUSES or b"Location" not in response.headers:
            return response
        if request.meta.get("dont_redirect"):
            return response
        location = response.headers.get(b"Location").decode("latin-1")
        target = urljoin(request.url, location)
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if loop_in(chain, target):
            cookie_check = bool(self.cookies and response.headers.get(b"Set-Cookie"))
            if not cookie_check or loop_in(chain, target, cookie_check=True):
                raise RedirectLoop(f"redirect loop: {' -> '.join([*chain, target])}")
            request.dont_filter = True  # the redirect Scrapy makes from it (a copy) comes back to a seen URL
        return response
