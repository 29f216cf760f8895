"""Load: many sources in one ``archiver serve`` process, with the memory it takes.

    python benchmarks/load.py [--sources 20] [--pages 200] [--concurrent 2] [--timeout 1800]

Serves ``sources`` sections of ``pages`` generated local-news articles each on
127.0.0.1 (one sitemap per section), then in the same run:

1. baseline: ``archiver crawl`` of one more section of the same size, alone
   (wall time, peak memory of its process tree);
2. load: ``archiver serve --run-now`` over all the sources with
   ``max_concurrent_runs = concurrent``, until every source has its run record,
   then SIGTERM.  The serve process tree is sampled (RSS and PSS, every 0.25 s).

Checks that everything was archived (every article has its raw, sidecar and clean
object; every run is ``ok``) and prints throughput and memory as ratios to the
baseline.  The stated memory bound is ``daemon + concurrent x (one crawl alone)``
with a 25% margin: the scheduler must cost only the crawls it runs at once, however
many sources it holds.  Figures, not assertions: these machines are shared.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.store import FileStore  # noqa: E402
from tests import sitegen  # noqa: E402
from tests.conftest import archiver_command  # noqa: E402
from tests.faults.audit import audit  # noqa: E402
from tests.faults.serving import MIB, Peaks, ServeWatch, load_config, load_sources, sample_tree  # noqa: E402
from tests.servers.site import SiteServer  # noqa: E402

MARGIN = 1.25


def baseline(site_url: str, prefix: str, workdir: Path) -> tuple[float, Peaks]:
    """One section crawled alone by ``archiver crawl``: wall seconds and the peaks of its tree."""
    root = workdir / "archive"
    config = load_config(workdir / "baseline.yaml", load_sources(site_url, [prefix]),
                         {"url": f"file://{root}", "spool_dir": str(workdir / "spool")})
    started = time.monotonic()
    proc = subprocess.Popen([*archiver_command(), "crawl", "--config", str(config)], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks, done = Peaks(), threading.Event()

    def sample():
        while not done.is_set():
            peaks.add(sample_tree(proc.pid, pss=True))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"the baseline crawl failed with exit code {code}")
    return elapsed, peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=2, help="scheduler.max_concurrent_runs")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    args = parser.parse_args()

    site = SiteServer().start()
    try:
        sections = sitegen.serve_sections(site, args.sources + 1, args.pages, seed=100)
        prefixes = list(sections)
        with tempfile.TemporaryDirectory(prefix="archiver-load-") as tmp:
            tmp = Path(tmp)
            (tmp / "baseline").mkdir()
            print(f"baseline: one source of {args.pages} pages, archiver crawl ...", flush=True)
            base_s, base = baseline(site.url, prefixes[-1], tmp / "baseline")

            print(f"load: {args.sources} sources x {args.pages} pages, one archiver serve, "
                  f"max_concurrent_runs={args.concurrent} ...", flush=True)
            root = tmp / "archive"
            config = load_config(tmp / "load.yaml", load_sources(site.url, prefixes[:-1]),
                                 {"url": f"file://{root}", "spool_dir": str(tmp / "spool")},
                                 concurrent=args.concurrent)
            watch = ServeWatch(config, FileStore(root), args.sources, cwd=tmp, pss=True)
            try:
                load_s = watch.wait_all(timeout=args.timeout)
                code = watch.stop()
            finally:
                watch.kill()

            archive = audit(FileStore(root))
            expected = {site.url + a.path for p in prefixes[:-1] for a in sections[p]}
            archived = set(archive.clean_per_url())
            outcomes = sorted({r["outcome"] for r in archive.runs.values()})
            complete = not archive.problems and archived == expected and outcomes == ["ok"]
            record_peak = max(r["counts"].get("crawl_peak_rss_mb", 0) for r in archive.runs.values())
    finally:
        site.stop()

    pages = args.sources * args.pages
    p, b = watch.peaks.peak, base.peak
    bound = p.daemon_rss + args.concurrent * b.tree_rss * MARGIN
    print()
    print(f"archived        {len(archived)}/{pages} articles, {len(archive.raw)} raw objects, "
          f"{len(archive.runs)} run records, outcomes {outcomes}, serve exit {code}: "
          f"{'COMPLETE' if complete else 'INCOMPLETE: ' + '; '.join(archive.problems[:3])}")
    print(f"time            {load_s:.1f} s for {pages} pages ({pages / load_s:.1f} pages/s); "
          f"baseline {base_s:.1f} s for {args.pages} pages ({args.pages / base_s:.1f} pages/s)")
    print(f"                throughput ratio load/baseline: {(pages / load_s) / (args.pages / base_s):.2f} "
          f"(x{args.concurrent} crawls at once on {len(__import__('os').sched_getaffinity(0))} CPUs)")
    print(f"memory (peak)   serve tree RSS {p.tree_rss / MIB:.0f} MiB, PSS {p.tree_pss / MIB:.0f} MiB; "
          f"daemon alone {p.daemon_rss / MIB:.0f} MiB; largest crawl (with its workers) "
          f"{p.crawl_rss / MIB:.0f} MiB; crawls at once {p.crawls}")
    print(f"                baseline crawl tree RSS {b.tree_rss / MIB:.0f} MiB, PSS {b.tree_pss / MIB:.0f} MiB; "
          f"crawl_peak_rss_mb in run records: max {record_peak}")
    print(f"                ratio serve tree / one crawl alone: RSS {p.tree_rss / b.tree_rss:.2f}, "
          f"PSS {p.tree_pss / max(1, b.tree_pss):.2f}")
    verdict = "OK" if p.tree_rss <= bound else "EXCEEDED"
    print(f"memory bound    daemon + {args.concurrent} x one crawl x {MARGIN} = {bound / MIB:.0f} MiB: "
          f"peak {p.tree_rss / MIB:.0f} MiB, {verdict}")
    print(f"samples         {watch.peaks.samples}")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
