"""Extraction stages, one job per module, all pure (the orchestration is :mod:`crawler.extract`).

- :mod:`.textnorm`   whitespace/number normalization and word n-grams
- :mod:`.dates`      dates to ISO 8601 with a timezone
- :mod:`.structured` JSON-LD, microdata, OpenGraph and meta tags -> page metadata
- :mod:`.blocks`     the page's text blocks (DOM path + text) and their fingerprints
- :mod:`.template`   per-source template model: blocks repeated across pages
- :mod:`.rules`      per-source ``include`` / ``exclude`` selectors and ``exclude_text`` patterns
- :mod:`.lines`      stray non-content lines (counters, share widgets, CMS status, teasers)
- :mod:`.render`     trafilatura's XML body -> plain text with paragraphs, and Markdown
- :mod:`.language`   offline language detection
"""

from crawler.extraction.report import Removal

__all__ = ["Removal"]
