"""Page metadata from structured data: JSON-LD, microdata, OpenGraph, meta tags.

``read_metadata(tree, url)`` reads a parsed page (lxml) once and returns
:class:`PageMetadata`: title, author, published/modified dates (ISO 8601 with a
timezone), description, site name, canonical URL, declared language, the
publisher's own ``articleBody`` if there is one, and where each value came from.

Order of trust: a schema.org article object (JSON-LD, then microdata) that is
*consistent with the page* (its URL is this page's, or its headline matches the
page's title), then OpenGraph / ``article:*`` properties, then plain meta tags,
then the document itself (``<h1>``, ``<title>``, ``<time>``, byline markup).
An article object that describes another page (a related story, a stale
template) is ignored and reported as such.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional
from urllib.parse import urljoin, urlsplit

from lxml import etree

from crawler.extraction.dates import normalize_date
from crawler.extraction.textnorm import norm, words

ARTICLE_TYPES = frozenset(t.lower() for t in (
    "Article", "NewsArticle", "BlogPosting", "ReportageNews", "AnalysisNewsArticle", "OpinionNewsArticle",
    "ReviewNewsArticle", "BackgroundNewsArticle", "AskPublicNewsArticle", "SatiricalArticle",
    "AdvertiserContentArticle", "ScholarlyArticle", "TechArticle", "Report", "LiveBlogPosting",
    "SocialMediaPosting", "DiscussionForumPosting", "MedicalScholarlyArticle", "Blog"))
PAGE_TYPES = frozenset(("webpage", "itempage", "collectionpage", "aboutpage", "profilepage"))

# meta names/properties, in order of preference
_DATE_KEYS = ("article:published_time", "og:article:published_time", "datepublished", "date", "pubdate",
              "publishdate", "publish-date", "publish_date", "published_time", "dc.date.issued", "dc.date",
              "dcterms.issued", "dcterms.date", "dcterms.created", "dc.date.created", "citation_publication_date",
              "citation_date", "sailthru.date", "parsely-pub-date", "article.published", "og:published_time",
              "cxenseparse:recs:publishtime", "originalpublicationdate", "release_date", "timestamp")
_MODIFIED_KEYS = ("article:modified_time", "og:updated_time", "datemodified", "last-modified", "dcterms.modified",
                  "dc.date.modified", "lastmod")
_AUTHOR_KEYS = ("author", "article:author", "dc.creator", "dcterms.creator", "byl", "sailthru.author",
                "parsely-author", "citation_author", "twitter:creator")
_TITLE_SEPARATORS = re.compile(r"\s+[|\u2013\u2014\u00b7\u2022:»-]\s+")
_BYLINE_PREFIX = re.compile(r"^(?:by|von|par|por|di|door|av|af|przez)\s+", re.I)
_X = etree.XPath
_MICRODATA = _X('//*[@itemscope][contains(@itemtype, "Article") or contains(@itemtype, "BlogPosting")'
                ' or contains(@itemtype, "Report")]')
_JSONLD_TYPES = ("application/ld+json", "application/json+ld")
_ITEMPROPS = _X(".//*[@itemprop]")
_ITEMPROP_NAME = _X('.//*[@itemprop="name"]')
_HTML_LANG = _X("string(/html/@lang)")
_DATE_ELEMENTS = _X('//*[@itemprop="datePublished"]|//time[@datetime][@pubdate or contains(@class, "publish")'
                    ' or ancestor::article or ancestor::main]')
_BYLINE_ELEMENTS = _X('//*[@rel="author" or @itemprop="author" or contains(@class, "byline")'
                      ' or contains(@class, "author-name")]')


@dataclass
class PageMetadata:
    title: Optional[str] = None
    author: Optional[str] = None
    published: Optional[str] = None
    modified: Optional[str] = None
    description: Optional[str] = None
    sitename: Optional[str] = None
    canonical_url: Optional[str] = None
    language: Optional[str] = None        # as declared by the page (html lang, meta, JSON-LD)
    article_body: Optional[str] = None    # the publisher's articleBody, when consistent
    types: list[str] = field(default_factory=list)   # schema.org types seen
    sources: dict[str, str] = field(default_factory=dict)  # field -> json-ld | microdata | opengraph | meta | html
    notes: list[str] = field(default_factory=list)   # e.g. an article object ignored as inconsistent

    def set(self, name: str, value: Optional[str], source: str) -> None:
        if value and getattr(self, name) is None:
            setattr(self, name, value)
            self.sources[name] = source

    def summary(self) -> dict:
        """What is stored beside the clean text (``structured`` in the clean record)."""
        out: dict[str, Any] = {"types": self.types, "sources": self.sources}
        if self.modified:
            out["modified"] = self.modified
        if self.language:
            out["language_declared"] = self.language
        if self.notes:
            out["notes"] = self.notes
        return out


# -- JSON-LD -------------------------------------------------------------------------

def _loads(text: str) -> Any:
    text = text.strip()
    for junk in ("<!--", "-->", "//<![CDATA[", "//]]>", "<![CDATA[", "]]>"):
        text = text.replace(junk, "")
    try:
        return json.loads(text)
    except ValueError:
        # control characters inside strings are common in hand-made JSON-LD
        try:
            return json.loads(re.sub(r"[\x00-\x1f]+", " ", text))
        except ValueError:
            return None


def _objects(data: Any, depth: int = 0) -> Iterator[dict]:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            yield from _objects(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        graph = data.get("@graph")
        if graph is not None:
            yield from _objects(graph, depth + 1)
        main = data.get("mainEntity")
        if isinstance(main, (dict, list)):
            yield from _objects(main, depth + 1)


def _types(obj: dict) -> list[str]:
    value = obj.get("@type") or []
    values = value if isinstance(value, list) else [value]
    return [v.rsplit("/", 1)[-1] for v in values if isinstance(v, str)]


def _text(value: Any) -> Optional[str]:
    if isinstance(value, str):
        value = norm(value)
        return value or None
    if isinstance(value, list):
        for item in value:
            found = _text(item)
            if found:
                return found
    if isinstance(value, dict):
        return _text(value.get("name") or value.get("@value") or value.get("text"))
    return None


def _names(value: Any) -> list[str]:
    """Author names from a string, a Person/Organization, or a list of them."""
    out: list[str] = []
    items = value if isinstance(value, list) else [value]
    for item in items:
        name = None
        if isinstance(item, str):
            name = item
        elif isinstance(item, dict):
            name = item.get("name")
            if not name and (item.get("givenName") or item.get("familyName")):
                name = f"{item.get('givenName', '')} {item.get('familyName', '')}"
            if isinstance(name, list):
                name = next((n for n in name if isinstance(n, str)), None)
        if isinstance(name, str):
            name = norm(name)
            if name and not name.lower().startswith(("http://", "https://")) and name not in out:
                out.append(name)
    return out


def _url_of(obj: dict) -> Optional[str]:
    for key in ("url", "mainEntityOfPage", "@id"):
        value = obj.get(key)
        if isinstance(value, dict):
            value = value.get("@id") or value.get("url")
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return value
    return None


def _same_page(a: str, b: str) -> bool:
    def key(u: str) -> str:
        parts = urlsplit(u)
        host = (parts.hostname or "").lower().removeprefix("www.")
        return host + parts.path.rstrip("/")
    return key(a) == key(b)


def _similar(a: str, b: str) -> bool:
    """True when most words of the shorter title occur in the other."""
    wa, wb = set(words(a)), set(words(b))
    if not wa or not wb:
        return False
    small, big = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    return len(small & big) / len(small) >= 0.6


# -- the document --------------------------------------------------------------------

@dataclass
class _Found:
    """What one pass over the page found for the metadata readers."""

    metas: dict = field(default_factory=dict)
    title: Optional[str] = None
    h1: Optional[str] = None
    canonical: Optional[str] = None
    scripts: list = field(default_factory=list)
    micro: list = field(default_factory=list)


def _scan(tree) -> _Found:
    """One pass (in C) over the elements the metadata comes from."""
    found = _Found()
    for el in tree.iter("title", "h1", "meta", "link", "script"):
        tag = el.tag
        if tag == "meta":
            content = norm(el.get("content") or "")
            if content:
                for attr in ("property", "name", "itemprop", "http-equiv"):
                    key = el.get(attr)
                    if key:
                        found.metas.setdefault(key.strip().lower(), content)
        elif tag == "script":
            if el.get("type", "").strip().lower() in _JSONLD_TYPES:
                found.scripts.append(el)
        elif tag == "link":
            if found.canonical is None and "canonical" in el.get("rel", "").lower().split():
                found.canonical = el.get("href").strip()
        elif tag == "title":
            if found.title is None:
                found.title = norm(el.text_content()) or None
        elif tag == "h1":
            if found.h1 is None:
                found.h1 = norm(el.text_content()) or None
    found.micro = _MICRODATA(tree)
    return found


def _clean_title(title: str, sitename: Optional[str]) -> str:
    if sitename:
        for sep in (" | ", " - ", " \u2013 ", " \u2014 ", " :: ", " \u00bb ", " \u00b7 "):
            if title.endswith(sep + sitename):
                return title[: -len(sep + sitename)].strip()
            if title.startswith(sitename + sep):
                return title[len(sitename + sep):].strip()
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) > 1:
        return max(parts, key=len).strip()
    return title


def _microdata(scopes: list) -> Optional[dict]:
    for scope in scopes:
        obj: dict[str, Any] = {"@type": scope.get("itemtype", "").rstrip("/").rsplit("/", 1)[-1]}
        for el in _ITEMPROPS(scope):
            prop = el.get("itemprop").strip()
            if prop in obj:
                continue
            if prop == "author" and el.get("itemscope") is not None:
                name = _ITEMPROP_NAME(el)
                value = (name[0].get("content") or name[0].text_content()) if name else el.text_content()
            elif prop in ("headline", "name", "datePublished", "dateModified", "author", "articleBody",
                          "description", "url"):
                value = (el.get("content") or el.get("datetime") or el.get("href")
                         or (el.text_content() if prop != "url" else None))
            else:
                continue
            if value and norm(value):
                obj[prop] = norm(value) if prop != "articleBody" else value.strip()
        return obj
    return None


def read_metadata(tree, url: Optional[str] = None) -> PageMetadata:
    """Read every kind of page metadata from a parsed HTML tree (never raises on bad data)."""
    meta = PageMetadata()
    found = _scan(tree)
    metas, html_title, h1 = found.metas, found.title, found.h1
    canonical = urljoin(url or "", found.canonical) if found.canonical else None
    og_url = metas.get("og:url")
    page_urls = [u for u in (url, canonical, og_url) if u]
    visible_titles = [t for t in (html_title, h1, metas.get("og:title"), metas.get("twitter:title")) if t]

    # schema.org objects: JSON-LD first, microdata second
    candidates: list[tuple[str, dict]] = []
    for script in found.scripts:
        data = _loads(script.text or "")
        if data is None:
            continue
        for obj in _objects(data):
            types = _types(obj)
            meta.types.extend(t for t in types if t not in meta.types)
            if any(t.lower() in ARTICLE_TYPES or t.lower() in PAGE_TYPES for t in types):
                candidates.append(("json-ld", obj))
    micro = _microdata(found.micro)
    if micro:
        meta.types.append(micro["@type"]) if micro["@type"] not in meta.types else None
        candidates.append(("microdata", micro))

    article = None
    for source, obj in sorted(candidates, key=lambda c: not any(t.lower() in ARTICLE_TYPES for t in _types(c[1]))):
        obj_url = _url_of(obj)
        headline = _text(obj.get("headline") or obj.get("name"))
        is_article = any(t.lower() in ARTICLE_TYPES for t in _types(obj))
        if obj_url and page_urls and not any(_same_page(obj_url, u) for u in page_urls):
            if is_article:
                meta.notes.append(f"{source} {'/'.join(_types(obj))} ignored: it describes {obj_url}")
            continue
        if not obj_url and headline and visible_titles and not any(_similar(headline, t) for t in visible_titles):
            if is_article:
                meta.notes.append(f"{source} {'/'.join(_types(obj))} ignored: headline '{headline[:60]}' "
                                  "does not match the page")
            continue
        if is_article and article is None:
            article = (source, obj)
        elif not is_article:
            # a WebPage object: dates and author only
            meta.set("published", normalize_date(_text(obj.get("datePublished"))), source)
            meta.set("modified", normalize_date(_text(obj.get("dateModified"))), source)
    if article:
        source, obj = article
        meta.set("title", _text(obj.get("headline")) or _text(obj.get("name")), source)
        meta.set("author", "; ".join(_names(obj.get("author") or obj.get("creator"))) or None, source)
        meta.set("published", normalize_date(_text(obj.get("datePublished") or obj.get("dateCreated"))), source)
        meta.set("modified", normalize_date(_text(obj.get("dateModified"))), source)
        meta.set("description", _text(obj.get("description")), source)
        publisher = obj.get("publisher")
        meta.set("sitename", _text(publisher) if isinstance(publisher, (dict, list)) else None, source)
        meta.set("language", _text(obj.get("inLanguage")), source)
        body = obj.get("articleBody") or obj.get("text")
        if isinstance(body, str) and body.strip():
            meta.article_body = body.strip()
            meta.sources["article_body"] = source

    # OpenGraph and article:* properties, then plain meta tags
    meta.set("sitename", metas.get("og:site_name") or metas.get("application-name"), "opengraph")
    og_title = metas.get("og:title") or metas.get("twitter:title")
    if og_title:
        meta.set("title", _clean_title(og_title, meta.sitename), "opengraph")
    for key in _DATE_KEYS:
        if key in metas:
            meta.set("published", normalize_date(metas[key]), "opengraph" if ":" in key else "meta")
    for key in _MODIFIED_KEYS:
        if key in metas:
            meta.set("modified", normalize_date(metas[key]), "opengraph" if ":" in key else "meta")
    for key in _AUTHOR_KEYS:
        value = metas.get(key)
        if value and not value.startswith(("http://", "https://", "@")):
            meta.set("author", value, "opengraph" if ":" in key else "meta")
    meta.set("description", metas.get("og:description") or metas.get("description")
             or metas.get("twitter:description"), "opengraph" if "og:description" in metas else "meta")
    meta.set("language", metas.get("og:locale") or metas.get("content-language") or metas.get("dc.language"), "meta")

    # the document itself
    if h1 and html_title and (h1 in html_title or _similar(h1, html_title)):
        meta.set("title", h1, "html")
    if html_title:
        meta.set("title", _clean_title(html_title, meta.sitename), "html")
    meta.set("title", h1, "html")
    meta.set("canonical_url", canonical or og_url, "html" if canonical else "opengraph")
    lang = _HTML_LANG(tree) if tree.tag == "html" else ""
    meta.set("language", norm(lang) or None, "html")
    if meta.language:
        meta.language = meta.language.replace("_", "-").split("-")[0].lower() or None
    if meta.published is None:
        for el in _DATE_ELEMENTS(tree):
            meta.set("published", normalize_date(el.get("datetime") or el.get("content") or el.text_content()),
                     "html")
            if meta.published:
                break
    if meta.author is None:
        for el in _BYLINE_ELEMENTS(tree):
            text = _byline(el.text_content())
            if text:
                meta.set("author", text, "html")
                break
    return meta


def _byline(text: str) -> Optional[str]:
    text = norm(text)
    text = _BYLINE_PREFIX.sub("", text)
    # a byline often continues with the date: keep the name part
    text = re.split(r"\s+(?:\||\u2022|\u00b7|on|am|le|el)\s+|\s+\d", text, maxsplit=1)[0].strip(" ,;")
    if not text or len(text) > 80 or len(text.split()) > 6:
        return None
    return text
