"""``archiver extract FILE|URL``: what the extractor makes of one page, and with ``--explain`` why.

For writing a source's rules: run it on a page, read what was removed and by
which stage, add an ``exclude`` or ``exclude_text`` rule, run it again.  With
``--source`` the source's rules and learned template are applied, exactly as in
a crawl.  A URL is fetched under the same network-scope rules as a crawl: the
source's hosts (or, without ``--source``, the URL's own host), every address
checked, redirects included.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

from crawler.context import extract_options
from crawler.extract import extract
from crawler.single_fetch import FetchError, fetch
from crawler.store import StoreError
from crawler.template_state import current_model
from jobs.commands.common import CommandError, add_config_arg, load, print_json, store_for


def add_parser(sub) -> None:
    p = sub.add_parser("extract", help="show what the extractor makes of one page (FILE or URL); "
                                       "--explain lists what was removed and why")
    p.add_argument("page", metavar="FILE|URL", help="a saved HTML file, or an http(s) URL to fetch")
    p.add_argument("--source", "-s", metavar="NAME", help="apply this source's rules and learned template")
    add_config_arg(p)
    p.add_argument("--url", help="the page's URL when reading a FILE (for links and metadata)")
    p.add_argument("--explain", action="store_true", help="list every removal: stage, reason, text")
    p.add_argument("--markdown", action="store_true", help="print the Markdown rendering instead of the text")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(func=run)


def _is_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https")


def _scope(url: str, source):
    from crawler.netscope import ScopePolicy, own_hosts_private
    from crawler.run import resolve_hosts, scope_for

    if source is not None:
        return scope_for(source)
    host = urlsplit(url).hostname or ""
    return ScopePolicy.build([host], allow_private=own_hosts_private(resolve_hosts([host])))


def _read(args, source) -> tuple[bytes, str, str | None, str]:
    """(body, url, content type, where it came from)."""
    if _is_url(args.page):
        max_bytes = source.max_body_bytes if source is not None else 10 * 1024 * 1024
        try:
            got = fetch(args.page, _scope(args.page, source), max_bytes=max_bytes,
                        user_agent=source.user_agent if source is not None else "archiver",
                        timeout=source.download_timeout if source is not None else 30.0)
        except FetchError as exc:
            raise CommandError(str(exc)) from None
        where = f"fetched {got.url} (HTTP {got.status}" + (f", after {len(got.redirects)} redirects)"
                                                           if got.redirects else ")")
        return got.body, got.url, got.content_type, where
    path = Path(args.page)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file (give a saved HTML file or an http(s) URL)", 2) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise CommandError(f"{path}: cannot read: {exc.strerror}", 2) from None
    return body, args.url or path.resolve().as_uri(), None, f"read {path}"


def run(args) -> int:
    source = template = None
    notes = []
    if args.source:
        loaded = load(args)
        source = loaded.settings.source(args.source)
        if source.extract.learn_template:
            try:
                model = current_model(store_for(loaded, write=False), source.name)
                template = model.template()
                notes.append(f"template of {source.name}: {len(template)} blocks learned from {model.pages} pages")
            except StoreError as exc:
                notes.append(f"template of {source.name} not loaded ({exc}); extracting without it")
    body, url, content_type, where = _read(args, source)
    options = extract_options(source, template or frozenset())
    from dataclasses import replace

    options = replace(options, explain=args.explain, markdown=args.markdown or options.markdown or args.json)
    article = extract(body, url, content_type, options)
    if args.json:
        data = article.to_dict()
        data["removed"] = [r.to_dict() for r in article.removed]
        print_json(data)
        return 0 if article.status == "ok" else 1
    out = sys.stdout
    out.write(f"{where}\n")
    for note in notes:
        out.write(f"{note}\n")
    for label, value in (("status", article.status if not article.reason else f"{article.status} ({article.reason})"),
                         ("title", article.title), ("author", article.author), ("published", article.published),
                         ("language", article.language), ("canonical", article.canonical_url),
                         ("site", article.sitename), ("words", len(article.text.split()))):
        if value not in (None, ""):
            out.write(f"{label + ':':<11}{value}\n")
    if article.structured and article.structured.get("notes"):
        for note in article.structured["notes"]:
            out.write(f"{'note:':<11}{note}\n")
    out.write("\n")
    out.write((article.markdown if args.markdown else article.text) or "(no article text)")
    out.write("\n")
    if args.explain:
        out.write(f"\nremoved ({len(article.removed)}):\n")
        for r in article.removed:
            detail = f"  [{r.detail}]" if r.detail else ""
            out.write(f"  {r.stage:<10} {r.reason:<24} \"{r.text}\"{detail}\n")
    return 0 if article.status == "ok" else 1
