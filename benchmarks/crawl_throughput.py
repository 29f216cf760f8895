"""Throughput of a full `archiver crawl` against bare trafilatura on the same pages.

    python benchmarks/crawl_throughput.py [--pages 500] [--workers auto|N]

Serves N article pages on 127.0.0.1 (real pages from ../shared/corpus when it is
there, generated local-news pages otherwise) linked from listing pages, then in
the same run:

1. baseline: bare ``trafilatura.extract(include_comments=False)`` over the same
   pages in this process (CPU seconds per page), once before and once after the
   crawl, averaged (load from elsewhere on the machine drifts);
2. ``archiver crawl`` into a temporary folder, as a subprocess; its CPU is that of
   every process of the crawl's tree (the CLI, the crawl process, the forkserver
   and its extraction workers), from ``getrusage(RUSAGE_CHILDREN)``: this process
   makes itself a child subreaper, so the forkserver, which the crawl process
   leaves behind without waiting for it, is reparented here and waited for, and
   its rusage (which holds its workers') is counted too.  Its peak memory comes
   from sampling the whole process tree.

Prints pages/s, CPU per page as a ratio to the baseline (and how much of it
``extract()`` took, as the workers measure it), peak RSS of the tree, and cores
used (CPU seconds / wall seconds).  Numbers, not assertions: these machines are
shared and noisy, the ratio is what to compare.

On the 2-core development machine, 500 corpus pages, one extraction worker:
2.2x to 2.35x bare trafilatura's CPU per page (extract() 1.4x, the crawl
process about 12 ms a page: Scrapy's fetching a quarter of it, reading links a
fifth, storing objects and building records the rest; start-up of the whole tree
about 2 s, of which the language model 0.6 s), crawl process RSS 160 MB, tree
PSS 395 MB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import sitegen  # noqa: E402
from tests.servers.site import SiteServer  # noqa: E402

from tests.conftest import SHARED  # noqa: E402

CORPUS = SHARED / "corpus" / "trafilatura-eval" / "html"


def corpus_pages(n: int) -> list[bytes]:
    if not CORPUS.is_dir():
        return []
    pages = []
    for path in sorted(CORPUS.glob("*.gz")):
        body = gzip.decompress(path.read_bytes())
        if b"<html" in body[:5000].lower() or b"<!doctype" in body[:500].lower():
            pages.append(body)
        if len(pages) == n:
            break
    return pages


def generated_pages(n: int) -> list[bytes]:
    news = sitegen.build(n, seed=7)
    return [sitegen.article_html(a).encode() for a in news.articles]


def bench_pages(n: int) -> tuple[list[bytes], str]:
    """``n`` pages: real ones from the corpus when it is there, generated ones for the rest."""
    pages = corpus_pages(n)
    origin = "shared/corpus (trafilatura-eval)"
    if len(pages) < n:
        pages += generated_pages(n - len(pages))
        origin = "generated local-news pages" if not CORPUS.is_dir() else origin + " + generated"
    return pages, origin


def publish(site: SiteServer, pages: list[bytes], per_listing: int = 50) -> None:
    paths = [f"/a/{i:05d}/" for i in range(len(pages))]
    for path, body in zip(paths, pages):
        site.page(path, body, content_type="text/html")  # charset from the page itself
    listings = [paths[i:i + per_listing] for i in range(0, len(paths), per_listing)]
    for n, chunk in enumerate(listings):
        nxt = f'<a href="/list/{n + 1}/">next</a>' if n + 1 < len(listings) else ""
        links = "".join(f'<li><a href="{p}">{p}</a></li>' for p in chunk)
        site.page(f"/list/{n}/", f"<html><body><ul>{links}</ul>{nxt}</body></html>")


def baseline(pages: list[bytes], url: str) -> tuple[float, float]:
    import trafilatura

    from crawler.decode import decode_html

    texts = [decode_html(p, "text/html")[0] for p in pages]  # the same decoding the crawl does
    trafilatura.extract(texts[0], url=url, include_comments=False)  # warm up imports and caches
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for text in texts:
        trafilatura.extract(text, url=url, include_comments=False)
    return time.process_time() - cpu0, time.perf_counter() - wall0


def tree_memory(pid: int) -> dict:
    """RSS of the crawl process itself, and RSS and PSS (shared pages split) of the whole tree."""
    import psutil

    out = {"crawl_rss": 0, "tree_rss": 0, "tree_pss": 0}
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return out
    for p in procs:
        try:
            info = p.memory_full_info()
            is_crawl = "crawler.run" in " ".join(p.cmdline())
        except psutil.Error:  # gone, or a zombie waiting to be reaped
            continue
        out["tree_rss"] += info.rss
        out["tree_pss"] += getattr(info, "pss", info.rss)
        if is_crawl:
            out["crawl_rss"] = info.rss
    return out


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphaned descendants (the extraction forkserver) are reparented to us, so their CPU is counted."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def reap_orphans(timeout: float = 30.0) -> None:
    """Wait for the descendants reparented to us (the forkserver exits once the crawl has)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if pid == 0:
            time.sleep(0.02)


