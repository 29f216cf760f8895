"""Pure, safe parsing of RSS/Atom feeds and sitemaps (urlset, index, news).

XML comes from untrusted servers: it is parsed with defusedxml, which refuses
entity declarations (billion laughs, external entities) instead of expanding
them, and gzip-compressed sitemaps are inflated with a size cap (gzip bombs).
"""

from __future__ import annotations

import gzip
import logging
import io
import zlib
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urljoin, urlsplit

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

log = logging.getLogger(__name__)

MAX_XML_BYTES = 50 * 1024 * 1024  # the sitemap protocol's own limit


class FeedError(ValueError):
    """The document is not a feed/sitemap we can read (reason in the message)."""


@dataclass(frozen=True)
class Entry:
    url: str
    lastmod: Optional[str] = None  # when the page last changed (sitemap <lastmod>, Atom <updated>), as written
    title: Optional[str] = None
    published: Optional[str] = None  # publication date (news sitemap, RSS pubDate, Atom published/updated)


@dataclass(frozen=True)
class Parsed:
    kind: str  # rss | atom | urlset | sitemapindex
    entries: list[Entry]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def gunzip_limited(data: bytes, limit: int = MAX_XML_BYTES) -> bytes:
    """Inflate gzip data, refusing to produce more than ``limit`` bytes."""
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while True:
                chunk = fh.read(64 * 1024)
                if not chunk:
                    break
                out.write(chunk)
                if out.tell() > limit:
                    raise FeedError(f"decompressed size exceeds {limit} bytes (compression bomb?)")
    except (OSError, EOFError, zlib.error) as exc:
        raise FeedError(f"bad gzip data: {exc}") from None
    return out.getvalue()


def _parse_xml(body: bytes, limit: int):
    if body[:2] == b"\x1f\x8b":
        body = gunzip_limited(body, limit)
    if len(body) > limit:
        raise FeedError(f"document larger than {limit} bytes")
    try:
        return fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FeedError(f"refused unsafe XML ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - ParseError and friends
        raise FeedError(f"not well-formed XML: {exc}") from None


def _text(el) -> Optional[str]:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _child(el, name: str):
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _add(entries: list, base_url: str, link: str, lastmod, title, published) -> None:
    """Append the entry with its absolute URL; a URL that is not one (``http://[x``) is skipped,
    never the end of the document's other entries."""
    try:
        url = urljoin(base_url, link)
        urlsplit(url).port  # raises on a malformed host or port
    except ValueError:
        log.debug("skipped a malformed URL in %s: %r", base_url, link[:200])
        return
    entries.append(Entry(url, lastmod, title, published))


def parse(body: bytes, base_url: str, *, limit: int = MAX_XML_BYTES) -> Parsed:
    """Parse a feed or sitemap into entries with absolute URLs."""
    root = _parse_xml(body, limit)
    kind = _local(root.tag)
    entries: list[Entry] = []
    if kind in ("urlset", "sitemapindex"):
        item_tag = "url" if kind == "urlset" else "sitemap"
        for item in root:
            if _local(item.tag) != item_tag:
                continue
            loc = _text(_child(item, "loc"))
            if not loc:
                continue
            lastmod = _text(_child(item, "lastmod"))
            title = published = None
            news = _child(item, "news")
            if news is not None:  # Google News sitemap: a publication date is not a modification date
                published = _text(_child(news, "publication_date"))
                title = _text(_child(news, "title"))
            _add(entries, base_url, loc, lastmod, title, published)
        return Parsed(kind, entries)
    if kind in ("rss", "rdf"):
        channel = _child(root, "channel")
        items = [c for c in (channel if channel is not None else []) if _local(c.tag) == "item"]
        items += [c for c in root if _local(c.tag) == "item"]  # RSS 1.0 items sit at the top
        for item in items:
            link = _text(_child(item, "link"))
            guid = _child(item, "guid")
            if not link and guid is not None and guid.get("isPermaLink", "true") != "false":
                link = _text(guid)
            if not link:
                continue
            date = _text(_child(item, "pubdate")) or _text(_child(item, "date")) or _text(_child(item, "updated"))
            _add(entries, base_url, link, None, _text(_child(item, "title")), date)
        return Parsed("rss", entries)
    if kind == "feed":
        for item in root:
            if _local(item.tag) != "entry":
                continue
            href = None
            for link in item:
                if _local(link.tag) == "link" and link.get("rel", "alternate") == "alternate" and link.get("href"):
                    href = link.get("href")
                    break
            if not href:
                continue
            updated, published = _text(_child(item, "updated")), _text(_child(item, "published"))
            # Atom's <updated> is when the entry last changed
            _add(entries, base_url, href, updated, _text(_child(item, "title")), published or updated)
        return Parsed("atom", entries)
    raise FeedError(f"unknown document type <{kind}>: expected rss, feed, urlset or sitemapindex")
