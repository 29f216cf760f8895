"""``archiver export SOURCE --format jsonl|csv|parquet``: clean articles for downstream use."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jobs import archive_reader as reader
from jobs import export
from jobs.commands.common import CommandError, add_config_arg
from jobs.commands.reading import add_since_arg, open_read_only, since_of, sources_of

BATCH = 64


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export archived articles as JSON lines, CSV or Parquet")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--format", "-f", choices=("jsonl", "csv", "parquet"), default="jsonl")
    p.add_argument("--out", "-o", metavar="FILE", help="write here (default: stdout; required for parquet)")
    add_since_arg(p)
    p.add_argument("--latest", action="store_true", help="only the latest version of each article")
    add_config_arg(p, reading=True)
    p.set_defaults(func=run)


def selected(store, source: str, since, latest: bool) -> list[reader.Version]:
    rows = [r for r in reader.catalog_rows(store, source, since.date() if since else None)
            if reader.fetched_since(r, since)]
    out = []
    for article in reversed(reader.group_articles(rows)):  # oldest activity first
        out.extend(article.versions[-1:] if latest else article.versions)
    return out


def records(store, versions: list[reader.Version]):
    with ThreadPoolExecutor(max_workers=reader.READ_WORKERS) as pool:
        for start in range(0, len(versions), BATCH):
            batch = versions[start:start + BATCH]
            for version, record in zip(batch, pool.map(lambda v: reader.get_json(store, v.key), batch)):
                yield export.flatten(record, version.key, version.number)


def run(args) -> int:
    loaded, store = open_read_only(args)
    source = sources_of(args, loaded, store, args.source)[0]
    since = since_of(args)
    if args.format == "parquet" and args.out in (None, "-"):
        raise CommandError("--format parquet needs --out FILE", code=2)
    try:
        rows = records(store, selected(store, source, since, args.latest))
        if args.format == "parquet":
            n, engine = export.write_parquet(rows, Path(args.out))
            print(f"exported {n} articles of {source} to {args.out} (Parquet via {engine})", file=sys.stderr)
            return 0
        out, close = export.text_stream(args.out, sys.stdout)
        try:
            n = (export.write_csv if args.format == "csv" else export.write_jsonl)(rows, out)
        finally:
            if close:
                out.close()
    except reader.NotArchived as exc:
        raise CommandError(f"{exc}; run 'archiver verify {source}'") from None
    except export.ExportError as exc:
        raise CommandError(str(exc), code=2) from None
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise CommandError(f"cannot write {args.out}: {exc.strerror}", code=2) from None
    if args.out not in (None, "-"):
        print(f"exported {n} articles of {source} to {args.out}", file=sys.stderr)
    return 0
