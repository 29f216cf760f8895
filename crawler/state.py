"""Per-source incremental state, kept in the store beside the archive.

What a crawl must remember between runs (validators for conditional requests,
the last bytes stored per URL, every article's versions) lives under
``state/<source>/`` so it survives container restarts and is shared by every
worker that writes to the same bucket.

Layout (JSON, the same in a folder and in S3)::

    state/<source>/urls/<xx>.json       what each URL answered last time
    state/<source>/articles/<xx>.json   each article's versions, oldest first

``<xx>`` is the first two hex digits of the SHA-256 of the entry's key (the
normalized URL, or the article URL), so a source has at most 256 objects of
each kind: a 50,000-URL source has shards of ~200 entries (~60 KB), loaded in
parallel at the start of a run and written back (only those that changed) at
the end and at checkpoints.  One object per URL would cost a request per URL
per run; one object per source would rewrite megabytes per run and make every
concurrent writer conflict (``benchmarks/state_layout.py`` measures the three).
``state/<source>/template.json`` belongs to the extraction's template model and
is not touched here.

Each shard object is ``{"format": 1, "kind": "urls"|"articles", "source": ...,
"entries": {key: record}}``.

A URL record (every field optional)::

    kind           page | feed | sitemap
    etag, last_modified   validators of the last full answer (sent back as
                   If-None-Match / If-Modified-Since)
    checked        when the URL last answered 200 or 304 (ISO 8601, UTC; an unchanged
                   answer is stored only when the stored one is 6 hours old)
    changed        when its bytes last changed
    sha, raw       SHA-256 and raw object key of the last bytes stored
    article        the article URL (identity) the page holds, if it is an article
    depth          link depth at the last fetch
    pending        true when the page cap left some of its links unfollowed
    status, fails  last HTTP status; consecutive failed fetches

An article record, keyed by the article URL (the page's ``<link rel=canonical>``
when it is on the source's hosts, else the normalized URL)::

    versions   [{"v": 1, "key": clean key, "fp": text fingerprint, "at": fetched_at,
                 "url": page URL, "raw": raw key, "ok": extraction was ok}, ...]
    published  publication date as extracted
    checked    when its text was last compared
    urls       every URL that led to it

Secrets never reach the state: URLs are stored (as keys and values) with
:func:`crawler.secrets.mask` applied, as in every other stored record, and are
looked up the same way.  A URL whose key shows a masked secret cannot be
requested again from the state alone.

A save can fail half-way (a full disk, an outage): some shards written, some
not.  Then a listing's record may say "unchanged since ETag X" while the
records of the articles it links to are gone, and a 304 would hide them for
good.  So before a run first writes state it stores a marker
``state/<source>/saving/<token>.json`` and removes it only after a complete
save.  A run that finds a marker loads the state as ``incomplete``: it trusts
it for article pages only (listings, feeds and sitemaps are read in full, see
:func:`crawler.revisit.conditional_headers`), and once its own save is
complete it removes the markers it found.

Several writers: a shard is written with compare-and-swap (S3 ``If-Match`` /
``If-None-Match: *``, a lock file in a folder).  When another worker wrote the
shard since we read it, we read theirs, merge our changed entries into it
(:func:`merge_url`: the later check wins; :func:`merge_article`: the union of
versions) and try again, so no update is lost.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, Optional

from crawler.keys import check_component
from crawler.secrets import MASK, mask, secret_values
from crawler.store import KeyNotFound, Store, StoreError
from crawler.urls import normalize_url

log = logging.getLogger(__name__)

STATE_FORMAT = 1
SHARD_HEX = 2              # 256 shards per index
MAX_SWAP_ATTEMPTS = 8
# an unchanged check is written only when the stored one is older than this (decisions in the run
# use the exact time; the next run may see a check up to this much older than it was)
CHECKED_GRANULARITY = timedelta(hours=6)
LOAD_THREADS = 32  # shard reads and writes at once (the S3 client keeps as many connections)


class StateError(Exception):
    """The state could not be read or written (the message names the object).

    ``unavailable``: the store could not be reached (the state may be fine);
    otherwise a state object is damaged.
    """

    def __init__(self, message: str, *, unavailable: bool = False):
        super().__init__(message)
        self.unavailable = unavailable


def state_prefix(source: str) -> str:
    return f"state/{check_component(source, 'source name')}/"


def iso(ts: datetime) -> str:
    """UTC, millisecond ISO 8601 with ``Z``, as in the archive's records (kept import-light here)."""
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _only_checked_moved(old: dict, new: dict) -> bool:
    """Only the check time moved (a 200 of the same bytes and a 304 say the same thing)."""
    same = ("checked", "status") if {old.get("status"), new.get("status")} <= {200, 304} else ("checked",)
    if {k: v for k, v in old.items() if k not in same} != {k: v for k, v in new.items() if k not in same}:
        return False
    try:
        stored = datetime.fromisoformat(old["checked"].replace("Z", "+00:00"))
        now = datetime.fromisoformat(new["checked"].replace("Z", "+00:00"))
    except (KeyError, ValueError, AttributeError):
        return False
    return now - stored < CHECKED_GRANULARITY


