"""Storage faults: S3 down mid-run or at the start, throttling, credentials refused, no bucket.

Nothing fetched is lost: what the store refuses goes to the local spool, the run
record says how much, and the next run uploads it before new work.  Wrong
credentials and a missing bucket stop the run before anything is fetched.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest

from crawler import catalog
from tests import sitegen
from tests.faults.audit import audit
from tests.faults.conftest import GatedNews, raw_objects, s3_storage, source, wait_until

pytestmark = pytest.mark.slow

N = 14


def runs_by_outcome(archive) -> dict:
    out = {}
    for record in archive.runs.values():
        out.setdefault(record["outcome"], []).append(record)
    return out


def assert_complete(archive, urls: set[str]) -> None:
    """Every article archived exactly once, raw + sidecar + clean, and nothing unsound."""
    archive.assert_sound()
    clean = archive.clean_per_url()
    missing = urls - set(clean)
    assert not missing, f"articles lost: {sorted(missing)}"


def test_s3_stopped_mid_run_then_restarted_nothing_is_lost(own_s3, site, write_config, background, cli,
                                                           tmp_path):
    storage, store = s3_storage(own_s3, spool=tmp_path / "spool")
    gated = GatedNews(site, N, free=4, seed=31)
    config = write_config([source("town", site.url)], storage)

    crawl = background("crawl", "--config", config, env=own_s3.env())
    wait_until(lambda: gated.waiting.is_set() and len(raw_objects(store)) >= 4, what="four pages stored")
    own_s3.stop()                      # the store goes away mid-run
    gated.open()
    code, output = crawl.wait()
    assert code == 0, output
    assert " partial " in output and "spooled " in output
    assert "wait in the spool" in output  # the summary line says where the pages are

    own_s3.start()                     # same port, same data
    second = cli("crawl", "--config", config, env=own_s3.env(), check=True)
    assert "spool flushed " in second.stdout

    archive = audit(store)
    assert_complete(archive, gated.urls())
    runs = sorted(archive.runs.values(), key=lambda r: r["started_at"])
    assert len(runs) == 2, "the first run's record came back from the spool"
    first, after = runs
    assert first["outcome"] == "partial" and first["counts"]["store_spooled"] >= N - 4
    assert first["errors"]["store_unreachable"] >= 1
    assert "spool" in first["message"]
    # the next run uploaded everything spooled, the first run's record and catalog included
    assert after["counts"]["store_spool_flushed"] >= first["counts"]["store_spooled"] + 1
    assert after["counts"]["store_spool_pending"] == 0
    assert not list((tmp_path / "spool" / "town").glob("*.put"))


def test_store_down_at_the_start_crawls_into_the_spool(own_s3, site, write_config, cli, tmp_path):
    storage, store = s3_storage(own_s3, spool=tmp_path / "spool")
    news = sitegen.serve(site, sitegen.build(5, seed=32))
    config = write_config([source("town", site.url)], storage)
    own_s3.stop()
    try:
        first = cli("crawl", "--config", config, env=own_s3.env())
    finally:
        own_s3.start()
    # nothing is lost, but a store that does not answer is an error the user must see
    assert first.returncode == 3, first.stderr
    assert "archiver: warning: the store is unavailable" in first.stderr and "spool" in first.stderr
    last = first.stderr.strip().splitlines()[-1]
    assert last.startswith("archiver: storage error: ") and "wait in the spool" in last
    assert site.hits(news.articles[0].path), "the crawl went ahead"
    site.clear_log()
    cli("crawl", "--config", config, env=own_s3.env(), check=True)
    archive = audit(store)
    assert_complete(archive, {site.url + a.path for a in news.articles})
    spooled_run = [r for r in archive.runs.values() if r["counts"]["store_spooled"]]
    assert len(spooled_run) == 1 and spooled_run[0]["outcome"] == "partial"


def test_throttling_is_retried_with_backoff(seaweed, site, proxy_for, write_config, cli, tmp_path):
    proxy = proxy_for(seaweed.endpoint)
    storage, store = s3_storage(seaweed, proxy.url, spool=tmp_path / "spool", retries=3)
    news = sitegen.serve(site, sitegen.build(4, seed=33))
    config = write_config([source("town", site.url)], storage)
    proxy.fail(503, "SlowDown", times=2)
    cli("crawl", "--config", config, env=seaweed.env(), check=True)
    assert len(proxy.injected()) == 2
    archive = audit(store)
    assert_complete(archive, {site.url + a.path for a in news.articles})
    (run,) = archive.runs.values()
    assert run["outcome"] == "ok" and run["counts"]["store_spooled"] == 0


def test_a_write_whose_answer_was_lost_is_still_catalogued(seaweed, site, proxy_for, write_config, cli, tmp_path):
    """Under load a PUT can land while its answer is lost (a 500, a reset): the client retries, and the
    conditional retry finds the object (412).  That object is this run's own write, not an earlier
    run's, so the page keeps its catalog row and shows in ``ls``."""
    proxy = proxy_for(seaweed.endpoint)
    storage, store = s3_storage(seaweed, proxy.url, spool=tmp_path / "spool", retries=3)
    news = sitegen.serve(site, sitegen.build(4, seed=36))
    config = write_config([source("town", site.url)], storage)
    story = news.articles[0]
    # the raw body, its sidecar and the clean article of one story: each PUT lands, its answer is lost
    proxy.lose_answers(500, "InternalError", times=3, key_part=story.path.strip("/").replace("/", "-"))
    cli("crawl", "--config", config, env=seaweed.env(), check=True)
    assert len(proxy.injected()) == 3
    archive = audit(store)
    assert_complete(archive, {site.url + a.path for a in news.articles})
    named = {obj for rows in archive.catalog.values() for row in rows for obj, _, _ in catalog.objects(row)}
    assert set(archive.clean) | set(archive.raw) | {k + ".meta.json" for k in archive.raw} <= named
    listing = json.loads(cli("ls", "--json", "--config", config, env=seaweed.env(), check=True).stdout)
    assert {site.url + a.path for a in news.articles} <= {e["url"] for e in listing}
    assert cli("verify", "--config", config, env=seaweed.env()).returncode == 0


