"""``archiver serve``: the scheduler daemon (see :mod:`jobs.daemon`)."""

from __future__ import annotations

import os

from jobs.commands.common import CommandError, add_config_arg, config_path
from jobs.daemon import Daemon
from jobs.httpd import parse_listen


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="run every enabled source on its schedule until stopped (SIGTERM)")
    add_config_arg(p)
    p.add_argument("--run-now", action="store_true",
                   help="also run every enabled source once at start, then follow the schedules")
    p.add_argument("--reload-on-change", action="store_true",
                   help="re-read the config when the file changes (SIGHUP always does)")
    p.add_argument("--create-bucket", action="store_true",
                   help="create the bucket (or folder) if it is missing, waiting up to --store-wait for the "
                        "endpoint (for a fresh MinIO in compose)")
    p.add_argument("--store-wait", type=float, default=60.0, metavar="SECONDS",
                   help="with --create-bucket: how long to wait for the store to answer (default 60)")
    http = p.add_mutually_exclusive_group()
    http.add_argument("--http", metavar="[HOST:]PORT", default=os.environ.get("ARCHIVER_HTTP") or None,
                      help="serve /healthz and /metrics here (default: $ARCHIVER_HTTP, else scheduler.http)")
    http.add_argument("--no-http", action="store_true", help="no HTTP endpoint")
    p.set_defaults(func=run)


def listen_arg(value):
    if not value:
        return None
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise CommandError(f"--http: {exc}", code=2) from None


def run(args) -> int:
    daemon = Daemon(config_path(args), log_format=args.log_format, log_level=args.log_level, run_now=args.run_now,
                    reload_on_change=args.reload_on_change, listen=listen_arg(args.http),
                    http=False if args.no_http else (True if args.http else None),
                    create_bucket=args.create_bucket, store_wait_s=args.store_wait)
    return daemon.run()