def shard_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:SHARD_HEX]


# -- merging (pure) -------------------------------------------------------------------

def merge_url(ours: dict, theirs: dict) -> dict:
    """Two workers' records of one URL: the one checked last wins (ours on a tie)."""
    return theirs if (theirs.get("checked") or "") > (ours.get("checked") or "") else ours


def merge_article(ours: dict, theirs: dict) -> dict:
    """Two workers' records of one article: every version either knows, in order."""
    newer, older = (theirs, ours) if (theirs.get("checked") or "") > (ours.get("checked") or "") else (ours, theirs)
    versions = {v["key"]: v for v in older.get("versions", [])}
    versions.update({v["key"]: v for v in newer.get("versions", [])})
    merged = dict(newer)
    merged["versions"] = sorted(versions.values(), key=lambda v: (v.get("v", 0), v.get("at") or ""))
    urls = list(dict.fromkeys([*older.get("urls", []), *newer.get("urls", [])]))
    if urls:
        merged["urls"] = urls
    return merged


# -- one sharded index ------------------------------------------------------------------

@dataclass
class _Shard:
    entries: dict = field(default_factory=dict)
    version: Optional[str] = None       # the store's version token; None: not stored yet
    dirty: set = field(default_factory=set)


@dataclass(frozen=True)
class ShardWrite:
    """A snapshot of one shard's changes, written by :meth:`Index.write` in any thread."""

    name: str
    entries: dict
    dirty: frozenset
    version: Optional[str]


@dataclass(frozen=True)
class WriteResult:
    name: str
    version: Optional[str]               # None: the write failed
    merged: Optional[dict] = None        # their entries merged with ours, when there was a conflict
    conflicts: int = 0
    dirty: frozenset = frozenset()
    error: Optional[str] = None


