"""WARC 1.1 output of a crawl: request, response and metadata records per fetched page.

``warc/<source>/<yyyy>/<mm>/<dd>/<run-id>.warc.gz`` (then ``<run-id>.002.warc.gz``...
when a file passes ``warc_max_bytes``), each file opening with a ``warcinfo``
record, each record gzipped on its own (the ``.warc.gz`` convention pywb and
replayweb.page index).  Files are built in a local temporary folder and handed
back whole for the archive writer to store (or spool).

Scrapy hands the pipeline decoded bodies (gzip/deflate/br undone, chunks
joined; its compression middleware already removed ``Content-Encoding``), so a
response record holds the decoded body: any ``Content-Encoding`` or
``Transfer-Encoding`` left is renamed ``X-Archiver-Original-*``, and
``Content-Length`` is the decoded length (the length on the wire, when it
differs, is kept as ``X-Archiver-Original-Content-Length``), so replay tools
read exactly the bytes stored in ``raw/``.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from crawler import __version__, keys
from crawler.records import FetchedPage
from crawler.secrets import mask

DROPPED = ("content-encoding", "transfer-encoding")


@dataclass(frozen=True)
class WarcPart:
    """A finished WARC file, ready to store."""

    key: str
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()

    def discard(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _title(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def response_headers(page: FetchedPage) -> StatusAndHeaders:
    """The response's status line and headers, describing the decoded body."""
    headers = []
    for name, values in page.headers.items():
        lower = name.lower()
        if lower == "content-length":
            if any(v.strip() != str(len(page.body)) for v in values):  # the length on the wire (compressed)
                headers.extend(("X-Archiver-Original-Content-Length", v) for v in values)
            continue
        for value in values:
            value = mask(value)
            if lower in DROPPED:
                headers.append((f"X-Archiver-Original-{_title(lower)}", value))
            else:
                headers.append((_title(lower), value))
    headers.append(("Content-Length", str(len(page.body))))
    try:
        reason = HTTPStatus(page.status).phrase
    except ValueError:
        reason = "Unknown"
    return StatusAndHeaders(f"{page.status} {reason}", headers, protocol="HTTP/1.1")


def request_headers(page: FetchedPage) -> StatusAndHeaders:
    parts = urlsplit(mask(page.final_url))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [("Host", parts.netloc)]
    for name, values in page.request_headers.items():
        if name.lower() == "host":
            continue
        headers.extend((_title(name.lower()), mask(v)) for v in values)
    return StatusAndHeaders(f"GET {target} HTTP/1.1", headers, is_http_request=True)


def warc_fields(fields: dict) -> bytes:
    """``application/warc-fields``: one ``name: value`` per line."""
    lines = []
    for name, value in fields.items():
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                lines.append(f"{name}: {v}".replace("\r", " ").replace("\n", " "))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


class WarcRecorder:
    """Writes one run's exchanges into size-bounded ``.warc.gz`` parts."""

    def __init__(self, source: str, run_id: str, started: datetime, *, max_bytes: int,
                 tmp_dir: str | os.PathLike):
        self.source, self.run_id, self.started = source, run_id, started
        self.max_bytes = max_bytes
        Path(tmp_dir).mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"warc-{run_id}-", dir=tmp_dir))
        self.part = 0
        self.records = 0
        self._fh = None
        self._writer: Optional[WARCWriter] = None
        self._key: Optional[str] = None

    @property
    def current_key(self) -> Optional[str]:
        return self._key

    def _open(self) -> None:
        self.part += 1
        self._key = keys.warc_key(self.source, self.run_id, self.started, self.part)
        path = self.dir / self._key.rsplit("/", 1)[-1]
        self._fh = open(path, "wb")
        self._writer = WARCWriter(self._fh, gzip=True, warc_version="1.1")
        info = self._writer.create_warcinfo_record(path.name, {
            "software": f"archiver/{__version__} (Scrapy, warcio)",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "isPartOf": f"{self.source}/{self.run_id}",
            "description": "raw HTTP exchanges of one archiver run; bodies are stored decoded "
                           "(Content-Encoding removed, Content-Length of the decoded body)",
        })
        self._writer.write_record(info)

    def _close_part(self) -> Optional[WarcPart]:
        if self._fh is None:
            return None
        path = Path(self._fh.name)
        self._fh.close()
        self._fh = self._writer = None
        return WarcPart(self._key, path)

    def write(self, page: FetchedPage, *, raw_key: Optional[str] = None) -> tuple[str, Optional[WarcPart]]:
        """Record one exchange; returns (key of the file holding it, a finished part to store or None)."""
        if self._writer is None:
            self._open()
        writer = self._writer
        date = datetime_to_iso_date(page.fetched_at.astimezone(timezone.utc).replace(tzinfo=None),
                                    use_micros=True)
        uri = mask(page.final_url)  # a token in the URL stays out of the archive
        response = writer.create_warc_record(
            uri, "response", payload=io.BytesIO(page.body), length=len(page.body),
            warc_headers_dict={"WARC-Date": date}, http_headers=response_headers(page))
        response_id = response.rec_headers.get_header("WARC-Record-ID")
        request = writer.create_warc_record(
            uri, "request", payload=io.BytesIO(b""), length=0,
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": response_id},
            http_headers=request_headers(page))
        meta = warc_fields({
            "via": mask(page.redirect_urls[0]) if page.redirect_urls else None,
            "redirect-url": [mask(u) for u in page.redirect_urls],
            "discovered-via": page.discovered_via,
            "depth": page.depth,
            "source": page.source,
            "run-id": self.run_id,
            "raw-key": raw_key,
            "requested-url": mask(page.url),
        })
        metadata = writer.create_warc_record(
            uri, "metadata", payload=io.BytesIO(meta), length=len(meta),
            warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": response_id})
        for record in (response, request, metadata):
            writer.write_record(record)
        self.records += 3
        key = self._key
        finished = None
        self._fh.flush()
        if os.path.getsize(self._fh.name) >= self.max_bytes:
            finished = self._close_part()
        return key, finished

    def close(self) -> Optional[WarcPart]:
        """The last part (None when nothing was written since the last rotation)."""
        return self._close_part()

    def cleanup(self) -> None:
        if self._fh is not None:
            self._fh.close()
        for path in self.dir.glob("*"):
            path.unlink()
        try:
            self.dir.rmdir()
        except OSError:
            pass
