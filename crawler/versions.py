"""Pure rules for article versions: identity, fingerprint, and when text is a new version.

* **Identity**: one article, one history.  An article is known by its *article
  URL*: the page's ``<link rel="canonical">`` (or the extractor's canonical URL)
  when it points into the source's hosts and is not one of its entry pages,
  otherwise the page's normalized final URL.  So ``/story/``, ``/story/?utm_source=x``,
  ``/amp/story/`` with a canonical link, and ``/old-url`` redirecting to ``/story/``
  share one history.
* **Fingerprint**: the SHA-256 of the title and text after normalization
  (Unicode NFC, invisible characters dropped, whitespace collapsed), so markup,
  ads, tokens and timestamps outside the article, or re-wrapped lines, change
  nothing.
* **Versions**: the first extraction is version 1; a later one with another
  fingerprint is version N+1 linked to N by ``previous_key``; the same
  fingerprint is "checked, unchanged" and stores nothing.  A failed or empty
  extraction never supersedes a good version (a broken page is not an edit).
* **The extractor is not the page.**  A text that differs only because the
  extractor learned more since (a template block recognized, a rule added) is
  no edit: the crawl extracts the previous version's raw page again with the
  current extractor, and when that gives the new text too, the page did not
  change.  The latest version then remembers the new fingerprint (``same``), so
  later runs see "unchanged" without extracting twice; ``archiver re-extract``
  is how the archive takes the better text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable, Optional
from urllib.parse import urljoin, urlsplit

from crawler.decode import decode_html
from crawler.urls import normalize_url

_INVISIBLE_CHARS = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_INVISIBLE = dict.fromkeys(map(ord, _INVISIBLE_CHARS), None)
_LINK_TAG = re.compile(rb"<link\b[^>]*>", re.I)
_ATTR = re.compile(r"""([a-zA-Z:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_HEAD_BYTES = 256 * 1024


def normalize_text(text: Optional[str]) -> str:
    text = unicodedata.normalize("NFC", text or "")
    if any(ch in text for ch in _INVISIBLE_CHARS):  # translate() walks every character: only when needed
        text = text.translate(_INVISIBLE)
    # runs of whitespace inside a line become one space (split() knows the same whitespace as re's \s)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def fingerprint(title: Optional[str], text: Optional[str]) -> str:
    joined = normalize_text(title) + "\n\n" + normalize_text(text)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def canonical_link(body: bytes, content_type: Optional[str] = None) -> Optional[str]:
    """The ``href`` of the first ``<link rel="canonical">`` in the page's head, as written."""
    head = body[:_HEAD_BYTES]
    end = head.lower().find(b"</head>")
    if end >= 0:
        head = head[:end]
    for tag in _LINK_TAG.findall(head):
        text, _ = decode_html(tag, content_type)
        attrs = {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None)
                 for m in _ATTR.finditer(text)}
        if "canonical" in attrs.get("rel", "").lower().split() and attrs.get("href", "").strip():
            return attrs["href"].strip()
    return None


def article_url(final_url: str, candidates: Iterable[Optional[str]], *, in_scope: Callable[[str], bool],
                entry_points: Iterable[str] = ()) -> str:
    """The URL an article is known by (see the module docstring)."""
    own = normalize_url(final_url)
    entries = {normalize_url(u) for u in entry_points}
    for candidate in candidates:
        if not candidate:
            continue
        try:
            url = normalize_url(urljoin(final_url, candidate))
            parts = urlsplit(url)
        except ValueError:
            continue
        if parts.scheme not in ("http", "https") or not parts.hostname or not in_scope(parts.hostname):
            continue
        if url in entries and url != own:  # "every page is the home page": a broken canonical
            continue
        return url
    return own


@dataclass(frozen=True)
class Change:
    kind: str                       # new | changed | unchanged | kept
    version: int                    # the version to store (new, changed) or the latest (unchanged, kept)
    previous_key: Optional[str] = None

    @property
    def store(self) -> bool:
        return self.kind in ("new", "changed")


def next_version(versions: list, fp: str, ok: bool) -> Change:
    """What a freshly extracted text means for an article whose versions are ``versions``."""
    if not versions:
        return Change("new", 1)
    latest = versions[-1]
    number = latest.get("v", len(versions))
    if latest.get("fp") == fp or fp in latest.get("same", ()):
        return Change("unchanged", number)
    if not ok and any(v.get("ok", True) for v in versions):
        return Change("kept", number)
    return Change("changed", number + 1, latest.get("key"))
