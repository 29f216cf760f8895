"""What the crawl process hands to extraction and gets back, without importing the extractor.

With extraction workers the crawl process never extracts: it sends page bytes
and :class:`ExtractOptions` to the workers and gets :class:`Article` objects
back.  Keeping these types (and the functions the workers run, by name) in a
module that does not import trafilatura spares the crawl process the import
(CPU at every run's start, and memory for as long as it crawls); the workers'
server process imports :mod:`crawler.extract` once for all of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Optional

from crawler.extraction import rules as xrules

EXTRACTOR = "trafilatura"
PIPELINE_VERSION = "2"  # bump when the stages around trafilatura change what they keep


@lru_cache(maxsize=1)
def extractor_version() -> str:
    """trafilatura's version, from its installed metadata (the same as ``trafilatura.__version__``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trafilatura")
    except PackageNotFoundError:  # pragma: no cover - a dependency
        return "unknown"


@dataclass(frozen=True)
class ExtractOptions:
    """What the extractor may use beyond the page itself (picklable: sent to worker processes)."""

    include_comments: bool = False
    favor_precision: bool = False
    min_text_chars: int = 20  # less than this is navigation residue, not an article
    rules: xrules.RuleSet = field(default_factory=xrules.RuleSet)
    template: frozenset = frozenset()   # fingerprints of the source's template blocks
    stray_lines: bool = True            # drop counters, share widgets, CMS status lines...
    structured_body: bool = True        # fall back to the publisher's articleBody when extraction fails
    markdown: bool = True
    fingerprints: bool = False          # return the page's block fingerprints (for template learning)
    explain: bool = False               # record every removal in Article.removed


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
    markdown: Optional[str] = None
    structured: Optional[dict] = None
    extractor: dict = field(default_factory=lambda: {"name": EXTRACTOR, "version": extractor_version(),
                                                     "pipeline": PIPELINE_VERSION})
    removed: list = field(default_factory=list)          # Removal records (with options.explain)
    fingerprints: tuple = field(default=(), repr=False)  # block fingerprints (with options.fingerprints)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("fingerprints", None)
        return data


def timed_extract(body: bytes, url: str, content_type: str | None, options: ExtractOptions) -> tuple:
    """:func:`crawler.extract.timed_extract`, importing the extractor where it runs (a worker)."""
    from crawler.extract import timed_extract as run

    return run(body, url, content_type, options)


def page_fingerprints(body: bytes, content_type: str | None = None) -> tuple:
    """:func:`crawler.extract.page_fingerprints`, importing the extractor where it runs (a worker)."""
    from crawler.extract import page_fingerprints as run

    return run(body, content_type)
