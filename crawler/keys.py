"""Pure functions: URL + time + content hash -> object keys.

Every key is built only from ``[A-Za-z0-9._-]`` components joined by ``/``: whatever
a URL holds (``..``, encoded slashes, NUL, control characters, absolute paths,
very long paths) cannot leave its prefix or reach the store unescaped.  Keys are
deterministic: the same URL, day and content give the same key, so a retried
write overwrites itself instead of adding a copy.

Layout (identical in the local folder and in S3)::

    raw/<source>/<yyyy>/<mm>/<dd>/<id>.<ext>        body bytes as received
    raw/<source>/<yyyy>/<mm>/<dd>/<id>.<ext>.meta.json  url, status, headers, fetched_at
    clean/<source>/<yyyy>/<mm>/<dd>/<id>.json       the extracted article
    runs/<source>/<run-id>.json                      one record per run
    catalog/<source>/<yyyy>/<mm>/<dd>/<run-id>.jsonl  one row per object a run wrote
    warc/<source>/<yyyy>/<mm>/<dd>/<run-id>.warc.gz   raw HTTP exchanges (optional)
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from urllib.parse import unquote, urlsplit

MAX_SLUG = 60
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_NON_SLUG = re.compile(r"[^a-z0-9]+")
_EXTENSIONS = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/rss+xml": "xml",
    "application/atom+xml": "xml",
    "application/json": "json",
    "text/plain": "txt",
    "application/pdf": "pdf",
}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


_AFTER_HOST = re.compile(r"^[a-z][a-z0-9+.-]*:(//[^/?#]*)?", re.I)


def slug(url: str) -> str:
    """A short readable name from the URL's path: lower-case ``a-z0-9`` and ``-`` only."""
    try:
        path = urlsplit(url).path
    except ValueError:  # "http://[bad" and friends: a key must still be made, never an error
        path = _AFTER_HOST.sub("", url).split("?", 1)[0].split("#", 1)[0]
    text = unquote(path or "")
    text = _NON_SLUG.sub("-", text.lower()).strip("-")
    if len(text) > MAX_SLUG:
        text = text[-MAX_SLUG:].lstrip("-")  # the end of a path names the article best
    return text or "index"


def page_id(url: str, content_sha256: str) -> str:
    """``<slug>-<url hash>-<content hash>``: readable, unique per URL and content."""
    return f"{slug(url)}-{url_hash(url)[:10]}-{content_sha256[:12]}"


def extension_for(content_type: str | None) -> str:
    mime = (content_type or "").split(";")[0].strip().lower()
    return _EXTENSIONS.get(mime, "bin")


def check_component(value: str, what: str = "key component") -> str:
    """Raise ValueError unless ``value`` is a safe single key component."""
    if not isinstance(value, str) or not _SAFE_COMPONENT.match(value) or ".." in value:
        raise ValueError(f"unsafe {what}: {value!r}")
    return value


def _day(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(timezone.utc).strftime("%Y/%m/%d")


def raw_key(source: str, url: str, fetched_at: datetime, content_sha256: str,
            content_type: str | None = None) -> str:
    check_component(source, "source name")
    return f"raw/{source}/{_day(fetched_at)}/{page_id(url, content_sha256)}.{extension_for(content_type)}"


def meta_key(raw: str) -> str:
    """The sidecar holding a raw object's URL, status, headers and fetch time."""
    return f"{raw}.meta.json"


def clean_key(source: str, url: str, fetched_at: datetime, text_sha256: str, *, version: int | None = None) -> str:
    """The clean object's key; ``version`` tags one made outside a crawl (a re-extraction),
    so it never lands on the key of a crawl's object with the same text and day."""
    check_component(source, "source name")
    tag = f".v{int(version)}" if version is not None else ""
    return f"clean/{source}/{_day(fetched_at)}/{page_id(url, text_sha256)}{tag}.json"


def run_key(source: str, run_id: str) -> str:
    check_component(source, "source name")
    check_component(run_id, "run id")
    return f"runs/{source}/{run_id}.json"


def catalog_key(source: str, run_id: str, started_at: datetime) -> str:
    """The catalog file of one run (or one re-extraction), under the day the run started."""
    check_component(source, "source name")
    check_component(run_id, "run id")
    return f"catalog/{source}/{_day(started_at)}/{run_id}.jsonl"


def warc_key(source: str, run_id: str, started_at: datetime, part: int = 1) -> str:
    """A run's WARC file; when a run rotates to a new file, parts 2, 3... follow."""
    check_component(source, "source name")
    check_component(run_id, "run id")
    suffix = "" if part <= 1 else f".{part:03d}"
    return f"warc/{source}/{_day(started_at)}/{run_id}{suffix}.warc.gz"


def new_run_id(now: datetime, token: str) -> str:
    """Sortable run id: ``20261125T130500Z-<token>``."""
    check_component(token, "run token")
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + f"-{token}"


def is_safe_key(key: str) -> bool:
    """True if every ``/``-separated component of ``key`` is safe."""
    if not key or key.startswith("/") or len(key) > 1024:
        return False
    return all(_SAFE_COMPONENT.match(c) and ".." not in c for c in key.split("/"))
