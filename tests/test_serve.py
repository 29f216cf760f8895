"""`archiver serve` for real: a subprocess against the local site and real stores.

Fast schedules (``interval: 1s``) and ``--run-now`` stand in for cron; the tests wait
for what the daemon writes (run records, log lines), never for a wall-clock schedule.
"""

from __future__ import annotations

import json
import os
import re
import signal

import pytest
import yaml

from crawler.keys import sha256_hex
from jobs.locks import SourceLock
from tests import sitegen
from tests.conftest import keys_under, make_target, read_json, source
from tests.servers.daemon import ServeProcess

pytestmark = pytest.mark.slow


def runs_of(store, name: str) -> list[dict]:
    return [read_json(store, k) for k in keys_under(store, f"runs/{name}/")]


def finished(store, name: str, outcomes=("ok", "partial")) -> list[dict]:
    return [r for r in runs_of(store, name) if r["outcome"] in outcomes]


def write(path, storage, sources, **scheduler):
    doc = {"storage": storage, "scheduler": {"stop_grace_seconds": 20, "kill_after_seconds": 5, **scheduler},
           "sources": sources}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def slow_listing(site, news, delay: float):
    """The listing page answers after ``delay`` seconds, so a run takes at least that long."""
    body = sitegen.listing_html(news, 0).encode()

    def answer(req):
        if not req.h.server.stopping.wait(delay):
            req.send(200, body)
    site.route("/news/", answer)


