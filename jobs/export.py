"""Export clean articles for downstream use: JSON lines, CSV, or Parquet.

Parquet is written by DuckDB when it is installed, else by pyarrow; neither is
a dependency of the archiver (``pip install duckdb`` for Parquet).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

FIELDS = ("source", "url", "final_url", "canonical_url", "article_url", "title", "author", "published",
          "language", "fetched_at", "version", "previous_key", "text", "content_sha256", "clean_key", "raw_key",
          "extraction_status", "extractor", "extractor_version")


class ExportError(Exception):
    pass


def flatten(record: dict, key: str, version: int | None) -> dict:
    extraction = record.get("extraction") or {}
    out = {f: record.get(f) for f in FIELDS}
    out.update(clean_key=key, version=version if version is not None else record.get("version"),
               extraction_status=extraction.get("status"), extractor=extraction.get("extractor"),
               extractor_version=extraction.get("extractor_version"))
    return out


def write_jsonl(rows: Iterable[dict], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def write_csv(rows: Iterable[dict], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore")
    writer.writeheader()
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return n


def parquet_engine() -> str | None:
    for name in ("duckdb", "pyarrow"):
        try:
            __import__(name)
            return name
        except ImportError:
            continue
    return None


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_parquet(rows: Iterator[dict], path: Path) -> tuple[int, str]:
    """Write ``rows`` to ``path`` as Parquet; returns (rows, engine used)."""
    engine = parquet_engine()
    if engine is None:
        raise ExportError("Parquet needs DuckDB or pyarrow: pip install duckdb (or pyarrow)")
    if engine == "duckdb":
        import duckdb

        # stream through a temporary JSONL file: DuckDB reads it without holding every text in Python
        fd, tmp = tempfile.mkstemp(suffix=".jsonl", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                n = write_jsonl(rows, fh)
            columns = ", ".join(f"'{f}': '{'BIGINT' if f == 'version' else 'VARCHAR'}'" for f in FIELDS)
            con = duckdb.connect()
            con.execute(f"COPY (SELECT * FROM read_json({_sql_string(tmp)}, format = 'newline_delimited', "
                        f"columns = {{{columns}}})) TO {_sql_string(str(path))} (FORMAT parquet, COMPRESSION zstd)")
            con.close()
        finally:
            os.unlink(tmp)
        return n, "duckdb"
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = list(rows)
    schema = pa.schema([(f, pa.int64() if f == "version" else pa.string()) for f in FIELDS])
    table = pa.Table.from_pylist([{f: r.get(f) for f in FIELDS} for r in data], schema=schema)
    pq.write_table(table, str(path), compression="zstd")
    return len(data), "pyarrow"


def text_stream(path: str | None, stdout) -> tuple[IO[str], bool]:
    if path in (None, "-"):
        return stdout, False
    return open(path, "w", encoding="utf-8", newline=""), True

