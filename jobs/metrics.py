"""Prometheus metrics of the worker, fed from run records (what the crawl processes counted).

One registry per process (not prometheus-client's global one), exposed on ``/metrics``
by :mod:`jobs.httpd`.  Every series of a configured source exists from the start (at
zero), so rates and alerts work before the first run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Optional

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, Info, PlatformCollector,
                               ProcessCollector, disable_created_metrics)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from crawler import __version__
from crawler.records import parse_iso

OUTCOMES = ("ok", "partial", "failed", "timed_out", "out_of_memory", "interrupted", "crashed", "skipped")
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        disable_created_metrics()  # no *_created series: they double the output for nothing here
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        Info("archiver", "archiver build information", registry=r).info({"version": __version__})
        self.runs = Counter("archiver_runs", "Runs by outcome (skipped: not started, see the run record)",
                            ["source", "outcome"], registry=r)
        self.pages_fetched = Counter("archiver_pages_fetched", "Pages fetched (HTTP responses received, 304 included)",
                                     ["source"], registry=r)
        self.pages_not_modified = Counter("archiver_pages_not_modified",
                                          "Pages that answered 304 Not Modified (nothing new to store)",
                                          ["source"], registry=r)
        self.pages_archived = Counter("archiver_pages_archived", "Pages archived, raw and clean",
                                      ["source", "kind"], registry=r)
        self.pages_failed = Counter("archiver_pages_failed", "Pages that could not be fetched",
                                    ["source"], registry=r)
        self.bytes_stored = Counter("archiver_stored_bytes", "Bytes written to the store", ["source"], registry=r)
        self.spooled = Counter("archiver_spooled_objects", "Objects the store refused, kept in the local spool",
                               ["source"], registry=r)
        self.duration = Histogram("archiver_run_duration_seconds", "Duration of crawl runs", ["source"],
                                  buckets=DURATION_BUCKETS, registry=r)
        self.last_success = Gauge("archiver_last_success_timestamp_seconds",
                                  "When the last ok or partial run of the source ended (Unix time)",
                                  ["source"], registry=r)
        self.last_run = Gauge("archiver_last_run_timestamp_seconds", "When the last run of the source ended",
                              ["source"], registry=r)
        self.next_run = Gauge("archiver_next_run_timestamp_seconds", "Next scheduled fire time of the source",
                              ["source"], registry=r)
        self.in_progress = Gauge("archiver_runs_in_progress", "Runs going on now (1) or not (0)", ["source"],
                                 registry=r)
        self.overdue = Gauge("archiver_source_overdue", "1 when the source missed its schedule (see /healthz)",
                             ["source"], registry=r)
        self.scheduler_up = Gauge("archiver_scheduler_up", "1 while the scheduler runs", registry=r)
        self.reloads = Counter("archiver_config_reloads", "Configuration reloads by result", ["result"],
                               registry=r)
        for result in ("ok", "rejected"):
            self.reloads.labels(result)

    def add_sources(self, names: Iterable[str]) -> None:
        for name in names:
            for outcome in OUTCOMES:
                self.runs.labels(name, outcome)
            for counter in (self.pages_fetched, self.pages_not_modified, self.pages_failed, self.bytes_stored,
                            self.spooled):
                counter.labels(name)
            for kind in ("raw", "clean"):
                self.pages_archived.labels(name, kind)
            self.in_progress.labels(name).set(0)
            self.overdue.labels(name).set(0)

    def remove_source(self, name: str) -> None:
        for gauge in (self.next_run, self.in_progress, self.overdue):
            _drop(gauge, name)

    def observe(self, record: dict) -> None:
        """Count one run record (a finished or skipped run)."""
        source, outcome = record.get("source"), record.get("outcome") or "crashed"
        if not source:
            return
        self.runs.labels(source, outcome).inc()
        if outcome == "skipped":
            return
        counts = record.get("counts") or {}
        self.pages_fetched.labels(source).inc(counts.get("pages_fetched", 0) + counts.get("pages_not_modified", 0))
        self.pages_not_modified.labels(source).inc(counts.get("pages_not_modified", 0))
        self.pages_archived.labels(source, "raw").inc(counts.get("raw_archived", 0))
        self.pages_archived.labels(source, "clean").inc(counts.get("clean_archived", 0))
        self.pages_failed.labels(source).inc(counts.get("pages_failed", 0))
        self.bytes_stored.labels(source).inc(counts.get("store_bytes_stored", 0))
        self.spooled.labels(source).inc(counts.get("store_spooled", 0))
        if record.get("duration_s") is not None:
            self.duration.labels(source).observe(record["duration_s"])
        ended = _ts(record.get("ended_at"))
        if ended is not None:
            self.last_run.labels(source).set(ended)
            if outcome in ("ok", "partial"):
                self.last_success.labels(source).set(ended)

    def remember(self, source: str, *, last_run: Optional[dict], last_success: Optional[dict]) -> None:
        """Seed the "last" gauges from the store's history (after a restart)."""
        for gauge, record in ((self.last_run, last_run), (self.last_success, last_success)):
            ended = _ts((record or {}).get("ended_at"))
            if ended is not None:
                gauge.labels(source).set(ended)

    def set_next(self, source: str, when: Optional[datetime]) -> None:
        if when is None:
            _drop(self.next_run, source)
        else:
            self.next_run.labels(source).set(when.timestamp())

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _ts(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    try:
        return parse_iso(text).timestamp()
    except ValueError:
        return None


def _drop(gauge: Gauge, source: str) -> None:
    try:
        gauge.remove(source)
    except KeyError:
        pass
