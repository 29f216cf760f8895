"""Pure builders of what is stored besides page bytes: sidecars, clean articles, run records.

URLs and header values pass through :func:`crawler.secrets.mask` on the way in:
a token in a query string or a password in a URL never reaches the archive.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional

from crawler import __version__
from crawler.secrets import mask

if TYPE_CHECKING:  # the supervisor imports this module and must stay light (no trafilatura)
    from crawler.extract import Article

RECORD_FORMAT = 1


def iso(ts: Optional[datetime]) -> Optional[str]:
    if ts is None:
        return None
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")


@dataclass
class FetchedPage:
    """One fetched response, as the spider hands it to the pipeline."""

    source: str
    url: str                    # the URL as discovered (before redirects)
    final_url: str              # after redirects
    status: int
    headers: dict[str, list[str]]
    body: bytes
    fetched_at: datetime
    is_article: bool
    depth: int = 0
    redirect_urls: list[str] = field(default_factory=list)
    discovered_via: str = "link"  # start | link | feed | sitemap
    request_headers: dict[str, list[str]] = field(default_factory=dict)  # as sent (for WARC request records)

    @property
    def content_type(self) -> Optional[str]:
        values = self.headers.get("content-type") or self.headers.get("Content-Type")
        return values[0] if values else None


def raw_meta(page: FetchedPage, *, raw_key: str, sha256: str, run_id: str) -> dict:
    return {
        "format": RECORD_FORMAT,
        "kind": "raw",
        "source": page.source,
        "url": mask(page.url),
        "final_url": mask(page.final_url),
        "redirect_urls": [mask(u) for u in page.redirect_urls],
        "status": page.status,
        "headers": {k: [mask(v) for v in vs] for k, vs in page.headers.items()},
        "content_type": page.content_type,
        "fetched_at": iso(page.fetched_at),
        "size": len(page.body),
        "sha256": sha256,
        "raw_key": raw_key,
        "run_id": run_id,
        "discovered_via": page.discovered_via,
        "depth": page.depth,
        "archiver_version": __version__,
    }


def clean_record(page: FetchedPage, article: "Article", *, raw_key: str, raw_sha256: str,
                 content_sha256: str, run_id: str, version: Optional[int] = 1,
                 previous_key: Optional[str] = None, article_url: Optional[str] = None,
                 fingerprint: Optional[str] = None) -> dict:
    extraction = {
        "status": article.status,
        "reason": article.reason,
        "extractor": article.extractor.get("name"),
        "extractor_version": article.extractor.get("version"),
        "archiver_version": __version__,
    }
    extraction.update({k: v for k, v in article.extractor.items() if k not in ("name", "version")})
    record = {
        "format": RECORD_FORMAT,
        "kind": "clean",
        "url": mask(page.url),
        "final_url": mask(page.final_url),
        "source": page.source,
        "fetched_at": iso(page.fetched_at),
        "title": article.title,
        "text": article.text,
        "author": article.author,
        "published": article.published,
        "language": article.language,
        "canonical_url": mask(article.canonical_url) if article.canonical_url else None,
        "description": article.description,
        "sitename": article.sitename,
        "encoding": article.encoding,
        "raw_key": raw_key,
        "raw_sha256": raw_sha256,
        "content_sha256": content_sha256,
        "article_url": mask(article_url or page.final_url),
        "text_fingerprint": fingerprint,
        "version": version,
        "previous_key": previous_key,
        "run_id": run_id,
        "extraction": extraction,
    }
    for extra_field in ("markdown", "structured"):
        value = getattr(article, extra_field, None)
        if value:
            record[extra_field] = value
    return record


def run_record(*, source: str, run_id: str, trigger: str, trigger_time: Optional[datetime],
               started_at: datetime, ended_at: Optional[datetime], outcome: str, counts: dict,
               errors: dict, store: str, message: Optional[str] = None, pid: Optional[int] = None) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:  # versions of what made the objects, without importing them
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return {
        "format": RECORD_FORMAT,
        "kind": "run",
        "source": source,
        "run_id": run_id,
        "trigger": trigger,
        "trigger_time": iso(trigger_time),
        "started_at": iso(started_at),
        "ended_at": iso(ended_at),
        "duration_s": round((ended_at - started_at).total_seconds(), 3) if ended_at else None,
        "outcome": outcome,
        "message": message,
        "counts": counts,
        "errors": errors,
        "store": store,
        "pid": pid,
        "versions": {
            "archiver": __version__,
            "scrapy": v("scrapy"),
            "trafilatura": v("trafilatura"),
            "python": platform.python_version(),
        },
    }
