"""One crawl of one source, in this process: ``python -m crawler.run --config F --source NAME``.

Scrapy's reactor cannot restart, so every crawl gets its own process (the
scheduler and ``archiver crawl`` start this module as a subprocess).  Steps:
check the store (credentials, bucket) before fetching anything, replay the
spool, load the source's incremental state (:mod:`crawler.state`), crawl, save
the state, write the run record ``runs/<source>/<run-id>.json``.

Exit codes: 0 the run finished (ok, partial, interrupted, stopped by a limit),
1 it failed, 2 configuration error, 3 the store refused us before the crawl.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import secrets
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from crawler import catalog, keys
from crawler.archive import Archiver, FatalStoreError
from crawler.config import ConfigError, SourceSettings, StorageSettings, load_config
from crawler.context import CrawlContext, extract_options
from crawler.distributed import open_crawl
from crawler.logs import setup_logging
from crawler.netscope import ScopePolicy, own_hosts_private, parse_ip
from crawler.redisconn import CoordinationError
from crawler.runlease import LeaseLost, keep_lease, lease_message
from crawler.records import parse_iso, run_record, to_json
from crawler.secrets import mask
from crawler.spool import Spool
from crawler.state import SourceState, StateError
from crawler.store import StoreError, check_before_run, open_store

log = logging.getLogger("crawler.run")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_STORE = 0, 1, 2, 3
MIN_DELAY = 0.001
CLOSE_REASON_OUTCOME = {
    "closespider_timeout": "timed_out",
    "memusage_exceeded": "out_of_memory",
    "shutdown": "interrupted",
    "store_error": "failed",
}


def resolve_hosts(hosts: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for host in hosts:
        if parse_ip(host) is not None:
            out[host] = [host.strip("[]")]
            continue
        try:
            out[host] = sorted({ai[4][0] for ai in socket.getaddrinfo(host, None)})
        except OSError:
            out[host] = []
    return out


def scope_for(source: SourceSettings) -> ScopePolicy:
    entry_hosts = [urlsplit(u).hostname for u in [*source.start_urls, *source.feeds, *source.sitemaps]]
    allow_private = source.allow_private
    if allow_private is None:
        allow_private = own_hosts_private(resolve_hosts([h for h in entry_hosts if h]))
    return ScopePolicy.build(source.hosts(), allow_private=allow_private,
                             forbid_networks=source.forbid_networks)


def scrapy_settings(source: SourceSettings, ctx: CrawlContext, log_level: str) -> dict:
    return {
        "BOT_NAME": "archiver",
        "USER_AGENT": source.user_agent,
        "ROBOTSTXT_OBEY": source.obey_robots,
        "CONCURRENT_REQUESTS": max(16, source.concurrency * 2),
        "CONCURRENT_REQUESTS_PER_DOMAIN": source.concurrency,
        # Scrapy starts this many tasks to work through *each* response's output (one page and
        # its links here), 100 by default: most of the CPU of a re-crawl answered with 304s
        "CONCURRENT_ITEMS": 16,
        # Scrapy 2.19 with no delay sends every queued request of a host at once, whatever
        # the concurrency (it counts a transfer only once its coroutine has started); a
        # millisecond delay makes it take them one by one, so `concurrency` holds
        "DOWNLOAD_DELAY": max(source.delay, MIN_DELAY),
        "DOWNLOAD_DELAY_JITTER": 0.5 if source.delay > 0 else 0.0,
        "AUTOTHROTTLE_ENABLED": source.autothrottle,
        "AUTOTHROTTLE_START_DELAY": source.delay,
        "AUTOTHROTTLE_MAX_DELAY": max(60.0, source.delay),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(source.concurrency),
        "DOWNLOAD_TIMEOUT": source.download_timeout,
        "RETRY_ENABLED": source.retries > 0,
        "RETRY_TIMES": source.retries,
        "DOWNLOAD_MAXSIZE": source.max_body_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "DEPTH_LIMIT": 0,  # depth is counted by the spider (feeds and sitemaps are not hops)
        "REDIRECT_MAX_TIMES": 10,
        "COOKIES_ENABLED": source.cookies,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "CLOSESPIDER_TIMEOUT": source.max_run_seconds,
        "MEMUSAGE_ENABLED": True,
        "MEMUSAGE_LIMIT_MB": source.max_memory_mb,
        "MEMUSAGE_CHECK_INTERVAL_SECONDS": 2.0,
        "ITEM_PIPELINES": {"crawler.pipelines.ArchivePipeline": 300},
        # Scrapy starts this many tasks for every response's output (100 by default); a response
        # gives one item (its page) beside its links, and 16 still hand a listing's links to the
        # scheduler together (with 2, they trickle in and reach the downloader in another order)
        "CONCURRENT_ITEMS": 16,
        # off, and not even imported (their modules cost more at start than they ever do here)
        "EXTENSIONS": {"scrapy.extensions.remote_control.RemoteControl": None},
        "DOWNLOADER_MIDDLEWARES": {**({} if source.cookies else
                                      {"scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None}),
                                   "crawler.middlewares.ScopeMiddleware": 50,
                                   "crawler.breaker.SiteBreakerMiddleware": 560,
                                   "crawler.conditional.ConditionalGetMiddleware": 580,
                                   "crawler.redirects.RedirectLoopMiddleware": 610,
                                   # innermost: the last step before the network, the first after it
                                   "crawler.politeness.PolitenessMiddleware": 990},
        "ARCHIVER_MAX_CONSECUTIVE_ERRORS": source.max_consecutive_errors,
        "TWISTED_DNS_RESOLVER": "crawler.middlewares.ScopedResolver",
        "ARCHIVER_SCOPE": ctx.scope,
        "ARCHIVER_SCOPE_REFUSALS": ctx.scope_refusals,
        "LOG_ENABLED": True,
        "LOG_FORMATTER": "crawler.logformat.QuietLogFormatter",
        "LOG_INSTALL_ROOT_HANDLER": False,
        "LOG_LEVEL": "WARNING" if log_level.lower() != "debug" else "DEBUG",
        "STATS_DUMP": False,
        "LOGSTATS_INTERVAL": 0,
    }


def extract_workers(source: SourceSettings) -> int:
    if source.extract_workers is not None:
        return source.extract_workers
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # the crawl process itself keeps one core busy fetching, parsing links and storing
    return min(cpus - 1, 4) if cpus > 1 else 0


def outcome_for(close_reason: str, ctx: CrawlContext) -> str:
    if ctx.fatal:
        return "failed"
    if close_reason in CLOSE_REASON_OUTCOME:
        return CLOSE_REASON_OUTCOME[close_reason]
    # a 304 is a page fetched too: the site answered, and we know we have it
    fetched = ctx.counts.get("pages_fetched", 0) + ctx.counts.get("pages_not_modified", 0)
    if close_reason == "site_failing":
        return "partial" if fetched else "failed"
    if fetched == 0 and (ctx.errors or ctx.counts.get("pages_failed")):
        return "failed"
    store = ctx.archiver.summary()
    if ctx.counts.get("pages_failed") or store["spooled"] or store["lost"] or ctx.errors.get("state_save"):
        return "partial"
    return "ok"


def crawl(source: SourceSettings, storage: StorageSettings, *, run_id: str, trigger: str = "manual",
          trigger_time: datetime | None = None, progress_file: Path | None = None,
          log_level: str = "info", store=None, coordination=None,
          crawl_id: str | None = None, schedule: dict | None = None,
          lifecycle_level: int = logging.INFO, outage: StoreError | None = None) -> tuple[int, dict]:
    """Run one crawl in this process; returns (exit code, run record).

    A ``distributed`` source with ``coordination`` joins the shared crawl ``crawl_id``
    (default: a crawl of its own, ``run_id``) with the other replicas.
    ``outage``: the store failed its pre-flight check with a transient error; the
    crawl goes ahead and keeps what it fetches in the spool.
    """
    started = datetime.now(timezone.utc)
    store = store if store is not None else open_store(storage)
    archiver = Archiver(store, Spool(storage.spool_dir, source.name, max_bytes=storage.spool_max_bytes))
    ctx = CrawlContext(source=source, run_id=run_id, archiver=archiver, scope=scope_for(source),
                       extract_workers=extract_workers(source), progress_file=progress_file,
                       extract_options=extract_options(source),
                       max_document_bytes=source.max_document_bytes)
    log.log(lifecycle_level, "run started", extra={"event": "run_start", "source": source.name,
                                                   "run_id": run_id, "trigger": trigger, "store": store.describe()})

    def finish(outcome: str, message: str | None = None) -> dict:
        snap = ctx.snapshot()
        record = run_record(source=source.name, run_id=run_id, trigger=trigger, trigger_time=trigger_time,
                            started_at=started, ended_at=datetime.now(timezone.utc), outcome=outcome,
                            counts=snap["counts"], errors=snap["errors"], store=store.describe(),
                            message=mask(message) if message else None, pid=os.getpid())
        record["error_samples"] = snap["error_samples"]
        if schedule:
            record["schedule"] = schedule
        return record

    flushed = 0
    if outage is not None:
        archiver.note_failure(outage)
        log.warning("the store is unavailable (%s); pages will be kept in the spool at %s",
                    outage, archiver.spool.dir)
    else:
        try:
            flushed = archiver.flush_spool()  # last run's leftovers go before new work
        except FatalStoreError as exc:
            return EXIT_STORE, finish("failed", str(exc))
    if flushed:
        log.info("uploaded %d spooled objects from an earlier run", flushed)
    store_leftover_catalogs(archiver, storage.spool_dir, source.name, run_id)
    ctx.catalog = catalog.Journal(storage.spool_dir, source.name, run_id)
    try:
        loading = time.perf_counter()
        ctx.state = SourceState.load(store, source.name)
        ctx.count("state_load_ms", round((time.perf_counter() - loading) * 1000))
        ctx.count("state_urls_known", len(ctx.state.urls))
        ctx.count("state_articles_known", len(ctx.state.articles))
        if ctx.state.incomplete:
            ctx.count("state_incomplete")
            log.warning("an earlier run could not save all of its state: listings, feeds and sitemaps are "
                        "read in full this time")
    except StateError as exc:
        if not exc.unavailable:  # a damaged state object: crawling blind would repeat every version
            log.error("%s", exc)
            return EXIT_FAILED, finish("failed", str(exc))
        # the store is down: nothing is lost by crawling into the spool, but without the state
        # every page is fetched and stored in full and versions are not numbered
        ctx.error("state_unavailable", str(exc))
        log.warning("the incremental state cannot be read (%s): this run fetches and spools every page", exc)

    if source.warc:
        from crawler.warc import WarcRecorder

        ctx.warc = WarcRecorder(source.name, run_id, started, max_bytes=source.warc_max_bytes,
                                tmp_dir=Path(storage.spool_dir) / ".warc-tmp")

    from scrapy.crawler import CrawlerProcess

    from crawler.spiders.source import SourceSpider

    try:
        keeper = keep_lease(coordination)  # the scheduler's lease on the source, renewed while we crawl
        cluster = open_crawl(coordination, source, crawl_id or os.environ.get("ARCHIVER_CRAWL_ID") or run_id)
    except (CoordinationError, LeaseLost) as exc:
        record = finish("failed", f"coordination: {exc}")
        try:
            archiver.put(keys.run_key(source.name, run_id), to_json(record), content_type="application/json")
        except FatalStoreError:
            pass  # spooled; the next run uploads it
        return EXIT_FAILED, record
    settings = scrapy_settings(source, ctx, log_level)
    process = CrawlerProcess(cluster.scrapy_settings(settings) if cluster else settings)
    crawler = process.create_crawler(SourceSpider)
    process.crawl(crawler, context=ctx)
    process.start()
    if keeper is not None:  # the scheduler releases it after us; a distributed crawl's goes with its end
        keeper.stop(release=cluster is not None and cluster.frontier.is_done())
    close_reason = (crawler.stats.get_value("finish_reason") if crawler.stats else None) or "finished"
    for key, value in (crawler.stats.get_stats() if crawler.stats else {}).items():
        if key.startswith("archiver/refused/"):
            ctx.counts["refused_" + key.rsplit("/", 1)[-1]] = value
    if ctx.counts.get("skipped_page_cap"):
        ctx.counts["page_cap_reached"] = 1
    if ctx.state is not None:
        saving = time.perf_counter()
        ctx.note_state_save(ctx.state.save())
        ctx.count("state_save_ms", round((time.perf_counter() - saving) * 1000))
    # the store may be back by now: try to empty the spool before recording
    if archiver.summary()["spool_pending"] and not ctx.fatal:
        try:
            archiver.flush_spool()
        except FatalStoreError:
            pass
    if ctx.warc is not None:
        store_last_warc(archiver, ctx)
    if ctx.catalog.failed:
        ctx.error("catalog_journal_io", f"catalog rows kept in memory: {ctx.catalog.failed}")
    catalog_key = write_catalog(archiver, source.name, ctx.catalog, started)
    outcome = outcome_for(close_reason, ctx)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ctx.counts["crawl_cpu_ms"] = round((usage.ru_utime + usage.ru_stime) * 1000)
    ctx.counts["crawl_peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    record = finish(outcome, ctx.fatal or lease_message(keeper) or stop_message(close_reason, source, ctx)
                    or spool_message(archiver))
    record["close_reason"] = close_reason
    record["catalog_key"] = catalog_key
    if cluster is not None:
        record["distributed"] = cluster.describe(crawler.stats.get_stats() if crawler.stats else {})
    try:
        archiver.put(keys.run_key(source.name, run_id), to_json(record), content_type="application/json")
    except FatalStoreError:
        pass  # spooled; the next run uploads it
    return (EXIT_FAILED if outcome == "failed" else EXIT_OK), record


def store_last_warc(archiver: Archiver, ctx: CrawlContext) -> None:
    try:
        part = ctx.warc.close()
    except OSError as exc:  # its local disk is full
        ctx.error("warc_io", f"the last WARC file could not be finished: {exc.strerror or exc}")
        part = None
    try:
        if part is not None:
            archiver.put(part.key, part.read(), content_type="application/warc")
            ctx.count("warc_files")
    except FatalStoreError:
        pass  # spooled; the next run uploads it
    finally:
        ctx.count("warc_records", ctx.warc.records)
        ctx.warc.cleanup()


def write_catalog(archiver: Archiver, source: str, journal: catalog.Journal, started: datetime) -> str | None:
    """Store the run's catalog file; behind the spooled objects it lists when there are any.

    While the spool still holds objects of this run, the catalog goes to the
    spool too, so the next run uploads it after them and the catalog never
    names an object the store does not have yet.
    """
    data = journal.read()
    if not data:
        journal.remove()
        return None
    key = keys.catalog_key(source, journal.run_id, started)
    outcome = archiver.put_after_spool(key, data, content_type="application/x-ndjson")
    if outcome != "lost":
        journal.remove()
    return key


def store_leftover_catalogs(archiver: Archiver, spool_dir: str, source: str, run_id: str) -> None:
    """Catalog rows of earlier runs that died before storing them (killed, out of memory)."""
    for journal in catalog.leftover_journals(spool_dir, source, current_run_id=run_id):
        try:
            started = catalog.run_started(journal.run_id)
        except ValueError:
            continue
        key = write_catalog(archiver, source, journal, started)
        if key:
            log.info("stored the catalog %s of an earlier run that did not finish", key)


def stop_message(close_reason: str, source: SourceSettings, ctx: CrawlContext) -> str | None:
    if close_reason == "finished":
        return None
    known = {"closespider_timeout": f"stopped after max_run_seconds={source.max_run_seconds}",
             "memusage_exceeded": f"stopped above max_memory_mb={source.max_memory_mb}",
             "shutdown": "stopped by shutdown"}
    return ctx.stop_message or known.get(close_reason, f"stopped: {close_reason}")


def spool_message(archiver: Archiver) -> str | None:
    pending = archiver.summary()["spool_pending"]
    if not pending:
        return None
    return (f"{pending} object(s) wait in the spool at {archiver.spool.dir} for the next run "
            f"(store: {archiver.last_error})")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(json.dumps(data, default=str).encode())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.run", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--run-id")
    parser.add_argument("--trigger", default="manual")
    parser.add_argument("--trigger-time")
    parser.add_argument("--crawl-id", help="distributed sources: the shared crawl to join")
    parser.add_argument("--progress-file", type=Path)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", choices=("plain", "json"), default="plain")
    parser.add_argument("--schedule-info", type=json.loads, default=None,
                        help="JSON: why the scheduler started this run (kept in the run record)")
    parser.add_argument("--supervised", action="store_true",
                        help="started by jobs.runner, which logs the run's start and end lines itself")
    args = parser.parse_args(argv)
    lifecycle_level = logging.DEBUG if args.supervised else logging.INFO
    setup_logging(args.log_level, args.log_format)
    try:
        loaded = load_config(args.config)
        source = loaded.settings.source(args.source)
    except ConfigError as exc:
        print(f"archiver: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    storage = loaded.settings.storage
    run_id = args.run_id or keys.new_run_id(datetime.now(timezone.utc), secrets.token_hex(3))
    trigger_time = parse_iso(args.trigger_time) if args.trigger_time else None
    try:
        store = open_store(storage)
        outage = check_before_run(store)
    except StoreError as exc:
        message = mask(str(exc))
        print(f"archiver: storage error: {message}", file=sys.stderr)
        if args.progress_file:
            _write_json(args.progress_file, {"record": {"outcome": "failed", "message": message,
                                                        "source": source.name, "run_id": run_id}})
        return EXIT_STORE
    code, record = crawl(source, storage, run_id=run_id, trigger=args.trigger, trigger_time=trigger_time,
                         progress_file=args.progress_file, log_level=args.log_level, store=store,
                         coordination=loaded.settings.coordination, crawl_id=args.crawl_id,
                         schedule=args.schedule_info, lifecycle_level=lifecycle_level, outage=outage)
    if args.progress_file:
        _write_json(args.progress_file, {"record": record})
    log.log(lifecycle_level, "run finished", extra={"event": "run_end", "source": source.name, "run_id": run_id,
                                                    "outcome": record["outcome"], "counts": record["counts"],
                                                    "errors": record["errors"]})
    return code


if __name__ == "__main__":
    sys.exit(main())
