"""One run per source at a time on this machine: an exclusive lock file per source.

``archiver serve`` never starts a source twice itself; this lock also keeps an
``archiver crawl`` started by hand (or by an old cron job) from running the same
source beside it, and the two from sharing the source's spool.  The lock is an
``flock`` on ``<spool_dir>/.locks/<source>.lock``: the kernel drops it when the
holder dies, so a crash never leaves a stale lock.  The crawl process inherits the
locked descriptor, so an orphaned crawl still holds the lock until it ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from crawler.keys import check_component
from crawler.records import iso


class SourceLock:
    def __init__(self, spool_dir: str | os.PathLike, source: str):
        self.path = Path(spool_dir) / ".locks" / f"{check_component(source, 'source name')}.lock"
        self.fd: Optional[int] = None

    def acquire(self, **info) -> bool:
        """Take the lock without waiting; False if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        about = {"pid": os.getpid(), "host": socket.gethostname(),
                 "since": iso(datetime.now(timezone.utc)), **info}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(about).encode(), 0)
        return True

    def holder(self) -> dict:
        """What the holder wrote about itself (best effort)."""
        try:
            data = json.loads(self.path.read_bytes() or b"{}")
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        # close, not LOCK_UN: a crawl process that inherited the descriptor keeps the lock
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "SourceLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