def test_persistent_throttling_spools_and_the_next_run_uploads_before_new_work(
        seaweed, site, proxy_for, write_config, background, cli, tmp_path):
    proxy = proxy_for(seaweed.endpoint)
    storage, store = s3_storage(seaweed, proxy.url, spool=tmp_path / "spool")
    gated = GatedNews(site, N, free=4, seed=34)
    config = write_config([source("town", site.url)], storage)

    crawl = background("crawl", "--config", config, env=seaweed.env())
    wait_until(lambda: gated.waiting.is_set() and len(raw_objects(store)) >= 4, what="four pages stored")
    proxy.fail(503, "SlowDown")        # until healed
    gated.open()
    code, output = crawl.wait()
    assert code == 0 and " partial " in output, output
    spooled = [json.loads(p.read_bytes().partition(b"\n")[0])["key"]
               for p in sorted((tmp_path / "spool" / "town").glob("*.put"))]
    assert len(spooled) >= N - 4
    assert any(k.startswith("runs/") for k in spooled)

    proxy.heal()
    site.clear_log()
    proxy.requests.clear()
    cli("crawl", "--config", config, env=seaweed.env(), check=True)
    first_fetch = min(r.time for r in site.requests)
    put_times = {}
    for r in proxy.puts():
        put_times.setdefault(r.path.split("/archive/", 1)[-1].split("?")[0], r.time)
    assert all(put_times[k] < first_fetch for k in spooled), "spooled writes go before new work"
    archive = audit(store)
    assert_complete(archive, gated.urls())
    throttled = [r for r in archive.runs.values() if r["errors"].get("store_throttled")]
    assert len(throttled) == 1 and throttled[0]["counts"]["store_spooled"] == len(spooled) - 1


