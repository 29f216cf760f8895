"""A full disk under the folder store or the spool, and a full spool: clear errors, no truncated objects.

The disks are small tmpfs mounts (root only; skipped otherwise); a real disk is never filled.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.store import FileStore
from tests.faults.audit import audit
from tests.faults.conftest import GatedNews, resize_disk, source
from tests.servers.ports import free_ports

pytestmark = pytest.mark.slow

INCOMPLETE = ("without its .meta.json sidecar", "sidecar without its raw object", "is missing",
              "which is not in the store")


def assert_nothing_truncated(store_root: Path, spool: Path | None = None) -> None:
    """Objects present are whole (partial pairs are allowed until the spool is flushed); no temp files."""
    archive = audit(FileStore(store_root))
    broken = [p for p in archive.problems if not any(s in p for s in INCOMPLETE)]
    assert not broken, broken
    assert not list(store_root.rglob("*.tmp")), "a failed write left a temp file"
    if spool is not None and spool.exists():
        assert not list(spool.rglob("*.tmp"))
        for entry in spool.rglob("*.put"):
            header, _, data = entry.read_bytes().partition(b"\n")
            meta = json.loads(header)  # whole header
            if meta["key"].endswith(".json"):
                json.loads(data)      # whole body


def run_record(proc) -> dict:
    (record,) = json.loads(proc.stdout)
    return record


def test_full_store_disk_spools_and_truncates_nothing(small_disk, site, write_config, cli, tmp_path):
    disk = small_disk("store", 128)
    spool = tmp_path / "spool"
    gated = GatedNews(site, 10, free=None, seed=41, pad=15_000)
    config = write_config([source("town", site.url)], {"url": f"file://{disk}/archive", "spool_dir": str(spool)})

    first = run_record(cli("crawl", "--config", config, "--json", check=True))
    assert first["outcome"] == "partial"
    assert first["errors"]["store_disk_full"] >= 1 and first["counts"]["store_spooled"] >= 1
    assert "No space left on device" in first["message"] and "spool" in first["message"]
    assert_nothing_truncated(disk / "archive", spool)

    resize_disk(disk, 16 * 1024)   # room again
    second = run_record(cli("crawl", "--config", config, "--json", check=True))
    assert second["counts"]["store_spool_flushed"] >= first["counts"]["store_spooled"]
    archive = audit(FileStore(disk / "archive"))
    archive.assert_sound()
    assert gated.urls() <= set(archive.clean_per_url())
    assert len(archive.runs) == 2


def test_full_spool_disk_stops_the_run_with_a_clear_error(small_disk, site, write_config, cli):
    store_disk, spool_disk = small_disk("store", 64), small_disk("spool", 64)
    gated = GatedNews(site, 40, free=None, seed=42, pad=15_000)
    config = write_config([source("town", site.url, concurrency=1, max_depth=5)], {
        "url": f"file://{store_disk}/archive", "spool_dir": str(spool_disk)})
    proc = cli("crawl", "--config", config, "--json")
    assert proc.returncode == 1, proc.stderr
    record = run_record(proc)
    assert record["outcome"] == "failed"
    assert "cannot write to the spool" in record["message"] and "No space left on device" in record["message"]
    assert "stopping the run so nothing more is lost" in record["message"]
    assert record["counts"]["store_lost"] >= 1 and record["errors"]["spool_io"] >= 1
    fetched = len([r for r in site.requests if r.path.startswith("/news/2026/")])
    assert fetched < 40, "the run stopped instead of fetching pages it could not keep"
    assert_nothing_truncated(store_disk / "archive", spool_disk)

    resize_disk(store_disk, 16 * 1024)
    resize_disk(spool_disk, 16 * 1024)
    cli("crawl", "--config", config, check=True)
    archive = audit(FileStore(store_disk / "archive"))
    archive.assert_sound()
    assert gated.urls() <= set(archive.clean_per_url())


def test_a_full_spool_stops_the_run_and_stays_within_its_bound(site, write_config, cli, tmp_path):
    GatedNews(site, 40, free=None, seed=43, pad=100_000)
    spool = tmp_path / "spool"
    dead_endpoint = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing listens: the store is down
    config = write_config([source("town", site.url, concurrency=1, max_depth=5)], {
        "url": "s3://archive-bucket/news", "endpoint_url": dead_endpoint, "addressing_style": "path",
        "spool_dir": str(spool), "spool_max_bytes": 1024 * 1024, "retries": 0, "connect_timeout": 1})
    env = {"AWS_ACCESS_KEY_ID": "AKTEST", "AWS_SECRET_ACCESS_KEY": "secret-for-a-dead-endpoint",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    proc = cli("crawl", "--config", config, "--json", env=env)
    assert proc.returncode == 1, proc.stderr
    assert "the store is unavailable" in proc.stderr
    record = run_record(proc)
    assert record["outcome"] == "failed"
    assert "is full (spool_max_bytes=1048576)" in record["message"]
    assert record["counts"]["store_spooled"] >= 3 and record["counts"]["store_lost"] >= 1
    entries = list((spool / "town").glob("*.put"))
    assert sum(p.stat().st_size for p in entries) <= 1024 * 1024
    fetched = len([r for r in site.requests if r.path.startswith("/news/2026/")])
    assert fetched < 40, "the run stopped instead of fetching pages it could not keep"
