"""Scrapy adapters for a distributed crawl (:mod:`crawler.frontier`, :mod:`crawler.hostlimit`).

* :class:`FrontierScheduler` replaces Scrapy's scheduler: requests go to the shared
  queue (deduplicated and capped for the whole crawl) and come back from it.
* :class:`FrontierSeedMiddleware` lets one replica queue the entry points.
* :class:`FrontierExtension` acknowledges each request once its response is fully
  handled (page stored, links queued), keeps an idle replica waiting while others
  still work, wakes it when work appears, and ends the crawl when nothing is
  queued or in flight anywhere.
* :class:`SharedPolitenessMiddleware` takes a per-host slot from Redis before each
  download, so delay and concurrency per host hold across replicas.

They find their shared objects in the settings ``ARCHIVER_FRONTIER`` and
``ARCHIVER_HOSTLIMIT`` (see :func:`distributed_settings`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured

from crawler import reqcodec
from crawler.frontier import Frontier
from crawler.hostlimit import HostLimiter

log = logging.getLogger(__name__)

ENTRY = "_frontier_entry"   # meta: the shared queue's entry this request came from
LOCAL = "_frontier_local"   # meta: handed over by the idle poller, already taken from the queue
SLOT = "_host_slot"         # meta: (host, token) of the politeness slot this download holds
# how the run record names what became of the requests this replica found
ADMIT_STATS = {"queued": "added", "seen": "duplicates", "cap": "over_page_cap", "done": "after_end"}
POLL_S = 0.2                # an idle replica looks for new shared work this often


def distributed_settings(frontier: Frontier, limiter: HostLimiter | None, base: dict, *, hosts: int = 1) -> dict:
    """Scrapy settings that make a crawl use the shared frontier (merged over ``base``)."""
    out = dict(base)
    out["SCHEDULER"] = "crawler.frontier_scrapy.FrontierScheduler"
    out["ARCHIVER_FRONTIER"] = frontier
    out["EXTENSIONS"] = {**base.get("EXTENSIONS", {}), "crawler.frontier_scrapy.FrontierExtension": 0}
    out["SPIDER_MIDDLEWARES"] = {**base.get("SPIDER_MIDDLEWARES", {}),
                                 "crawler.frontier_scrapy.FrontierSeedMiddleware": 10}
    if limiter is not None:
        out["ARCHIVER_HOSTLIMIT"] = limiter
        out["DOWNLOADER_MIDDLEWARES"] = {**base.get("DOWNLOADER_MIDDLEWARES", {}),
                                         "crawler.frontier_scrapy.SharedPolitenessMiddleware": 950}
        # the shared limiter spaces requests across replicas; a local delay on top would only slow us
        out["DOWNLOAD_DELAY"] = 0
        out["DOWNLOAD_DELAY_JITTER"] = 0.0
    # taking more from the shared queue than can be fetched at once would only hoard it
    out["CONCURRENT_REQUESTS"] = max(1, base.get("CONCURRENT_REQUESTS_PER_DOMAIN", 8) * max(1, hosts))
    return out


def rebuild(crawler, frontier: Frontier, entry: str, payload: str):
    """A request taken from the shared queue, marked with its entry (None if unreadable)."""
    try:
        request = reqcodec.decode(payload, crawler.spider)
    except Exception as exc:  # noqa: BLE001 - a bad entry must not stop the crawl
        log.error("dropping an unreadable shared request: %s", exc)
        crawler.stats.inc_value("archiver/frontier/unreadable")
        frontier.ack(entry)
        return None
    request.meta[ENTRY] = entry
    crawler.stats.inc_value("archiver/frontier/taken")
    return request


def _frontier(crawler) -> Frontier:
    frontier = crawler.settings.get("ARCHIVER_FRONTIER")
    if frontier is None:
        raise NotConfigured("ARCHIVER_FRONTIER is not set")
    return frontier


class FrontierScheduler:
    def __init__(self, crawler, frontier: Frontier):
        self.crawler, self.frontier = crawler, frontier
        self.local: deque = deque()
        self.spider = None
        self._cap_logged = False

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, _frontier(crawler))

    def open(self, spider):
        self.spider = spider

    def close(self, reason: str):
        return None

    def has_pending_requests(self) -> bool:
        return bool(self.local) or self.frontier.pending() > 0

    def enqueue_request(self, request) -> bool:
        stats = self.crawler.stats
        if request.meta.pop(LOCAL, False):
            self.local.append(request)
            return True
        # a redirect or retry carries the entry of the request it follows up
        replaces = request.meta.pop(ENTRY, None)
        counted = request.meta.get("archiver_kind") == "page" and replaces is None
        try:
            payload = reqcodec.encode(request, self.spider)
        except (TypeError, ValueError) as exc:
            log.error("cannot queue %s in the shared frontier: %s", request.url, exc)
            stats.inc_value("archiver/frontier/unqueueable")
            return False
        fingerprint = self.crawler.request_fingerprinter.fingerprint(request).hex()
        result = self.frontier.admit(fingerprint, payload, priority=request.priority, counted=counted,
                                     dont_filter=request.dont_filter, replaces=replaces)
        stats.inc_value(f"archiver/frontier/{ADMIT_STATS.get(result, result)}")
        if result != "queued" and replaces:
            self.frontier.ack(replaces)  # it led nowhere new: the original is finished
        if result == "cap" and not self._cap_logged:
            self._cap_logged = True
            log.info("page cap of %d reached for the crawl as a whole", self.frontier.max_pages)
        return result == "queued"

    def next_request(self):
        if self.local:
            return self.local.popleft()
        got = self.frontier.pop()
        if got is None:
            return None
        return rebuild(self.crawler, self.frontier, *got)


class FrontierSeedMiddleware:
    """Only the replica that claims seeding sends the entry points (start pages, feeds, sitemaps)."""

    def __init__(self, frontier: Frontier):
        self.frontier = frontier

    @classmethod
    def from_crawler(cls, crawler):
        return cls(_frontier(crawler))

    async def process_start(self, start):
        if not self.frontier.claim_seeding():
            return
        async for item in start:
            yield item
        # each request above was queued before the generator resumed: seeding is complete
        self.frontier.seeding_done()


class FrontierExtension:
    def __init__(self, crawler, frontier: Frontier, poll_s: float = POLL_S):
        self.crawler, self.frontier, self.poll_s = crawler, frontier, poll_s
        self._poller = None
        self.finished = False

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler, _frontier(crawler), crawler.settings.getfloat("ARCHIVER_FRONTIER_POLL", POLL_S))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider):
        self.frontier.join()
        slot = getattr(getattr(self.crawler.engine, "scraper", None), "slot", None)
        if slot is None or not hasattr(slot, "finish_response"):
            log.warning("cannot hook response completion; requests are acknowledged when idle only")
            return
        finish = slot.finish_response

        def finish_and_ack(result, request):
            finish(result, request)
            entry = request.meta.get(ENTRY)
            if entry:
                self.frontier.ack(entry)

        slot.finish_response = finish_and_ack  # the response is fully handled: page stored, links queued

    def spider_idle(self, spider):
        # idle: everything this replica took is handled; acknowledge what the hook missed
        leftovers = self.frontier.in_flight()
        if leftovers:
            self.frontier.ack(*leftovers)
        if self._check_finished():
            return
        self._start_poller()
        raise DontCloseSpider

    def _check_finished(self) -> bool:
        if not self.finished and self.frontier.try_finish():
            self.finished = True
            log.info("the shared frontier is empty and no replica has work in flight: crawl over")
        return self.finished

    def _start_poller(self) -> None:
        if self._poller is not None:
            return
        self._poller = asyncio.get_event_loop().create_task(self._poll())

    async def _poll(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.poll_s)
                got = self.frontier.pop()
                if got is not None:
                    request = rebuild(self.crawler, self.frontier, *got)
                    if request is not None:
                        request.meta[LOCAL] = True
                        self.crawler.engine.crawl(request)  # the scheduler keeps it locally
                        return
                    continue
                if self._check_finished():
                    # closed from a task of its own: closing cancels this poller
                    asyncio.get_event_loop().create_task(
                        self.crawler.engine.close_spider_async(reason="finished"))
                    return
        finally:
            self._poller = None

    def spider_closed(self, spider, reason):
        if self._poller is not None:
            self._poller.cancel()
        given_back = self.frontier.leave()
        if given_back:
            log.info("gave %d unfinished requests back to the shared frontier", given_back)
        self.crawler.stats.set_value("archiver/frontier/given_back", given_back)
        if self.finished or self.frontier.is_done():
            self.frontier.finish()
            self.crawler.stats.set_value("archiver/frontier/crawl_over", 1)
        for key, value in self.frontier.stats().items():
            self.crawler.stats.set_value(f"archiver/frontier/shared_{key}", value)


class SharedPolitenessMiddleware:
    def __init__(self, limiter: HostLimiter):
        self.limiter = limiter

    @classmethod
    def from_crawler(cls, crawler):
        limiter = crawler.settings.get("ARCHIVER_HOSTLIMIT")
        if limiter is None:
            raise NotConfigured("ARCHIVER_HOSTLIMIT is not set")
        return cls(limiter)

    async def process_request(self, request, spider=None):
        host = (urlsplit(request.url).hostname or "").lower()
        if not host or SLOT in request.meta:
            return None
        token = self.limiter.new_token()
        while True:
            slot = self.limiter.acquire(host, token)
            if slot.granted:
                request.meta[SLOT] = (host, slot.token)
                return None
            await asyncio.sleep(slot.wait_s)

    def _release(self, request) -> None:
        held = request.meta.pop(SLOT, None)
        if held:
            self.limiter.release(*held)

    def process_response(self, request, response, spider=None):
        self._release(request)
        return response

    def process_exception(self, request, exception, spider=None):
        self._release(request)
        return None
