"""Why the incremental state is sharded: three layouts of one source's state, measured.

    python benchmarks/state_layout.py [--urls 50000] [--store file|seaweedfs|moto]

For a source of N URLs (each an article), the state of a run is written and
read back in three layouts:

* sharded (what ``crawler.state`` does): 256 objects per index, by the first
  two hex digits of the SHA-256 of the key, loaded and saved in parallel;
* one object per index (one JSON document of every URL, one of every article);
* one object per URL and per article (loaded and saved in parallel as well).

Per layout: store requests and bytes to load the state at the start of a run,
and to save it after a re-crawl that checked every URL again (more than the
6-hour check granularity later, so every record changes: the worst case) and
after a run, half an hour later, in which 1% of the articles changed (only
what changed is written, as far as the layout allows);
wall times as a ratio to the sharded layout; the memory the loaded state takes
in the crawl process (tracemalloc).  One machine, one run: compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.state import SourceState, iso  # noqa: E402
from crawler.store import FileStore, S3Store  # noqa: E402

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
THREADS = 16


def fill(state: SourceState, n: int, at: datetime) -> None:
    for i in range(n):
        url = f"https://news.example.org/news/2026/{1 + i % 12:02d}/story-{i:06d}/"
        sha = f"{i:064x}"
        raw = f"raw/bench/2026/11/25/news-2026-story-{i:06d}-{sha[:10]}-{sha[:12]}.html"
        state.record_fetch(url, at=at, status=200, sha=sha, raw=raw,
                           headers={"etag": [f'"{sha[:20]}"'], "last-modified": ["Wed, 25 Nov 2026 11:00:00 GMT"]})
        state.urls.update(url, depth=1)
        state.link_article(url, url, at=at, published="2026-11-20")
        state.add_version(url, {"v": 1, "key": raw.replace("raw/", "clean/").replace(".html", ".json"),
                                "fp": sha, "at": iso(at), "url": url, "raw": raw, "ok": True})


def touch(state: SourceState, at: datetime, changed_every: int = 0) -> None:
    """A re-crawl: every URL checked again; every ``changed_every``-th article has a new version."""
    for i, (url, _) in enumerate(list(state.urls.items())):
        state.record_unchanged(url, at=at, status=304)
        state.link_article(url, url, at=at)
        if changed_every and i % changed_every == 0:
            state.add_version(url, {"v": 2, "key": f"clean/bench/v2-{i}.json", "fp": "f" * 64, "at": iso(at),
                                    "url": url, "raw": f"raw/bench/v2-{i}.html", "ok": True})


class Counting:
    """A store wrapper counting requests and bytes."""

    def __init__(self, store):
        self.store, self.gets, self.puts, self.lists, self.bytes_in, self.bytes_out = store, 0, 0, 0, 0, 0

    def reset(self):
        self.gets = self.puts = self.lists = self.bytes_in = self.bytes_out = 0

    def list(self, prefix="", **kw):
        self.lists += 1
        return self.store.list(prefix, **kw)

    def get(self, key):
        data = self.store.get(key)
        self.gets += 1
        self.bytes_in += len(data)
        return data

    def get_versioned(self, key):
        data, version = self.store.get_versioned(key)
        self.gets += 1
        self.bytes_in += len(data)
        return data, version

    def put(self, key, data, **kw):
        self.puts += 1
        self.bytes_out += len(data)
        return self.store.put(key, data, **kw)

    def swap(self, key, data, **kw):
        self.puts += 1
        self.bytes_out += len(data)
        return self.store.swap(key, data, **kw)

    def delete(self, key):
        self.puts += 1
        return self.store.delete(key)


# -- the two alternative layouts, over the same records ------------------------------------

def records(state: SourceState) -> dict:
    return {"urls": dict(state.urls.items()), "articles": dict(state.articles.items())}


def save_single(store, prefix: str, recs: dict, before: dict | None = None) -> None:
    for kind, entries in recs.items():
        store.put(f"{prefix}{kind}.json", json.dumps(entries, separators=(",", ":")).encode())


def load_single(store, prefix: str) -> dict:
    return {kind: json.loads(store.get(f"{prefix}{kind}.json")) for kind in ("urls", "articles")}


def _key(prefix: str, kind: str, i: int) -> str:
    return f"{prefix}{kind}/{i:07d}.json"


def _sans_check(record):
    """A record without its check time (a check is stored only every 6 hours, see crawler.state)."""
    return {k: v for k, v in record.items() if k != "checked"} if record else record


def save_per_url(store, prefix: str, recs: dict, before: dict | None = None) -> None:
    """One object per record; with ``before``, only the records that differ from it."""
    jobs = [(_key(prefix, kind, i), json.dumps({k: v}, separators=(",", ":")).encode())
            for kind, entries in recs.items() for i, (k, v) in enumerate(entries.items())
            if before is None or _sans_check(before[kind].get(k)) != _sans_check(v)]
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda job: store.put(job[0], job[1]), jobs))


def load_per_url(store, prefix: str) -> dict:
    out = {}
    with ThreadPoolExecutor(THREADS) as pool:
        for kind in ("urls", "articles"):
            keys = [o.key for o in store.list(f"{prefix}{kind}/")]
            out[kind] = {}
            for doc in pool.map(lambda k: json.loads(store.get(k)), keys):
                out[kind].update(doc)
    return out


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t


def measure_sharded(store: Counting, n: int) -> dict:
    out = {}
    state = SourceState(store, "sharded")
    fill(state, n, T0)
    state.save()
    store.reset()
    loaded, out["load_s"] = timed(lambda: SourceState.load(store, "sharded"))
    out["load"] = (store.gets + store.lists, store.bytes_in)
    assert len(loaded.urls) == n
    touch(loaded, T0 + timedelta(hours=7))
    store.reset()
    _, out["save_unchanged_s"] = timed(loaded.save)
    out["save_unchanged"] = (store.puts, store.bytes_out)
    touch(loaded, T0 + timedelta(hours=7, minutes=30), changed_every=100)
    store.reset()
    _, out["save_edited_s"] = timed(loaded.save)
    out["save_edited"] = (store.puts, store.bytes_out)
    return out


def measure_other(store: Counting, n: int, prefix: str, save, load) -> dict:
    out = {}
    state = SourceState(store, "scratch")
    fill(state, n, T0)
    save(store, prefix, records(state))
    store.reset()
    recs, out["load_s"] = timed(lambda: load(store, prefix))
    out["load"] = (store.gets + store.lists, store.bytes_in)
    assert len(recs["urls"]) == n
    touch(state, T0 + timedelta(hours=7))
    store.reset()
    _, out["save_unchanged_s"] = timed(lambda: save(store, prefix, records(state)))
    before = records(state)
    out["save_unchanged"] = (store.puts, store.bytes_out)
    touch(state, T0 + timedelta(hours=7, minutes=30), changed_every=100)
    store.reset()
    _, out["save_edited_s"] = timed(lambda: save(store, prefix, records(state), before))
    out["save_edited"] = (store.puts, store.bytes_out)
    return out


def memory(n: int) -> float:
    tracemalloc.start()
    state = SourceState(None, "mem")
    fill(state, n, T0)
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del state
    return size / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=50000)
    parser.add_argument("--store", choices=("file", "seaweedfs", "moto"), default="file")
    parser.add_argument("--skip-per-url", action="store_true", help="leave out the slow one-object-per-URL layout")
    args = parser.parse_args()

    server = None
    with tempfile.TemporaryDirectory(prefix="archiver-state-") as tmp:
        if args.store == "file":
            store = Counting(FileStore(tmp))
        else:
            from tests.servers import s3

            server = s3.make_server(args.store).start()
            bucket = server.create_bucket("state-bench")
            store = Counting(S3Store(server.client(), bucket, "archive"))
        try:
            results = {"sharded (256/index)": measure_sharded(store, args.urls),
                       "one object/index": measure_other(store, args.urls, "state/single/", save_single,
                                                         load_single)}
            if not args.skip_per_url:
                results["one object/URL"] = measure_other(store, args.urls, "state/per-url/", save_per_url,
                                                          load_per_url)
        finally:
            if server is not None:
                server.close()

    mb = 1024 * 1024
    base = results["sharded (256/index)"]
    print(f"state of {args.urls} URLs (each an article), store: {args.store}, {THREADS} threads")
    print(f"{'layout':22} {'load: req':>9} {'MB':>6} {'s':>7} {'x':>6} | {'all re-checked save: req':>23} "
          f"{'MB':>6} {'s':>7} {'x':>6} | {'1% edited save: req':>19} {'MB':>6} {'s':>7} {'x':>6}")
    for name, r in results.items():
        cells = []
        for op in ("load", "save_unchanged", "save_edited"):
            reqs, nbytes = r[op]
            secs = r[op + "_s"]
            width = {"load": 9, "save_unchanged": 24, "save_edited": 19}[op]
            cells.append(f"{reqs:{width}d} {nbytes / mb:6.1f} {secs:7.2f} {secs / base[op + '_s']:6.1f}")
        print(f"{name:22} " + " | ".join(cells))
    print(f"memory of the loaded state in the crawl process: {memory(args.urls):.0f} MB for {args.urls} URLs "
          f"and as many articles")


if __name__ == "__main__":
    main()