class Index:
    """Entries ``key -> record`` spread over shard objects under ``prefix``.

    Records are treated as immutable: :meth:`put` replaces a record, so a
    snapshot for writing is a cheap shallow copy.
    """

    def __init__(self, store: Store, prefix: str, kind: str, source: str,
                 merge: Callable[[dict, dict], dict]):
        self.store, self.prefix, self.kind, self.source, self.merge = store, prefix, kind, source, merge
        self.shards: dict[str, _Shard] = {}

    def key_of(self, name: str) -> str:
        return f"{self.prefix}{name}.json"

    # -- reading
    def load(self, pool: ThreadPoolExecutor) -> None:
        names = []
        for info in self.store.list(self.prefix):
            name = info.key[len(self.prefix):]
            if name.endswith(".json") and len(name) == SHARD_HEX + 5 and "/" not in name:
                names.append(name[:-5])
        for name, (entries, version) in zip(names, pool.map(self._read, names)):
            self.shards[name] = _Shard(entries, version)

    def _read(self, name: str) -> tuple[dict, Optional[str]]:
        key = self.key_of(name)
        try:
            data, version = self.store.get_versioned(key)
        except KeyNotFound:
            return {}, None
        except StoreError as exc:
            raise StateError(f"cannot read {key}: {exc}", unavailable=True) from None
        return self.parse(key, data), version

    def parse(self, key: str, data: bytes) -> dict:
        try:
            doc = json.loads(data)
            entries = doc["entries"]
            if doc.get("format") != STATE_FORMAT or doc.get("kind") != self.kind or not isinstance(entries, dict):
                raise ValueError("unexpected format, kind or entries")
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{key} is not a valid {self.kind} state object ({exc}); "
                             f"move it aside and run again (those pages are then fetched in full)") from None
        return entries

    def get(self, key: str) -> Optional[dict]:
        shard = self.shards.get(shard_name(key))
        return shard.entries.get(key) if shard else None

    def __len__(self) -> int:
        return sum(len(s.entries) for s in self.shards.values())

    def items(self) -> Iterator[tuple[str, dict]]:
        for shard in self.shards.values():
            yield from shard.entries.items()

    # -- changing
    def put(self, key: str, record: dict) -> None:
        shard = self.shards.setdefault(shard_name(key), _Shard())
        shard.entries[key] = record
        shard.dirty.add(key)

    def update(self, key: str, *, lazy_check: bool = False, **changes) -> dict:
        """Replace the record with its fields updated (a field set to None is removed).

        ``lazy_check``: when only ``checked`` moved, and by less than
        ``CHECKED_GRANULARITY``, the record changes in memory but is not written
        for it (an unchanged site costs no state writes on every run).
        """
        old = self.get(key)
        record = {**(old or {}), **changes}
        record = {k: v for k, v in record.items() if v is not None}
        if lazy_check and old and _only_checked_moved(old, record):
            self.shards[shard_name(key)].entries[key] = record
        else:
            self.put(key, record)
        return record

    @property
    def dirty(self) -> bool:
        return any(s.dirty for s in self.shards.values())

    # -- writing: snapshot (caller's thread), write (any thread), apply (caller's thread)
    def snapshot(self) -> list[ShardWrite]:
        out = []
        for name, shard in self.shards.items():
            if shard.dirty:
                out.append(ShardWrite(name, dict(shard.entries), frozenset(shard.dirty), shard.version))
                shard.dirty = set()
        return out

    def encode(self, entries: dict) -> bytes:
        doc = {"format": STATE_FORMAT, "kind": self.kind, "source": self.source, "entries": entries}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def write(self, snap: ShardWrite) -> WriteResult:
        """Compare-and-swap one shard, merging with another writer's version on conflict."""
        key = self.key_of(snap.name)
        entries, version, merged, conflicts = snap.entries, snap.version, None, 0
        try:
            for _ in range(MAX_SWAP_ATTEMPTS):
                token = self.store.swap(key, self.encode(entries), expected=version)
                if token is not None:
                    return WriteResult(snap.name, token, merged, conflicts, snap.dirty)
                conflicts += 1
                try:
                    data, version = self.store.get_versioned(key)
                    theirs = self.parse(key, data)
                except KeyNotFound:  # deleted meanwhile: write ours as new
                    theirs, version = {}, None
                merged = dict(theirs)
                for k in snap.dirty:
                    mine = snap.entries[k]
                    merged[k] = self.merge(mine, theirs[k]) if k in theirs else mine
                entries = merged
            error = f"{key}: still conflicting after {MAX_SWAP_ATTEMPTS} attempts"
        except (StoreError, StateError) as exc:
            error = str(exc)
        return WriteResult(snap.name, None, None, conflicts, snap.dirty, error)

    def apply(self, result: WriteResult) -> None:
        shard = self.shards.setdefault(result.name, _Shard())
        if result.version is None:  # failed: those entries are still to be written
            shard.dirty |= set(result.dirty)
            return
        shard.version = result.version
        if result.merged is not None:
            for k, record in result.merged.items():
                if k not in shard.dirty:  # not changed again since the snapshot
                    shard.entries[k] = record


