"""A source's template model in the store (``state/<source>/template.json``), and its use in a run.

:class:`TemplateLearner` is what a crawl holds: the model loaded at the start,
learning from the fingerprints extraction returns, refreshing the template set
the workers use now and then, and saying when the model is too young to be
trusted (the first pages of a source's first run are held back, learned from,
then extracted; see :mod:`crawler.pipelines`).  It also keeps the run's
:class:`~crawler.template_merge.Learning`, so that :func:`save_learner` can merge
it into a model another writer stored meanwhile (see :mod:`crawler.template_merge`).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Iterable, Optional

from crawler.archive import FatalStoreError
from crawler.extraction.template import TemplateModel, url_id
from crawler.store import StoreError
from crawler.template_merge import (Learning, apply, drop_pending, load_pending, pending_key, read_versioned,
                                    save_merged)

log = logging.getLogger(__name__)

WARMUP_PAGES = 6      # a model that learned fewer pages than this holds the first pages back
REFRESH_EVERY = 25    # learned pages between two refreshes of the template set


def load_model(store, source: str) -> TemplateModel:
    """The stored model of ``source``, or a new one (missing, unreadable or not read: logged, never fatal)."""
    try:
        return read_versioned(store, source)[0]
    except StoreError as exc:
        log.warning("template model of %s not read (%s); starting a new one", source, exc)
        return TemplateModel(source=source)


def open_learner(store, source: str) -> "TemplateLearner":
    """A run's learner: the stored model (and its version), with any pending learnings folded in.

    A store failure is logged, never fatal: the run learns into a new model and,
    having no version, merges into whatever is stored when it saves.
    """
    try:
        model, version = read_versioned(store, source)
        pending = load_pending(store, source)
    except StoreError as exc:
        log.warning("template model of %s not read (%s); starting a new one", source, exc)
        return TemplateLearner(TemplateModel(source=source))
    return TemplateLearner(model, version=version, pending=pending)


def current_model(store, source: str) -> TemplateModel:
    """The model the next run of ``source`` starts from (the stored one, pending learnings folded in)."""
    return open_learner(store, source).model


def save_learner(archiver, learner: "TemplateLearner", run_id: str) -> Counter:
    """Close the run and store the model (compare-and-swap, merging with other writers).

    Returns the counts for the run record.  When the model cannot be stored, the
    run's learning is stored (or spooled) as a pending learning the next run folds in.
    """
    counts: Counter = Counter()
    model = learner.finish()
    if model is None:
        return counts
    result = save_merged(archiver.store, model, learner.learning, learner.version)
    if result.conflicts:
        counts["template_conflicts_merged"] += result.conflicts
    if result.stored:
        counts["template_saved"] += 1
        drop_pending(archiver.store, learner.pending_keys)
        return counts
    key = pending_key(model.source, run_id)
    log.warning("template model of %s not stored (%s); its learning of %d pages is kept as %s for the "
                "next run", model.source, result.error, len(learner.learning.pages), key)
    try:
        outcome = archiver.put(key, learner.learning.to_json(), content_type="application/json")
    except FatalStoreError as exc:
        outcome = exc.outcome
    counts["template_learning_pending" if outcome in ("stored", "exists") else f"template_learning_{outcome}"] += 1
    return counts


class TemplateLearner:
    def __init__(self, model: TemplateModel, *, version: Optional[str] = None,
                 pending: Iterable[tuple[str, Learning]] = (), warmup: int = WARMUP_PAGES,
                 refresh_every: int = REFRESH_EVERY):
        self.model = model
        self.version = version          # the stored model's version token (None: none was read)
        self.learning = Learning(model.source, closing=model.runs)
        self.pending_keys = []
        for key, learning in pending:   # runs that could not store the model: their pages count now
            apply(model, learning)
            self.learning.absorb(learning)
            self.pending_keys.append(key)
        self.warmup = warmup
        self.refresh_every = refresh_every
        self.learned_this_run = 0
        self._since_refresh = 0
        self._template = model.template()
    @property
    def warming_up(self) -> bool:
        """True while the model cannot yet tell template from article: during a source's first run
        until it has learned ``warmup`` pages, and whenever it knows fewer than two pages."""
        return self.model.pages < 2 or (self.model.runs == 0 and self.model.pages < self.warmup)

    def template(self) -> frozenset:
        return self._template

    def learn(self, url: str, fingerprints: Iterable[str]) -> bool:
        """Learn one page; returns True when the template set changed (the workers need the new one)."""
        uid = url_id(url)
        if not self.model.learn_id(uid, fingerprints):
            self.learning.add(uid, None)
            return False
        self.learning.add(uid, fingerprints)
        self.learned_this_run += 1
        self._since_refresh += 1
        if self.warming_up or self._since_refresh >= self.refresh_every:
            return self.refresh()
        return False

    def refresh(self) -> bool:
        self._since_refresh = 0
        new = self.model.template()
        changed = new != self._template
        self._template = new
        return changed

    def finish(self) -> Optional[TemplateModel]:
        """Close the run; the model to store, or None when nothing was learned (nor folded in)."""
        if self.learned_this_run == 0 and not self.pending_keys:
            return None
        self.model.finish_run(closing=self.learning.closing)
        return self.model
