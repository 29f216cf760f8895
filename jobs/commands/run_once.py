"""``archiver run-once SOURCE``: one run of one source, exactly as the scheduler runs it."""

from __future__ import annotations

from jobs.commands import crawl
from jobs.commands.common import add_config_arg


def add_parser(sub) -> None:
    p = sub.add_parser("run-once", help="run one source once now (even if disabled), then exit")
    p.add_argument("source", metavar="SOURCE")
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print the run record as JSON")
    crawl.add_http_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    args.source, args.parallel = [args.source], 1
    return crawl.run(args)
