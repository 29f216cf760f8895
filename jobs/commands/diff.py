"""``archiver diff URL [V1 V2]``: what changed in an article's text between two versions."""

from __future__ import annotations

import difflib

from jobs import archive_reader as reader
from jobs import terminal
from jobs.commands.common import CommandError, print_json
from jobs.commands.reading import add_read_args, not_archived, open_read_only, sources_of


def add_parser(sub) -> None:
    p = sub.add_parser("diff", help="show how an article's text changed between two versions")
    p.add_argument("url", metavar="URL")
    p.add_argument("versions", nargs="*", type=int, metavar="V",
                   help="two version numbers (default: the last two); one number: that version against the latest")
    p.add_argument("--source", "-s", metavar="NAME", help="look the URL up in this source only")
    p.add_argument("--context", "-U", type=int, default=3, metavar="N", help="lines of context (default 3)")
    add_read_args(p)
    p.set_defaults(func=run)


def text_lines(record: dict) -> list[str]:
    """One line per paragraph: diffs then show which paragraphs changed."""
    return [line for line in (record.get("text") or "").splitlines() if line.strip()]


def unified(old: dict, new: dict, old_label: str, new_label: str, context: int = 3) -> list[str]:
    lines = []
    if (old.get("title") or "") != (new.get("title") or ""):
        lines += [f"title: {old.get('title')!r} -> {new.get('title')!r}"]
    lines += list(difflib.unified_diff(text_lines(old), text_lines(new), old_label, new_label,
                                       n=context, lineterm=""))
    return lines


def colorize(line: str) -> str:
    if line.startswith(("+++", "---")):
        return terminal.paint(line, "bold", True)
    if line.startswith("+"):
        return terminal.paint(line, "green", True)
    if line.startswith("-"):
        return terminal.paint(line, "red", True)
    if line.startswith("@@"):
        return terminal.paint(line, "cyan", True)
    if line.startswith("title:"):
        return terminal.paint(line, "yellow", True)
    return line


def pick(article: reader.Article, wanted: list[int]) -> tuple[reader.Version, reader.Version]:
    if len(wanted) > 2:
        raise CommandError("give at most two version numbers", code=2)
    if len(wanted) == 2:
        return article.version(wanted[0]), article.version(wanted[1])
    if len(wanted) == 1:
        return article.version(wanted[0]), article.version(None)
    if len(article.versions) < 2:
        raise reader.NotArchived(f"{article.id} has only {len(article.versions)} version(s); nothing to compare")
    return article.versions[-2], article.versions[-1]


def run(args) -> int:
    loaded, store = open_read_only(args)
    try:
        sources = sources_of(args, loaded, store, args.source) if args.source else reader.sources_for_url(
            args.url, loaded.settings.sources, reader.catalog_sources(store))
        article = reader.find_article(store, args.url, sources=sources)
        old_v, new_v = pick(article, args.versions)
        old, new = reader.get_json(store, old_v.key), reader.get_json(store, new_v.key)
    except reader.NotArchived as exc:
        raise not_archived(exc) from None
    label = lambda v, r: f"v{v.number} {terminal.when(r.get('fetched_at'))} {v.key}"  # noqa: E731
    lines = unified(old, new, label(old_v, old), label(new_v, new), args.context)
    if args.json:
        print_json({"url": article.id, "from": {"version": old_v.number, "key": old_v.key,
                                                "fetched_at": old.get("fetched_at")},
                    "to": {"version": new_v.number, "key": new_v.key, "fetched_at": new.get("fetched_at")},
                    "changed": bool(lines), "diff": lines})
        return 0
    if not lines:
        print(f"no change in the text between v{old_v.number} and v{new_v.number}")
        return 0
    color = terminal.use_color()
    for line in lines:
        print(colorize(line) if color else line)
    return 0
