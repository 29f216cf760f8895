"""``archiver show URL|KEY``: an archived article as text, its raw page, or its JSON."""

from __future__ import annotations

import sys

from jobs import archive_reader as reader
from jobs import terminal
from jobs.commands.common import CommandError, print_json
from jobs.commands.reading import add_read_args, not_archived, open_read_only, sources_of


def add_parser(sub) -> None:
    p = sub.add_parser("show", help="print an archived article (text, raw page or JSON)")
    p.add_argument("target", metavar="URL|KEY", help="an article URL, or a clean/ or raw/ object key")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--raw", action="store_true", help="the raw page bytes as fetched")
    what.add_argument("--text", action="store_true", help="the article text only")
    p.add_argument("--version", "-V", type=int, metavar="N", help="version N of the article (default: the latest)")
    p.add_argument("--source", "-s", metavar="NAME", help="look the URL up in this source only")
    add_read_args(p, json_help="print the clean record (with --raw: the raw page's sidecar) as JSON")
    p.set_defaults(func=run)


def is_key(target: str) -> bool:
    return target.startswith(("clean/", "raw/"))


def resolve(store, loaded, args) -> tuple[dict, str, str]:
    """(clean record, its key, a "version i of n" label) for the URL or key asked for."""
    if is_key(args.target):
        if args.version is not None:
            raise CommandError("--version goes with a URL, not with an object key", code=2)
        record = reader.get_json(store, args.target)
        number = record.get("version")
        return record, args.target, f"version {number}" if number is not None else "version not numbered"
    sources = sources_of(args, loaded, store, args.source) if args.source else reader.sources_for_url(
        args.target, loaded.settings.sources, reader.catalog_sources(store))
    article = reader.find_article(store, args.target, sources=sources)
    version = article.version(args.version)
    record = reader.get_json(store, version.key)
    return record, version.key, f"version {version.number} of {len(article.versions)}"


def run(args) -> int:
    loaded, store = open_read_only(args)
    try:
        if args.raw and args.target.startswith("raw/"):
            return show_raw(store, args.target, args.json)
        record, key, label = resolve(store, loaded, args)
        if args.raw:
            return show_raw(store, record["raw_key"], args.json)
    except reader.NotArchived as exc:
        raise not_archived(exc) from None
    if args.json:
        print_json(record)
    elif args.text:
        print(record.get("text") or "")
    else:
        print(readable(record, key, label, color=terminal.use_color()))
    return 0


def show_raw(store, raw_key: str, as_json: bool) -> int:
    if raw_key.endswith(".meta.json"):
        raw_key = raw_key[: -len(".meta.json")]
    if as_json:
        print_json(reader.get_json(store, raw_key + ".meta.json"))
        return 0
    data = reader.get_bytes(store, raw_key)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def readable(record: dict, key: str, label: str, *, color: bool = False) -> str:
    extraction = record.get("extraction") or {}
    byline = [f"By {record['author']}" if record.get("author") else None,
              f"published {record['published']}" if record.get("published") else None,
              f"fetched {terminal.when(record.get('fetched_at'))} UTC", label]
    lines = [terminal.paint(record.get("title") or "(no title)", "bold", color),
             " · ".join(b for b in byline if b),
             terminal.paint(record.get("final_url") or record.get("url") or "", "cyan", color), ""]
    text = record.get("text") or ""
    first, _, rest = text.partition("\n")
    if record.get("title") and " ".join(first.split()) == " ".join(record["title"].split()):
        text = rest.lstrip("\n")  # the headline the text opens with is already printed above
    if extraction.get("status") != "ok":
        lines.append(terminal.paint(f"(extraction {extraction.get('status')}: {extraction.get('reason')})",
                                    "yellow", color))
    lines.append(text.replace("\n", "\n\n") if "\n\n" not in text else text)
    made_by = f"{extraction.get('extractor')} {extraction.get('extractor_version')}"
    if extraction.get("rules"):
        made_by += f", rules {extraction['rules']}"
    if record.get("reextracted"):
        made_by += f", re-extracted {terminal.when(record['reextracted'].get('at'))} UTC"
    lines += ["", terminal.paint(f"{key}  (raw: {record.get('raw_key')}; {made_by})", "dim", color)]
    return "\n".join(lines)
