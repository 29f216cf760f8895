"""``archiver re-extract [SOURCE]``: re-make clean articles from the stored raw pages."""

from __future__ import annotations

import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Optional

from crawler import catalog, keys
from crawler.context import extract_options
from crawler.records import to_json
from crawler.template_state import current_model
from crawler.reextract import reextract
from crawler.extraction.rules import digest
from crawler.state import SourceState, StateError, note_versions
from jobs import archive_reader as reader
from jobs import terminal
from jobs.commands.common import add_config_arg, load, print_json, store_for
from jobs.commands.reading import add_since_arg, since_of, sources_of


def add_parser(sub) -> None:
    p = sub.add_parser("re-extract", help="rebuild clean articles from the stored raw pages with the current "
                                          "extractor; a changed text becomes a new version")
    p.add_argument("source", nargs="?", metavar="SOURCE", help="only this source (default: every source)")
    add_since_arg(p)
    p.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=run)


def _newest_raw(article: reader.Article) -> Optional[dict]:
    """The catalog row of the article's newest stored raw page (a page stored raw only counts too)."""
    rows = sorted((r for r in article.rows + article.pages if r.get("raw_key")), key=reader.fetched_order)
    return rows[-1] if rows else None


def _history(state: Optional[SourceState], article: reader.Article) -> tuple[str, list]:
    """The article URL and versions the incremental state holds for it (what a crawl numbers after)."""
    if state is None:
        return article.id, []
    identity = next((state.article_of(r["url"]) for r in reversed(article.rows + article.pages)
                     if r.get("url") and state.article_of(r["url"])), None) or article.id
    return identity, (state.article(identity) or {}).get("versions", [])


def _baseline(state, article: reader.Article) -> tuple[str, Optional[str], int]:
    """(article URL, key of the latest version, the number a new version gets).

    One numbering with the crawl: the state's history (which the crawl numbers
    after) decides the latest version; the catalog's stored numbers only guard
    against reusing a number the state does not know (a state moved aside).
    """
    identity, history = _history(state, article)
    latest = article.latest
    if history and history[-1].get("key"):
        latest_key, number = history[-1]["key"], history[-1].get("v") or len(history)
    else:
        latest_key, number = (latest.key, latest.number) if latest else (None, 0)
    highest = max((v.number for v in article.versions), default=0)
    return identity, latest_key, max(number, highest) + 1


def _load(store, article: reader.Article, latest_key: Optional[str]):
    """The article's newest raw page (body + sidecar) and its latest clean record."""
    row = _newest_raw(article)
    if row is None:
        raise reader.NotArchived(f"{article.id}: no raw page in the catalog")
    meta = reader.get_json(store, keys.meta_key(row["raw_key"]))
    body = reader.get_bytes(store, row["raw_key"])
    record = reader.get_json(store, latest_key) if latest_key else None
    return meta, body, record


def _state(store, source: str) -> tuple[Optional[SourceState], Optional[str]]:
    try:
        return SourceState.load(store, source), None
    except StateError as exc:
        return None, f"{exc} (versions numbered from the catalog; the state is not updated)"


def reextract_source(store, settings_source, source: str, since, *, run_id: str, now: datetime,
                     dry_run: bool) -> dict:
    rows = [r for r in reader.catalog_rows(store, source) if reader.fetched_since(r, since)]
    articles = reader.group_articles(rows)
    options = extract_options(settings_source, template=current_model(store, source).template())
    state, state_error = _state(store, source)
    result = {"source": source, "articles": len(articles), "new_versions": [], "unchanged": 0,
              "not_better": [], "errors": [state_error] if state_error else [], "catalog_key": None,
              "rules": digest(options.rules, options.stray_lines)}
    new_rows = []
    made = []  # (key, record) of the versions written, for the incremental state

    def fetch(article):
        identity, latest_key, number = _baseline(state, article)
        try:
            return article, (identity, latest_key, number), _load(store, article, latest_key), None
        except reader.NotArchived as exc:
            return article, None, None, str(exc)

    with ThreadPoolExecutor(max_workers=reader.READ_WORKERS) as pool:
        for article, baseline, loaded, error in pool.map(fetch, articles):
            if error:
                result["errors"].append(error)
                continue
            identity, latest_key, number = baseline
            meta, body, latest = loaded
            outcome = reextract(meta, body, latest, latest_key=latest_key, version=number, run_id=run_id,
                                now=now, options=options, article_url=identity)
            if outcome.status == "unchanged":
                result["unchanged"] += 1
                continue
            if outcome.status == "not_better":
                result["not_better"].append({"url": article.id, "status": outcome.article.status,
                                             "reason": outcome.article.reason})
                continue
            data = to_json(outcome.record)
            write = "planned"
            if not dry_run:
                store.put(outcome.key, data, content_type="application/json")
                write = "stored"
                made.append((outcome.key, outcome.record))
            new_rows.append(catalog.clean_row(outcome.record, data, outcome.key, origin="re-extract",
                                              run_id=run_id, write=write))
            result["new_versions"].append({"url": article.id, "version": outcome.record["version"],
                                           "key": outcome.key, "previous_key": outcome.record["previous_key"]})
    if new_rows and not dry_run:
        key = keys.catalog_key(source, run_id, now)
        store.put(key, catalog.encode(new_rows), content_type="application/x-ndjson")
        result["catalog_key"] = key
    if made and state is not None:  # the next crawl compares with these versions and numbers after them
        report = note_versions(store, source, made, state=state)
        result["errors"].extend(report.errors)
    return result


def run(args) -> int:
    loaded = load(args)
    store = store_for(loaded, write=not args.dry_run)
    since = since_of(args)
    now = datetime.now(timezone.utc)
    run_id = keys.new_run_id(now, "reextract-" + secrets.token_hex(3))
    configured = {s.name: s for s in loaded.settings.sources}
    results = [reextract_source(store, configured.get(name), name, since, run_id=run_id, now=now,
                                dry_run=args.dry_run)
               for name in sources_of(args, loaded, store, args.source)]
    if args.json:
        print_json({"run_id": run_id, "dry_run": args.dry_run, "sources": results})
    else:
        color = terminal.use_color()
        verb = "would make" if args.dry_run else "made"
        for r in results:
            print(terminal.paint(r["source"], "bold", color) + f": {r['articles']} articles re-extracted, "
                  f"{verb} {len(r['new_versions'])} new versions, {r['unchanged']} unchanged"
                  + (f", {len(r['not_better'])} now without text (kept as they were)" if r["not_better"] else "")
                  + (f", {len(r['errors'])} errors" if r["errors"] else ""))
            for v in r["new_versions"]:
                print(f"  v{v['version']}  {v['url']}  {terminal.paint(v['key'], 'dim', color)}")
            for e in r["errors"]:
                print(terminal.paint(f"  error: {e}", "red", color), file=sys.stderr)
    return 1 if any(r["errors"] for r in results) else 0
