"""``archiver crawl``: one pass over the configured sources, then exit."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from crawler import keys
from crawler.secrets import mask
from crawler.store import check_before_run, open_store
from jobs.commands.common import add_config_arg, load, print_json
from jobs.runner import RunResult, run_source


def add_parser(sub) -> None:
    p = sub.add_parser("crawl", help="crawl the sources once and archive what is fetched")
    add_config_arg(p)
    p.add_argument("--source", "-s", action="append", metavar="NAME",
                   help="crawl only this source (repeatable); default: every enabled source")
    p.add_argument("--parallel", type=int, default=1, metavar="N", help="sources crawled at once (default 1)")
    p.add_argument("--json", action="store_true", help="print the run records as JSON")
    add_http_arg(p)
    p.set_defaults(func=run)


def add_http_arg(p) -> None:
    p.add_argument("--http", metavar="[HOST:]PORT",
                   help="serve /healthz and /metrics while crawling (default: off)")


def start_http(args, source_names):
    """The optional /healthz + /metrics endpoint of a one-shot crawl: (server, metrics) or (None, None)."""
    if not getattr(args, "http", None):
        return None, None
    from jobs.commands.serve import listen_arg
    from jobs.httpd import StatusServer
    from jobs.metrics import Metrics

    metrics = Metrics()
    metrics.add_sources(source_names)
    host, port = listen_arg(args.http)
    server = StatusServer(host, port, health=lambda: (True, {"status": "ok", "mode": "crawl"}),
                          metrics=metrics.exposition, metrics_type=metrics.content_type).start()
    return server, metrics


def selected_sources(settings, names):
    if names:
        return [settings.source(n) for n in names]
    return [s for s in settings.sources if s.enabled]


def summary_line(result: RunResult) -> str:
    c = result.counts
    clean = c.get("clean_archived", 0)
    parts = [
        f"{result.source:<20} {result.outcome:<12}",
        f"fetched {c.get('pages_fetched', 0)}",
        f"not modified {c.get('pages_not_modified', 0)}",
        f"raw {c.get('raw_archived', 0)}",
        f"clean {clean} (ok {c.get('extraction_ok', 0)}, empty {c.get('extraction_empty', 0)}, "
        f"failed {c.get('extraction_failed', 0)})",
        f"errors {sum(result.record.get('errors', {}).values())}",
    ]
    changed = c.get("articles_changed", 0)
    if changed:
        parts.insert(-1, f"new versions {changed}")
    for name in ("spooled", "spool_flushed", "lost"):
        if c.get(f"store_{name}"):
            parts.append(f"{name.replace('_', ' ')} {c[f'store_{name}']}")
    duration = result.record.get("duration_s")
    if duration is not None:
        parts.append(f"{duration:.1f}s")
    line = "  ".join(parts)
    if result.record.get("message"):
        line += f"  ({result.record['message']})"
    return line


def run(args) -> int:
    loaded = load(args)
    sources = selected_sources(loaded.settings, args.source)
    if not sources:
        print("no enabled sources to crawl", file=sys.stderr)
        return 0
    # wrong credentials or a missing bucket: stop before fetching anything; an outage: crawl into the spool
    outage = check_before_run(open_store(loaded.settings.storage))
    if outage is not None:
        print(f"archiver: warning: the store is unavailable ({mask(str(outage))}); pages will be kept in "
              f"the spool ({loaded.settings.storage.spool_dir}) and uploaded when it is back", file=sys.stderr)
    server, metrics = start_http(args, [s.name for s in sources])

    def one(source):
        result = run_source(loaded.path, source, loaded.settings.storage, trigger="manual",
                            log_format=args.log_format, log_level=args.log_level)
        if metrics is not None:
            metrics.observe(result.record)
        return result

    try:
        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            results = list(pool.map(one, sources))
    finally:
        if server is not None:
            server.stop()
    if args.json:
        print_json([r.record for r in results])
    else:
        for result in results:
            print(summary_line(result))
            if result.outcome not in ("failed", "skipped") or result.record.get("counts"):
                print(f"{'':<20} record: {keys.run_key(result.source, result.run_id)}")
            for kind, samples in (result.record.get("error_samples") or {}).items():
                for sample in samples[:2]:
                    print(f"{'':<20} {kind}: {sample}")
    if any(r.outcome in ("failed", "crashed") for r in results):
        return 1
    if outage is not None:
        # nothing was lost (the spool holds it), but the store is not working: say so, exit non-zero
        waiting = sum(r.counts.get("store_spool_pending", 0) for r in results)
        print(f"archiver: storage error: {mask(str(outage))}; {waiting} object(s) wait in the spool "
              f"({loaded.settings.storage.spool_dir}) and are uploaded by the next run", file=sys.stderr)
        return 3
    return 0



