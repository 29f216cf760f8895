"""``archiver healthcheck``: ask a running ``archiver serve`` if it is healthy; the exit code says.

For container ``HEALTHCHECK`` lines and scripts: 0 healthy, 1 unhealthy or not answering.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from jobs.commands.common import add_config_arg, load
from jobs.httpd import parse_listen, probe_url


def add_parser(sub) -> None:
    p = sub.add_parser("healthcheck", help="exit 0 if a running `archiver serve` answers healthy on /healthz")
    p.add_argument("--url", help="the /healthz URL (default: from $ARCHIVER_HTTP, else scheduler.http)")
    add_config_arg(p)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer (default 5)")
    p.set_defaults(func=run)


def health_url(args) -> str:
    if args.url:
        return args.url
    if os.environ.get("ARCHIVER_HTTP"):
        return probe_url(*parse_listen(os.environ["ARCHIVER_HTTP"]))
    http = load(args).settings.scheduler.http
    return probe_url(http.host, http.port)


def run(args) -> int:
    url = health_url(args)
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as resp:  # noqa: S310 - our own endpoint
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    except (OSError, ValueError) as exc:
        print(f"unhealthy: no answer from {url} ({getattr(exc, 'reason', None) or exc})")
        return 1
    try:
        problems = json.loads(body).get("problems") or []
    except (ValueError, AttributeError):
        problems = []
    if status == 200:
        print(f"healthy: {url}")
        return 0
    print(f"unhealthy ({status}): {'; '.join(problems) or body[:200].decode(errors='replace')}")
    return 1
