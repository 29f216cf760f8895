"""The store-or-spool writer, with a clock: rest after failures, fatal kinds, a bounded spool, replay."""

from __future__ import annotations

import pytest

from crawler.archive import Archiver, FatalStoreError
from crawler.spool import Spool
from crawler.store import FileStore, StoreError


class SwitchableStore(FileStore):
    """A real folder store that refuses writes with a given StoreError kind while ``failing`` is set."""

    def __init__(self, root):
        super().__init__(root)
        self.failing: str | None = None
        self.attempts: list[str] = []

    def put(self, key, data, **kw):
        self.attempts.append(key)
        if self.failing:
            raise StoreError(self.failing, f"{self.failing}: refused {key}")
        return super().put(key, data, **kw)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(tmp_path):
    store, clock = SwitchableStore(tmp_path / "store"), Clock()
    spool = Spool(tmp_path / "spool", "town", max_bytes=64 * 1024)
    return store, spool, clock, Archiver(store, spool, clock=clock, max_rest=8)


def put(archiver, key, data=b"x"):
    return archiver.put(key, data, content_type="text/plain")


def attempt_gaps(store, archiver, clock, puts: int = 120) -> list[float]:
    """Put every 0.25 s; the time between the attempts that reached the store."""
    times = []
    for _ in range(puts):
        before = len(store.attempts)
        put(archiver, "raw/x")
        if len(store.attempts) > before:
            times.append(clock.now)
        clock.now += 0.25
    return [b - a for a, b in zip(times, times[1:])]


def test_after_a_failure_the_store_rests_with_exponential_backoff(parts):
    store, spool, clock, archiver = parts
    store.failing = "unreachable"
    assert attempt_gaps(store, archiver, clock)[:5] == [1.0, 2.0, 4.0, 8.0, 8.0]  # max_rest=8
    assert archiver.summary()["spooled"] == 120  # every write kept, only a few tried
    store.failing = None
    clock.now += 8
    assert put(archiver, "raw/ok") == "stored"
    store.failing = "throttled"
    assert attempt_gaps(store, archiver, clock, 20)[:2] == [1.0, 2.0]  # a success resets the backoff


@pytest.mark.parametrize("kind", ["auth", "no_bucket"])
def test_fatal_kinds_spool_the_write_then_stop_the_run(parts, kind):
    store, spool, clock, archiver = parts
    store.failing = kind
    with pytest.raises(FatalStoreError) as err:
        put(archiver, "raw/a")
    assert err.value.outcome == "spooled" and spool.count() == 1


def test_a_write_that_cannot_be_spooled_either_is_lost_and_stops_the_run(parts):
    store, spool, clock, archiver = parts
    store.failing = "unreachable"
    assert put(archiver, "raw/a", b"a" * 40_000) == "spooled"
    with pytest.raises(FatalStoreError, match=r"nor spool it \(the spool .* is full") as err:
        put(archiver, "raw/b", b"b" * 40_000)
    assert err.value.outcome == "lost"
    assert archiver.summary()["lost"] == 1 and archiver.errors["spool_full"] == 1
    assert spool.size() <= spool.max_bytes and spool.count() == 1


def test_the_spool_replays_in_order_and_stops_at_the_first_failure(parts):
    store, spool, clock, archiver = parts
    store.failing = "unreachable"
    keys = ["raw/p1.html", "raw/p1.html.meta.json", "clean/p1.json", "runs/r1.json"]
    for key in keys:
        clock.now += 100
        put(archiver, key, key.encode())
    assert archiver.flush_spool() == 0 and spool.count() == 4  # still failing: all kept
    store.failing = None
    store.attempts.clear()
    assert archiver.flush_spool() == 4
    assert store.attempts == keys  # raw before its sidecar before the clean object before the record
    assert spool.count() == 0 and spool.size() == 0
    assert all(store.get(k) == k.encode() for k in keys)


def test_a_spool_entry_cut_short_is_never_replayed(tmp_path):
    spool = Spool(tmp_path, "town")
    spool.add("raw/a.html", b"whole", content_type="text/html")
    (spool.dir / ".half-written.tmp").write_bytes(b'{"key": "raw/b.html"')  # a kill during add
    (spool.dir / "00000000000000000001-1-000001.put").write_bytes(b'{"key": "raw/c.ht')  # truncated header
    assert [e.key for e in spool.entries()] == ["raw/a.html"]


def test_spool_keys_must_be_safe(tmp_path):
    spool = Spool(tmp_path, "town")
    with pytest.raises(ValueError):
        spool.add("../../etc/passwd", b"x", content_type="text/plain")
    with pytest.raises(ValueError):
        Spool(tmp_path, "../town")
