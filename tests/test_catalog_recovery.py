"""A crawl killed mid-run keeps its catalog rows: the next run stores them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import sitegen
from tests.conftest import keys_under, source

pytestmark = pytest.mark.slow


def test_a_killed_runs_catalog_is_stored_by_the_next_run(site, file_target, write_config, cli, tmp_path):
    news = sitegen.serve(site, sitegen.build(4, seed=41))
    site.route("/news/2026/01/hangs/", lambda req: req.hang(30))
    listing = sitegen.listing_html(news, 0).replace("</ul>", '<li><a href="/news/2026/01/hangs/">h</a></li></ul>')
    site.page("/news/", listing)
    config = write_config([source("town", site.url, articles=[r"/news/\d{4}/"], download_timeout=60)],
                          file_target.storage)
    run_id = "20261125T120000Z-killed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    child = subprocess.Popen([sys.executable, "-m", "crawler.run", "--config", str(config), "--source", "town",
                              "--run-id", run_id], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = Path(file_target.storage["spool_dir"]) / ".catalog" / "town" / f"{run_id}.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # the four articles and the listing archived, one page hanging
            if journal.exists() and len(journal.read_bytes().splitlines()) >= 5:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the crawl did not archive the pages in time")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    store = file_target.store
    assert keys_under(store, "catalog/") == []  # the killed run never stored its catalog
    assert len(keys_under(store, "clean/town/")) == 4

    site.remove("/news/2026/01/hangs/")
    cli("crawl", "--config", config, check=True)
    stored = keys_under(store, "catalog/town/")
    killed = [k for k in stored if run_id in k]
    assert killed == [f"catalog/town/2026/11/25/{run_id}.jsonl"]
    rows = [json.loads(line) for line in store.get(killed[0]).decode().splitlines()]
    assert len(rows) >= 5 and all(r["run_id"] == run_id for r in rows)
    assert {r["final_url"] for r in rows if r["clean_key"]} == {site.url + a.path for a in news.articles}
    assert not journal.exists()
    assert cli("verify", "--config", config).returncode == 0