def test_credentials_refused_mid_run_stop_the_run_at_once(seaweed, site, proxy_for, write_config,
                                                          background, cli, tmp_path):
    proxy = proxy_for(seaweed.endpoint)
    storage, store = s3_storage(seaweed, proxy.url, spool=tmp_path / "spool")
    gated = GatedNews(site, 30, free=4, seed=35)
    config = write_config([source("town", site.url, concurrency=1, max_depth=3)], storage)

    crawl = background("crawl", "--config", config, env=seaweed.env())
    wait_until(lambda: gated.waiting.is_set() and len(raw_objects(store)) >= 4, what="four pages stored")
    proxy.fail(403, "InvalidAccessKeyId")   # the key was revoked
    gated.open()
    code, output = crawl.wait()
    assert code == 1, output
    assert " failed " in output and "S3 refused the credentials" in output
    fetched = len([r for r in site.requests if r.path.startswith("/news/2026/")])
    assert fetched < 30, "the run stopped instead of fetching the whole site"

    proxy.heal()
    cli("crawl", "--config", config, env=seaweed.env(), check=True)
    archive = audit(store)
    assert_complete(archive, gated.urls())
    failed = runs_by_outcome(archive)["failed"]
    assert len(failed) == 1 and failed[0]["errors"]["store_auth"] >= 1


@pytest.fixture
def crawl_module(tmp_path):
    """``python -m crawler.run``, the way the scheduler starts a crawl."""
    def run(config, source_name: str, env: dict) -> subprocess.CompletedProcess:
        import os

        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        full_env.update(env)
        return subprocess.run([sys.executable, "-m", "crawler.run", "--config", str(config), "--source",
                               source_name], cwd=tmp_path, env=full_env, capture_output=True, text=True,
                              timeout=120)
    return run


@pytest.mark.parametrize("fault", ["wrong_secret", "unknown_key", "no_bucket"])
def test_wrong_credentials_or_missing_bucket_stop_before_anything_is_fetched(
        fault, seaweed, site, write_config, cli, crawl_module, tmp_path):
    sitegen.serve(site, sitegen.build(3, seed=36))
    storage, _ = s3_storage(seaweed, spool=tmp_path / "spool")
    env = seaweed.env()
    if fault == "wrong_secret":
        env["AWS_SECRET_ACCESS_KEY"] = "wrong-" + secrets.token_hex(8)
        expected = "S3 refused the credentials"
    elif fault == "unknown_key":
        env["AWS_ACCESS_KEY_ID"] = "AKNOBODY" + secrets.token_hex(4).upper()
        expected = "S3 refused the credentials"
    else:
        storage["url"] = "s3://no-such-bucket-" + secrets.token_hex(4) + "/archive"
        expected = "the bucket does not exist"
    config = write_config([source("town", site.url)], storage)

    for proc in (cli("crawl", "--config", config, env=env), crawl_module(config, "town", env)):
        assert proc.returncode == 3, proc.stdout + proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("archiver:")]
        assert len(lines) == 1 and lines[0].startswith("archiver: storage error: ") and expected in lines[0]
        assert "Traceback" not in proc.stderr
        assert env["AWS_SECRET_ACCESS_KEY"] not in proc.stderr + proc.stdout
    assert site.requests == [], "nothing was fetched"
    assert not (tmp_path / "spool").exists() or not list((tmp_path / "spool").rglob("*.put"))


def test_an_unwritable_folder_store_stops_before_anything_is_fetched(site, write_config, cli, tmp_path):
    sitegen.serve(site, sitegen.build(2, seed=37))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    config = write_config([source("town", site.url)], {"url": f"file://{blocker}/archive",
                                                       "spool_dir": str(tmp_path / "spool")})
    proc = cli("crawl", "--config", config)
    assert proc.returncode == 3 and proc.stderr.startswith("archiver: storage error: cannot write to")
    assert site.requests == []


def test_moto_missing_bucket_too(moto, site, write_config, cli, tmp_path):
    """The laxer S3 server answers a missing bucket differently; the error is the same."""
    sitegen.serve(site, sitegen.build(2, seed=38))
    storage, _ = s3_storage(moto, spool=tmp_path / "spool", bucket="no-such-bucket-" + secrets.token_hex(4))
    config = write_config([source("town", site.url)], storage)
    proc = cli("crawl", "--config", config, env=moto.env())
    assert proc.returncode == 3 and "the bucket does not exist" in proc.stderr
    assert site.requests == []
