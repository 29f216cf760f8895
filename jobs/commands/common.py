"""Shared bits of the sub-commands: loading config, opening the store, printing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from crawler.config import LoadedConfig, load_config
from crawler.store import open_store

DEFAULT_CONFIG = "config/default.yaml"


class CommandError(Exception):
    """A user-facing failure: one line, an exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def add_config_arg(parser, *, reading: bool = False) -> None:
    """``--config``.  Commands that only read the archive (``reading``) fall back to the bundled
    config when neither it nor ``$ARCHIVER_CONFIG`` nor ./config/default.yaml is there, so
    ``archiver ls`` works in the folder ``archiver demo`` archived into."""
    fallback = ", else the bundled demo config (./archive)" if reading else ""
    parser.add_argument("--config", "-c", default=None,
                        help=f"YAML config file (default: $ARCHIVER_CONFIG or {DEFAULT_CONFIG}{fallback})")
    parser.set_defaults(config_reading=reading)


def config_path(args) -> str:
    """The config file the command reads: ``--config``, ``$ARCHIVER_CONFIG``, ./config/default.yaml."""
    if args.config:
        return args.config
    if os.environ.get("ARCHIVER_CONFIG"):
        return os.environ["ARCHIVER_CONFIG"]
    if getattr(args, "config_reading", False) and not Path(DEFAULT_CONFIG).is_file():
        return str(bundled_config())
    return DEFAULT_CONFIG


def load(args) -> LoadedConfig:
    args.config = config_path(args)
    return load_config(args.config)


def store_for(loaded: LoadedConfig, *, write: bool = False):
    store = open_store(loaded.settings.storage)
    store.check(write=write)
    return store


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=1, default=str)
    sys.stdout.write("\n")


def bundled_config() -> Path:
    """config/default.yaml: from the checkout when run from one, else the installed copy."""
    checkout = Path(__file__).resolve().parents[2] / "config" / "default.yaml"
    if checkout.is_file():
        return checkout
    return Path(__file__).resolve().parents[1] / "defaults" / "default.yaml"
