"""Cost of the scheduler: fire-time arithmetic, and an idle `archiver serve` with many sources.

    python benchmarks/scheduler.py [--sources 200] [--seconds 10]

1. Fire times for a year of common schedules (Europe/Belgrade): jobs.schedule's
   CronSchedule against APScheduler's own CronTrigger (the baseline) in the same
   run: microseconds per fire time, as a ratio, and how many fires each produced
   (they differ on the daylight-saving days, where CronTrigger runs a fixed-time
   job twice).
2. `archiver serve` with N sources that do not fire during the measurement,
   against a bare Python process (baseline): resident memory, CPU used while
   idle (the heartbeat, health and gauge refresh), and /healthz + /metrics
   answer times.

Numbers, not assertions: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apscheduler.triggers.cron import CronTrigger  # noqa: E402

from jobs.schedule import CronSchedule  # noqa: E402
from tests.servers.ports import free_ports, wait_http  # noqa: E402

EXPRESSIONS = ["30 2 * * *", "0 * * * *", "*/5 * * * *", "15 9 * * 1-5", "0 0 1 * *"]
TZ = "Europe/Belgrade"


def fire_times() -> None:
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo(TZ))
    end = datetime(2027, 1, 1, tzinfo=ZoneInfo(TZ))
    print(f"fire times over 2026 in {TZ} (baseline: APScheduler CronTrigger)")
    print(f"  {'schedule':<16} {'fires':>7} {'baseline':>8}  {'us/fire':>8} {'baseline':>8}  ratio")
    for expr in EXPRESSIONS:
        ours = CronSchedule(expr, TZ)
        t0, n, t = time.perf_counter(), 0, ours.next_base(start)
        while t is not None and t < end:
            n, t = n + 1, ours.next_base(t)
        ours_us = (time.perf_counter() - t0) / max(n, 1) * 1e6
        theirs = CronTrigger.from_crontab(expr, timezone=ZoneInfo(TZ))
        t0, m, t = time.perf_counter(), 0, theirs.get_next_fire_time(None, start)
        while t is not None and t < end:
            m, t = m + 1, theirs.get_next_fire_time(t, t)
        theirs_us = (time.perf_counter() - t0) / max(m, 1) * 1e6
        print(f"  {expr:<16} {n:>7} {m:>8}  {ours_us:>8.1f} {theirs_us:>8.1f}  {ours_us / theirs_us:5.2f}x")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_get(url: str, n: int = 20) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        urllib.request.urlopen(url, timeout=30).read()
    return (time.perf_counter() - t0) / n * 1000


def idle_daemon(n_sources: int, seconds: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="archiver-bench-"))
    lines = ["storage:", f"  url: file://{work / 'archive'}", f"  spool_dir: {work / 'spool'}", "sources:"]
    for i in range(n_sources):
        lines += [f"  - name: s{i:05d}", f"    start_urls: ['http://127.0.0.1:9/s{i}/']",
                  f"    schedule: '{i % 60} {i % 24} 1 1 *'", f"    timezone: {TZ}"]
    (work / "sources.yaml").write_text("\n".join(lines) + "\n")
    port = free_ports(1)[0]
    exe = Path(sys.executable).with_name("archiver")
    cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "jobs"]),
           "serve", "--config", str(work / "sources.yaml"), "--http", f"127.0.0.1:{port}"]
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    serve = subprocess.Popen(cmd, cwd=work, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=serve)
        time.sleep(3)  # sources added, first gauge refresh done
        c0, b0 = cpu_s(serve.pid), cpu_s(bare.pid)
        time.sleep(seconds)
        idle = (cpu_s(serve.pid) - c0) / seconds * 100
        bare_idle = (cpu_s(bare.pid) - b0) / seconds * 100
        health_ms = timed_get(f"http://127.0.0.1:{port}/healthz")
        metrics_ms = timed_get(f"http://127.0.0.1:{port}/metrics")
        print(f"\nidle `archiver serve` with {n_sources} sources, {seconds:g}s "
              "(baseline: a bare python process)")
        print(f"  resident memory  {rss_kb(serve.pid) / 1024:7.1f} MiB   baseline {rss_kb(bare.pid) / 1024:5.1f} MiB"
              f"   ratio {rss_kb(serve.pid) / max(rss_kb(bare.pid), 1):5.1f}x")
        print(f"  CPU while idle   {idle:7.2f} %     baseline {bare_idle:5.2f} %")
        print(f"  /healthz         {health_ms:7.1f} ms    /metrics {metrics_ms:6.1f} ms")
    finally:
        serve.terminate()
        serve.wait(60)
        bare.kill()
        bare.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    fire_times()
    idle_daemon(args.sources, args.seconds)


if __name__ == "__main__":
    main()
