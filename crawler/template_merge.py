"""Several replicas learning one source's template model in the same run, no update lost.

In a distributed crawl every replica loads ``state/<source>/template.json`` at the
start, learns from the pages *it* fetched, and stores the model at the end: a
plain write would keep only the last replica's pages.  Here each replica stores
under a lock in Redis, after reading the model as it is now and adding to it
what it learned since it loaded its own copy (:func:`merge_template`, pure).
Each page is fetched by one replica only, so the counts add up.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Iterator

from crawler.extraction.template import TemplateModel

log = logging.getLogger(__name__)

LOCK_TTL_S = 30.0   # a replica that dies holding the lock frees it after this
LOCK_WAIT_S = 60.0  # how long to wait for the lock before storing without it


def snapshot(model: TemplateModel) -> TemplateModel:
    """A copy of the model as loaded (the base the run's learning is measured from)."""
    return TemplateModel.from_json(model.to_json(), model.source)


def merge_template(base: TemplateModel, ours: TemplateModel, stored: TemplateModel) -> TemplateModel:
    """``stored`` plus what ``ours`` learned since ``base``: counts add, URLs and runs unite."""
    merged = TemplateModel.from_json(stored.to_json(), stored.source or ours.source)
    merged.pages += max(0, ours.pages - base.pages)
    for fp, (count, last) in ours.blocks.items():
        entry = merged.blocks.get(fp)
        if entry is None:  # new, or pruned as stale by another replica: what we saw counts
            merged.blocks[fp] = [count, last]
        else:
            entry[0] += max(0, count - base.blocks.get(fp, [0, 0])[0])
            entry[1] = max(entry[1], last)
    for uid, last in ours.urls.items():
        merged.urls[uid] = max(last, merged.urls.get(uid, last))
    merged.runs = max(merged.runs, ours.runs)
    return merged


@contextmanager
def locked(leases, name: str, holder: str, *, ttl_s: float = LOCK_TTL_S, wait_s: float = LOCK_WAIT_S,
           sleep=time.sleep, clock=time.monotonic) -> Iterator[bool]:
    """Hold the lease ``name`` while the block runs; yields False if it could not be had in time."""
    deadline = clock() + wait_s
    lease = leases.acquire(name, holder, ttl_s)
    while lease is None and clock() < deadline:
        sleep(0.05)
        lease = leases.acquire(name, holder, ttl_s)
    try:
        yield lease is not None
    finally:
        if lease is not None:
            leases.release(lease)


def save_shared(archiver, model: TemplateModel, base: TemplateModel, leases, holder: str) -> str:
    """Store ``model`` merged into the stored one, under the source's template lock."""
    from crawler.template_state import load_model, save_model

    with locked(leases, f"template:{model.source}", holder) as got:
        if not got:
            log.warning("template model of %s stored without the lock (another replica held it too long)",
                        model.source)
        stored = load_model(archiver.store, model.source)
        return save_model(archiver, merge_template(base, model, stored))
