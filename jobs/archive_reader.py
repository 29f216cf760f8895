"""Read-only views of an archive: catalog files, articles and their versions, run records.

Everything here reads the store through its small interface (list by prefix,
get), so it works the same on a local folder and on S3 with read-only
credentials, and never touches Scrapy.  The catalog (``crawler.catalog``)
answers "what is archived"; objects are opened only when their content is
wanted.  Listing is by prefix: ``catalog/<source>/`` for one source, starting
after the ``--since`` day, so old days are skipped without being read.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Iterable, Iterator, Optional
from urllib.parse import urlsplit

from crawler import catalog
from crawler.keys import check_component
from crawler.records import parse_iso
from crawler.store import KeyNotFound, Store
from crawler.urls import normalize_url

READ_WORKERS = 8


class NotArchived(LookupError):
    """Nothing in the archive answers a URL, a key or a version."""


# -- catalog files ------------------------------------------------------------------

@dataclass(frozen=True)
class CatalogFile:
    key: str
    source: str
    day: date
    run_id: str


def parse_catalog_key(key: str) -> Optional[CatalogFile]:
    parts = key.split("/")
    if len(parts) != 6 or parts[0] != "catalog" or not parts[5].endswith(".jsonl"):
        return None
    try:
        day = date(int(parts[2]), int(parts[3]), int(parts[4]))
    except ValueError:
        return None
    return CatalogFile(key, parts[1], day, parts[5][: -len(".jsonl")])


def catalog_files(store: Store, source: Optional[str] = None, since: Optional[date] = None) -> list[CatalogFile]:
    """The catalog files of ``source`` (every source when None), oldest first, from ``since`` on."""
    if source is not None:
        check_component(source, "source name")
        prefix = f"catalog/{source}/"
        start = f"{prefix}{since:%Y/%m/%d}/" if since else None
        # start_after sorts just before the first key of the since-day
        infos = store.list(prefix, start_after=start[:-1] if start else None)
    else:
        infos = store.list("catalog/")
    files = []
    for info in infos:
        parsed = parse_catalog_key(info.key)
        if parsed is None or (since and parsed.day < since):
            continue
        files.append(parsed)
    files.sort(key=lambda f: (f.day, f.run_id, f.source))
    return files


def read_catalog(store: Store, files: Iterable[CatalogFile]) -> Iterator[tuple[CatalogFile, list[dict], list[int]]]:
    """``(file, rows, bad line numbers)`` for each file, in the given order (fetched in parallel)."""
    files = list(files)

    def load(f: CatalogFile):
        try:
            return catalog.decode(store.get(f.key))
        except KeyNotFound:  # removed between the listing and the read
            return [], []

    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        for f, (rows, bad) in zip(files, pool.map(load, files)):
            yield f, rows, bad


def catalog_rows(store: Store, source: Optional[str] = None, since: Optional[date] = None) -> list[dict]:
    rows: list[dict] = []
    for _, file_rows, _ in read_catalog(store, catalog_files(store, source, since)):
        rows.extend(file_rows)
    return rows


def catalog_sources(store: Store) -> list[str]:
    return sorted({f.source for f in catalog_files(store)})


# -- articles and versions ----------------------------------------------------------

def article_id(row: dict) -> str:
    """What makes two rows the same article: the URL the page was finally served from."""
    return row.get("final_url") or row.get("url") or ""


@dataclass
class Version:
    number: int
    row: dict

    @property
    def key(self) -> str:
        return self.row["clean_key"]


@dataclass
class Article:
    id: str
    source: str
    versions: list[Version] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # every catalog row, oldest first

    @property
    def latest(self) -> Optional[Version]:
        return self.versions[-1] if self.versions else None

    @property
    def last_row(self) -> dict:
        return self.rows[-1]

    def version(self, number: Optional[int]) -> Version:
        if not self.versions:
            raise NotArchived(f"{self.id}: no extracted text archived (last extraction: "
                              f"{self.last_row.get('extraction')}, {self.last_row.get('extraction_reason')})")
        if number is None:
            return self.versions[-1]
        for v in self.versions:
            if v.number == number:
                return v
        raise NotArchived(f"{self.id} has no version {number}; versions: "
                          + ", ".join(str(v.number) for v in self.versions))


def _fetched(row: dict) -> str:
    return row.get("fetched_at") or ""


def _order(row: dict) -> tuple:
    return _fetched(row), row.get("version") or 0


def build_versions(rows: list[dict]) -> list[Version]:
    """An article's text versions from its rows (oldest first), numbered 1, 2, ...

    A version is a clean object with extracted text that differs from the one
    before it; the same text fetched again is the same version.  Rows of one
    fetch time keep the order of their recorded ``version`` (a re-extraction
    of the latest page comes after the crawl's own object).
    """
    texts = [r for r in rows if r.get("clean_key") and r.get("extraction") == "ok"]
    texts.sort(key=_order)
    out: list[Version] = []
    for row in texts:
        if out and out[-1].row.get("text_sha256") == row.get("text_sha256"):
            continue
        out.append(Version(len(out) + 1, row))
    return out


def group_articles(rows: Iterable[dict]) -> list[Article]:
    """Rows that have a clean object, grouped by article; newest activity first."""
    by_id: dict[str, Article] = {}
    for row in rows:
        if not row.get("clean_key"):
            continue
        aid = article_id(row)
        art = by_id.get(aid)
        if art is None:
            art = by_id[aid] = Article(aid, row.get("source") or "")
        art.rows.append(row)
    for art in by_id.values():
        art.rows.sort(key=_order)
        art.versions = build_versions(art.rows)
    return sorted(by_id.values(), key=lambda a: _fetched(a.last_row), reverse=True)


def url_variants(url: str) -> set[str]:
    """The forms a user may type an archived URL in: with or without the trailing slash."""
    try:
        norm = normalize_url(url)
    except ValueError:
        norm = url
    out = {url, norm}
    for u in list(out):
        out.add(u[:-1] if u.endswith("/") else u + "/")
    return out


def row_matches(row: dict, variants: set[str]) -> bool:
    return any(row.get(c) in variants for c in ("url", "final_url", "canonical_url"))


def sources_for_url(url: str, configured: list, in_catalog: list[str]) -> list[str]:
    """Sources whose hosts include the URL's host; all catalogued sources when none claims it."""
    host = (urlsplit(url).hostname or "").lower()
    names = []
    for source in configured:
        if any(host == h or host.endswith("." + h) for h in source.hosts()):
            names.append(source.name)
    names = [n for n in names if n in in_catalog]
    return names or in_catalog


def find_article(store: Store, url: str, *, sources: list[str]) -> Article:
    variants = url_variants(url)
    rows = []
    for source in sources:
        rows.extend(r for r in catalog_rows(store, source) if row_matches(r, variants))
    articles = group_articles(rows)
    if not articles:
        raise NotArchived(f"{url} is not in the catalog of {', '.join(sources) or 'any source'}")
    # several final URLs (e.g. a redirect target changed): merge them into one history
    if len(articles) > 1:
        merged = Article(articles[0].id, articles[0].source,
                         rows=sorted((r for a in articles for r in a.rows), key=_order))
        merged.versions = build_versions(merged.rows)
        return merged
    return articles[0]


# -- objects ------------------------------------------------------------------------

def get_json(store: Store, key: str) -> dict:
    try:
        return json.loads(store.get(key))
    except KeyNotFound:
        raise NotArchived(f"{key}: no such object in the store") from None
    except ValueError:
        raise NotArchived(f"{key}: not a JSON object (corrupted? run 'archiver verify')") from None


def get_bytes(store: Store, key: str) -> bytes:
    try:
        return store.get(key)
    except KeyNotFound:
        raise NotArchived(f"{key}: no such object in the store") from None


# -- run records --------------------------------------------------------------------

def last_run(store: Store, source: str) -> Optional[dict]:
    """The newest run record of ``source`` (run ids sort by start time)."""
    check_component(source, "source name")
    newest = None
    for info in store.list(f"runs/{source}/"):
        if info.key.endswith(".json") and (newest is None or info.key > newest):
            newest = info.key
    if newest is None:
        return None
    try:
        return json.loads(store.get(newest))
    except (KeyNotFound, ValueError):
        return {"run_id": newest.rsplit("/", 1)[-1][:-5], "outcome": "unreadable"}


# -- dates --------------------------------------------------------------------------

def parse_since(text: str, *, now: Optional[datetime] = None) -> datetime:
    """``2026-11-01``, an ISO timestamp, or a relative ``7d`` / ``12h`` / ``30m``."""
    now = now or datetime.now(timezone.utc)
    text = text.strip()
    units = {"d": 86400, "h": 3600, "m": 60, "w": 7 * 86400}
    if len(text) >= 2 and text[-1] in units and text[:-1].isdigit():
        from datetime import timedelta
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        ts = parse_iso(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a date (use 2026-11-01, 2026-11-01T08:00:00Z or 7d / 12h)") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def fetched_since(row: dict, since: Optional[datetime]) -> bool:
    if since is None:
        return True
    try:
        return parse_iso(row.get("fetched_at") or "") >= since
    except ValueError:
        return False
