"""Inspecting an archive from the store: ls, show, diff, stats (the CLI as a subprocess)."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess

import pytest

from tests import sitegen
from tests.conftest import archiver_command, keys_under, read_json, source

pytestmark = pytest.mark.slow

EDITED = "The council voted again on Tuesday and reversed the earlier decision on the bridge budget."


def crawl_and_edit(site, target, write_config, cli, n=4):
    """Crawl a small site, edit one article (a paragraph and its title), crawl again."""
    news = sitegen.serve(site, sitegen.build(n, seed=5))
    config = write_config([source("town", site.url, articles=[r"/news/\d{4}/"])], target.storage)
    cli("crawl", "--config", config, env=target.env, check=True)
    edited = news.articles[0]
    old = sitegen.Article(edited.path, edited.title, edited.author, edited.published, list(edited.paragraphs))
    edited.paragraphs[1] = EDITED
    edited.title = edited.title + " (updated)"
    site.page(edited.path, sitegen.article_html(edited))
    cli("crawl", "--config", config, env=target.env, check=True)
    return news, config, old, edited


def test_catalog_rows_name_every_object_with_its_checksum(site, target, write_config, cli):
    news, config, old, edited = crawl_and_edit(site, target, write_config, cli, n=3)
    store = target.store
    files = keys_under(store, "catalog/town/")
    assert len(files) == 2 and all(k.endswith(".jsonl") for k in files)
    runs = [read_json(store, k) for k in keys_under(store, "runs/town/")]
    assert sorted(r["catalog_key"] for r in runs) == sorted(files)
    rows = [json.loads(line) for k in files for line in store.get(k).decode().splitlines()]
    assert len({tuple(r) for r in rows}) == 1  # the same columns, in the same order, in every row
    articles = [r for r in rows if r["clean_key"]]
    assert {r["final_url"] for r in articles} == {site.url + a.path for a in news.articles}
    latest = {}  # a key written again (a page re-fetched the same day) is described by the newest row
    for row in rows:
        assert row["write"] == "stored"
        for key, sha, size in ((row["raw_key"], row["raw_sha256"], row["raw_size"]),
                               (row["meta_key"], row["meta_sha256"], row["meta_size"]),
                               (row["clean_key"], row["clean_sha256"], row["clean_size"])):
            if key is not None:
                latest[key] = (sha, size)
    assert len(latest) >= 3 * len(news.articles)
    for key, (sha, size) in latest.items():
        data = store.get(key)
        assert hashlib.sha256(data).hexdigest() == sha and len(data) == size, key
    edited_rows = [r for r in articles if r["final_url"] == site.url + edited.path]
    assert [r["title"] for r in edited_rows] == [old.title, edited.title]
    assert edited_rows[0]["text_sha256"] != edited_rows[1]["text_sha256"]
    assert all(r["extraction"] == "ok" and r["fetched_at"].endswith("Z") for r in articles)


def test_ls_show_diff_stats_on_an_edited_site(site, target, write_config, cli):
    news, config, old, edited = crawl_and_edit(site, target, write_config, cli)
    env = target.env
    url = site.url + edited.path

    # ls: newest first, one line per article, the edited one with two versions
    listing = json.loads(cli("ls", "--config", config, "--json", env=env, check=True).stdout)
    assert {e["url"] for e in listing} == {site.url + a.path for a in news.articles}
    by_url = {e["url"]: e for e in listing}
    assert by_url[url]["versions"] == 2 and by_url[url]["title"] == edited.title
    assert all(e["versions"] == 1 for u, e in by_url.items() if u != url)
    assert [e["fetched_at"] for e in listing] == sorted((e["fetched_at"] for e in listing), reverse=True)
    assert by_url[url]["key"].startswith("clean/town/") and target.store.exists(by_url[url]["key"])
    human = cli("ls", "town", "--config", config, env=env, check=True).stdout
    assert edited.title in human and url in human and "\x1b[" not in human
    limited = json.loads(cli("ls", "--config", config, "--json", "--limit", "2", env=env, check=True).stdout)
    assert limited == listing[:2]
    only = json.loads(cli("ls", "--config", config, "--json", "--url", edited.path, env=env, check=True).stdout)
    assert [e["url"] for e in only] == [url]
    assert json.loads(cli("ls", "--config", config, "--json", "--since", "2999-01-01", env=env,
                          check=True).stdout) == []

    # show: readable text of the latest version; --version 1 is the old one; --json, --raw
    shown = cli("show", url, "--config", config, env=env, check=True).stdout
    assert shown.startswith(edited.title)
    assert f"By {edited.author}" in shown and "version 2 of 2" in shown and EDITED in shown
    assert "Cron Job Starts" not in shown
    v1 = cli("show", url, "--version", "1", "--text", "--config", config, env=env, check=True).stdout
    assert old.paragraphs[1] in v1 and EDITED not in v1
    record = json.loads(cli("show", url, "--json", "--config", config, env=env, check=True).stdout)
    assert record["title"] == edited.title and record["url"] == url
    raw = cli("show", url, "--raw", "--config", config, env=env, check=True).stdout
    assert raw == sitegen.article_html(edited)
    by_key = cli("show", by_url[url]["key"], "--text", "--config", config, env=env, check=True).stdout
    assert EDITED in by_key
    # a URL typed without its trailing slash is the same article
    assert EDITED in cli("show", url.rstrip("/"), "--text", "--config", config, env=env, check=True).stdout
    missing = cli("show", site.url + "/news/2026/nope/", "--config", config, env=env)
    assert missing.returncode == 1 and "not in the catalog" in missing.stderr and "Traceback" not in missing.stderr
    no_version = cli("show", url, "--version", "7", "--config", config, env=env)
    assert no_version.returncode == 1 and "no version 7; versions: 1, 2" in no_version.stderr

    # diff: the changed paragraph and the title, plain when not on a terminal
    diff = cli("diff", url, "--config", config, env=env, check=True).stdout
    assert f"-{old.paragraphs[1]}" in diff and f"+{EDITED}" in diff
    assert f"title: {old.title!r} -> {edited.title!r}" in diff
    assert f"-{old.paragraphs[0]}" not in diff  # unchanged paragraphs are context, not changes
    assert "\x1b[" not in diff
    same = cli("diff", url, "1", "1", "--config", config, env=env, check=True).stdout
    assert "no change" in same
    as_json = json.loads(cli("diff", url, "1", "2", "--json", "--config", config, env=env, check=True).stdout)
    assert as_json["from"]["version"] == 1 and as_json["to"]["version"] == 2 and as_json["changed"]
    unchanged_url = site.url + news.articles[1].path
    one = cli("diff", unchanged_url, "--config", config, env=env)
    assert one.returncode == 1 and "only 1 version" in one.stderr

    # stats: objects and bytes, outcomes, articles per day, the last run
    stats = json.loads(cli("stats", "--config", config, "--json", "--scan", env=env, check=True).stdout)
    town = stats["sources"]["town"]
    rows = [json.loads(line) for k in keys_under(target.store, "catalog/town/")
            for line in target.store.get(k).decode().splitlines()]
    expected_objects = {k for r in rows for k in (r["raw_key"], r["meta_key"], r["clean_key"]) if k}
    assert town["objects"] == len(expected_objects)
    assert town["bytes"] == sum(o.size for o in target.store.list("raw/town/")) + sum(
        o.size for o in target.store.list("clean/town/"))
    assert town["articles"] == len(news.articles) and town["versions"] == len(news.articles) + 1
    # the second crawl stored (and catalogued) only the edited article: the others were unchanged
    assert town["extraction"]["ok"] == len(news.articles) + 1 and town["extraction"]["failed"] == 0
    # an article counts on each day a version of it was fetched: the edit's day may be the next one
    edit_days = {r["fetched_at"][:10] for r in rows if r["clean_key"] and r["final_url"] == url}
    assert sum(town["articles_per_day"].values()) == len(news.articles) + len(edit_days) - 1
    last = max(keys_under(target.store, "runs/town/"))
    assert town["last_run"]["run_id"] == last.rsplit("/", 1)[-1][:-5] and town["last_run"]["outcome"] == "ok"
    assert town["store"]["catalog"]["objects"] == 2
    text = cli("stats", "town", "--config", config, env=env, check=True).stdout
    assert "last run" in text and "ok 5" in text and "articles     4 (5 versions)" in text


def test_diff_is_colored_only_on_a_terminal(site, file_target, write_config, cli, tmp_path):
    news, config, old, edited = crawl_and_edit(site, file_target, write_config, cli, n=2)
    url = site.url + edited.path
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    proc = subprocess.Popen([*archiver_command(), "diff", url, "--config", str(config)], stdout=slave,
                            stderr=subprocess.PIPE, cwd=tmp_path, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    text = out.decode()
    assert proc.returncode == 0, proc.stderr.read()
    assert f"\x1b[32m+{EDITED}\x1b[0m" in text
    assert f"\x1b[31m-{old.paragraphs[1]}\x1b[0m" in text


def test_inspect_commands_work_with_read_only_access(site, seaweed, tmp_path, write_config, cli):
    """A reader with credentials that cannot write still lists, shows and counts."""
    from tests.conftest import make_target

    target = make_target("seaweedfs", tmp_path)
    news, config, old, edited = crawl_and_edit(site, target, write_config, cli, n=2)
    env = seaweed.read_only_env()
    url = site.url + edited.path
    assert EDITED in cli("show", url, "--text", "--config", config, env=env, check=True).stdout
    assert len(json.loads(cli("ls", "--config", config, "--json", env=env, check=True).stdout)) == 2
    denied = cli("crawl", "--config", config, env=env)
    assert denied.returncode == 3


def test_inspect_errors_are_one_line(tmp_path, write_config, cli):
    config = write_config([source("town", "http://127.0.0.1:9")], {"url": f"file://{tmp_path}/nothing"})
    proc = cli("ls", "--config", config)
    assert proc.returncode == 3 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "nothing").mkdir()
    proc = cli("ls", "--config", config)
    assert proc.returncode == 0 and "no archived articles" in proc.stdout
    proc = cli("ls", "nope", "--config", config)
    assert proc.returncode == 2 and "no source named 'nope'" in proc.stderr
    proc = cli("ls", "--since", "last tuesday", "--config", config)
    assert proc.returncode == 2 and "--since" in proc.stderr
