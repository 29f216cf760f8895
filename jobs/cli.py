"""The ``archiver`` command: thin argument parsing over the jobs and the store.

Each sub-command lives in :mod:`jobs.commands` and registers itself through
``add_parser``.  User mistakes end with one line on stderr and a non-zero exit
(2 for configuration and usage errors); tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from crawler import __version__
from crawler.config import ConfigError
from crawler.logs import setup_logging
from crawler.redisconn import CoordinationError
from crawler.secrets import mask
from crawler.store import StoreError
from jobs.commands.common import CommandError

COMMANDS = ["demo", "crawl", "validate", "ls", "show", "diff", "stats", "export", "verify", "re-extract",
            "serve", "run-once", "runs", "status", "healthcheck",
            "extract"]


_GLOBAL_WITH_VALUE = ("--log-level", "--log-format")


def wanted_command(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (None for ``--help`` and mistakes).

    Only that command's module is imported: some import the extractor or the
    scheduler, and every invocation would otherwise pay for all of them.
    """
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _GLOBAL_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archiver",
        description="Scheduled scraping and archiving: raw pages and clean articles, side by side.")
    parser.add_argument("--version", action="version", version=f"archiver {__version__}")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--log-format", default="plain", choices=("plain", "json"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in ([only] if only else COMMANDS):
        importlib.import_module(f"jobs.commands.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(wanted_command(argv))
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"archiver: config error: {mask(str(exc))}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"archiver: storage error: {mask(str(exc))}", file=sys.stderr)
        return 3
    except CoordinationError as exc:
        print(f"archiver: coordination error: {exc}", file=sys.stderr)
        return 4
    except CommandError as exc:
        print(f"archiver: {mask(str(exc))}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("archiver: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
