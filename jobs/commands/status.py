"""``archiver status``: each source's schedule, next fire times, and last run (from the store)."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from crawler.records import iso
from crawler.secrets import mask
from crawler.store import StoreError
from jobs import history
from jobs.commands.common import add_config_arg, load, print_json, store_for
from jobs.schedule import due_between, schedule_for


def add_parser(sub) -> None:
    p = sub.add_parser("status", help="next fire times per source, and each source's last run")
    add_config_arg(p)
    p.add_argument("--next", type=int, default=3, metavar="N", help="fire times to show per source (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _ago(seconds: float) -> str:
    future = seconds < 0
    s = abs(seconds)
    text = f"{s:.0f}s" if s < 120 else f"{s / 60:.0f}m" if s < 7200 else f"{s / 3600:.1f}h" if s < 172800 \
        else f"{s / 86400:.1f}d"
    return f"in {text}" if future else f"{text} ago"


def source_status(source, store, now: datetime, n_next: int) -> dict:
    last = success = None
    error = None
    if store is not None:
        try:
            last = history.last_run(store, source.name)
            success = history.last_success(store, source.name) if last else None
        except StoreError as exc:
            error = mask(str(exc))
    since = history.started_at(last) if last else None
    schedule = schedule_for(source, anchor=since or now)
    upcoming, t = [], now
    for _ in range(n_next):
        t = schedule.next_base(t)
        if t is None:
            break
        upcoming.append(t)
    due = due_between(schedule, since, now) if since else None
    return {
        "source": source.name, "enabled": source.enabled, "schedule": schedule.describe(),
        "timezone": source.timezone, "jitter_s": source.jitter,
        "next_fires": [iso(t) for t in upcoming],
        "next_fires_local": [t.astimezone(ZoneInfo(source.timezone)).isoformat() for t in upcoming],
        "due_since": iso(due.first) if due else None, "missed_fire_times": due.count if due else 0,
        "last_run": _brief(last), "last_success": _brief(success), "history_error": error,
    }


def _brief(record):
    if not record:
        return None
    return {k: record.get(k) for k in ("run_id", "trigger", "started_at", "ended_at", "duration_s", "outcome",
                                       "message")}


def run(args) -> int:
    loaded = load(args)
    now = datetime.now(timezone.utc)
    store = None
    try:
        store = store_for(loaded, write=False)
    except StoreError as exc:
        print(f"archiver: warning: cannot read run history: {mask(str(exc))}", file=sys.stderr)
    rows = [source_status(s, store, now, max(1, args.next)) for s in loaded.settings.sources]
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        head = f"{r['source']}{'' if r['enabled'] else ' (disabled)'}: {r['schedule']}"
        if r["jitter_s"]:
            head += f", jitter up to {r['jitter_s']}s"
        print(head)
        if r["next_fires"]:
            first = datetime.fromisoformat(r["next_fires_local"][0])
            print(f"  next:     {', '.join(_local(t) for t in r['next_fires_local'])}"
                  f" ({_ago((now - first).total_seconds())})")
        last = r["last_run"]
        if last:
            started = datetime.fromisoformat(last["started_at"].replace("Z", "+00:00"))
            print(f"  last run: {last['outcome']} {last['started_at']} ({_ago((now - started).total_seconds())}), "
                  f"{last['trigger']}, {last['run_id']}" + (f": {last['message']}" if last.get("message") else ""))
            if r["last_success"] and r["last_success"]["run_id"] != last["run_id"]:
                print(f"  last ok:  {r['last_success']['started_at']} {r['last_success']['run_id']}")
        elif r["history_error"]:
            print(f"  last run: unknown ({r['history_error']})")
        else:
            print("  last run: never")
        if r["due_since"] and r["enabled"]:
            print(f"  due since {r['due_since']} ({r['missed_fire_times']} fire time(s) without a run; "
                  "a running `archiver serve` makes it up once)")
    return 0


def _local(text: str) -> str:
    t = datetime.fromisoformat(text)
    return t.strftime("%Y-%m-%d %H:%M:%S %Z" if t.second else "%Y-%m-%d %H:%M %Z").strip()
