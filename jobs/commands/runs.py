"""``archiver runs [SOURCE]``: recent run records from the store, newest first."""

from __future__ import annotations

import sys

from crawler.records import parse_iso
from jobs import history
from jobs.commands.common import CommandError, add_config_arg, load, print_json, store_for
from jobs.metrics import OUTCOMES


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="list recent runs (from the store's run records), newest first")
    p.add_argument("source", nargs="?", metavar="SOURCE", help="only this source")
    add_config_arg(p, reading=True)
    p.add_argument("--limit", "-n", type=int, default=20, metavar="N", help="at most N runs (default 20)")
    p.add_argument("--outcome", action="append", choices=OUTCOMES, metavar="OUTCOME",
                   help=f"only runs with this outcome (repeatable): {', '.join(OUTCOMES)}")
    p.add_argument("--json", action="store_true", help="print the run records as JSON")
    p.set_defaults(func=run)


def _when(text) -> str:
    if not text:
        return "-"
    try:
        return parse_iso(text).strftime("%Y-%m-%d %H:%M:%SZ")
    except ValueError:
        return str(text)


def row(record: dict) -> str:
    counts = record.get("counts") or {}
    duration = record.get("duration_s")
    errors = sum((record.get("errors") or {}).values())
    line = (f"{_when(record.get('started_at')):<21} {record.get('source', '?'):<20} "
            f"{record.get('outcome', '?'):<13} {(f'{duration:.1f}s' if duration is not None else '-'):>8} "
            f"{counts.get('pages_fetched', 0):>7} {counts.get('pages_not_modified', 0):>7} "
            f"{counts.get('raw_archived', 0):>5} "
            f"{counts.get('clean_archived', 0):>5} {errors:>6}  {record.get('trigger') or '-':<9} "
            f"{record.get('run_id', '')}")
    if record.get("message"):
        line += f"  {record['message']}"
    return line


HEADER = (f"{'STARTED (UTC)':<21} {'SOURCE':<20} {'OUTCOME':<13} {'DURATION':>8} {'FETCHED':>7} {'NOT MOD':>7} {'RAW':>5} "
          f"{'CLEAN':>5} {'ERRORS':>6}  {'TRIGGER':<9} RUN ID")


def run(args) -> int:
    if args.limit < 1:
        raise CommandError("--limit must be at least 1", code=2)
    loaded = load(args)
    store = store_for(loaded, write=False)
    found = history.recent_runs(store, args.source, limit=args.limit, outcomes=args.outcome)
    if args.json:
        print_json(found)
        return 0
    if not found:
        what = f"of '{args.source}' " if args.source else ""
        known = [s.name for s in loaded.settings.sources]
        hint = f" (configured sources: {', '.join(known)})" if args.source and args.source not in known else ""
        print(f"no runs {what}recorded in {store.describe()}{hint}", file=sys.stderr)
        return 0
    print(HEADER)
    for record in found:
        print(row(record))
    return 0