@dataclass
class SaveReport:
    written: int = 0
    conflicts: int = 0
    errors: list = field(default_factory=list)

    def add(self, result: WriteResult) -> None:
        self.conflicts += result.conflicts
        if result.version is None:
            self.errors.append(result.error)
        else:
            self.written += 1


# -- the state of one source --------------------------------------------------------------

class SourceState:
    """Everything one source remembers.  Load once, change in memory, save (or checkpoint)."""

    def __init__(self, store: Store, source: str):
        self.store, self.source = store, source
        prefix = state_prefix(source)
        self.urls = Index(store, prefix + "urls/", "urls", source, merge_url)
        self.articles = Index(store, prefix + "articles/", "articles", source, merge_article)
        self._by_sha: dict[str, str] = {}
        self.key = _masker()  # url -> the key it is stored under (secrets masked)
        self.marker = f"{prefix}saving/{secrets.token_hex(8)}.json"  # ours, while a save is not complete
        self._marked = False
        self.stale: list[str] = []             # markers of saves that did not complete, found at load

    @property
    def incomplete(self) -> bool:
        """An earlier save did not complete: the state may lack records its other records rely on."""
        return bool(self.stale)

    @classmethod
    def load(cls, store: Store, source: str, *, threads: int = LOAD_THREADS) -> "SourceState":
        state = cls(store, source)
        try:
            state.stale = [o.key for o in store.list(state_prefix(source) + "saving/")]
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="state") as pool:
                state.urls.load(pool)
                state.articles.load(pool)
        except StoreError as exc:
            raise StateError(f"cannot read the state under {state_prefix(source)}: {exc}",
                             unavailable=True) from None
        for _, record in state.urls.items():
            if record.get("sha") and record.get("raw"):
                state._by_sha.setdefault(record["sha"], record["raw"])
        return state

    # -- saving
    def snapshot(self) -> list[tuple[Index, ShardWrite]]:
        return [(index, snap) for index in (self.urls, self.articles) for snap in index.snapshot()]

    def write(self, snaps: list[tuple[Index, ShardWrite]], pool: Optional[ThreadPoolExecutor] = None
              ) -> list[tuple[Index, WriteResult]]:
        """Write the snapshots (any thread); nothing is written unless the save marker could be."""
        error = self._mark()
        if error is not None:
            return [(index, WriteResult(snap.name, None, None, 0, snap.dirty, error)) for index, snap in snaps]
        if pool is None:
            return [(index, index.write(snap)) for index, snap in snaps]
        futures = [(index, pool.submit(index.write, snap)) for index, snap in snaps]
        return [(index, f.result()) for index, f in futures]

    def _mark(self) -> Optional[str]:
        if self._marked:
            return None
        try:
            doc = {"format": STATE_FORMAT, "kind": "saving", "source": self.source,
                   "at": iso(datetime.now(timezone.utc))}
            self.store.put(self.marker, json.dumps(doc).encode(), content_type="application/json")
        except StoreError as exc:
            return f"cannot begin saving the state ({self.marker}): {exc}"
        self._marked = True
        return None

    def apply(self, results: list[tuple[Index, WriteResult]]) -> SaveReport:
        report = SaveReport()
        for index, result in results:
            index.apply(result)
            report.add(result)
        return report

    def save(self, *, threads: int = LOAD_THREADS) -> SaveReport:
        """Write every changed shard now (compare-and-swap, merging on conflict).

        After a complete save, the save markers (ours, and those found at load,
        which this run has healed by reading listings and feeds in full) are removed.
        """
        snaps = self.snapshot()
        report = SaveReport()
        if snaps:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="state") as pool:
                report = self.apply(self.write(snaps, pool))
        if not report.errors and not self.dirty:  # everything this run learnt is stored
            for key in ([self.marker] if self._marked else []) + self.stale:
                try:
                    self.store.delete(key)
                except StoreError as exc:
                    report.errors.append(f"cannot remove {key}: {exc}")
                    break
            else:
                self._marked, self.stale = False, []
        return report

    @property
    def dirty(self) -> bool:
        return self.urls.dirty or self.articles.dirty

    # -- URLs
    def url(self, url: str) -> Optional[dict]:
        return self.urls.get(self.key(url))

    @staticmethod
    def requestable(key: str) -> bool:
        """Can the URL stored under ``key`` be requested again (no secret was masked in it)?"""
        return MASK not in key

    def raw_for_sha(self, sha: str) -> Optional[str]:
        """The key of a raw object already holding exactly these bytes, if any URL has one."""
        return self._by_sha.get(sha)

    def record_fetch(self, url: str, *, at: datetime, status: int, headers: dict, sha: str, raw: str,
                     kind: str = "page") -> dict:
        """A full answer whose bytes are now archived under ``raw``."""
        url = self.key(url)
        old = self.urls.get(url) or {}
        if raw:
            self._by_sha.setdefault(sha, raw)
        return self.urls.update(
            url, kind=kind, status=status, fails=None, checked=iso(at),
            changed=iso(at) if old.get("sha") != sha else old.get("changed", iso(at)),
            sha=sha, raw=raw, **{"etag": None, "last_modified": None, **validators(headers)})

    def record_unchanged(self, url: str, *, at: datetime, status: int, headers: Optional[dict] = None,
                         kind: str = "page") -> dict:
        """A 304, or a 200 with the bytes we already have."""
        changes = validators(headers or {})
        return self.urls.update(self.key(url), lazy_check=True, kind=kind, status=status, fails=None,
                                checked=iso(at), **changes)

    def record_failure(self, url: str, *, status: Optional[int], kind: str = "page") -> dict:
        url = self.key(url)
        old = self.urls.get(url) or {}
        return self.urls.update(url, kind=old.get("kind", kind), status=status, fails=old.get("fails", 0) + 1)

    def note_links(self, url: str, *, depth: int, pending: bool) -> dict:
        """The depth a page was read at, and whether the page cap left some of its links unfollowed."""
        return self.urls.update(self.key(url), depth=depth, pending=True if pending else None)

    # -- articles
    def article(self, article_url: str) -> Optional[dict]:
        return self.articles.get(self.key(article_url))

    def article_of(self, url: str) -> Optional[str]:
        record = self.url(url)
        return record.get("article") if record else None

    def link_article(self, url: str, article_url: str, *, at: datetime,
                     published: Optional[str] = None) -> dict:
        """Note that ``url`` holds the article and that its text was compared at ``at``."""
        url, article_url = self.key(url), self.key(article_url)
        if (self.urls.get(url) or {}).get("article") != article_url:
            self.urls.update(url, article=article_url)
        old = self.articles.get(article_url) or {}
        urls = old.get("urls", [])
        return self.articles.update(article_url, lazy_check=True, checked=iso(at),
                                    published=published or old.get("published"),
                                    urls=urls if url in urls else [*urls, url])

    def add_version(self, article_url: str, version: dict) -> dict:
        article_url = self.key(article_url)
        if version.get("url"):
            version = {**version, "url": self.key(version["url"])}
        old = self.articles.get(article_url) or {}
        return self.articles.update(article_url, versions=[*old.get("versions", []), version])


    def note_same_text(self, article_url: str, fp: str, *, keep: int = 4) -> None:
        """The latest version's text is also known by ``fp`` (the extractor changed, not the page)."""
        article_url = self.key(article_url)
        old = self.articles.get(article_url) or {}
        history = list(old.get("versions", []))
        if not history:
            return
        latest = history[-1]
        same = [f for f in latest.get("same", []) if f != fp][-(keep - 1):] + [fp]
        history[-1] = {**latest, "same": same}
        self.articles.update(article_url, versions=history)


