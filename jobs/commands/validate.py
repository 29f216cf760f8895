"""``archiver validate``: check a config file without crawling."""

from __future__ import annotations

from jobs.commands.common import add_config_arg, load, store_for


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="check a config file (and optionally the store) without crawling")
    add_config_arg(p)
    p.add_argument("--check-storage", action="store_true",
                   help="also check that the store is reachable and the credentials work (read-only)")
    p.set_defaults(func=run)


def run(args) -> int:
    loaded = load(args)
    settings = loaded.settings
    names = ", ".join(s.name for s in settings.sources) or "none"
    print(f"{loaded.path}: OK: {len(settings.sources)} source(s) ({names}); storage {settings.storage.url}")
    if args.check_storage:
        store = store_for(loaded, write=False)
        print(f"storage OK: {store.describe()}")
    return 0
