"""Pure decisions of an incremental crawl: fetch this URL now, and how.

Given what the state remembers of a URL (see :mod:`crawler.state`), the
source's revisit policy and the time, decide:

* whether to request a discovered URL at all (:func:`decide`): new URLs and
  entry points always; a sitemap entry whose ``<lastmod>`` is older than our
  last check is not refetched; otherwise the page is due when its revisit
  interval has passed since the last check;
* which known URLs nothing offered in this run are due anyway
  (:func:`due_known`), so edits to older articles are still noticed when the
  listing that linked them has moved on or answered 304;
* whether the request may carry ``If-None-Match`` / ``If-Modified-Since``
  (:func:`conditional_headers`): not when a 304 would hide links we still need
  (the page cap left some unfollowed, or we now reach the page at a lower
  depth than last time).

The revisit interval depends on the page's age: an article published or
changed within ``recent_days`` is checked at most every ``recent_every``
(0: every run), an older one at most every ``old_every``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Iterable, Optional

from crawler.cron import parse_interval

_W3C = re.compile(
    r"^\s*(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?)?)?\s*$", re.I)
GONE = (404, 410)
CLOCK_SKEW = timedelta(hours=1)  # a site's clock may be this far ahead of ours


def parse_duration(text: str | int) -> timedelta:
    """``0`` (every run), or an interval like ``30s``, ``15m``, ``6h``, ``1d`` (as ``interval:``)."""
    if str(text).strip().lower() in ("0", "0s", "0m", "0h", "0d"):
        return timedelta(0)
    return parse_interval(str(text))


@dataclass(frozen=True)
class Moment:
    """A time read from a page or a sitemap, with how precise it was."""

    start: datetime             # the earliest instant it can mean
    end: datetime               # the latest (a bare date covers the whole day)


def parse_time(text: Optional[str]) -> Optional[Moment]:
    """W3C datetime (sitemaps: ``2026-11-05``, ``2026-11-05T08:00:00+01:00``...) or RFC 2822."""
    if not text:
        return None
    m = _W3C.match(text)
    if m:
        year, month, day, hour, minute, second, frac, tz = m.groups()
        try:
            if hour is None:
                start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=timezone.utc)
                if day:
                    end = start + timedelta(days=1)
                elif month:
                    end = (start + timedelta(days=32)).replace(day=1)
                else:
                    end = start.replace(year=start.year + 1)
                return Moment(start, end - timedelta(microseconds=1))
            offset = timezone.utc
            if tz and tz.upper() != "Z":
                sign = -1 if tz[0] == "-" else 1
                digits = tz[1:].replace(":", "")
                offset = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
            micro = int((frac or "0")[:6].ljust(6, "0"))
            at = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro,
                          tzinfo=offset).astimezone(timezone.utc)
            precision = timedelta(seconds=1) if second is not None else timedelta(minutes=1)
            return Moment(at, at + precision - timedelta(microseconds=1))
        except ValueError:
            return None
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    at = at.astimezone(timezone.utc)
    return Moment(at, at + timedelta(seconds=1) - timedelta(microseconds=1))


def _when(text: Optional[str]) -> Optional[datetime]:
    moment = parse_time(text)
    return moment.start if moment else None


@dataclass(frozen=True)
class Policy:
    recent_days: float = 7
    recent_every: timedelta = timedelta(0)
    old_every: timedelta = timedelta(0)
    known_pages: bool = True

    @classmethod
    def from_settings(cls, revisit) -> "Policy":
        return cls(revisit.recent_days, parse_duration(revisit.recent_every),
                   parse_duration(revisit.old_every), revisit.known_pages)


def last_change(url_record: dict, article: Optional[dict] = None) -> Optional[datetime]:
    """When the page's content last changed as far as we know.

    For an article: the later of its publication date and its last edit (a
    version after the first); the first archiving only counts when there is no
    publication date.  For other pages: when their bytes last changed.
    """
    if not article:
        return _when(url_record.get("changed"))
    versions = article.get("versions") or []
    times = [_when(article.get("published"))]
    if len(versions) > 1:
        times.append(_when(versions[-1].get("at")))
    times = [t for t in times if t is not None]
    if not times and versions:
        times = [_when(versions[0].get("at"))]
    times = [t for t in times if t is not None]
    return max(times) if times else None


def interval(policy: Policy, url_record: dict, article: Optional[dict], now: datetime) -> timedelta:
    changed = last_change(url_record, article)
    if changed is None or now - changed <= timedelta(days=policy.recent_days):
        return policy.recent_every
    return policy.old_every


def is_due(policy: Policy, url_record: dict, article: Optional[dict], now: datetime) -> bool:
    checked = _when(url_record.get("checked"))
    if checked is None or url_record.get("pending"):
        return True
    return now - checked >= interval(policy, url_record, article, now)


@dataclass(frozen=True)
class Decision:
    fetch: bool
    reason: str     # new | entry | lastmod_changed | lastmod_unchanged | due | not_due

    def __bool__(self) -> bool:
        return self.fetch


def decide(url_record: Optional[dict], article: Optional[dict], *, now: datetime, policy: Policy,
           lastmod: Optional[str] = None, entry_point: bool = False) -> Decision:
    """Request this discovered URL in this run?"""
    if not url_record or not url_record.get("checked"):
        return Decision(True, "new")
    if entry_point:
        return Decision(True, "entry")
    if url_record.get("pending"):
        return Decision(True, "pending")
    moment = parse_time(lastmod)
    if moment is not None and moment.start > now + CLOCK_SKEW:
        moment = None  # a lastmod in the future says nothing: the revisit policy decides
    if moment is not None:
        checked = _when(url_record.get("checked"))
        # unchanged only if even the latest instant the lastmod can mean is before our check
        if checked is not None and moment.end < checked:
            return Decision(False, "lastmod_unchanged")
        return Decision(True, "lastmod_changed")
    if is_due(policy, url_record, article, now):
        return Decision(True, "due")
    return Decision(False, "not_due")


def conditional_headers(url_record: Optional[dict], depth: int, *, trust_links: bool = True,
                        follows_links: bool = True) -> dict[str, str]:
    """Validators to send, or ``{}`` when a 304 would cost us links we still need.

    A 304 is not parsed for links; that is safe because known pages are revisited
    from the state (:func:`due_known`).  When that cannot be relied on
    (``trust_links`` false: ``known_pages`` is off, or an earlier save left the
    state incomplete) a page whose links are followed (``follows_links``: it is
    read below ``max_depth``) is fetched in full.
    """
    if not url_record or url_record.get("pending"):
        return {}
    if follows_links and not trust_links:
        return {}
    if depth < url_record.get("depth", depth):
        return {}  # reached closer to the start than last time: its links may now be followed
    headers = {}
    if url_record.get("etag"):
        headers["If-None-Match"] = url_record["etag"]
    if url_record.get("last_modified"):
        headers["If-Modified-Since"] = url_record["last_modified"]
    return headers


def due_known(records: Iterable[tuple[str, dict]], articles, *, now: datetime, policy: Policy,
              max_depth: int, skip: set) -> list[tuple[str, dict]]:
    """Known pages and child sitemaps nothing offered in this run that are due, most overdue first.

    ``articles`` maps an article URL to its record (``.get``); ``skip`` holds the
    URLs already requested or decided in this run.
    """
    if not policy.known_pages:
        return []
    due = []
    for url, record in records:
        if url in skip or record.get("kind") not in ("page", "sitemap") or not record.get("checked"):
            continue
        if record.get("status") in GONE or record.get("depth", 0) > max_depth:
            continue
        article = articles.get(record["article"]) if record.get("article") else None
        if is_due(policy, record, article, now):
            due.append((record.get("checked", ""), url, record))
    due.sort(key=lambda t: t[0])
    return [(url, record) for _, url, record in due]
