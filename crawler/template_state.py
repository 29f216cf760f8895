"""A source's template model in the store (``state/<source>/template.json``), and its use in a run.

:class:`TemplateLearner` is what a crawl holds: the model loaded at the start,
learning from the fingerprints extraction returns, refreshing the template set
the workers use now and then, and saying when the model is too young to be
trusted (the first pages of a source's first run are held back, learned from,
then extracted; see :mod:`crawler.pipelines`).
"""

from __future__ import annotations

import logging
from typing import Iterable, Optional

from crawler.extraction.template import TemplateModel, state_key
from crawler.store import KeyNotFound, StoreError

log = logging.getLogger(__name__)

WARMUP_PAGES = 6      # a model that learned fewer pages than this holds the first pages back
REFRESH_EVERY = 25    # learned pages between two refreshes of the template set


def load_model(store, source: str) -> TemplateModel:
    """The stored model of ``source``, or a new one (missing or unreadable: logged, never fatal)."""
    try:
        data = store.get(state_key(source))
    except KeyNotFound:
        return TemplateModel(source=source)
    except StoreError as exc:
        log.warning("template model of %s not read (%s); starting a new one", source, exc)
        return TemplateModel(source=source)
    try:
        return TemplateModel.from_json(data, source)
    except ValueError as exc:
        log.warning("template model of %s is unreadable (%s); starting a new one", source, exc)
        return TemplateModel(source=source)


def save_model(archiver, model: TemplateModel) -> str:
    """Store the model through the archiver (spooled if the store is down). Returns the outcome."""
    return archiver.put(state_key(model.source), model.to_json(), content_type="application/json")


class TemplateLearner:
    def __init__(self, model: TemplateModel, *, warmup: int = WARMUP_PAGES, refresh_every: int = REFRESH_EVERY):
        self.model = model
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
        if not self.model.learn(url, fingerprints):
            return False
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
        """Close the run; the model to store, or None when nothing was learned."""
        if self.learned_this_run == 0:
            return None
        self.model.finish_run()
        return self.model
