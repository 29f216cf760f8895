"""Pure extraction: page bytes + URL -> an Article (or the reason there is none).

``extract(body, url, content_type, options)`` never raises on a page.  It
returns an ``Article`` whose ``status`` is ``ok``, ``empty`` (no article text
found, common on listing pages) or ``failed`` (with the reason).  The stages,
each a module of :mod:`crawler.extraction`:

1. decode with the page's real charset; cut text printed outside the document;
2. read metadata from JSON-LD / microdata / OpenGraph / meta tags;
3. split the page into text blocks and fingerprint them (for template learning);
4. apply the source's rules (``exclude`` selectors, ``include`` body);
5. clear the blocks the source's template model knows as template;
6. trafilatura finds the article in what is left;
7. cut ``exclude_text`` matches and stray lines (counters, share widgets, CMS
   status, teasers, orphan headings);
8. cross-check with the publisher's ``articleBody``; render text with
   paragraphs and Markdown; detect the language.

``options`` is a frozen, picklable dataclass: extraction runs in worker processes
(it and ``Article`` live in :mod:`crawler.extraction.job`, which the crawl
process imports instead of this module).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Optional
from urllib.parse import urlsplit

import trafilatura

from crawler.decode import decode_html
from crawler.extraction import body as xbody
from crawler.extraction import blocks as xblocks
from crawler.extraction import document, language, lines, structured
from crawler.extraction import rules as xrules
from crawler.extraction.dates import normalize_date
from crawler.extraction.job import (  # noqa: F401 - re-exported: the extractor's public names
    EXTRACTOR, PIPELINE_VERSION, Article, ExtractOptions, extractor_version)
from crawler.extraction.pagedate import markup_date
from crawler.extraction.report import Removal
from crawler.extraction.textnorm import coverage, words

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

EXTRACTOR_VERSION = extractor_version()

DEFAULT_OPTIONS = ExtractOptions()


def extract(body: bytes, url: str, content_type: str | None = None,
            options: ExtractOptions = DEFAULT_OPTIONS) -> Article:
    """Extract the article from one page; never raises."""
    try:
        html, encoding = decode_html(body, content_type)
    except Exception as exc:  # noqa: BLE001 - a page must never crash the crawl
        return Article(status="failed", reason=f"decode: {type(exc).__name__}: {exc}")
    try:
        article = _extract(html, url, encoding, options)
    except Exception as exc:  # noqa: BLE001
        log.debug("extraction failed for %s", url, exc_info=True)
        article = Article(status="failed", reason=f"{type(exc).__name__}: {exc}", encoding=encoding)
    # which of the source's rules made it (stored as extraction.rules in the clean object)
    article.extractor["rules"] = xrules.digest(options.rules, options.stray_lines)
    return article


def page_fingerprints(body: bytes, content_type: str | None = None) -> tuple[str, ...]:
    """The block fingerprints of a page (what template learning counts); () if it cannot be parsed."""
    try:
        html, _ = decode_html(body, content_type)
        html, _ = document.strip_outside(html)
        tree = document.parse(html)
    except Exception:  # noqa: BLE001
        return ()
    if tree is None:
        return ()
    return tuple(dict.fromkeys(b.fingerprint for b in xblocks.segment(tree)))


def _line_judge(text: str, position: int, count: int):
    edge = position < 0 or position < 3 or position >= count - 3
    reason = lines.classify(text, at_edge=edge)
    return ("lines", reason, "") if reason else None


def _extract(html: str, url: str, encoding: str, options: ExtractOptions) -> Article:
    removed: list[Removal] = []
    if not unicodedata.is_normalized("NFC", html):
        html = unicodedata.normalize("NFC", html)  # "u" + combining diaeresis is "ü", as readers search it
    html, outside = document.strip_outside(html)
    removed.extend(outside)
    tree = document.parse(html)
    if tree is None:
        return Article(status="empty", reason="no HTML to extract from", encoding=encoding)

    try:
        meta = structured.read_metadata(tree, url)
    except Exception as exc:  # noqa: BLE001 - odd metadata must not cost the article its text
        log.debug("metadata of %s not read", url, exc_info=True)
        meta = structured.PageMetadata(notes=[f"metadata not read: {type(exc).__name__}: {exc}"])
    blocks = xblocks.segment(tree, url, want_links=options.markdown)
    fingerprints = tuple(dict.fromkeys(b.fingerprint for b in blocks)) if options.fingerprints else ()
    links = {b.text: b.anchors for b in blocks if b.anchors} if options.markdown else None

    # the source's rules, then its template
    ruleset = options.rules
    if ruleset.exclude:
        removed.extend(xrules.apply_exclude(tree, ruleset))
    if options.template:
        for block in blocks:
            if block.fingerprint in options.template:
                removed.append(Removal.of("template", "repeated-block", block.text, block.path))
                block.clear()
    included = xrules.apply_include(tree, ruleset) if ruleset.include else []
    target = _subtree(included) if included else tree

    doc = trafilatura.bare_extraction(
        target, url=url, with_metadata=False, include_comments=options.include_comments,
        favor_precision=options.favor_precision, favor_recall=bool(included),
        include_formatting=False, include_links=False, include_tables=True)
    xml = doc.body if doc is not None else None

    if xml is not None:
        xbody.split_paragraphs(xml)
        cutter = xrules.text_cutter(ruleset)
        if cutter is not None:
            removed.extend(xbody.cut_text(xml, cutter))
        if options.stray_lines:
            removed.extend(xbody.drop_lines(xml, _line_judge))
            removed.extend(xbody.drop_orphan_headings(xml))
    text, markdown = xbody.render(xml, links, url, markdown=options.markdown)

    info = meta.summary()
    if meta.article_body and len(words(meta.article_body)) >= 30:
        info["body_coverage"] = round(coverage(meta.article_body, text), 3)
        if options.structured_body and _extraction_missed_body(text, meta.article_body, tree):
            removed.append(Removal.of("structured", "replaced-by-articleBody", text or "(nothing extracted)",
                                      f"extraction held {info['body_coverage']:.0%} of the page's articleBody"))
            text = _paragraphs(meta.article_body)
            markdown = text if options.markdown else None
            info["text_from"] = "articleBody"

    published = meta.published
    if not published:
        published, found_in = _fallback_date(url, tree)  # last use of the tree: it is cleaned
        if published:
            info["sources"] = {**info.get("sources", {}), "published": found_in}
    article = Article(
        status="ok", title=meta.title, text=text, author=meta.author, published=published,
        language=language.detect(text, meta.language) if text else meta.language,
        canonical_url=meta.canonical_url, description=meta.description, sitename=meta.sitename,
        encoding=encoding, markdown=markdown or None, structured=info,
        removed=removed if options.explain else [], fingerprints=fingerprints)
    if len(text) < options.min_text_chars:
        article.status = "empty"
        article.reason = "no article text found" if not text else f"only {len(text)} characters of text found"
        article.text, article.markdown = "", None
    return article


def timed_extract(body: bytes, url: str, content_type: str | None = None,
                  options: ExtractOptions = DEFAULT_OPTIONS) -> tuple[Article, float]:
    """:func:`extract` and the CPU seconds it took (for run records; works in a worker process)."""
    import time

    start = time.process_time()
    article = extract(body, url, content_type, options)
    return article, time.process_time() - start


def _subtree(elements: list):
    """A minimal page holding only the ``include``d elements (copies; the page itself is untouched)."""
    from copy import deepcopy

    from lxml import html as lxml_html

    page = lxml_html.Element("html")
    body = lxml_html.Element("body")
    page.append(body)
    for el in elements:
        clone = deepcopy(el)
        clone.tail = None
        body.append(clone)
    return page


def _visible_text(tree) -> str:
    return " ".join(tree.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]"))


def _extraction_missed_body(text: str, article_body: str, tree) -> bool:
    """True when extraction kept under half of a substantial articleBody that the page really shows."""
    body_words = len(words(article_body))
    if len(words(text)) >= 0.6 * body_words or coverage(article_body, text) >= 0.5:
        return False
    return coverage(article_body, _visible_text(tree)) >= 0.8


def _paragraphs(text: str) -> str:
    paras = [" ".join(p.split()) for p in text.replace("\r", "").split("\n")]
    return "\n\n".join(p for p in paras if p)


_URL_DATE = re.compile(r"/((?:19|20)\d{2})[/-](0[1-9]|1[0-2])[/-](0[1-9]|[12]\d|3[01])(?:/|[-_]|$)")


def _fallback_date(url: str, tree) -> tuple[Optional[str], Optional[str]]:
    """For pages whose metadata gave no date: the date in the page's URL (``/2026/11/02/``),
    else the one the page's markup shows (a byline, a ``<time>``, a dated class; see
    :mod:`crawler.extraction.pagedate`), else none.  Returns (date, where it was found).
    """
    match = _URL_DATE.search(urlsplit(url).path) if url else None
    if match:
        return normalize_date("-".join(match.groups())), "url"
    found = markup_date(tree)
    return (normalize_date(found), "page") if found else (None, None)