def note_versions(store: Store, source: str, made: list[tuple[str, dict]],
                  state: Optional[SourceState] = None) -> SaveReport:
    """Add clean versions made outside a crawl (``archiver re-extract``) to the source's state.

    ``made`` holds ``(key, clean record)`` pairs.  Each version joins the history
    of the article its page belongs to, so the next crawl compares with it and
    numbers after it.  ``state``: the source's state if already loaded.
    """
    from crawler.versions import fingerprint

    state = state if state is not None else SourceState.load(store, source)
    state.stale = []  # not healed by this (no listing was read): markers of other runs stay
    for key, record in made:
        page = record.get("url") or record.get("final_url")
        article = state.article_of(page) or record.get("article_url") or normalize_url(record["final_url"])
        state.add_version(article, {"v": record["version"], "key": key,
                                    "fp": fingerprint(record.get("title"), record.get("text")),
                                    "at": record.get("fetched_at"), "url": page, "raw": record.get("raw_key"),
                                    "ok": (record.get("extraction") or {}).get("status", "ok") == "ok"})
    return state.save()


def _masker() -> Callable[[str], str]:
    """``mask`` with the secret values of this process's environment read once, results cached."""
    values = set(secret_values(os.environ))
    env = {k: v for k, v in os.environ.items() if v in values}
    return functools.lru_cache(maxsize=65536)(lambda url: mask(url, env))


