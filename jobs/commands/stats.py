"""``archiver stats [SOURCE]``: objects and bytes, articles per day, extraction outcomes, last run."""

from __future__ import annotations

from collections import Counter

from crawler import catalog
from jobs import archive_reader as reader
from jobs import terminal
from jobs.commands.common import print_json
from jobs.commands.reading import add_read_args, add_since_arg, open_read_only, since_of, sources_of

PREFIXES = ("raw", "clean", "warc", "catalog", "runs")


def add_parser(sub) -> None:
    p = sub.add_parser("stats", help="what is archived per source: objects, bytes, articles per day, runs")
    p.add_argument("source", nargs="?", metavar="SOURCE", help="only this source")
    add_since_arg(p)
    p.add_argument("--scan", action="store_true",
                   help="also count the objects in the store by listing each source's prefixes "
                        "(sizes only, no downloads), including what no catalog names")
    add_read_args(p)
    p.set_defaults(func=run)


def source_stats(rows: list[dict]) -> dict:
    """Pure: figures for one source from its catalog rows."""
    objects: dict[str, int] = {}
    kinds = Counter()
    for row in rows:
        for col_key, _, col_size in catalog.OBJECT_COLUMNS:
            key = row.get(col_key)
            if key and key not in objects:
                objects[key] = row.get(col_size) or 0
                kinds[col_key[:-4]] += 1
    extraction = Counter(r["extraction"] for r in rows if r.get("extraction"))
    articles = reader.group_articles(rows)
    per_day: dict[str, set] = {}
    for article in articles:
        for row in article.rows:
            if row.get("extraction") == "ok" and row.get("fetched_at"):
                per_day.setdefault(row["fetched_at"][:10], set()).add(article.id)
    runs = {r.get("run_id") for r in rows if r.get("origin") == "crawl"}
    return {
        "pages": len(rows),
        "objects": len(objects),
        "bytes": sum(objects.values()),
        "objects_by_kind": dict(kinds),
        "articles": len(articles),
        "versions": sum(len(a.versions) for a in articles),
        "extraction": {k: extraction.get(k, 0) for k in ("ok", "empty", "failed")},
        "articles_per_day": {day: len(ids) for day, ids in sorted(per_day.items())},
        "runs_in_catalog": len(runs),
        "pending_writes": sum(1 for r in rows if r.get("write") == "spooled"),
        "lost_writes": sum(1 for r in rows if r.get("write") == "lost"),
    }


def scan(store, source: str) -> dict:
    out = {}
    for prefix in PREFIXES:
        count = size = 0
        for info in store.list(f"{prefix}/{source}/"):
            count += 1
            size += info.size
        out[prefix] = {"objects": count, "bytes": size}
    return out


def last_run_summary(record: dict | None) -> dict | None:
    if not record:
        return None
    counts = record.get("counts") or {}
    return {"run_id": record.get("run_id"), "outcome": record.get("outcome"),
            "started_at": record.get("started_at"), "duration_s": record.get("duration_s"),
            "pages_fetched": counts.get("pages_fetched"), "clean_archived": counts.get("clean_archived"),
            "errors": sum((record.get("errors") or {}).values()), "message": record.get("message")}


def run(args) -> int:
    loaded, store = open_read_only(args)
    since = since_of(args)
    out = {}
    for source in sources_of(args, loaded, store, args.source):
        rows = [r for r in reader.catalog_rows(store, source, since.date() if since else None)
                if reader.fetched_since(r, since)]
        figures = source_stats(rows)
        figures["last_run"] = last_run_summary(reader.last_run(store, source))
        if args.scan:
            figures["store"] = scan(store, source)
        out[source] = figures
    if args.json:
        print_json({"store": store.describe(), "since": since.isoformat() if since else None, "sources": out})
        return 0
    color = terminal.use_color()
    if not out:
        print(f"nothing archived in {store.describe()}")
    for source, f in out.items():
        print(terminal.paint(source, "bold", color))
        run_ = f["last_run"]
        if run_:
            outcome = terminal.paint(run_["outcome"] or "?", "green" if run_["outcome"] == "ok" else "yellow", color)
            duration = f"{run_['duration_s']:.1f}s" if isinstance(run_.get("duration_s"), (int, float)) else "-"
            print(f"  last run     {terminal.when(run_['started_at'])}  {outcome}  {duration}  "
                  f"fetched {run_['pages_fetched'] or 0}, errors {run_['errors']}  ({run_['run_id']})")
        else:
            print("  last run     none recorded")
        kinds = f["objects_by_kind"]
        print(f"  objects      {f['objects']} ({terminal.human_bytes(f['bytes'])}): raw {kinds.get('raw', 0)}, "
              f"sidecars {kinds.get('meta', 0)}, clean {kinds.get('clean', 0)}")
        if f["pending_writes"] or f["lost_writes"]:
            print(terminal.paint(f"  writes       {f['pending_writes']} pages waiting in a spool, "
                                 f"{f['lost_writes']} lost", "yellow", color))
        print(f"  articles     {f['articles']} ({f['versions']} versions) from {f['pages']} pages, "
              f"{f['runs_in_catalog']} runs")
        ex = f["extraction"]
        print(f"  extraction   ok {ex['ok']}  empty {ex['empty']}  failed {ex['failed']}")
        if f["articles_per_day"]:
            days = list(f["articles_per_day"].items())
            shown = days[-14:]
            print("  per day      " + "  ".join(f"{d} {n}" for d, n in shown)
                  + (f"  (+{len(days) - len(shown)} earlier days)" if len(days) > len(shown) else ""))
        if "store" in f:
            print("  in store     " + "  ".join(f"{p} {v['objects']} ({terminal.human_bytes(v['bytes'])})"
                                               for p, v in f["store"].items()))
    return 0
