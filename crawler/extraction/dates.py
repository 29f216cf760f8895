"""Dates as found in pages -> ISO 8601 with a timezone.

Accepted: ISO 8601 (``2026-11-02``, ``2026-11-02T08:00``, ``...Z``, ``...+01:00``,
``20261102T080000Z``), RFC 2822 (feeds, ``Mon, 02 Nov 2026 08:00:00 GMT``), Unix
timestamps (seconds or milliseconds) and common written forms (``November 2,
2026 8:00 AM``, ``2 Nov 2026``, ``02.11.2026 08:00``).  A time without a zone
is taken in ``default_tz`` (UTC unless the caller knows better).  A date
without a time stays a date (``2026-11-02``): inventing midnight would claim a
precision the page does not have.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Optional

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})?)?(Z|[+-]\d{2}:?\d{2})?$")
_EPOCH = re.compile(r"^\d{9,13}$")
_DOTTED = re.compile(r"^(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?(?:\s*Uhr)?$")
_MONTHS = {m: i for i, names in enumerate([
    ("jan", "january", "januar", "janvier", "enero", "gennaio"),
    ("feb", "february", "februar", "février", "fevrier", "febrero", "febbraio"),
    ("mar", "march", "märz", "maerz", "mars", "marzo"),
    ("apr", "april", "avril", "abril", "aprile"),
    ("may", "mai", "mayo", "maggio"),
    ("jun", "june", "juni", "juin", "junio", "giugno"),
    ("jul", "july", "juli", "juillet", "julio", "luglio"),
    ("aug", "august", "août", "aout", "agosto"),
    ("sep", "sept", "september", "septembre", "septiembre", "settembre"),
    ("oct", "october", "oktober", "octobre", "octubre", "ottobre", "okt"),
    ("nov", "november", "novembre", "noviembre"),
    ("dec", "december", "dezember", "décembre", "decembre", "diciembre", "dicembre", "dez"),
], start=1) for m in names}
_MONTH = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_TIME = r"(?:,?\s+(?:at\s+|um\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?)?"
_WRITTEN_MDY = re.compile(rf"^(?:\w+,?\s+)?({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}}){_TIME}", re.I)
_WRITTEN_DMY = re.compile(rf"^(?:\w+,?\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\.?\s+({_MONTH})\.?,?\s+(\d{{4}}){_TIME}", re.I)
_ZONES = {"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
          "AKST": -9, "AKDT": -8, "HST": -10, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2,
          "MEZ": 1, "MESZ": 2, "EET": 2, "EEST": 3}
_TZ_SUFFIX = re.compile(r"\s*(?:(Z|UTC|GMT)|([+-]\d{2}):?(\d{2})|(" + "|".join(_ZONES) + r"))$", re.I)


def _aware(dt: datetime, default_tz: tzinfo) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=default_tz)


def _plausible(year: int) -> bool:
    return 1990 <= year <= 2100


def _fmt(dt: datetime) -> str:
    text = dt.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if text.endswith("+00:00") else text


def _hour(h: int, ampm: Optional[str]) -> int:
    if ampm:
        pm = ampm.lower().startswith("p")
        h = (h % 12) + (12 if pm else 0)
    return h


def normalize_date(value: object, default_tz: tzinfo = timezone.utc) -> Optional[str]:
    """Return the date as ISO 8601 (with a zone when it has a time), or None if it is not a date."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(int(value))
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text or len(text) > 64:
        return None
    if _EPOCH.match(text):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        dt = datetime.fromtimestamp(seconds, timezone.utc)
        return _fmt(dt) if _plausible(dt.year) else None
    m = _ISO_DATE.match(text)
    if m:
        try:
            d = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
        return d.isoformat() if _plausible(d.year) else None
    m = _COMPACT.match(text)
    if m and m[4]:
        text = f"{m[1]}-{m[2]}-{m[3]}T{m[4]}:{m[5]}:{m[6] or '00'}{m[7] or ''}"
    iso = text.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", text) else text
    iso = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", iso)
    iso = iso[:-1] + "+00:00" if iso.endswith(("Z", "z")) else iso
    try:
        dt = datetime.fromisoformat(iso)
        return _fmt(_aware(dt, default_tz)) if _plausible(dt.year) else None
    except ValueError:
        pass
    if re.search(r"\d{1,2}:\d{2}", text) and re.match(r"^[A-Za-z]{3},?\s", text):
        try:
            dt = parsedate_to_datetime(text)
            return _fmt(_aware(dt, default_tz)) if _plausible(dt.year) else None
        except (TypeError, ValueError, IndexError):
            pass
    return _written(text, default_tz)


def _written(text: str, default_tz: tzinfo) -> Optional[str]:
    tz: tzinfo = default_tz
    m = _TZ_SUFFIX.search(text)
    if m and re.search(r"\d{1,2}:\d{2}", text):
        if m[1]:
            tz = timezone.utc
        elif m[4]:
            tz = timezone(timedelta(hours=_ZONES[m[4].upper()]))
        else:
            sign = -1 if m[2].startswith("-") else 1
            tz = timezone(sign * timedelta(hours=abs(int(m[2])), minutes=int(m[3])))
        text = text[:m.start()]
    for pattern, order in ((_WRITTEN_MDY, "mdy"), (_WRITTEN_DMY, "dmy"), (_DOTTED, "dotted")):
        m = pattern.match(text.strip())
        if not m:
            continue
        if order == "mdy":
            month, day, year = _MONTHS[m[1].lower()], int(m[2]), int(m[3])
            hh, mm, ss, ampm = m[4], m[5], m[6], m[7]
        elif order == "dmy":
            day, month, year = int(m[1]), _MONTHS[m[2].lower()], int(m[3])
            hh, mm, ss, ampm = m[4], m[5], m[6], m[7]
        else:
            day, month, year = int(m[1]), int(m[2]), int(m[3])
            hh, mm, ss, ampm = m[4], m[5], m[6], None
        if not _plausible(year):
            return None
        try:
            if hh is None:
                return date(year, month, day).isoformat()
            dt = datetime(year, month, day, _hour(int(hh), ampm), int(mm), int(ss or 0), tzinfo=tz)
        except ValueError:
            return None
        return _fmt(dt)
    return None
