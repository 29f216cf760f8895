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
#
# One numbering.  The crawl and ``archiver re-extract`` number an article's
# versions from the incremental state (``crawler.versions.next_version``) and
# write that number, with ``previous_key``, into the clean object, its catalog
# row and the state.  Those stored numbers are authoritative here: the reader
# shows them as they are and never renumbers.  It numbers versions itself only
# for clean objects that carry no number (a crawl that could not read the state
# stores ``version: null``; archives from before versions were numbered) or
# whose number an earlier object already holds: those follow the highest
# stored number, in the order they were fetched, and one whose text repeats the
# version just before it is that version again, not a new one.
#
# One history.  Rows are one article when they share a URL: the page URL, the
# URL it was finally served from, or the ``article_url`` the crawl resolved
# (the page's in-scope canonical link), all normalized.  So ``/story/``,
# ``/story/?utm_source=x`` and ``/amp/story/`` (canonical ``/story/``) are one
# article with one history, as in the state.

def article_id(row: dict) -> str:
    """The URL a row's article is known by: the crawl's ``article_url``, else the final URL."""
    return row.get("article_url") or row.get("final_url") or row.get("url") or ""


def _norm(url: str) -> str:
    try:
        return normalize_url(url)
    except ValueError:
        return url


def row_urls(row: dict) -> set[str]:
    """The normalized URLs that tie a row to its article (not ``canonical_url``: it is unvetted)."""
    return {_norm(u) for u in (row.get("url"), row.get("final_url"), row.get("article_url")) if u}


@dataclass
class Version:
    number: int
    row: dict
    stored: bool = True  # the number was written by the crawl / re-extract (False: numbered here)

    @property
    def key(self) -> str:
        return self.row["clean_key"]


@dataclass
class Article:
    id: str
    source: str
    versions: list[Version] = field(default_factory=list)  # oldest first
    rows: list[dict] = field(default_factory=list)  # every catalog row with a clean object, oldest first
    pages: list[dict] = field(default_factory=list)  # rows of its pages stored raw only (text unchanged)
    urls: set = field(default_factory=set)           # every normalized URL that led to it

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


def _stored_number(row: dict) -> Optional[int]:
    number = row.get("version")
    return number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else None


def fetched_order(row: dict) -> tuple:
    """Rows in the order they were fetched (a re-extraction of a page after the page's own object)."""
    return _fetched(row), _stored_number(row) or 0


def build_versions(rows: list[dict]) -> list[Version]:
    """An article's versions from its rows, oldest first, with the numbers stored in them.

    See the comment above: stored numbers are authoritative; objects without one
    (or repeating a number an earlier object holds) are numbered after them.
    """
    by_key: dict[str, dict] = {}
    for row in sorted((r for r in rows if r.get("clean_key")), key=fetched_order):
        by_key[row["clean_key"]] = row  # a key catalogued twice: its newest row describes it
    ordered = sorted(by_key.values(), key=fetched_order)
    owners: dict[int, str] = {}  # stored number -> the key of the first object holding it
    for row in ordered:
        number = _stored_number(row)
        if number is not None:
            owners.setdefault(number, row["clean_key"])
    following = max(owners, default=0)
    out: list[Version] = []
    for row in ordered:
        number = _stored_number(row)
        if number is not None and owners[number] == row["clean_key"]:
            out.append(Version(number, row))
            continue
        if row.get("extraction") != "ok":
            continue  # an unnumbered failed or empty extraction is no version
        if out and out[-1].row.get("text_sha256") == row.get("text_sha256"):
            continue  # the same text again: the version before it
        following += 1
        out.append(Version(following, row, stored=False))
    return out


class _Groups:
    """Union-find over (source, normalized URL): rows sharing a URL are one article."""

    def __init__(self):
        self.parent: dict = {}

    def find(self, node):
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def union(self, nodes: list) -> None:
        roots = [self.find(n) for n in nodes]
        for other in roots[1:]:
            self.parent[other] = roots[0]


def group_articles(rows: Iterable[dict]) -> list[Article]:
    """Catalog rows grouped by article (one article, one history); newest activity first.

    Rows with a clean object make an article's versions; rows of its pages
    stored raw only (new bytes, same text) are kept as its ``pages``.
    """
    rows = [r for r in rows if r.get("clean_key") or r.get("article_url")]
    groups = _Groups()
    for row in rows:
        source = row.get("source") or ""
        groups.union([(source, u) for u in row_urls(row)] or [(source, id(row))])
    by_root: dict = {}
    for row in rows:
        source = row.get("source") or ""
        urls = row_urls(row)
        root = groups.find((source, next(iter(urls))) if urls else (source, id(row)))
        art = by_root.get(root)
        if art is None:
            art = by_root[root] = Article("", source)
        (art.rows if row.get("clean_key") else art.pages).append(row)
        art.urls |= urls
    articles = []
    for art in by_root.values():
        if not art.rows:
            continue  # raw pages only: no article text was ever stored
        art.rows.sort(key=fetched_order)
        art.pages.sort(key=fetched_order)
        art.versions = build_versions(art.rows)
        named = [r for r in art.rows if r.get("article_url")]
        art.id = article_id(named[-1] if named else art.rows[-1])
        articles.append(art)
    # newest activity first; the same time (pages of one fetch burst): by URL, so every listing agrees
    return sorted(articles, key=lambda a: (_fetched(a.last_row), a.id), reverse=True)


def url_variants(url: str) -> set[str]:
    """The forms a user may type an archived URL in: with or without the trailing slash."""
    norm = _norm(url)
    out = {url, norm}
    for u in list(out):
        out.add(u[:-1] if u.endswith("/") else u + "/")
    return out


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
    """The article any of whose URLs is ``url`` (as typed, normalized, with or without a trailing slash)."""
    rows = []
    for source in sources:
        rows.extend(catalog_rows(store, source))
    articles = group_articles(rows)
    exact, variants = _norm(url), {_norm(u) for u in url_variants(url)}
    found = ([a for a in articles if exact in a.urls] or [a for a in articles if a.urls & variants])
    if not found:  # an archive from before article URLs were recorded: its canonical link
        found = [a for a in articles if any(r.get("canonical_url") in variants for r in a.rows)]
        if len(found) > 1:
            raise NotArchived(f"{url} is the canonical link of {len(found)} archived articles: "
                              + ", ".join(a.id for a in found[:5]) + "; give one of their URLs")
    if not found:
        raise NotArchived(f"{url} is not in the catalog of {', '.join(sources) or 'any source'}")
    return found[0]  # several (sources or slash variants): the one with the newest activity


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
