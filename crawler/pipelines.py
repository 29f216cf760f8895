"""The item pipeline: raw first (always), then extraction, then the clean article.

Thin on purpose: keys, records and extraction are pure functions elsewhere;
storage calls run in a thread pool and extraction in a process pool (when
``extract_workers`` > 0), so the reactor keeps fetching while pages are written
and extracted.

With incremental state (:mod:`crawler.state`): bytes identical to what the URL
gave last time store and extract nothing; bytes another URL already stored are
not stored again; an article whose normalized text is unchanged gets no new
clean object, and a changed one a new version linked to the previous one
(:mod:`crawler.versions`).  The state is noted only once the objects are
stored or spooled, and checkpointed to the store every ``CHECKPOINT_SECONDS``.
A catalog row names only the objects the page stored.

Template learning: the source's model is loaded at the start, learns from the
block fingerprints every extraction returns, and is stored at the end.  While
the model knows fewer than a handful of pages (a new source), the first
article pages are held after their raw copy is stored (at most six pages, at
most ``HOLD_SECONDS``), the template is learned from them, and only then are
they extracted.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Optional

from crawler import catalog, keys, versions
from crawler.archive import FatalStoreError
from crawler.extraction.job import Article, page_fingerprints, timed_extract
from crawler.netscope import host_in_scope
from crawler.records import FetchedPage, clean_record, iso, raw_meta, to_json
from crawler.secrets import mask
from crawler.template_state import open_learner, save_learner

log = logging.getLogger(__name__)

HOLD_SECONDS = 5.0  # the longest a new source's first pages wait for the template to be learned
CHECKPOINT_SECONDS = 60.0
ARCHIVED = ("stored", "exists", "spooled")  # outcomes after which the state may point at the object


def _extraction_context():
    """Workers fork from a clean server process that has already imported the extractor.

    ``forkserver`` is safe beside the reactor's threads (unlike ``fork``) and, with
    the preload, workers share the extractor's memory (and its language model) instead of
    loading them each.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["crawler.extraction.preload"])
        return ctx
    return multiprocessing.get_context("spawn")


@dataclass
class Written:
    """What storing one object (and its companions) did."""

    key: str
    outcome: str                      # stored | exists | spooled | lost
    outcomes: list                    # of every object written (for the catalog row)
    row: Optional[dict] = None        # the page's catalog row, when a raw page was stored


class ArchivePipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.ctx = None
        self.io = ThreadPoolExecutor(max_workers=8, thread_name_prefix="store")
        self.pool = None
        self.slots = None  # bounds pages waiting for extraction (memory), see open_spider
        self.learner = None   # the source's template model (crawler.template_state)
        self.held = []        # first pages of a young model, extracted once it learned from them
        self.released = False
        self._release_timer = None
        self._release_task = None
        self._last_checkpoint = time.monotonic()
        self._checkpointing = False
        # pages are processed concurrently: one raw PUT per content, one version decision per article
        self._raw_writes: dict[str, asyncio.Future] = {}
        self._article_locks: dict[str, asyncio.Lock] = {}

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
        await self._load_template()

    async def close_spider(self) -> None:
        await self._save_template()
        self.io.shutdown(wait=True)
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=False)

    async def _put(self, key: str, data: bytes, content_type: str, *, if_absent: bool = False) -> str:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self.io, lambda: self.ctx.archiver.put(key, data, content_type=content_type, if_absent=if_absent))
        except FatalStoreError as exc:
            if self.ctx.fatal is None:
                self.ctx.fatal = str(exc)
                log.error("stopping the crawl: %s", exc)
                self._stop("store_error")
            return exc.outcome

    def _stop(self, reason: str) -> None:
        """Close the spider without waiting: closing waits for the items in progress, this one too."""
        engine = self.crawler.engine
        if hasattr(engine, "close_spider_async"):
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(engine.close_spider_async(reason=reason))
        else:  # pragma: no cover - older Scrapy
            engine.close_spider(self.crawler.spider, reason)

    async def _extract(self, page: FetchedPage, *, learn: bool = True) -> Article:
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
        if learn:
            self._learn(page, article)
        return article

    async def _record_warc(self, page: FetchedPage, raw_key: str) -> str | None:
        """Add the exchange to the run's WARC file; store a file that reached its size bound."""
        try:
            key, finished = self.ctx.warc.write(page, raw_key=raw_key)
        except OSError as exc:  # its local disk is full: the pages are archived, the WARC copy stops
            self.ctx.error("warc_io", f"WARC output stopped: {exc.strerror or exc}")
            self.ctx.warc.cleanup()
            self.ctx.warc = None
            return None
        if finished is not None:
            await self._put(finished.key, finished.read(), "application/warc")
            finished.discard()
            self.ctx.count("warc_files")
        return key

    async def process_item(self, page: FetchedPage):
        ctx, state = self.ctx, self.ctx.state
        sha = keys.sha256_hex(page.body)
        known = state.url(page.url) if state is not None else None
        if known and known.get("sha") == sha and known.get("raw"):
            # the very bytes this URL gave last time: nothing to store, nothing to extract
            state.record_unchanged(page.url, at=page.fetched_at, status=page.status, headers=page.headers)
            ctx.count("raw_unchanged")
            if page.is_article and known.get("article"):
                state.link_article(page.url, known["article"], at=page.fetched_at)
                ctx.count("articles_unchanged")
            await self._checkpoint()
            return page
        raw = await self._store_raw(page, sha)
        row, outcomes = raw.row, list(raw.outcomes)
        if page.is_article and self._hold(page):
            # a source's first pages wait until the template can be learned from them
            self.held.append((page, raw.key, sha, row, outcomes))
            ctx.count("template_warmup_pages")
            if len(self.held) >= self.learner.warmup:
                await self._release_held()
            elif self._release_timer is None:
                # a slow site must not keep the first pages waiting: learn from what came by then
                self._release_timer = asyncio.get_running_loop().call_later(HOLD_SECONDS, self._release_later)
        else:
            if page.is_article:
                row = await self._archive_clean(page, raw.key, sha, row, outcomes)
            self._finish_row(row, outcomes)
        ctx.write_progress()
        await self._checkpoint()
        return page

    async def _store_raw(self, page: FetchedPage, sha: str) -> Written:
        ctx = self.ctx
        if ctx.state is None:
            return await self._put_raw(page, sha)
        while sha in self._raw_writes:  # another URL with exactly these bytes is being stored now
            await asyncio.shield(self._raw_writes[sha])
        existing = ctx.state.raw_for_sha(sha)
        if existing:  # another URL already stored exactly these bytes
            ctx.count("raw_duplicate")
            written = Written(existing, "exists", [])
        else:
            self._raw_writes[sha] = asyncio.get_running_loop().create_future()
            try:
                written = await self._put_raw(page, sha)
            finally:
                self._raw_writes.pop(sha).set_result(None)
        if written.outcome in ARCHIVED:
            ctx.state.record_fetch(page.url, at=page.fetched_at, status=page.status, headers=page.headers,
                                   sha=sha, raw=written.key)
        return written

    async def _put_raw(self, page: FetchedPage, sha: str) -> Written:
        ctx = self.ctx
        raw_key = keys.raw_key(page.source, page.url, page.fetched_at, sha, page.content_type)
        meta = raw_meta(page, raw_key=raw_key, sha256=sha, run_id=ctx.run_id)
        meta_bytes = to_json(meta)
        outcome = await self._put(raw_key, page.body, page.content_type or "application/octet-stream",
                                  if_absent=True)
        # the sidecar of the first fetch of these bytes stays (a same-day repeat is not a new fetch)
        meta_outcome = await self._put(keys.meta_key(raw_key), meta_bytes, "application/json", if_absent=True)
        ctx.count("raw_archived" if outcome in ("stored", "exists") else f"raw_{outcome}")
        if outcome == meta_outcome == "exists" and not await self._ours(keys.meta_key(raw_key), meta_bytes):
            # stored by an earlier run the state never heard of (killed before saving it): its
            # catalog row names them; a row of ours would describe a sidecar we did not write
            return Written(raw_key, outcome, [])
        row = catalog.page_row(meta, meta_bytes)
        if ctx.warc is not None:
            row["warc_key"] = await self._record_warc(page, raw_key)
        return Written(raw_key, outcome, [outcome, meta_outcome], row)

    async def _archive_clean(self, page: FetchedPage, raw_key: str, sha: str, row: Optional[dict],
                             outcomes: list) -> Optional[dict]:
        """Extract the article; store a clean object when it is new or its text changed.  Returns the row."""
        ctx = self.ctx
        article = await self._extract(page)
        ctx.count(f"extraction_{article.status}")
        if article.status != "ok":
            ctx.error(f"extraction_{article.status}", f"{page.url}: {article.reason}")
        identity = versions.article_url(
            page.final_url, [versions.canonical_link(page.body, page.content_type), article.canonical_url],
            in_scope=lambda host: host_in_scope(host, ctx.scope), entry_points=ctx.source.start_urls)
        lock = self._article_locks.setdefault(identity, asyncio.Lock())
        async with lock:  # the same article reached by two URLs at once: one decides after the other
            stored = await self._version(page, article, identity, raw_key, sha)
        if stored is None:
            if row is not None:  # new bytes, same text: the row still says whose page it is
                row["article_url"] = mask(identity)  # as in every stored record
            return row
        key, record, data, outcome = stored
        outcomes.append(outcome)
        if row is None:  # the raw bytes were stored earlier under another URL
            return catalog.clean_row(record, data, key, origin="crawl", run_id=ctx.run_id)
        catalog.add_clean(row, record, data, key)
        return row

    async def _version(self, page: FetchedPage, article: Article, identity: str, raw_key: str,
                       sha: str) -> Optional[tuple]:
        """New version or not; ``(key, record, bytes, outcome)`` when a clean object was written."""
        ctx, state = self.ctx, self.ctx.state
        text_sha = keys.sha256_hex(article.text.encode("utf-8"))
        fp = versions.fingerprint(article.title, article.text)
        history = (state.article(identity) or {}).get("versions", []) if state is not None else []
        change = versions.next_version(history, fp, ok=article.status == "ok")
        if change.kind == "changed" and article.status == "ok" and await self._extractor_changed(page, history[-1], fp):
            state.note_same_text(identity, fp)
            ctx.count("articles_extractor_changed")
            change = versions.Change("unchanged", change.version - 1)
        if state is not None:
            state.link_article(page.url, identity, at=page.fetched_at, published=article.published)
        if not change.store:
            ctx.count(f"articles_{change.kind}")  # checked: unchanged, or a bad extraction kept the last version
            return None
        # every new article and every changed text gets its clean object, saying how extraction went
        clean_key = keys.clean_key(page.source, page.url, page.fetched_at, text_sha)
        if any(v.get("key") == clean_key for v in history):  # the text came back the same day
            clean_key = keys.clean_key(page.source, page.url, page.fetched_at, text_sha, version=change.version)
        # without the state (the store was down at the start) the history is unknown: no number
        record = clean_record(page, article, raw_key=raw_key, raw_sha256=sha, content_sha256=text_sha,
                              run_id=ctx.run_id, version=change.version if state is not None else None,
                              previous_key=change.previous_key, article_url=identity, fingerprint=fp)
        clean_bytes = to_json(record)
        # if_absent: this very version (same URL, day and text) may be there from a run whose state
        # was never saved; it stays as written and is taken into the history
        outcome = await self._put(clean_key, clean_bytes, "application/json", if_absent=True)
        ctx.count("clean_archived" if outcome in ("stored", "exists") else f"clean_{outcome}")
        if outcome in ARCHIVED:
            ctx.count(f"articles_{change.kind}")
            if state is not None:
                state.add_version(identity, {"v": change.version, "key": clean_key, "fp": fp,
                                             "at": iso(page.fetched_at), "url": page.url, "raw": raw_key,
                                             "ok": article.status == "ok"})
        if outcome == "exists" and not await self._ours(clean_key, clean_bytes):
            return None  # nothing written: no catalog row for it
        return clean_key, record, clean_bytes, outcome

    async def _extractor_changed(self, page: FetchedPage, latest: dict, fp: str) -> bool:
        """Does the current extractor make this very text of the latest version's raw page too?
        Then the page did not change, the extractor did (see :mod:`crawler.versions`)."""
        if not latest.get("raw") or not latest.get("ok", True):
            return False
        body = await self._read(latest["raw"])
        if body is None:  # unreadable: judge the new text as an edit, as before
            return False
        before = replace(page, body=body, final_url=latest.get("url") or page.final_url)
        again = await self._extract(before, learn=False)
        self.ctx.count("versions_rechecked")
        return again.status == "ok" and versions.fingerprint(again.title, again.text) == fp

    async def _ours(self, key: str, data: bytes) -> bool:
        """Does the object a conditional PUT found at ``key`` hold exactly ``data``?

        Then it is this run's own write: the PUT landed but its answer was lost (a
        500, a reset) and the client's retry found it.  Sidecars and clean records
        name their run and fetch time, so an earlier run's object never matches.
        """
        return await self._read(key) == data  # unreadable (None): not ours, no row, as before

    async def _read(self, key: str) -> Optional[bytes]:
        """An object's bytes from the store, or None when it cannot be read (logged)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.io, self.ctx.archiver.store.get, key)
        except Exception as exc:  # noqa: BLE001 - the callers fall back to what they did without it
            log.debug("%s not read: %s", key, exc)
            return None

    def _finish_row(self, row: Optional[dict], outcomes: list) -> None:
        if row is None:  # nothing stored for this page
            return
        row["write"] = catalog.write_outcome(outcomes)
        if self.ctx.catalog is not None:
            self.ctx.catalog.add(row)

    async def _checkpoint(self) -> None:
        """Write the state's changes now and then, so a killed run loses little of it."""
        state = self.ctx.state
        if state is None or self._checkpointing or time.monotonic() - self._last_checkpoint < CHECKPOINT_SECONDS:
            return
        self._checkpointing, self._last_checkpoint = True, time.monotonic()
        try:
            snaps = state.snapshot()
            results = await asyncio.get_running_loop().run_in_executor(self.io, state.write, snaps)
            self.ctx.note_state_save(state.apply(results))
        finally:
            self._checkpointing = False

    # -- template learning ------------------------------------------------------------
    def _hold(self, page: FetchedPage) -> bool:
        return self.learner is not None and not self.released and self.learner.warming_up

    def _use_template(self) -> None:
        self.ctx.extract_options = replace(self.ctx.extract_options, template=self.learner.template())

    async def _fingerprints(self, page: FetchedPage) -> tuple:
        if self.pool is None:
            return page_fingerprints(page.body, page.content_type)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, page_fingerprints, page.body, page.content_type)
        except Exception:  # noqa: BLE001 - the page is still extracted, just not learned from
            return ()

    def _release_later(self) -> None:
        if self.held and self._release_task is None:
            self._release_task = asyncio.ensure_future(self._release_held())

    async def _release_held(self) -> None:
        """Learn the template from the held pages, then extract them with it (and go on without holding)."""
        held, self.held, self.released = self.held, [], True
        if self._release_timer is not None:
            self._release_timer.cancel()
        if not held:
            return
        prints = await asyncio.gather(*(self._fingerprints(item[0]) for item in held))
        for (page, *_), fps in zip(held, prints):
            self.learner.learn(page.final_url, fps)
        self.learner.refresh()
        self._use_template()
        self.ctx.counts["template_blocks"] = len(self.learner.template())
        for page, raw_key, sha, row, outcomes in held:
            row = await self._archive_clean(page, raw_key, sha, row, outcomes)
            self._finish_row(row, outcomes)

    def _learn(self, page: FetchedPage, article: Article) -> None:
        if self.learner is None or not article.fingerprints:
            return
        if self.learner.learn(page.final_url, article.fingerprints):
            self._use_template()
            self.ctx.counts["template_blocks"] = len(self.learner.template())

    async def _load_template(self) -> None:
        source = self.ctx.source
        if not source.extract.learn_template:
            return
        loop = asyncio.get_running_loop()
        self.learner = await loop.run_in_executor(self.io, open_learner, self.ctx.archiver.store, source.name)
        model = self.learner.model
        self.ctx.extract_options = replace(self.ctx.extract_options, fingerprints=True)
        self._use_template()
        self.ctx.counts["template_pages_known"] = model.pages
        self.ctx.counts["template_blocks"] = len(self.learner.template())

    async def _save_template(self) -> None:
        if self._release_task is not None:
            await self._release_task
        if self.held:
            await self._release_held()
        if self.learner is None:
            return
        counts = await asyncio.get_running_loop().run_in_executor(
            self.io, save_learner, self.ctx.archiver, self.learner, self.ctx.run_id)
        self.ctx.counts.update(counts)
