"""The publication date a page shows in its markup, for pages whose metadata has none.

htmldate's markup steps, in its own order: ``<meta>`` headers, JSON, ``<abbr>``,
elements whose class or id says "date" / "byline" / "published" (and the
title/h1), ``<time>``.  Its last fast-mode step, a loose pattern over the whole
text, is left out on purpose: it takes the first date the *article* mentions
("built on 2019-05-03") for the date it was published, and a wrong date in an
archive is worse than none.  Those steps are htmldate internals; if a release
renames them, this returns None (the article stands without a date) rather
than guess.
"""

from __future__ import annotations

import logging
from typing import Optional

log = logging.getLogger(__name__)

try:
    from htmldate.core import (date_candidates, examine_abbr_elements, examine_elements, examine_header,
                               examine_time_elements)
    from htmldate.extractors import discard_unwanted, json_search
    from htmldate.settings import CLEANING_LIST
    from htmldate.utils import Extractor, clean_html, load_html
    from htmldate.validators import get_max_date, get_min_date
except ImportError:  # pragma: no cover - depends on the installed htmldate
    load_html = None


def markup_date(page) -> Optional[str]:
    """``YYYY-MM-DD`` the page's markup gives as its (original) publication date, or None.

    ``page``: HTML text, or the page's lxml tree, which is then cleaned in place (scripts,
    navigation... removed): pass a tree only when nothing reads it afterwards.
    """
    if load_html is None:
        return None
    try:
        tree = load_html(page)
        if tree is None:
            return None
        options = Extractor(False, get_max_date(None), get_min_date(None), True, "%Y-%m-%d")
        found = examine_header(tree, options) or json_search(tree, options) or examine_abbr_elements(tree, options)
        if found:
            return found
        tree = discard_unwanted(clean_html(tree, CLEANING_LIST))
        return (examine_elements(date_candidates(tree, False), options)
                or examine_elements(tree.xpath(".//title|.//h1"), options)
                or examine_time_elements(tree, options))
    except Exception:  # noqa: BLE001 - a date is a detail; the article stands without one
        log.debug("no markup date read", exc_info=True)
        return None
