"""Pure extraction: page bytes + URL -> an Article (or the reason there is none).

A thin, total wrapper over trafilatura: it never raises on a page, it returns an
``Article`` whose ``status`` is ``ok``, ``empty`` (no article text found, common
on listing pages) or ``failed`` (with the reason).  Text is decoded with the
page's real charset before trafilatura sees it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Optional

import trafilatura

from crawler.decode import decode_html

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

EXTRACTOR = "trafilatura"
EXTRACTOR_VERSION = getattr(trafilatura, "__version__", "unknown")


@dataclass(frozen=True)
class ExtractOptions:
    """What the extractor may use beyond the page itself (picklable: sent to worker processes)."""

    include_comments: bool = False
    favor_precision: bool = False
    min_text_chars: int = 20  # less than this is navigation residue, not an article


@dataclass
class Article:
    status: str  # ok | empty | failed
    reason: Optional[str] = None
    title: Optional[str] = None
    text: str = ""
    author: Optional[str] = None
    published: Optional[str] = None
    language: Optional[str] = None
    canonical_url: Optional[str] = None
    description: Optional[str] = None
    sitename: Optional[str] = None
    encoding: Optional[str] = None
    extractor: dict = field(default_factory=lambda: {"name": EXTRACTOR, "version": EXTRACTOR_VERSION})

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_OPTIONS = ExtractOptions()


def extract(body: bytes, url: str, content_type: str | None = None,
            options: ExtractOptions = DEFAULT_OPTIONS) -> Article:
    """Extract the article from one page; never raises."""
    try:
        html, encoding = decode_html(body, content_type)
    except Exception as exc:  # noqa: BLE001 - a page must never crash the crawl
        return Article(status="failed", reason=f"decode: {type(exc).__name__}: {exc}")
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=options.include_comments,
            favor_precision=options.favor_precision,
        )
    except Exception as exc:  # noqa: BLE001
        log.debug("extraction failed for %s", url, exc_info=True)
        return Article(status="failed", reason=f"trafilatura: {type(exc).__name__}: {exc}", encoding=encoding)
    if doc is None:
        return Article(status="empty", reason="no article text found", encoding=encoding)
    text = (doc.text or "").strip()
    article = Article(
        status="ok",
        title=doc.title,
        text=text,
        author=doc.author,
        published=doc.date,
        language=doc.language,
        canonical_url=doc.url if doc.url and doc.url != url else doc.url,
        description=doc.description,
        sitename=doc.sitename,
        encoding=encoding,
    )
    if len(text) < options.min_text_chars:
        article.status, article.reason = "empty", f"only {len(text)} characters of text found"
        article.text = ""
    return article


def timed_extract(body: bytes, url: str, content_type: str | None = None,
                  options: ExtractOptions = DEFAULT_OPTIONS) -> tuple[Article, float]:
    """:func:`extract` and the CPU seconds it took (for run records; works in a worker process)."""
    import time

    start = time.process_time()
    article = extract(body, url, content_type, options)
    return article, time.process_time() - start
