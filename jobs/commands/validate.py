"""``archiver validate``: check a config file without crawling."""

from __future__ import annotations

from jobs.commands.common import CommandError, add_config_arg, load, store_for


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="check a config file (and optionally the store) without crawling")
    add_config_arg(p)
    p.add_argument("--check-storage", action="store_true",
                   help="also check that the store is reachable and the credentials work (read-only)")
    p.add_argument("--check-coordination", action="store_true",
                   help="also check that the Redis in coordination.redis_url answers")
    p.set_defaults(func=run)


def run(args) -> int:
    loaded = load(args)
    settings = loaded.settings
    names = ", ".join(s.name for s in settings.sources) or "none"
    print(f"{loaded.path}: OK: {len(settings.sources)} source(s) ({names}); storage {settings.storage.url}")
    coordination_report(settings, check=args.check_coordination)
    if args.check_storage:
        store = store_for(loaded, write=False)
        print(f"storage OK: {store.describe()}")
    return 0


def coordination_report(settings, *, check: bool) -> None:
    """Say whether replicas coordinate (the URL masked), and check Redis when asked."""
    from crawler.redisconn import connect

    distributed = [s.name for s in settings.sources if s.distributed]
    if not settings.coordinated:
        if distributed:
            print(f"note: {', '.join(distributed)} marked distributed, but coordination.redis_url is not "
                  "set: each runs on one worker")
        if check:
            raise CommandError("--check-coordination: coordination.redis_url is not set", 2)
        return
    print(f"coordination: {settings.coordination.describe()} (prefix '{settings.coordination.key_prefix}'; "
          f"distributed sources: {', '.join(distributed) or 'none'})")
    if check:
        connect(settings.coordination).close()  # a CoordinationError exits 4 with one line
        print("coordination OK: Redis answers")
