"""The item pipeline: raw first (always), then extraction, then the clean article.

Thin on purpose: keys, records and extraction are pure functions elsewhere;
storage calls run in a thread pool and extraction in a process pool (when
``extract_workers`` > 0), so the reactor keeps fetching while pages are written
and extracted.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from crawler import catalog, keys
from crawler.archive import FatalStoreError
from crawler.extract import Article, timed_extract
from crawler.records import FetchedPage, clean_record, raw_meta, to_json

log = logging.getLogger(__name__)


def _extraction_context():
    """Workers fork from a clean server process that has already imported the extractor.

    ``forkserver`` is safe beside the reactor's threads (unlike ``fork``) and, with
    the preload, workers share the extractor's memory instead of importing it each.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["crawler.extract"])
        return ctx
    return multiprocessing.get_context("spawn")


class ArchivePipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.ctx = None
        self.io = ThreadPoolExecutor(max_workers=8, thread_name_prefix="store")
        self.pool = None
        self.slots = None  # bounds pages waiting for extraction (memory), see open_spider

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def open_spider(self) -> None:
        self.ctx = self.crawler.spider.ctx
        if self.ctx.extract_workers > 0:
            self.pool = ProcessPoolExecutor(max_workers=self.ctx.extract_workers,
                                            mp_context=_extraction_context())
        # at most a couple of pages per worker wait for extraction; the rest wait in
        # Scrapy, which then stops fetching (its scraper slot is full): back-pressure
        self.slots = asyncio.Semaphore(2 * max(1, self.ctx.extract_workers))
        self.ctx.counts["extract_workers_used"] = self.ctx.extract_workers

    async def close_spider(self) -> None:
        self.io.shutdown(wait=True)
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=False)

    async def _put(self, key: str, data: bytes, content_type: str) -> str:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self.io, lambda: self.ctx.archiver.put(key, data, content_type=content_type))
        except FatalStoreError as exc:
            if self.ctx.fatal is None:
                self.ctx.fatal = str(exc)
                log.error("stopping the crawl: %s", exc)
                await self._stop("store_error")
            return "spooled"

    async def _stop(self, reason: str) -> None:
        engine = self.crawler.engine
        if hasattr(engine, "close_spider_async"):
            await engine.close_spider_async(reason=reason)
        else:  # pragma: no cover - older Scrapy
            engine.close_spider(self.crawler.spider, reason)

    async def _extract(self, page: FetchedPage) -> Article:
        args = (page.body, page.final_url, page.content_type, self.ctx.extract_options)
        if self.pool is None:
            article, cpu = timed_extract(*args)
        else:
            loop = asyncio.get_running_loop()
            async with self.slots:
                try:
                    article, cpu = await loop.run_in_executor(self.pool, timed_extract, *args)
                except Exception as exc:  # noqa: BLE001 - a broken worker must not lose the page
                    log.warning("extraction worker failed on %s: %s", page.final_url, exc)
                    return Article(status="failed", reason=f"worker: {type(exc).__name__}")
        self.ctx.count("extract_cpu_ms", round(cpu * 1000))
        return article

    async def _record_warc(self, page: FetchedPage, raw_key: str) -> str:
        """Add the exchange to the run's WARC file; store a file that reached its size bound."""
        key, finished = self.ctx.warc.write(page, raw_key=raw_key)
        if finished is not None:
            await self._put(finished.key, finished.read(), "application/warc")
            finished.discard()
            self.ctx.count("warc_files")
        return key

    async def process_item(self, page: FetchedPage):
        ctx = self.ctx
        sha = keys.sha256_hex(page.body)
        raw_key = keys.raw_key(page.source, page.url, page.fetched_at, sha, page.content_type)
        meta = raw_meta(page, raw_key=raw_key, sha256=sha, run_id=ctx.run_id)
        meta_bytes = to_json(meta)
        outcome = await self._put(raw_key, page.body, page.content_type or "application/octet-stream")
        meta_outcome = await self._put(keys.meta_key(raw_key), meta_bytes, "application/json")
        ctx.count("raw_archived" if outcome in ("stored", "exists") else f"raw_{outcome}")
        outcomes = [outcome, meta_outcome]
        row = catalog.page_row(meta, meta_bytes)
        if ctx.warc is not None:
            row["warc_key"] = await self._record_warc(page, raw_key)
        if page.is_article:
            article = await self._extract(page)
            ctx.count(f"extraction_{article.status}")
            if article.status != "ok":
                ctx.error(f"extraction_{article.status}", f"{page.url}: {article.reason}")
            # every article page gets its clean object, saying how extraction went
            text_sha = keys.sha256_hex(article.text.encode("utf-8"))
            clean_key = keys.clean_key(page.source, page.url, page.fetched_at, text_sha)
            record = clean_record(page, article, raw_key=raw_key, raw_sha256=sha,
                                  content_sha256=text_sha, run_id=ctx.run_id)
            clean_bytes = to_json(record)
            outcome = await self._put(clean_key, clean_bytes, "application/json")
            ctx.count("clean_archived" if outcome in ("stored", "exists") else f"clean_{outcome}")
            outcomes.append(outcome)
            catalog.add_clean(row, record, clean_bytes, clean_key)
        row["write"] = catalog.write_outcome(outcomes)
        if ctx.catalog is not None:
            ctx.catalog.add(row)
        ctx.write_progress()
        return page
