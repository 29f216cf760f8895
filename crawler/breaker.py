"""Stop hammering a failing site: a run ends after too many failures in a row.

A 5xx storm, a site that stopped answering or a dead host would otherwise cost
``retries + 1`` requests for every page left in the queue.  Only failures that
say "the site is in trouble" count (server errors, 429, timeouts, lost or refused
connections, DNS); a 404 or a refused out-of-scope link says nothing about the
site's health, and any other answer resets the streak.

:class:`FailureStreak` is the pure decision; :class:`SiteBreakerMiddleware` is
the Scrapy adapter.  It watches every answer as it arrives (retries included),
and once the streak trips it sends no further request (those that reach it are
counted as ``skipped_site_failing``) and closes the spider with reason
``site_failing``; what is still queued is dropped, as at any early stop.
"""

from __future__ import annotations

import logging

from scrapy.exceptions import IgnoreRequest, NotConfigured

log = logging.getLogger(__name__)

SITE_FAILURES = frozenset({"timeout", "connection_lost", "connection_refused", "dns", "http_429"})


def is_site_failure(kind: str) -> bool:
    return kind in SITE_FAILURES or (kind.startswith("http_5") and kind[5:].isdigit())


class FailureStreak:
    def __init__(self, limit: int):
        self.limit = limit  # 0: never trip
        self.count = 0
        self.last_kind: str | None = None
        self.tripped = False

    def success(self) -> None:
        if not self.tripped:
            self.count = 0

    def failure(self, kind: str) -> bool:
        """Count one failure; True exactly once, when the streak reaches the limit."""
        if not is_site_failure(kind) or self.tripped:
            return False
        self.count += 1
        self.last_kind = kind
        if self.limit and self.count >= self.limit:
            self.tripped = True
            return True
        return False

    def describe(self) -> str:
        return f"the site failed {self.count} requests in a row (last: {self.last_kind})"


class SiteFailing(IgnoreRequest):
    pass


class SiteBreakerMiddleware:
    """Downloader middleware; place it after RetryMiddleware (a higher number) to see every attempt."""

    def __init__(self, crawler, limit: int):
        self.crawler = crawler
        self.streak = FailureStreak(limit)

    @classmethod
    def from_crawler(cls, crawler):
        limit = crawler.settings.getint("ARCHIVER_MAX_CONSECUTIVE_ERRORS")
        if limit <= 0:
            raise NotConfigured("ARCHIVER_MAX_CONSECUTIVE_ERRORS is 0")
        return cls(crawler, limit)

    def process_request(self, request, spider=None):
        if self.streak.tripped:
            raise SiteFailing(f"not requested: {self.streak.describe()}")
        return None

    def process_response(self, request, response, spider=None):
        if response.status >= 500 or response.status == 429:
            self._failed(f"http_{response.status}")
        else:
            self.streak.success()
        return response

    def process_exception(self, request, exception, spider=None):
        from crawler.errors import classify_exception

        if not isinstance(exception, IgnoreRequest):
            self._failed(classify_exception(exception)[0])
        return None

    def _failed(self, kind: str) -> None:
        if not self.streak.failure(kind):
            return
        from scrapy.utils.defer import deferred_from_coro

        message = f"stopped: {self.streak.describe()}"
        ctx = getattr(self.crawler.spider, "ctx", None)
        if ctx is not None:
            ctx.stop_message = message
        log.warning("%s: %s", getattr(self.crawler.spider, "name", "?"), message)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="site_failing"))
