"""Three `archiver serve` replicas on one bucket and one Redis: each fire time once, no overlap, hand-over.

Fast interval schedules stand in for cron; the tests wait for what the replicas
write (run records in the shared bucket, the lease in Redis), never for a clock.
"""

from __future__ import annotations

import json
import signal
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import psutil
import pytest
import yaml

from tests import sitegen
from tests.conftest import keys_under, make_target, read_json, source
from tests.servers.daemon import ServeProcess
from tests.servers.ports import wait_http

pytestmark = pytest.mark.slow


def records(store, name: str) -> list[dict]:
    return [read_json(store, k) for k in keys_under(store, f"runs/{name}/")]


def scheduled(store, name: str) -> list[dict]:
    return [r for r in records(store, name) if r.get("trigger") == "schedule"]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def write(path, storage, coordination, sources, **scheduler):
    storage = {**storage, "spool_dir": "spool"}  # each replica its own, as in its own container
    doc = {"storage": storage, "coordination": coordination,
           "scheduler": {"stop_grace_seconds": 1, "kill_after_seconds": 1, "misfire": "coalesce", **scheduler},
           "sources": sources}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def replicas(config, tmp_path, env, n=3) -> list[ServeProcess]:
    out = []
    for i in range(n):
        workdir = tmp_path / f"replica-{i}"
        workdir.mkdir()
        out.append(ServeProcess(config, cwd=workdir, env=env).start(wait=False))
    for serve in out:
        wait_http(serve.url("/healthz"), timeout=60, proc=serve.proc)
    return out


def stop_all(serves) -> None:
    serves = [s for s in serves if s.alive()]
    for serve in serves:  # all at once, as a deployment is stopped
        serve.send(signal.SIGTERM)
    for serve in serves:
        serve.close()


def test_three_replicas_run_each_fire_time_exactly_once(site, tmp_path, coordination, redis_server):
    sitegen.serve(site, sitegen.build(3, seed=21))
    target = make_target("seaweedfs", tmp_path)
    every = 3
    names = ("town", "county")
    sources = [source(name, site.url, articles=[r"/news/\d{4}/"], interval=f"{every}s", max_depth=1)
               for name in names]
    config = write(tmp_path / "sources.yaml", target.storage, coordination, sources, max_concurrent_runs=2)
    serves = replicas(config, tmp_path, target.env)
    try:
        serves[0].wait_for(lambda: all(len(scheduled(target.store, n)) >= 4 for n in names),
                           "four scheduled fire times of each source", timeout=120)
        stopped_at = datetime.now(timezone.utc)
    finally:
        stop_all(serves)

    client = redis_server.client()
    runners = set()
    for name in names:
        recs = [r for r in scheduled(target.store, name) if r.get("trigger_time")]
        fires = [when(r["trigger_time"]) for r in recs]
        # no fire time handled twice (a run, or a skip while the previous run was going)...
        assert len(fires) == len(set(fires)), f"{name}: a fire time handled twice: {sorted(fires)}"
        # ...on one grid that all replicas share (the interval's anchor is kept in Redis)
        assert all((f - min(fires)) % timedelta(seconds=every) == timedelta(0) for f in fires), fires
        # ...and none left out: every fire time a replica claimed has its run or is counted in a skip
        claim_keys = list(client.scan_iter(f"{coordination['key_prefix']}:claim:{name}:*"))
        claimed = [datetime.strptime(k.rsplit(":", 1)[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
                   for k in claim_keys]
        runners |= {client.get(k).split(" ")[0] for k in claim_keys}
        settled = [f for f in claimed if f < stopped_at - timedelta(seconds=2 * every)]
        covered = sum(max(1, (r.get("skip") or {}).get("skipped", 1)) for r in recs)
        assert settled and covered >= len(settled), (name, covered, sorted(claimed))
        assert len(claimed) >= len(fires)
        runs = sorted((r for r in recs if r["outcome"] != "skipped"), key=lambda r: r["started_at"])
        assert runs, f"{name} never ran"
        assert all(r["outcome"] in ("ok", "partial", "interrupted") for r in runs), [r["outcome"] for r in runs]
        # no overlap, cluster-wide: a run starts after the previous one ended
        for a, b in pairwise(runs):
            assert when(b["started_at"]) >= when(a["ended_at"]), (a["run_id"], b["run_id"])
    assert len(runners) >= 2, runners  # more than one replica handled fire times


def test_killing_the_lease_holder_hands_the_source_over(site, tmp_path, coordination, redis_server):
    news = sitegen.serve(site, sitegen.build(2, seed=22))
    body = sitegen.listing_html(news, 0).encode()

    def hang(req):  # every run of this source hangs on its listing until the site stops
        if not req.h.server.stopping.wait(120):
            req.send(200, body)
    site.route("/news/", hang)
    target = make_target("file", tmp_path)
    coordination = {**coordination, "lease_seconds": 2}
    config = write(tmp_path / "sources.yaml", target.storage, coordination,
                   [source("town", site.url, interval="1s", max_run_seconds=120)])
    serves = replicas(config, tmp_path, target.env)
    client = redis_server.client()
    lease_key = f"{coordination['key_prefix']}:lease:town"

    def holder():
        value = client.get(lease_key)
        return json.loads(value) if value else None

    try:
        first = serves[0].wait_for(holder, "a replica to take the source")
        by_pid = {s.proc.pid: s for s in serves}
        doomed = by_pid[first["pid"]]
        serves[0].wait_for(lambda: site.hits("/news/"), "the holder's crawl to reach the site")
        # while it holds the source, the others skip its fire times as running, never overlap
        serves[0].wait_for(lambda: any((r.get("skip") or {}).get("reason") == "running"
                                       for r in records(target.store, "town")), "a skip record")
        assert len(site.hits("/news/")) == 1
        # the replica dies with its crawl, as a container does
        tree = [psutil.Process(doomed.proc.pid), *psutil.Process(doomed.proc.pid).children(recursive=True)]
        for proc in tree:
            proc.send_signal(signal.SIGKILL)
        doomed.proc.wait(10)
        watcher = next(s for s in serves if s is not doomed)
        second = watcher.wait_for(lambda: (h := holder()) and h["pid"] != first["pid"] and h,
                                  "another replica to take the source", timeout=30)
        assert second["pid"] in by_pid and second["token"] > first["token"]
        assert by_pid[second["pid"]].alive()
        survivor = by_pid[second["pid"]]
        survivor.wait_for(lambda: len(site.hits("/news/")) == 2, "the new holder's crawl to start")
    finally:
        stop_all(serves)
