"""`archiver demo`: the first command a new user runs."""

from __future__ import annotations

import json
import re

import pytest

from crawler.store import FileStore

pytestmark = pytest.mark.slow


def test_demo_archives_the_bundled_site_without_network(cli, tmp_path):
    proc = cli("demo", "--out", tmp_path / "out", cwd=tmp_path, check=True)
    assert "demo-news" in proc.stdout and " ok " in proc.stdout
    store = FileStore(tmp_path / "out")
    clean = [json.loads(store.get(o.key)) for o in store.list("clean/demo-news/")]
    assert len(clean) == 5
    for record in clean:
        assert record["extraction"]["status"] == "ok"
        assert record["title"] and record["author"] and record["published"]
        for junk in ("Cron Job Starts", "ASHEVILLE WEATHER", "Pinned Items", "Comments (0)",
                     "Post is under moderation", "There are no activities here yet"):
            assert junk not in record["text"]
        assert str(tmp_path / "out" / "clean" / "demo-news") in proc.stdout  # paths to open
    raws = [o for o in store.list("raw/demo-news/") if not o.key.endswith(".meta.json")]
    assert len(raws) == 6  # five articles and the listing page
    assert len(list(store.list("runs/demo-news/"))) == 1
    assert not (tmp_path / "archive").exists()  # --out was honoured


def test_a_second_demo_rechecks_the_same_site_and_the_archive_reads_without_options(cli, tmp_path):
    cli("demo", cwd=tmp_path, check=True)
    again = cli("demo", cwd=tmp_path, check=True)
    assert "not modified 6" in again.stdout and "nothing new" in again.stdout
    assert "Traceback" not in again.stderr
    store = FileStore(tmp_path / "archive")
    assert len(list(store.list("clean/demo-news/"))) == 5  # nothing stored twice
    # the read-only commands find ./archive through the bundled config, no --config needed
    listing = json.loads(cli("ls", "--json", cwd=tmp_path, check=True).stdout)
    assert len(listing) == 5 and all(entry["versions"] == 1 for entry in listing)
    runs = cli("runs", cwd=tmp_path, check=True).stdout.splitlines()
    assert "NOT MOD" in runs[0]
    assert re.search(r"demo-news\s+ok\s+\S+s\s+0\s+6\s+0\s+0\s+0\s", runs[1]), runs[1]  # newest: 6 answered 304
    # a command that crawls still wants a config of its own
    crawl = cli("crawl", cwd=tmp_path)
    assert crawl.returncode == 2 and "config/default.yaml: file not found" in crawl.stderr
