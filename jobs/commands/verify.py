"""``archiver verify [SOURCE]``: fixity check of stored objects against the catalog."""

from __future__ import annotations

from jobs import archive_reader as reader
from jobs import fixity, terminal
from jobs.commands.common import print_json
from jobs.commands.reading import add_read_args, add_since_arg, open_read_only, since_of, sources_of


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="recompute checksums against the catalog; exit 1 on missing or corrupted objects")
    p.add_argument("source", nargs="?", metavar="SOURCE", help="only this source")
    add_since_arg(p)
    add_read_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    loaded, store = open_read_only(args)
    since = since_of(args)
    report = fixity.Report()
    loaded_files = []
    for source in sources_of(args, loaded, store, args.source):
        files = reader.catalog_files(store, source, since.date() if since else None)
        for f, rows, bad in reader.read_catalog(store, files):
            report.catalog_files += 1
            loaded_files.append((f.key, rows))
            for line in bad:
                report.problems.append(fixity.Problem(f.key, "bad_catalog_line", f"line {line} is not a catalog row",
                                                      f.key))
    fixity.verify(store, fixity.plan(loaded_files), report)
    if args.json:
        print_json({"store": store.describe(), **report.to_dict()})
    else:
        color = terminal.use_color()
        for p in report.problems:
            print(f"{terminal.paint(p.kind.upper(), 'red', color)}  {p.key}: {p.detail}")
        summary = (f"checked {report.checked} objects ({terminal.human_bytes(report.bytes)}) named by "
                   f"{report.catalog_files} catalog files: {report.ok} ok, {report.count('missing')} missing, "
                   f"{report.count('corrupted')} corrupted")
        if report.count("unreadable"):
            summary += f", {report.count('unreadable')} unreadable"
        if report.count("bad_catalog_line"):
            summary += f", {report.count('bad_catalog_line')} bad catalog lines"
        print(terminal.paint(summary, "red" if report.problems else "green", color))
    return 1 if report.problems else 0
