"""``archiver serve`` over many sources, watched from outside: used by the load test and
``benchmarks/load.py``.

:func:`load_config` writes a config of N sources (one section of the local site each, read
through its sitemap), :class:`ServeWatch` starts ``archiver serve --run-now``, samples the
memory and crawl processes of its process tree until every source has a run record, then
stops it with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import archiver_command

MIB = 1024 * 1024


def load_sources(site_url: str, prefixes: list[str], **extra) -> list[dict]:
    return [{"name": f"load{p.strip('/')}", "sitemaps": [f"{site_url}{p}/sitemap.xml"], "max_depth": 0,
             "articles": [r"/news/\d{4}/"], "delay": 0, "autothrottle": False, "retries": 1,
             "download_timeout": 30, "schedule": "0 0 1 1 *", **extra} for p in prefixes]


def load_config(path: Path, sources: list[dict], storage: dict, *, concurrent: int = 2) -> Path:
    path.write_text(yaml.safe_dump({"storage": storage, "sources": sources,
                                    "scheduler": {"max_concurrent_runs": concurrent,
                                                  "http": {"enabled": False}}}, sort_keys=False))
    return path


@dataclass
class Sample:
    tree_rss: int = 0          # the whole tree (daemon, crawls, extraction workers), summed
    tree_pss: int = 0          # the same, shared pages counted once
    daemon_rss: int = 0        # the serve process alone
    crawl_rss: int = 0         # the largest crawl process with its extraction workers
    crawls: int = 0            # crawl processes alive at once


@dataclass
class Peaks:
    samples: int = 0
    peak: Sample = field(default_factory=Sample)

    def add(self, s: Sample) -> None:
        self.samples += 1
        for name in vars(s):
            setattr(self.peak, name, max(getattr(self.peak, name), getattr(s, name)))


def sample_tree(pid: int, *, pss: bool) -> Sample:
    import psutil

    out = Sample()
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return out
    per_crawl: dict[int, int] = {}
    for proc in procs:
        try:
            rss = proc.memory_info().rss
            out.tree_rss += rss
            if pss:
                out.tree_pss += getattr(proc.memory_full_info(), "pss", rss)
            if proc.pid == pid:
                out.daemon_rss = rss
                continue
            # a crawl is a process the daemon started itself (its extraction workers, forked or
            # not, are counted with it, never as crawls of their own)
            crawl = proc
            while crawl is not None and crawl.ppid() != pid:
                crawl = crawl.parent()
            if crawl is not None and "crawler.run" in " ".join(crawl.cmdline()):
                per_crawl[crawl.pid] = per_crawl.get(crawl.pid, 0) + rss
        except psutil.Error:
            continue
    out.crawls = len(per_crawl)
    out.crawl_rss = max(per_crawl.values(), default=0)
    return out


class ServeWatch:
    """``archiver serve --run-now`` until ``expected`` run records exist in ``store``."""

    def __init__(self, config: Path, store, expected: int, *, cwd: Path, env: dict | None = None,
                 pss: bool = False, interval: float = 0.25):
        self.store, self.expected, self.pss, self.interval = store, expected, pss, interval
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.update(env or {})
        self.log = open(cwd / "serve.log", "w+")
        self.started = time.monotonic()
        self.proc = subprocess.Popen([*archiver_command(), "serve", "--config", str(config), "--run-now",
                                      "--no-http"], cwd=cwd, env=full_env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.peaks = Peaks()
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._done.is_set() and self.proc.poll() is None:
            self.peaks.add(sample_tree(self.proc.pid, pss=self.pss))
            self._done.wait(self.interval)

    def records(self) -> list:
        return [o.key for o in self.store.list("runs/")]

    def wait_all(self, timeout: float) -> float:
        """Seconds until every source has a run record; raises TimeoutError past ``timeout``."""
        deadline = self.started + timeout
        while len(self.records()) < self.expected:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.output()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.records())} of {self.expected} runs recorded in {timeout:.0f}s")
            time.sleep(0.2)
        return time.monotonic() - self.started

    def stop(self, timeout: float = 60) -> int:
        self._done.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._sampler.join(timeout=5)

    def kill(self) -> None:
        """Make sure nothing of this serve is left running (test teardown)."""
        self._done.set()
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)
            self.proc.wait(timeout=30)
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (crawls run in sessions of their own)."""
    import psutil

    try:
        tree = [psutil.Process(pid)]
        tree += tree[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for process in reversed(tree):  # children first, so none is re-parented and missed
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(tree, timeout=30)
