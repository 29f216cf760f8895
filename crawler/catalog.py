"""The catalog: one JSON line per archived page, one file per run, readable by DuckDB.

Every crawl (and every ``archiver re-extract``) writes
``catalog/<source>/<yyyy>/<mm>/<dd>/<run-id>.jsonl``: for each page it stored,
the URLs, title and dates, the keys, sizes and SHA-256 of the objects it wrote
(raw body, its sidecar, the clean article), the extraction outcome and the
article version.  ``archiver ls`` / ``stats`` / ``verify`` read it instead of
listing and opening every object, and any SQL engine that reads JSON lines can
query it in place.

Every row has every column (``None`` where it does not apply) in a fixed
order, so schema inference sees one table.  Pure functions only: building,
encoding and decoding rows.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Iterable, Optional

from crawler.keys import meta_key as sidecar_key
from crawler.keys import sha256_hex

log = logging.getLogger(__name__)

CATALOG_FORMAT = 1

COLUMNS = (
    "format", "origin", "source", "run_id", "url", "final_url", "canonical_url", "article_url",
    "title", "author", "published", "language", "fetched_at", "http_status", "content_type",
    "raw_key", "raw_sha256", "raw_size", "meta_key", "meta_sha256", "meta_size",
    "clean_key", "clean_sha256", "clean_size", "text_sha256", "text_chars",
    "extraction", "extraction_reason", "extractor_version", "version", "previous_key", "write", "warc_key",
)

# the objects a row points to: (key column, sha256 column, size column)
OBJECT_COLUMNS = (
    ("raw_key", "raw_sha256", "raw_size"),
    ("meta_key", "meta_sha256", "meta_size"),
    ("clean_key", "clean_sha256", "clean_size"),
)

_WRITE_RANK = {"stored": 0, "exists": 0, "spooled": 1, "lost": 2}


def write_outcome(outcomes: Iterable[str]) -> str:
    """The worst of several write outcomes: ``stored`` < ``spooled`` (uploaded later) < ``lost``."""
    worst = "stored"
    for outcome in outcomes:
        if _WRITE_RANK.get(outcome, 2) > _WRITE_RANK[worst]:
            worst = outcome if outcome in _WRITE_RANK else "lost"
    return "stored" if worst == "exists" else worst


def empty_row() -> dict:
    row = dict.fromkeys(COLUMNS)
    row["format"] = CATALOG_FORMAT
    return row


def page_row(meta: dict, meta_bytes: bytes, *, origin: str = "crawl", write: str = "stored") -> dict:
    """A row for a stored raw page, from its sidecar (the record of how it was fetched)."""
    row = empty_row()
    row.update(
        origin=origin,
        source=meta.get("source"),
        run_id=meta.get("run_id"),
        url=meta.get("url"),
        final_url=meta.get("final_url"),
        fetched_at=meta.get("fetched_at"),
        http_status=meta.get("status"),
        content_type=meta.get("content_type"),
        raw_key=meta.get("raw_key"),
        raw_sha256=meta.get("sha256"),
        raw_size=meta.get("size"),
        meta_key=sidecar_key(meta["raw_key"]) if meta.get("raw_key") else None,
        meta_sha256=sha256_hex(meta_bytes),
        meta_size=len(meta_bytes),
        write=write,
    )
    return row


def add_clean(row: dict, record: dict, data: bytes, key: str) -> dict:
    """Fill ``row`` with the clean article ``record`` stored as ``data`` under ``key``."""
    extraction = record.get("extraction") or {}
    row.update(
        source=row.get("source") or record.get("source"),
        run_id=row.get("run_id") or record.get("run_id"),
        url=row.get("url") or record.get("url"),
        final_url=row.get("final_url") or record.get("final_url"),
        fetched_at=row.get("fetched_at") or record.get("fetched_at"),
        raw_key=row.get("raw_key") or record.get("raw_key"),
        raw_sha256=row.get("raw_sha256") or record.get("raw_sha256"),
        canonical_url=record.get("canonical_url"),
        article_url=record.get("article_url"),
        title=record.get("title"),
        author=record.get("author"),
        published=record.get("published"),
        language=record.get("language"),
        clean_key=key,
        clean_sha256=sha256_hex(data),
        clean_size=len(data),
        text_sha256=record.get("content_sha256"),
        text_chars=len(record.get("text") or ""),
        extraction=extraction.get("status"),
        extraction_reason=extraction.get("reason"),
        extractor_version=extraction.get("extractor_version"),
        version=record.get("version"),
        previous_key=record.get("previous_key"),
    )
    return row


def clean_row(record: dict, data: bytes, key: str, *, origin: str, run_id: str, write: str = "stored") -> dict:
    """A row for a clean object made without a new fetch (``re-extract``)."""
    row = empty_row()
    row.update(origin=origin, run_id=run_id, write=write)
    return add_clean(row, record, data, key)


def encode(rows: Iterable[dict]) -> bytes:
    """JSON lines, one row each, columns in :data:`COLUMNS` order."""
    out = []
    for row in rows:
        ordered = {c: row.get(c) for c in COLUMNS}
        out.append(json.dumps(ordered, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode("utf-8") if out else b""


def decode(data: bytes) -> tuple[list[dict], list[int]]:
    """Rows of a catalog file, and the line numbers that are not valid rows."""
    rows: list[dict] = []
    bad: list[int] = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad.append(number)
            continue
        if not isinstance(row, dict) or not row.get("source"):
            bad.append(number)
            continue
        rows.append(row)
    return rows, bad


def objects(row: dict) -> list[tuple[str, Optional[str], Optional[int]]]:
    """``(key, sha256, size)`` of each object the row says was written."""
    out = []
    for key_col, sha_col, size_col in OBJECT_COLUMNS:
        if row.get(key_col):
            out.append((row[key_col], row.get(sha_col), row.get(size_col)))
    return out


class Journal:
    """A run's catalog rows on local disk as they are made, so a run that dies keeps them.

    ``<spool_dir>/.catalog/<source>/<run-id>.jsonl``, one line per row, written
    at once.  A run stores its journal as its catalog file at the end; the next
    run of the source stores any journal a dead run left behind
    (:func:`leftover_journals`).  A line cut short by a kill is dropped.  When the
    disk refuses a line (full), the line cut short is removed and rows are kept
    in memory from then on: the run's catalog stays complete unless it is killed.
    """

    def __init__(self, spool_root, source: str, run_id: str):
        from pathlib import Path

        self.path = Path(spool_root) / ".catalog" / source / f"{run_id}.jsonl"
        self.run_id = run_id
        self.rows = 0
        self.failed: Optional[str] = None  # why rows are kept in memory, once the disk refused one
        self._fd: Optional[int] = None
        self._good = 0  # bytes of whole lines in the file
        self._in_memory: list[bytes] = []

    def add(self, row: dict) -> None:
        line = encode([row])
        self.rows += 1
        if self.failed is None:
            try:
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                    self._good = os.fstat(self._fd).st_size
                view = memoryview(line)
                while view:
                    view = view[os.write(self._fd, view):]
                self._good += len(line)
                return
            except OSError as exc:
                self.failed = exc.strerror or str(exc)
                if self._fd is not None:
                    try:
                        os.ftruncate(self._fd, self._good)  # no line cut short
                    except OSError:
                        pass
                log.warning("catalog journal %s: %s; keeping the rows in memory", self.path, self.failed)
        self._in_memory.append(line)

    def read(self) -> bytes:
        """The valid rows so far, as a catalog file."""
        try:
            data = self.path.read_bytes()
        except OSError:
            data = b""
        rows, _ = decode(data + b"".join(self._in_memory))
        return encode(rows)

    def remove(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def leftover_journals(spool_root, source: str, *, current_run_id: str) -> list[Journal]:
    """Journals of earlier runs of ``source`` that died before storing their catalog."""
    from pathlib import Path

    directory = Path(spool_root) / ".catalog" / source
    if not directory.is_dir():
        return []
    return [Journal(spool_root, source, p.stem) for p in sorted(directory.glob("*.jsonl"))
            if p.stem != current_run_id]


def run_started(run_id: str):
    """The start time encoded in a run id (``20261125T130500Z-...``)."""
    from datetime import datetime, timezone

    return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
