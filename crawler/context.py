"""What one crawl shares between its spider and its pipeline: settings, store, counters."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from crawler.archive import Archiver
from crawler.config import SourceSettings
from crawler.extraction.job import ExtractOptions
from crawler.extraction.rules import RuleSet
from crawler.netscope import ScopePolicy
from crawler.secrets import mask
from crawler.state import SourceState

log = logging.getLogger(__name__)
MAX_SAMPLES = 5


def extract_options(source: Optional[SourceSettings], template: frozenset = frozenset()) -> ExtractOptions:
    """The extraction options of a source (None: one no longer configured).

    The crawl and ``archiver re-extract`` both use these, so a re-extraction
    applies exactly the rules a crawl would apply today.  ``template`` is the
    source's learned template set (:mod:`crawler.template_state`).
    """
    if source is None:
        return ExtractOptions(template=template)
    settings = source.extract
    return ExtractOptions(
        rules=RuleSet(include=settings.include, exclude=tuple(settings.exclude),
                      exclude_text=tuple(settings.exclude_text)),
        template=template if settings.learn_template else frozenset(),
        stray_lines=settings.stray_lines, markdown=settings.markdown)


@dataclass
class CrawlContext:
    source: SourceSettings
    run_id: str
    archiver: Archiver
    scope: ScopePolicy
    extract_options: ExtractOptions = field(default_factory=ExtractOptions)
    extract_workers: int = 0
    max_document_bytes: int = 50 * 1024 * 1024
    progress_file: Optional[Path] = None
    state: Optional[SourceState] = None      # incremental state (None: fetch and store everything)
    counts: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    samples: dict = field(default_factory=lambda: defaultdict(list))
    catalog: Optional[object] = None  # a crawler.catalog.Journal: one row per stored page
    warc: Optional[object] = None  # a crawler.warc.WarcRecorder when the source writes WARC
    fatal: Optional[str] = None
    stop_message: Optional[str] = None  # why the crawl stopped early, when it did
    scope_refusals: dict = field(default_factory=dict)  # host -> why the resolver refused it
    _last_progress: float = 0.0

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if len(self.samples[kind]) < MAX_SAMPLES:
            self.samples[kind].append(mask(message)[:500])
        log.info("%s: %s", kind, mask(message))

    def note_state_save(self, report) -> None:
        """Count a :class:`crawler.state.SaveReport` (checkpoint or final save)."""
        if report.written:
            self.counts["state_shards_written"] += report.written
        if report.conflicts:
            self.counts["state_conflicts_merged"] += report.conflicts
        for message in report.errors:
            self.error("state_save", message)

    def snapshot(self) -> dict:
        counts = dict(self.counts)
        counts.update({f"store_{k}": v for k, v in self.archiver.summary().items()})
        errors = dict(self.errors)
        errors.update(self.archiver.errors)
        return {"counts": counts, "errors": errors, "error_samples": dict(self.samples)}

    def write_progress(self, *, force: bool = False) -> None:
        """Atomically write the counters for the parent process (which reads them if we die)."""
        if self.progress_file is None:
            return
        now = time.monotonic()
        if not force and now - self._last_progress < 1.0:
            return
        self._last_progress = now
        data = json.dumps(self.snapshot()).encode()
        fd, tmp = tempfile.mkstemp(dir=self.progress_file.parent, prefix=".progress-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.progress_file)
