"""Shared arguments and helpers of the read-only commands (ls, show, diff, stats, export, verify)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from jobs import archive_reader as reader
from jobs.commands.common import CommandError, add_config_arg, load, store_for


def add_read_args(parser, *, json_help: str = "print JSON for scripts") -> None:
    add_config_arg(parser, reading=True)
    parser.add_argument("--json", action="store_true", help=json_help)


def add_since_arg(parser) -> None:
    parser.add_argument("--since", metavar="DATE",
                        help="only what was fetched since DATE (2026-11-01, an ISO time, or 7d / 12h ago)")


def open_read_only(args):
    """The config and its store, checked for reading only (read-only credentials are enough)."""
    loaded = load(args)
    return loaded, store_for(loaded, write=False)


def since_of(args) -> Optional[datetime]:
    if not getattr(args, "since", None):
        return None
    try:
        return reader.parse_since(args.since)
    except ValueError as exc:
        raise CommandError(f"--since: {exc}", code=2) from None


def sources_of(args, loaded, store, name: Optional[str]) -> list[str]:
    """The one source asked for (it may be gone from the config but still archived), or all of them."""
    configured = [s.name for s in loaded.settings.sources]
    if name:
        if name not in configured and name not in reader.catalog_sources(store):
            loaded.settings.source(name)  # raises the config error with a "did you mean"
        return [name]
    names = set(configured) | set(reader.catalog_sources(store))
    return sorted(names)


def not_archived(exc: reader.NotArchived) -> CommandError:
    return CommandError(str(exc), code=1)
