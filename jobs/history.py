"""Run history read back from the store: ``runs/<source>/<run-id>.json``, newest first.

Run ids start with the UTC start time (``20261125T130500Z-<token>``), so the key order
is the start order: listing a source's prefix and reading the last keys gives its
latest runs without opening every record.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator, Optional

from crawler.records import parse_iso
from crawler.store import KeyNotFound, Store

log = logging.getLogger(__name__)

SUCCESS_OUTCOMES = frozenset({"ok", "partial"})


@dataclass(frozen=True)
class RunRef:
    source: str
    run_id: str
    key: str


def _ref(key: str) -> Optional[RunRef]:
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "runs" or not parts[2].endswith(".json"):
        return None
    return RunRef(parts[1], parts[2][: -len(".json")], key)


def run_refs(store: Store, source: Optional[str] = None) -> list[RunRef]:
    """Every run of ``source`` (or of all sources), newest first."""
    prefix = f"runs/{source}/" if source else "runs/"
    refs = [r for r in (_ref(info.key) for info in store.list(prefix)) if r is not None]
    refs.sort(key=lambda r: (r.run_id, r.source), reverse=True)
    return refs


def read_record(store: Store, ref: RunRef) -> Optional[dict]:
    try:
        record = json.loads(store.get(ref.key))
    except KeyNotFound:
        return None
    except ValueError:
        log.warning("run record %s is not valid JSON; skipped", ref.key)
        return None
    return record if isinstance(record, dict) else None


def records(store: Store, refs: Iterable[RunRef]) -> Iterator[dict]:
    for ref in refs:
        record = read_record(store, ref)
        if record is not None:
            yield record


def recent_runs(store: Store, source: Optional[str] = None, *, limit: int = 20,
                outcomes: Optional[Iterable[str]] = None) -> list[dict]:
    """The latest ``limit`` run records (optionally only those with one of ``outcomes``), newest first."""
    wanted = set(outcomes) if outcomes else None
    out: list[dict] = []
    last_second = None
    for ref in run_refs(store, source):
        second = ref.run_id.split("-", 1)[0]  # run ids order runs to the second only
        if len(out) >= limit and second != last_second:
            break
        record = read_record(store, ref)
        if record is not None and (wanted is None or record.get("outcome") in wanted):
            out.append(record)
            last_second = second
    # within one second, the start times (to the millisecond) say which came last
    out.sort(key=lambda r: (r.get("run_id", "")[:16], r.get("started_at") or ""), reverse=True)
    return out[:limit]


def last_run(store: Store, source: str) -> Optional[dict]:
    found = recent_runs(store, source, limit=1)
    return found[0] if found else None


def last_success(store: Store, source: str, *, scan: int = 50) -> Optional[dict]:
    """The latest ``ok`` or ``partial`` run among the last ``scan`` runs."""
    for record in records(store, run_refs(store, source)[:scan]):
        if record.get("outcome") in SUCCESS_OUTCOMES:
            return record
    return None


def started_at(record: dict) -> Optional[datetime]:
    for key in ("started_at", "trigger_time", "ended_at"):
        value = record.get(key)
        if value:
            try:
                return parse_iso(value)
            except ValueError:
                continue
    return None
