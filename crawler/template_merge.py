"""Storing a source's template model when several writers learn it at once, with no update lost.

Who writes ``state/<source>/template.json`` at the same time: the replicas of a
``distributed`` crawl (each learns from the pages *it* fetched), and two runs of
one source that overlap on different workers.  A plain write would keep only the
last writer's pages.  So a run keeps, beside the model it learns, its
:class:`Learning`: the pages it learned (url id + block fingerprints, never the
URL itself) and the known pages it saw again.  The model is stored with the
store's compare-and-swap (S3 ``If-Match`` / ``If-None-Match: *``, a lock file in
a folder; the primitive :mod:`crawler.state` uses).  When another writer stored
the model since this run loaded it, the run reads theirs, replays its learning
onto it (:func:`replay`; a page the stored model already knows is not counted
again, so a page learned by both writers counts once), closes the run on the
merged model and tries again, at most ``MAX_SWAP_ATTEMPTS`` times.

The run counter (which ages blocks out, see
:meth:`crawler.extraction.template.TemplateModel.finish_run`): a run closes the
run number of the model it *loaded*.  When another writer already closed it
(a replica of the same distributed crawl, or an overlapping run), the counter
does not move again: runs that started from the same model count as one run.
Counting each writer as a run would age every block out up to N times faster
with N replicas, and evict live template blocks; counting overlapping runs as
one only makes blocks age a little slower.  Replayed pages are stamped with the
merged model's current run, so they are never stale on arrival.  Stale-block
eviction and the size bounds are re-applied to the merged model (they only
drop what is stale or least seen, whoever learned it).

When the model cannot be stored (the store is down, or the writers kept
conflicting), the run's learning is not lost: it is written as its own object,
``state/<source>/template-learning/<run-id>-<token>.json``, through the archiver
(so into the local spool when the store is down, uploaded by the next run as
every spooled write is).  A unique key needs no compare-and-swap.  The next run
of the source folds every pending learning into the model it loads
(:func:`load_pending`) and deletes them once its own save succeeded; folding one
twice is harmless, for the same reason a page learned by two writers counts
once.  The run record counts ``template_learning_pending`` (or
``template_learning_spooled``) and says why in the log.  The model is derived
data, but rebuilding it needs pages that are not fetched again (an unchanged
page answers 304), so its learning is kept rather than dropped.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional

from crawler.extraction.template import TemplateModel, state_key
from crawler.keys import check_component
from crawler.state import MAX_SWAP_ATTEMPTS
from crawler.store import KeyNotFound, StoreError

log = logging.getLogger(__name__)

LEARNING_FORMAT = 1
CONFLICT_BACKOFF_S = 0.05   # at most this many seconds times the conflicts so far


@dataclass
class Learning:
    """What one run learned: pages new to the model it loaded, and known pages seen again."""

    source: str
    closing: int = 0                              # the run counter of the model the run loaded
    pages: dict[str, tuple[str, ...]] = field(default_factory=dict)   # url id -> fingerprints
    seen: set[str] = field(default_factory=set)  # url ids of known pages seen again

    def add(self, uid: str, fingerprints: Optional[Iterable[str]]) -> None:
        """A page learned (``fingerprints``), or a known page seen again (None)."""
        if fingerprints is None:
            self.seen.add(uid)
        elif uid not in self.pages:
            # interned: the template's fingerprints repeat on every page, one copy is kept
            self.pages[uid] = tuple(sys.intern(fp) for fp in set(fingerprints))

    def absorb(self, other: "Learning") -> None:
        for uid, fps in other.pages.items():
            self.add(uid, fps)
        self.seen |= other.seen

    def __bool__(self) -> bool:
        return bool(self.pages or self.seen)

    def to_json(self) -> bytes:
        doc = {"format": LEARNING_FORMAT, "kind": "template-learning", "source": self.source,
               "closing": self.closing, "pages": self.pages, "seen": sorted(self.seen)}
        return json.dumps(doc, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> "Learning":
        """Raises ValueError if ``data`` is not a stored learning."""
        try:
            doc = json.loads(data)
            if doc.get("kind") != "template-learning" or doc.get("format") != LEARNING_FORMAT:
                raise ValueError("not a template learning of a known format")
            pages = {str(uid): tuple(str(fp) for fp in fps) for uid, fps in doc["pages"].items()}
            return cls(source=str(doc.get("source") or ""), closing=int(doc.get("closing") or 0),
                       pages=pages, seen={str(uid) for uid in doc.get("seen") or ()})
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise ValueError(f"unreadable template learning: {exc}") from None


def apply(model: TemplateModel, learning: Learning) -> TemplateModel:
    """Learn ``learning``'s pages into ``model`` (pages it already knows are not counted again)."""
    for uid in learning.seen:
        if model.knows(uid):
            model.learn_id(uid, ())  # only refreshes when the page was last seen
    for uid, fps in learning.pages.items():
        model.learn_id(uid, fps)
    return model