def validators(headers: dict) -> dict:
    """ETag / Last-Modified from response headers (lower-case names, lists of values)."""
    def first(name: str) -> Optional[str]:
        values = headers.get(name) or headers.get(name.title())
        if isinstance(values, (list, tuple)):
            return values[0] if values else None
        return values

    out = {}
    etag, modified = first("etag"), first("last-modified")
    if etag:
        out["etag"] = etag[:512]
    if modified:
        out["last_modified"] = modified[:128]
    return out


# -- reading an article's history (for inspection tools; no crawl needed) -------------------

@dataclass(frozen=True)
class Version:
    number: int
    key: str            # the clean object
    fetched_at: str
    url: str
    raw_key: Optional[str]
    fingerprint: str
    ok: bool


@dataclass(frozen=True)
class History:
    article_url: str
    versions: list      # of Version, oldest first
    urls: list
    checked: Optional[str]


def _history(article_url: str, record: dict) -> History:
    versions = [Version(v.get("v", i + 1), v["key"], v.get("at"), v.get("url"), v.get("raw"), v.get("fp"),
                        bool(v.get("ok", True)))
                for i, v in enumerate(record.get("versions", []))]
    return History(article_url, versions, list(record.get("urls", [])), record.get("checked"))


def article_history(store: Store, source: str, url: str) -> Optional[History]:
    """The versions of the article at ``url`` (any URL that led to it, or its article URL).

    Reads at most two small shard objects; ``None`` when the source never archived it.
    """
    prefix = state_prefix(source)
    urls = Index(store, prefix + "urls/", "urls", source, merge_url)
    articles = Index(store, prefix + "articles/", "articles", source, merge_article)

    def lookup(index: Index, key: str) -> Optional[dict]:
        name = shard_name(key)
        try:
            data = store.get(index.key_of(name))
        except KeyNotFound:
            return None
        return index.parse(index.key_of(name), data).get(key)

    url = mask(normalize_url(url))
    record = lookup(articles, url)
    if record is not None:
        return _history(url, record)
    page = lookup(urls, url)
    if page and page.get("article"):
        record = lookup(articles, page["article"])
        if record is not None:
            return _history(page["article"], record)
    return None
