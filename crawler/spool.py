"""A local, bounded spool of writes the store refused, uploaded by the next run.

One file per pending write under ``<spool_dir>/<source>/``: a JSON header line
(key, content type, metadata) then the object bytes.  Entries are written
atomically (temp + rename) and named so that a flush replays them in the order
they were made (raw page before its sidecar before the clean article).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from crawler.keys import check_component, is_safe_key


class SpoolFull(Exception):
    pass


@dataclass(frozen=True)
class SpoolEntry:
    path: Path
    key: str
    content_type: str
    metadata: dict
    data: bytes


class Spool:
    def __init__(self, root: str | os.PathLike, source: str, *, max_bytes: int = 2 * 1024**3):
        self.dir = Path(root) / check_component(source, "source name")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._seq = 0
        self._size: Optional[int] = None  # measured once, then kept up to date by add/remove

    def size(self) -> int:
        if not self.dir.is_dir():
            return 0
        total = 0
        for p in self.dir.glob("*.put"):
            try:
                total += p.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def count(self) -> int:
        return len(list(self.dir.glob("*.put"))) if self.dir.is_dir() else 0

    def add(self, key: str, data: bytes, *, content_type: str, metadata: Optional[dict] = None) -> Path:
        if not is_safe_key(key):
            raise ValueError(f"unsafe object key: {key!r}")
        header = json.dumps({"key": key, "content_type": content_type, "metadata": metadata or {}}).encode()
        entry_size = len(header) + 1 + len(data)
        with self._lock:
            if self._size is None:
                self._size = self.size()
            if self._size + entry_size > self.max_bytes:
                raise SpoolFull(f"the spool {self.dir} is full (spool_max_bytes={self.max_bytes})")
            self._size += entry_size  # reserved now, so concurrent writers cannot overshoot
            self._seq += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.put"
        tmp = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.dir)
            with os.fdopen(fd, "wb") as fh:
                fh.write(header + b"\n" + data)
                fh.flush()
                os.fsync(fh.fileno())
            final = self.dir / name
            os.replace(tmp, final)
            return final
        except BaseException:
            with self._lock:
                self._size -= entry_size
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            raise

    def entries(self) -> Iterator[SpoolEntry]:
        if not self.dir.is_dir():
            return
        for path in sorted(self.dir.glob("*.put")):
            try:
                raw = path.read_bytes()
                header, _, data = raw.partition(b"\n")
                meta = json.loads(header)
            except (OSError, ValueError):
                continue  # unreadable entry: left in place for a human to look at
            if not is_safe_key(meta.get("key", "")):
                continue
            yield SpoolEntry(path, meta["key"], meta.get("content_type", "application/octet-stream"),
                             meta.get("metadata") or {}, data)

    def remove(self, entry: SpoolEntry) -> None:
        try:
            size = entry.path.stat().st_size
            entry.path.unlink()
        except FileNotFoundError:
            return
        with self._lock:
            if self._size is not None:
                self._size = max(0, self._size - size)