def replay(stored: TemplateModel, learning: Learning) -> TemplateModel:
    """``stored`` (another writer's model) with this run's learning added and the run closed on it."""
    stored.runs = max(stored.runs, learning.closing)  # a reset model: replayed pages are not stale at once
    apply(stored, learning)
    stored.finish_run(closing=learning.closing)
    return stored


def read_versioned(store, source: str) -> tuple[TemplateModel, Optional[str]]:
    """The stored model and its version token; ``(new model, None)`` if there is none.

    An unreadable object gives a new model with that object's token, so the next
    swap replaces it.  Raises :class:`StoreError` when the store fails.
    """
    try:
        data, version = store.get_versioned(state_key(source))
    except KeyNotFound:
        return TemplateModel(source=source), None
    try:
        return TemplateModel.from_json(data, source), version
    except ValueError as exc:
        log.warning("template model of %s is unreadable (%s); starting a new one", source, exc)
        return TemplateModel(source=source), version


@dataclass
class SaveResult:
    stored: bool
    conflicts: int = 0
    error: Optional[str] = None


def save_merged(store, model: TemplateModel, learning: Learning, version: Optional[str], *,
                sleep=time.sleep) -> SaveResult:
    """Compare-and-swap ``model`` (closed already) over ``version``; on a conflict replay ``learning``
    onto the stored model and try again.  Never raises for a store failure: see ``error``.

    One object per source that every replica writes at the end of a crawl: after a
    conflict a writer waits a short random while (growing with each conflict), so
    replicas finishing together do not keep colliding.
    """
    key = state_key(model.source)
    data, conflicts = model.to_json(), 0
    try:
        for _ in range(MAX_SWAP_ATTEMPTS):
            if store.swap(key, data, expected=version) is not None:
                return SaveResult(True, conflicts)
            conflicts += 1
            sleep(random.uniform(0, CONFLICT_BACKOFF_S * conflicts))
            stored, version = read_versioned(store, model.source)
            data = replay(stored, learning).to_json()
    except StoreError as exc:
        return SaveResult(False, conflicts, str(exc))
    return SaveResult(False, conflicts, f"{key}: still conflicting after {MAX_SWAP_ATTEMPTS} attempts")


# -- learning that could not be merged yet ---------------------------------------------

def pending_prefix(source: str) -> str:
    return f"state/{check_component(source, 'source name')}/template-learning/"


def pending_key(source: str, run_id: str) -> str:
    return f"{pending_prefix(source)}{check_component(run_id, 'run id')}-{secrets.token_hex(4)}.json"


def load_pending(store, source: str) -> list[tuple[str, Learning]]:
    """Learnings stored by runs that could not save the model (``(key, learning)``, oldest key first).

    An unreadable one is logged and left where it is; a store failure raises :class:`StoreError`.
    """
    out = []
    for info in store.list(pending_prefix(source)):
        if not info.key.endswith(".json"):
            continue
        try:
            out.append((info.key, Learning.from_json(store.get(info.key))))
        except KeyNotFound:  # folded and removed by another run meanwhile
            continue
        except ValueError as exc:
            log.warning("%s: %s; left in place", info.key, exc)
    return out


def drop_pending(store, keys: Iterable[str]) -> None:
    """Remove learnings now in the stored model (one left behind is folded again, harmlessly)."""
    for key in keys:
        try:
            store.delete(key)
        except StoreError as exc:
            log.warning("cannot remove %s (%s); the next run folds it again", key, exc)
            return
