"""Pure link selection: a page's hrefs, and those worth requesting as absolute URLs.

Cheaper than Scrapy's LinkExtractor on link-heavy pages (it canonicalizes every
link; here only the links that pass the cheap filters are normalized), and
cheaper than a Scrapy ``Selector`` for reading the hrefs (one object per
attribute value there; plain strings from one compiled XPath here).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable
from urllib.parse import urljoin, urlsplit

from lxml import etree
from scrapy.linkextractors import IGNORED_EXTENSIONS

from crawler.urls import normalize_url

_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "ftp:", "#", "about:", "sms:", "file:")
_IGNORED = tuple("." + e for e in IGNORED_EXTENSIONS)
_ABSOLUTE = ("http://", "https://", "//")
# the settings of Scrapy's (parsel's) HTML selector, minus what reading hrefs does not need
_PARSER = etree.HTMLParser(recover=True, encoding="utf-8", huge_tree=True, collect_ids=False,
                           remove_comments=True, remove_pis=True)
_HREFS = etree.XPath("//a/@href | //area/@href", smart_strings=False)


def page_hrefs(text: str) -> list[str]:
    """The ``href`` of every ``<a>`` and ``<area>`` of a page (its decoded text), in document order."""
    body = text.strip().replace("\x00", "").encode("utf-8")
    if not body:
        return []
    root = etree.fromstring(body, parser=_PARSER)
    return _HREFS(root) if root is not None else []


def select_links(hrefs: Iterable[str], base_url: str, allow: list[re.Pattern],
                 in_scope: Callable[[str], bool]) -> list[str]:
    """Absolute, normalized, unique URLs from ``hrefs`` that are in scope and allowed.

    ``allow`` empty means every in-scope link; otherwise a link must match one
    pattern (``re.search`` on the absolute URL).
    """
    seen: set[str] = set()
    out: list[str] = []
    for href in hrefs:
        href = href.strip()
        if not href or href.lower().startswith(_SKIP_SCHEMES):
            continue
        if href[:8].lower().startswith(_ABSOLUTE):
            # most links of a page lead off its site: its host says so before any joining
            try:
                host = urlsplit(href).hostname
            except ValueError:
                continue
            if host and not in_scope(host):  # (a bare "http://" is joined as before: the page itself)
                continue
        try:
            url = urljoin(base_url, href).split("#", 1)[0]
        except ValueError:  # http://[x: no URL at all
            continue
        if url in seen:
            continue
        seen.add(url)
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        if parts.scheme not in ("http", "https") or not parts.hostname or not in_scope(parts.hostname):
            continue
        if parts.path.lower().endswith(_IGNORED):
            continue
        if allow and not any(p.search(url) for p in allow):
            continue
        normalized = normalize_url(url)
        if normalized not in seen or normalized == url:
            seen.add(normalized)
            out.append(normalized)
    return out
