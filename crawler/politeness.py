"""Politeness under change: keep to the concurrency, honor ``Retry-After``, back off per host.

One downloader middleware, the innermost (the last step before the network,
the first after it), the Scrapy adapter of :mod:`crawler.backoff`:

* **Concurrency.** A request takes one of the host's ``concurrency`` permits
  before it goes and gives it back when its answer (or error) comes, whatever
  happens to it next (redirect, retry).  Scrapy's own per-domain limit is not
  enough: with the asyncio reactor (Scrapy 2.19) a download slot hands every
  queued request to the network in one go, because requests only count as
  transferring once their download task starts, after the loop that checks
  the limit.
* **Retry-After.** A 429, or a 503 with ``Retry-After``, pauses the host: for
  ``Retry-After`` (seconds or an HTTP date), else (a bare 429) exponentially,
  one step per round of throttled answers.  Scrapy's RetryMiddleware retries
  the request within the source's ``retries`` (and the failure breaker sees
  every attempt); the retry, like every request to the host, waits out the
  pause.  A request holding a permit waits before it goes; requests already
  queued in the host's download slot are held by the slot's own timer (the
  mechanism of ``DOWNLOAD_DELAY``), set on the ``response_downloaded`` signal,
  which Scrapy sends before it frees the slot for the next request.  Requests
  already on the wire cannot be recalled.  A bare 503 is a server error, left
  to the retries and the breaker (:mod:`crawler.breaker`).
* **Giving up.** A host asking for a longer wait than ``max_retry_after`` is
  not requested again in this run (``host_backoff`` in the run record).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred, DeferredSemaphore

from crawler.backoff import THROTTLE_STATUSES, HostBackoff, parse_retry_after

log = logging.getLogger(__name__)


class HostBackedOff(IgnoreRequest):
    """The host asked for a longer pause than ``max_retry_after``."""


def _sleep(seconds: float):
    d: Deferred = Deferred()
    call_later(seconds, d.callback, None)
    return maybe_deferred_to_future(d)


def _host(request) -> str:
    return urlparse_cached(request).hostname or ""


class PolitenessMiddleware:
    PERMIT = "archiver_host_permit"
    THROTTLED = "archiver_throttled"

    def __init__(self, crawler, ctx, clock=time.monotonic):
        self.crawler, self.ctx, self.clock = crawler, ctx, clock
        self.concurrency = ctx.source.concurrency
        self.backoff = HostBackoff(max_wait=ctx.source.max_retry_after)
        self.gates: dict[str, DeferredSemaphore] = {}

    @classmethod
    def from_crawler(cls, crawler):
        ctx = getattr(crawler.spider, "ctx", None)
        if ctx is None:
            raise NotConfigured("no crawl context")
        middleware = cls(crawler, ctx)
        crawler.signals.connect(middleware.on_downloaded, signal=signals.response_downloaded)
        return middleware

    # -- going out ----------------------------------------------------------------
    async def process_request(self, request, spider=None):
        host = _host(request)
        gate = self.gates.setdefault(host, DeferredSemaphore(self.concurrency))
        await maybe_deferred_to_future(gate.acquire())
        request.meta[self.PERMIT] = host
        while True:
            if self.backoff.abandoned(host):
                self._release(request)
                self.ctx.count("skipped_host_backoff")
                raise HostBackedOff(f"{host} asked for a longer pause than max_retry_after; "
                                    f"not requested again in this run")
            wait = self.backoff.wait(host, self.clock())
            if wait <= 0:
                return None
            await _sleep(wait)  # the pause may grow meanwhile: look again

    def _release(self, request) -> None:
        host = request.meta.pop(self.PERMIT, None)  # popped: a redirect or retry copies the meta
        if host is not None:
            self.gates[host].release()

    # -- coming back ----------------------------------------------------------------
    def on_downloaded(self, response, request, spider=None):
        """A throttling answer pauses the host before its slot sends anything else."""
        host = _host(request)
        if response.status not in THROTTLE_STATUSES:
            self.backoff.answered(host)
            return
        asked = parse_retry_after(response.headers.get("Retry-After", b"").decode("latin-1") or None,
                                  datetime.now(timezone.utc))
        if response.status == 503 and asked is None:
            return  # a server error, not a request to slow down
        verdict = self.backoff.throttled(host, self.clock(), asked)
        request.meta[self.THROTTLED] = verdict
        if not verdict.give_up:
            self._hold_slot(request, verdict.wait)
            log.info("%s answered %s: pausing the host for %.1fs", host, response.status, verdict.wait)

    def process_exception(self, request, exception, spider=None):
        self._release(request)
        return None

    def process_response(self, request, response, spider=None):
        self._release(request)
        verdict = request.meta.pop(self.THROTTLED, None)
        if verdict is None:
            return response
        self.ctx.count(f"throttled_{response.status}")
        if verdict.give_up:
            self.ctx.error("host_backoff", f"{_host(request)} answered {response.status} with Retry-After "
                                           f"{verdict.asked:.0f}s, more than max_retry_after "
                                           f"({self.backoff.max_wait:.0f}s)")
            request.meta["dont_retry"] = True
        return response  # RetryMiddleware retries it; the retry waits for the pause here

    def _hold_slot(self, request, wait: float) -> None:
        """Keep requests already queued for the host in its download slot until the pause ends."""
        downloader = getattr(self.crawler.engine, "downloader", None)
        slot = getattr(downloader, "slots", {}).get(downloader.get_slot_key(request)) if downloader else None
        release = getattr(downloader, "_latercall", None)
        if slot is None or release is None or not hasattr(slot, "latercall"):
            return  # another Scrapy: requests holding a permit still wait in process_request
        if slot.latercall is not None:
            slot.latercall.cancel()
        slot.latercall = call_later(wait, release, slot)