def crawl(site: SiteServer, n: int, workers: str, tmp: Path) -> dict:
    import yaml

    source = {"name": "bench", "start_urls": [f"{site.url}/list/0/"], "follow": ["/list/"],
              "articles": [r"/a/\d{5}/$"], "max_depth": min(50, n // 50 + 2), "max_pages": n * 2, "delay": 0, "autothrottle": False,
              "concurrency": 16, "obey_robots": False, "retries": 0}
    if workers != "auto":
        source["extract_workers"] = int(workers)
    config = tmp / "bench.yaml"
    config.write_text(yaml.safe_dump({"storage": {"url": f"file://{tmp / 'archive'}",
                                                   "spool_dir": str(tmp / "spool")},
                                      "sources": [source]}))
    archiver = Path(sys.executable).with_name("archiver")
    cmd = [str(archiver) if archiver.exists() else sys.executable, *([] if archiver.exists() else ["-m", "jobs"]),
           "--log-level", "warning", "crawl", "--config", str(config), "--json"]
    subreaper = become_subreaper()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = {"crawl_rss": 0, "tree_rss": 0, "tree_pss": 0}
    wall0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.wait(0.05):
            for key, value in tree_memory(proc.pid).items():
                peak[key] = max(peak[key], value)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - wall0
    stop.set()
    sampler.join()
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"crawl failed ({proc.returncode}):\n{err[-3000:]}")
    record = json.loads(out)[0]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not subreaper and record["counts"].get("extract_workers_used"):
        # the forkserver's rusage cannot reach us: count at least what the workers measured
        cpu += record["counts"].get("extract_cpu_ms", 0) / 1000
    return {"wall": wall, "cpu": cpu, "peak_rss": peak, "record": record}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--workers", default="auto", help="extract_workers for the crawl (auto or a number)")
    args = parser.parse_args()

    pages, origin = bench_pages(args.pages)
    site = SiteServer().start()
    try:
        publish(site, pages)
        before = baseline(pages, site.url + "/a/00000/")
        with tempfile.TemporaryDirectory(prefix="archiver-bench-") as tmp:
            result = crawl(site, len(pages), args.workers, Path(tmp))
        after = baseline(pages, site.url + "/a/00000/")
        # measured on both sides of the crawl: load from elsewhere on the machine drifts
        base_cpu, base_wall = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    finally:
        site.stop()

    counts = result["record"]["counts"]
    n = len(pages)
    mb = 1024 * 1024
    print(f"pages: {n} ({origin}, {sum(map(len, pages)) / mb:.1f} MB of HTML), cores: {os.cpu_count()}")
    print(f"archived: raw {counts.get('raw_archived', 0)}, clean {counts.get('clean_archived', 0)} "
          f"(ok {counts.get('extraction_ok', 0)}, empty {counts.get('extraction_empty', 0)}, "
          f"failed {counts.get('extraction_failed', 0)}); outcome {result['record']['outcome']}")
    if result["record"]["errors"]:
        print("errors:", result["record"]["errors"])
    print(f"baseline  bare trafilatura: {base_cpu / n * 1000:7.1f} ms CPU/page, {n / base_wall:6.1f} pages/s "
          f"(one process, no fetching, no storing; mean of {before[0] / n * 1000:.1f} before "
          f"and {after[0] / n * 1000:.1f} after the crawl)")
    print(f"archiver  crawl:            {result['cpu'] / n * 1000:7.1f} ms CPU/page, {n / result['wall']:6.1f} pages/s "
          f"(fetch + raw + extract + clean + records)")
    extract_ms = counts.get("extract_cpu_ms", 0) / n
    print(f"          of which extract():   {extract_ms:7.1f} ms CPU/page ({extract_ms / (base_cpu / n * 1000):.2f}x "
          f"bare trafilatura), the rest fetching, storing, records, IPC and start-up")
    print(f"CPU per page, archiver / bare trafilatura: {result['cpu'] / base_cpu:.2f}x   (target <= 1.3x)")
    print(f"wall time, archiver / bare trafilatura:    {result['wall'] / base_wall:.2f}x")
    print(f"cores used by the crawl: {result['cpu'] / result['wall']:.2f} (CPU s / wall s)")
    peak = result["peak_rss"]
    print(f"peak memory: crawl process RSS {peak['crawl_rss'] / mb:.0f} MB (target < 300 MB); whole tree "
          f"(CLI, crawl, extraction workers) PSS {peak['tree_pss'] / mb:.0f} MB, RSS {peak['tree_rss'] / mb:.0f} MB")


if __name__ == "__main__":
    main()
