"""Create the configured bucket when it is missing (``archiver serve --create-bucket``).

For self-contained set-ups such as the bundled ``compose.yaml`` (a fresh MinIO with no
bucket yet): wait for the endpoint to answer, then create the bucket (or the folder
of a ``file://`` store).  Wrong credentials still fail at once.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from crawler.secrets import mask
from crawler.store import FileStore, StoreError, open_store

log = logging.getLogger(__name__)


def ensure_bucket(storage, *, wait_s: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> str:
    """``"exists"`` or ``"created"``; raises :class:`StoreError` when the store refuses or stays away."""
    store = open_store(storage)
    deadline = clock() + wait_s
    while True:
        try:
            store.check(write=False)
            return "exists"
        except StoreError as exc:
            if exc.kind == "no_bucket":
                _create(store, storage)
                log.info("created %s", store.describe(), extra={"event": "bucket_created"})
                return "created"
            if exc.kind in ("unreachable", "throttled") and clock() < deadline:
                log.info("waiting for the store: %s", mask(str(exc)))
                sleep(1.0)
                continue
            raise


def _create(store, storage) -> None:
    if isinstance(store, FileStore):
        store.check(write=True)  # makes the folder
    else:
        store.create_bucket(storage.region)
