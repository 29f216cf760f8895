"""Re-extraction: a stored raw page + the current extractor -> a new clean version, or nothing.

Pure decisions over what the store holds (the raw page's bytes and sidecar,
the article's latest clean record); ``archiver re-extract`` does the reading
and writing.  A new clean version is made only when the extractor now gets
text that differs from the latest version's; an extraction that now comes
back empty or failed never replaces text that was there.  The new record says
where it came from: the raw key, the extractor and its version, the record it
supersedes and when it was re-made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from crawler import keys
from crawler.extract import Article, ExtractOptions, extract
from crawler.records import FetchedPage, clean_record, iso, parse_iso
from crawler.versions import fingerprint


@dataclass
class Outcome:
    status: str                       # new_version | unchanged | not_better
    record: Optional[dict] = None     # the new clean record (new_version only)
    key: Optional[str] = None
    article: Optional[Article] = None


def page_from_sidecar(meta: dict, body: bytes) -> FetchedPage:
    """The fetched page again, as the crawl saw it, from the raw body and its sidecar."""
    return FetchedPage(
        source=meta["source"], url=meta["url"], final_url=meta.get("final_url") or meta["url"],
        status=meta.get("status") or 200, headers=meta.get("headers") or {}, body=body,
        fetched_at=parse_iso(meta["fetched_at"]), is_article=True, depth=meta.get("depth") or 0,
        redirect_urls=meta.get("redirect_urls") or [], discovered_via=meta.get("discovered_via") or "link")


def reextract(meta: dict, body: bytes, latest: Optional[dict], *, latest_key: Optional[str], version: int,
              run_id: str, now: datetime, options: ExtractOptions, article_url: Optional[str] = None) -> Outcome:
    """Extract ``body`` again; a new clean record when its text differs from ``latest``'s.

    ``latest`` is the article's latest clean record (None when it has none
    yet), ``latest_key`` its key, ``version`` the number the new version gets
    (the caller takes it from the article's history, as a crawl does), and
    ``article_url`` the URL the article is known by.  Texts are compared as a
    crawl compares them (:func:`crawler.versions.fingerprint`: title and text,
    normalized), so what a crawl would call unchanged is unchanged here too.
    """
    page = page_from_sidecar(meta, body)
    article = extract(body, page.final_url, page.content_type, options)
    if article.status != "ok":
        return Outcome("not_better", article=article)
    fp = fingerprint(article.title, article.text)
    if latest is not None and fingerprint(latest.get("title"), latest.get("text")) == fp:
        return Outcome("unchanged", article=article)
    text_sha = keys.sha256_hex(article.text.encode("utf-8"))
    record = clean_record(page, article, raw_key=meta["raw_key"], raw_sha256=meta["sha256"],
                          content_sha256=text_sha, run_id=run_id, version=version, previous_key=latest_key,
                          article_url=article_url or (latest or {}).get("article_url"), fingerprint=fp)
    before = (latest or {}).get("extraction") or {}
    record["reextracted"] = {
        "at": iso(now),
        "run_id": run_id,
        "from_raw_key": meta["raw_key"],
        "previous_extractor_version": before.get("extractor_version"),
        "previous_rules": before.get("rules"),
    }
    # the key's day is the day it was made; its version tag keeps it off any crawl's key
    key = keys.clean_key(page.source, page.url, now, text_sha, version=version)
    return Outcome("new_version", record=record, key=key, article=article)
