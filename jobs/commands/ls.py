"""``archiver ls``: archived articles, newest first, from the catalog."""

from __future__ import annotations

import fnmatch

from jobs import archive_reader as reader
from jobs import terminal
from jobs.commands.common import print_json
from jobs.commands.reading import add_read_args, add_since_arg, open_read_only, since_of, sources_of


def add_parser(sub) -> None:
    p = sub.add_parser("ls", help="list archived articles, newest first (reads the store only)")
    p.add_argument("source", nargs="?", metavar="SOURCE", help="only this source")
    add_since_arg(p)
    p.add_argument("--url", metavar="PATTERN",
                   help="only URLs containing PATTERN (or matching it, with * and ? wildcards)")
    p.add_argument("--limit", "-n", type=int, default=50, metavar="N", help="at most N articles (0: all; default 50)")
    add_read_args(p)
    p.set_defaults(func=run)


def url_filter(pattern: str | None):
    if not pattern:
        return lambda article: True
    if any(c in pattern for c in "*?["):
        return lambda a: any(fnmatch.fnmatchcase(u or "", pattern) for u in _urls(a))
    return lambda a: any(pattern in (u or "") for u in _urls(a))


def _urls(article: reader.Article):
    """Every URL that led to the article (its pages, their redirects, the article URL)."""
    return {article.id, *article.urls}


def entry(article: reader.Article) -> dict:
    row = article.last_row
    shown = article.latest.row if article.latest else row
    return {
        "fetched_at": row.get("fetched_at"),
        "source": article.source,
        "title": shown.get("title"),
        "url": article.id,  # the URL the article is known by (its canonical link, when in scope)
        "versions": len(article.versions),
        "version": article.latest.number if article.latest else None,
        "key": shown.get("clean_key"),
        "raw_key": shown.get("raw_key"),
        "published": shown.get("published"),
        "extraction": row.get("extraction"),
    }


def run(args) -> int:
    loaded, store = open_read_only(args)
    since = since_of(args)
    wanted = url_filter(args.url)
    rows = []
    for source in sources_of(args, loaded, store, args.source):
        rows.extend(reader.catalog_rows(store, source, since.date() if since else None))
    articles = [a for a in reader.group_articles(r for r in rows if reader.fetched_since(r, since))
                if wanted(a)]
    total = len(articles)
    if args.limit > 0:
        articles = articles[: args.limit]
    entries = [entry(a) for a in articles]
    if args.json:
        print_json(entries)
        return 0
    if not entries:
        print("no archived articles" + (" match" if args.url or args.since else "") + " (catalog of "
              + (args.source or "every source") + f" in {store.describe()})")
        return 0
    color = terminal.use_color()
    title_width = 48 if terminal.is_tty() else 80
    print(terminal.paint("  ".join(["time (UTC)      ", f"{'source':<12}", "vers",
                                    f"{'title':<{title_width}}", "url", "key"]), "dim", color))
    for e in entries:
        status = "" if e["extraction"] == "ok" else f" [{e['extraction']}]"
        print("  ".join([
            terminal.paint(terminal.when(e["fetched_at"]), "dim", color),
            f"{e['source']:<12}",
            f"{e['versions']:>4}",
            terminal.paint(f"{terminal.clip(e['title'] or '(no title)', title_width):<{title_width}}", "bold", color)
            + terminal.paint(status, "yellow", color),
            e["url"] or "",
            terminal.paint(e["key"] or "", "dim", color),
        ]))
    if total > len(entries):
        print(terminal.paint(f"... {total - len(entries)} more (--limit 0 for all)", "dim", color))
    return 0
