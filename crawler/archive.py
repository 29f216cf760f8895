"""The archive writer: store first, spool when the store fails, count everything.

Nothing fetched is dropped silently: a write the store refuses (outage,
throttling, a full disk) goes to the local spool and is counted; the spool is
replayed before the next run's new work.  After a failure the store is given a
rest (exponential, capped) during which writes go straight to the spool, so an
outage costs one timeout, not one per page.  Credential and bucket errors are
fatal: the write is spooled, then :class:`FatalStoreError` stops the run.  A
write that can be neither stored nor spooled (the spool is full or its disk is)
is counted as lost and stops the run too: fetching more would only lose more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Callable, Optional

from crawler.spool import Spool, SpoolFull
from crawler.store import Store, StoreError

log = logging.getLogger(__name__)


class FatalStoreError(Exception):
    """The run must stop; ``outcome`` says what became of the write that failed."""

    def __init__(self, message: str, outcome: str = "spooled"):
        super().__init__(message)
        self.outcome = outcome


class Archiver:
    def __init__(self, store: Store, spool: Spool, *, clock: Callable[[], float] = time.monotonic,
                 max_rest: float = 60.0):
        self.store, self.spool, self.clock = store, spool, clock
        self.max_rest = max_rest
        self.counts: Counter = Counter()
        self.errors: Counter = Counter()
        self.last_error: Optional[str] = None
        self._rest_until = 0.0
        self._rest = 1.0
        self._lock = threading.Lock()

    def note_failure(self, exc: StoreError) -> None:
        """Count a store failure and rest the store before the next attempt."""
        with self._lock:
            self.errors[f"store_{exc.kind}"] += 1
            self.last_error = str(exc)
            self._rest_until = self.clock() + self._rest
            self._rest = min(self._rest * 2, self.max_rest)

    # -- writes -----------------------------------------------------------------
    def put(self, key: str, data: bytes, *, content_type: str, metadata: Optional[dict] = None,
            if_absent: bool = False) -> str:
        """Store one object; returns ``stored``, ``exists`` or ``spooled``."""
        if self.clock() < self._rest_until:
            return self._to_spool(key, data, content_type, metadata,
                                  f"the store is resting after: {self.last_error}")
        try:
            created = self.store.put(key, data, content_type=content_type, metadata=metadata,
                                     if_absent=if_absent)
        except StoreError as exc:
            self.note_failure(exc)
            log.warning("store failed, spooling %s: %s", key, exc)
            outcome = self._to_spool(key, data, content_type, metadata, str(exc))
            if exc.fatal:
                raise FatalStoreError(str(exc), outcome) from None
            return outcome
        with self._lock:
            self._rest = 1.0
            if created:
                self.counts["objects_stored"] += 1
                self.counts["bytes_stored"] += len(data)
            else:
                self.counts["objects_existing"] += 1
        return "stored" if created else "exists"

    def _to_spool(self, key, data, content_type, metadata, why) -> str:
        """Spool one write; raises FatalStoreError (outcome ``lost``) when even that fails."""
        try:
            self.spool.add(key, data, content_type=content_type, metadata=metadata)
        except (SpoolFull, OSError) as exc:
            full = isinstance(exc, SpoolFull)
            problem = str(exc) if full else f"cannot write to the spool {self.spool.dir}: {exc.strerror or exc}"
            with self._lock:
                self.counts["objects_lost"] += 1
                self.errors["spool_full" if full else "spool_io"] += 1
            log.error("could not store or spool %s (%s; %s)", key, why, problem)
            raise FatalStoreError(f"could not store {key} ({why}) nor spool it ({problem}): "
                                  "stopping the run so nothing more is lost", "lost") from None
        with self._lock:
            self.counts["objects_spooled"] += 1
        return "spooled"

    def put_after_spool(self, key: str, data: bytes, *, content_type: str) -> str:
        """Queue a write behind what is already spooled (so it lands after it), or store it now."""
        try:
            if not self.spool.count():
                return self.put(key, data, content_type=content_type)
            return self._to_spool(key, data, content_type, None, "queued behind spooled writes")
        except FatalStoreError as exc:
            return exc.outcome

    # -- spool replay -----------------------------------------------------------
    def flush_spool(self) -> int:
        """Upload spooled writes in order; stop at the first failure.  Returns how many went."""
        flushed = 0
        for entry in self.spool.entries():
            try:
                self.store.put(entry.key, entry.data, content_type=entry.content_type,
                               metadata=entry.metadata)
            except StoreError as exc:
                with self._lock:
                    self.errors[f"store_{exc.kind}"] += 1
                    self.last_error = str(exc)
                if exc.fatal:
                    raise FatalStoreError(str(exc)) from None
                break
            self.spool.remove(entry)
            flushed += 1
            with self._lock:
                self.counts["spool_flushed"] += 1
                self.counts["bytes_stored"] += len(entry.data)
        return flushed

    def summary(self) -> dict:
        return {
            "objects_stored": self.counts["objects_stored"],
            "objects_existing": self.counts["objects_existing"],
            "bytes_stored": self.counts["bytes_stored"],
            "spooled": self.counts["objects_spooled"],
            "spool_flushed": self.counts["spool_flushed"],
            "spool_pending": self.spool.count(),
            "lost": self.counts["objects_lost"],
        }