def metric(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_serve_runs_on_schedule_records_runs_and_answers_health_and_metrics(site, seaweed, tmp_path, cli):
    news = sitegen.serve(site, sitegen.build(3, seed=5))
    slow_listing(site, news, 1.3)  # longer than the interval: the next fire finds the run still going
    target = make_target("seaweedfs", tmp_path)
    config = write(tmp_path / "sources.yaml", target.storage,
                   [source("town", site.url, articles=[r"/news/\d{4}/"], interval="1s")])
    with ServeProcess(config, cwd=tmp_path, env=target.env, args=["--run-now"]) as serve:
        serve.wait_for(lambda: metric(serve.metrics(), "archiver_runs_total", source="town", outcome="ok") >= 2,
                       "two finished runs", timeout=90)
        status, health = serve.health()
        assert status == 200 and health["status"] == "ok", health
        assert health["sources"]["town"]["schedule"] == "every 1s"
        samples = serve.metrics()
        assert metric(samples, "archiver_runs_total", source="town", outcome="ok") >= 2
        assert metric(samples, "archiver_pages_fetched_total", source="town") >= 8
        # the site does not change between runs: each article is archived once, later runs find it unchanged
        assert metric(samples, "archiver_pages_archived_total", source="town", kind="clean") == len(news.articles)
        assert metric(samples, "archiver_pages_not_modified_total", source="town") >= len(news.articles)
        assert metric(samples, "archiver_stored_bytes_total", source="town") > 0
        assert metric(samples, "archiver_run_duration_seconds_count", source="town") >= 2
        assert metric(samples, "archiver_last_success_timestamp_seconds", source="town") > 1.7e9
        assert metric(samples, "archiver_scheduler_up") == 1
        assert metric(samples, "archiver_runs_total", source="town", outcome="skipped") >= 1
        assert cli("healthcheck", "--url", serve.url("/healthz")).returncode == 0
        code = serve.terminate()
    assert code == 0, serve.stderr()
    assert cli("healthcheck", "--url", serve.url("/healthz")).returncode == 1

    records = runs_of(target.store, "town")
    done = [r for r in records if r["outcome"] != "skipped"]
    assert done[0]["trigger"] == "run-now"
    scheduled = [r for r in done if r["trigger"] == "schedule"]
    assert scheduled and all(r["schedule"]["scheduled_for"] == r["trigger_time"] for r in scheduled)
    # a fire time that found the previous run still going was skipped, and the skip recorded
    skips = [r for r in records if r["outcome"] == "skipped"]
    assert skips and all(r["skip"]["reason"] == "running" for r in skips)
    assert {s["skip"]["blocking_run_id"] for s in skips} <= {r["run_id"] for r in done}
    # one structured log line at the start and at the end of every run
    events = serve.events()
    for record in done:
        starts = [e for e in events if e.get("event") == "run_start" and e.get("run_id") == record["run_id"]]
        ends = [e for e in events if e.get("event") == "run_end" and e.get("run_id") == record["run_id"]]
        assert len(starts) == 1 and len(ends) == 1, record["run_id"]
        assert ends[0]["outcome"] == record["outcome"]
    assert any(e.get("event") == "serve_stop" for e in events)
    assert not any(e.get("level") == "error" for e in events), serve.stderr()

    # the history commands read the same records back
    listed = json.loads(cli("runs", "--config", config, "--json", env=target.env, check=True).stdout)
    newest_first = sorted(records, key=lambda r: (r["run_id"][:16], r["started_at"]), reverse=True)
    assert [r["run_id"] for r in listed] == [r["run_id"] for r in newest_first][:20]
    status_out = cli("status", "--config", config, env=target.env, check=True).stdout
    assert "town: every 1s" in status_out and "last run: " in status_out


@pytest.mark.parametrize("kind", ["file", "seaweedfs"])
def test_sigterm_mid_crawl_stops_cleanly_with_nothing_half_written(site, tmp_path, kind):
    news = sitegen.build(30, seed=11)
    sitegen.serve(site, news)
    for article in news.articles:  # every article answers slowly: the crawl is long
        body = sitegen.article_html(article).encode()

        def answer(req, body=body):
            if not req.h.server.stopping.wait(1.0):
                req.send(200, body)
        site.route(article.path, answer)
    target = make_target(kind, tmp_path)
    config = write(tmp_path / "sources.yaml", target.storage,
                   [source("town", site.url, start_urls=[], sitemaps=[f"{site.url}/sitemap_index.xml"],
                           schedule="0 0 1 1 *", concurrency=2, delay=0.3)],
                   stop_grace_seconds=0.5, kill_after_seconds=2)
    with ServeProcess(config, cwd=tmp_path, env=target.env, args=["--run-now"]) as serve:
        serve.wait_for(lambda: len(keys_under(target.store, "clean/town/")) >= 2, "some archived articles")
        code = serve.terminate()
        assert code == 0, serve.stderr()
    events = serve.events()
    assert any(e.get("event") == "runs_interrupted" for e in events)

    records = runs_of(target.store, "town")
    assert len(records) == 1 and records[0]["outcome"] == "interrupted", records
    # every object is whole: raw bytes match their sidecar, clean objects point at stored raw pages
    raw = [k for k in keys_under(target.store, "raw/town/") if not k.endswith(".meta.json")]
    clean = keys_under(target.store, "clean/town/")
    assert 2 <= len(clean) < len(news.articles)
    for key in raw:
        meta = read_json(target.store, key + ".meta.json")
        assert sha256_hex(target.store.get(key)) == meta["sha256"]
    for key in clean:
        record = read_json(target.store, key)
        assert record["text"] and target.store.exists(record["raw_key"])
    # the crawl was stopped (SIGTERM, then SIGKILL after kill_after_seconds): its record counts
    # what it had reported, never more than what is really there
    assert 0 < records[0]["counts"]["clean_archived"] <= len(clean)


def test_a_hanging_crawl_is_stopped_at_its_limit_while_other_sources_run(site, file_target, tmp_path):
    sitegen.serve(site, sitegen.build(2, seed=2))
    site.route("/stuck/", lambda req: req.hang(120))  # accepts the request, never answers
    config = write(tmp_path / "sources.yaml", file_target.storage, [
        {"name": "stuck", "start_urls": [f"{site.url}/stuck/"], "schedule": "0 0 1 1 *", "max_run_seconds": 2,
         "download_timeout": 120, "retries": 0, "delay": 0, "extract_workers": 0},
        source("town", site.url, interval="1s"),
    ], kill_after_seconds=2, max_concurrent_runs=2)
    store = file_target.store
    with ServeProcess(config, cwd=tmp_path, args=["--run-now"]) as serve:
        stuck = serve.wait_for(lambda: runs_of(store, "stuck"), "the stuck run to be recorded", timeout=90)
        assert stuck[0]["outcome"] == "timed_out", stuck
        assert "max_run_seconds=2" in stuck[0]["message"]
        # meanwhile, and after, the other source kept running
        ended = stuck[0]["ended_at"]
        serve.wait_for(lambda: [r for r in finished(store, "town") if r["started_at"] > ended],
                       "a run of town after the stuck one ended")
        assert len(finished(store, "town")) >= 2
        assert serve.health()[0] == 200
        assert serve.terminate() == 0


def test_sighup_and_file_changes_reload_and_an_invalid_config_is_rejected(site, file_target, tmp_path):
    sitegen.serve(site, sitegen.build(2, seed=4))
    store = file_target.store
    path = tmp_path / "sources.yaml"
    town = source("town", site.url, schedule="0 0 1 1 *")
    county = source("county", site.url, interval="1s")
    write(path, file_target.storage, [town])
    with ServeProcess(path, cwd=tmp_path, args=["--reload-on-change"]) as serve:
        assert set(serve.health()[1]["sources"]) == {"town"}

        write(path, file_target.storage, [town, county])
        serve.send(signal.SIGHUP)
        serve.wait_for(lambda: finished(store, "county"), "a run of the source added by SIGHUP")

        text = path.read_text()
        path.write_text(text.replace("name: county", "name: county\n  folow: []"))
        serve.send(signal.SIGHUP)
        rejected = serve.wait_for(lambda: [e for e in serve.events() if e.get("event") == "reload_rejected"],
                                  "the rejection")
        assert "sources[1].folow (source 'county'): unknown key (did you mean 'follow'?)" in rejected[0]["msg"]
        assert "still running the previous config" in rejected[0]["msg"]
        # the old config goes on: county still crawls (from the last valid config, not the broken file)
        seen = len(finished(store, "county"))
        serve.wait_for(lambda: len(finished(store, "county")) > seen + 1, "county runs after the rejection")
        assert serve.health()[0] == 200

        write(path, file_target.storage, [county])  # no signal: --reload-on-change notices
        serve.wait_for(lambda: set(serve.health()[1]["sources"]) == {"county"}, "town removed by a file change")
        assert any(e.get("event") == "reload" and e.get("removed") == ["town"] for e in serve.events())
        assert serve.terminate() == 0
    assert not [r for r in runs_of(store, "county") if r["outcome"] in ("crashed", "failed")]


def test_after_a_restart_a_missed_run_is_made_up_once(site, file_target, tmp_path, cli):
    sitegen.serve(site, sitegen.build(2, seed=6))
    store = file_target.store
    config = write(tmp_path / "sources.yaml", file_target.storage, [source("town", site.url, interval="1s")])
    cli("crawl", "--config", config, check=True)  # the last run before "the daemon was down"
    with ServeProcess(config, cwd=tmp_path) as serve:
        serve.wait_for(lambda: len(finished(store, "town")) >= 3, "the catch-up and a scheduled run")
        assert serve.terminate() == 0
    records = sorted((r for r in runs_of(store, "town") if r["outcome"] != "skipped"),
                     key=lambda r: r["started_at"])
    assert records[0]["trigger"] == "manual"
    assert records[1]["trigger"] == "catch-up"
    assert records[1]["schedule"]["late_s"] >= 0 and records[1]["schedule"]["scheduled_for"]
    assert [r["trigger"] for r in records].count("catch-up") == 1
    assert any(e.get("event") == "missed_while_stopped" for e in serve.events())


def test_serve_refuses_a_bad_start_with_one_line_and_exit_2(site, file_target, tmp_path, cli, write_config):
    bad = write_config([source("town", site.url, schedule="61 * * * *")], file_target.storage, name="bad.yaml")
    proc = cli("serve", "--config", bad)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(
        rf"archiver: config error: {re.escape(str(bad))}:\d+: sources\[0\]\.schedule \(source 'town'\): "
        r"minute: 61 is out of range 0-59", lines[0]), lines
    good = write_config([source("town", site.url)], file_target.storage)
    proc = cli("serve", "--config", good, "--http", "127.0.0.1:notaport")
    assert proc.returncode == 2 and "--http:" in proc.stderr and "Traceback" not in proc.stderr
    with ServeProcess(good, cwd=tmp_path) as serve:  # the port is taken
        proc = cli("serve", "--config", good, "--http", f"127.0.0.1:{serve.port}")
        assert proc.returncode == 2
        assert f"cannot listen on 127.0.0.1:{serve.port}" in proc.stderr and "Traceback" not in proc.stderr


def test_wrong_credentials_stop_serve_at_start_with_exit_3(site, seaweed, tmp_path, cli):
    target = make_target("seaweedfs", tmp_path)
    config = write(tmp_path / "sources.yaml", target.storage, [source("town", site.url)])
    env = dict(target.env, AWS_SECRET_ACCESS_KEY="wrong-secret-value")
    proc = cli("serve", "--config", config, env=env)
    assert proc.returncode == 3
    assert "storage error" in proc.stderr and "wrong-secret-value" not in proc.stderr


def test_a_source_running_elsewhere_is_skipped_and_recorded(site, file_target, write_config, cli):
    sitegen.serve(site, sitegen.build(2, seed=8))
    config = write_config([source("town", site.url)], file_target.storage)
    lock = SourceLock(file_target.storage["spool_dir"], "town")
    assert lock.acquire(run_id="20261125T120000Z-abcdef")
    try:
        proc = cli("run-once", "town", "--config", config)
    finally:
        lock.release()
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stdout and "another run of this source is in progress" in proc.stdout
    assert not site.requests  # nothing was fetched
    record = runs_of(file_target.store, "town")[0]
    assert record["outcome"] == "skipped" and record["skip"]["reason"] == "running"
    assert record["skip"]["holder"]["run_id"] == "20261125T120000Z-abcdef"
    # with the lock free the same command crawls
    proc = cli("run-once", "town", "--config", config, "--json", check=True)
    assert json.loads(proc.stdout)[0]["outcome"] in ("ok", "partial")

    # `archiver runs`: newest first, filters, limits
    out = cli("runs", "--config", config, check=True).stdout.splitlines()
    assert out[0].startswith("STARTED (UTC)") and len(out) == 3
    assert " ok " in out[1] or " partial " in out[1]
    assert " skipped " in out[2] and "another run of this source is in progress" in out[2]
    only = json.loads(cli("runs", "town", "--config", config, "--outcome", "skipped", "--json", check=True).stdout)
    assert [r["outcome"] for r in only] == ["skipped"]
    assert len(json.loads(cli("runs", "--config", config, "--limit", "1", "--json", check=True).stdout)) == 1
    none = cli("runs", "tonw", "--config", config, check=True)
    assert "no runs of 'tonw' recorded" in none.stderr and "configured sources: town" in none.stderr


def test_a_crawl_process_that_dies_is_recorded_and_the_daemon_goes_on(site, file_target, tmp_path):
    news = sitegen.serve(site, sitegen.build(2, seed=9))
    slow_listing(site, news, 30)  # the crawl waits here until we kill it
    store = file_target.store
    config = write(tmp_path / "sources.yaml", file_target.storage, [source("town", site.url, interval="1s")])
    with ServeProcess(config, cwd=tmp_path, args=["--run-now"]) as serve:
        running = serve.wait_for(lambda: serve.health()[1]["running"].get("town", {}).get("pid"), "a running crawl")
        os.kill(running, signal.SIGKILL)
        crashed = serve.wait_for(lambda: [r for r in runs_of(store, "town") if r["outcome"] == "crashed"],
                                 "the crashed run's record")
        assert "signal SIGKILL" in crashed[0]["message"]
        site.page("/news/", sitegen.listing_html(news, 0))  # the site answers again
        serve.wait_for(lambda: finished(store, "town"), "a good run after the crash")
        assert serve.health()[0] == 200
        assert serve.terminate() == 0


def test_crawl_serves_health_and_metrics_only_when_asked(site, file_target, write_config, tmp_path):
    import subprocess
    import time
    import urllib.request

    from tests.conftest import archiver_command
    from tests.servers.daemon import archiver_env
    from tests.servers.ports import free_ports

    news = sitegen.serve(site, sitegen.build(2, seed=10))
    slow_listing(site, news, 2.5)
    config = write_config([source("town", site.url)], file_target.storage)
    port = free_ports(1)[0]
    proc = subprocess.Popen([*archiver_command(), "crawl", "--config", str(config), "--http", f"127.0.0.1:{port}"],
                            cwd=tmp_path, env=archiver_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, body = time.monotonic() + 30, None
        while body is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                time.sleep(0.1)
        assert body and 'archiver_runs_total{outcome="ok",source="town"} 0.0' in body
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
        assert proc.wait(60) == 0
    finally:
        proc.kill()
        proc.communicate()
    with pytest.raises(OSError):  # gone with the crawl
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_status_shows_next_fire_times_in_the_source_time_zone(tmp_path, cli, write_config):
    from datetime import datetime

    config = write_config([
        {"name": "night", "start_urls": ["http://127.0.0.1:9/"], "schedule": "30 2 * * *",
         "timezone": "Europe/Belgrade", "jitter": 60},
        {"name": "off", "start_urls": ["http://127.0.0.1:9/"], "interval": "15m", "enabled": False},
    ], {"url": f"file://{tmp_path / 'nothing-yet'}"})
    proc = cli("status", "--config", config, "--json", "--next", "5", check=True)
    assert "cannot read run history" in proc.stderr  # no store yet: said, and the schedules still shown
    night, off = json.loads(proc.stdout)
    local = [datetime.fromisoformat(t) for t in night["next_fires_local"]]
    assert len(local) == 5 and all((t.hour, t.minute) in ((2, 30), (3, 0)) for t in local)
    assert [(b.date() - a.date()).days for a, b in zip(local, local[1:])] == [1, 1, 1, 1]
    assert night["schedule"] == "cron '30 2 * * *' Europe/Belgrade" and night["last_run"] is None
    assert off["enabled"] is False and off["schedule"] == "every 15m"
    text = cli("status", "--config", config, check=True).stdout
    assert "night: cron '30 2 * * *' Europe/Belgrade, jitter up to 60s" in text and "last run: never" in text
    assert "off (disabled): every 15m" in text
