"""archiver verify (fixity against the catalog) and archiver export, as a user runs them."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests import sitegen
from tests.conftest import keys_under, source

pytestmark = pytest.mark.slow


def crawl(site, target, write_config, cli, n=3, edit=False):
    news = sitegen.serve(site, sitegen.build(n, seed=11))
    config = write_config([source("town", site.url, articles=[r"/news/\d{4}/"])], target.storage)
    cli("crawl", "--config", config, env=target.env, check=True)
    if edit:
        a = news.articles[0]
        a.paragraphs[0] = "Late on Friday the county released a revised budget with new bridge money."
        site.page(a.path, sitegen.article_html(a))
        cli("crawl", "--config", config, env=target.env, check=True)
    return news, config


def test_verify_detects_a_deleted_and_a_corrupted_object(site, target, write_config, cli):
    news, config = crawl(site, target, write_config, cli)
    store = target.store
    ok = cli("verify", "--config", config, env=target.env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    n_objects = len(keys_under(store, "raw/")) + len(keys_under(store, "clean/"))
    assert f"checked {n_objects} objects" in ok.stdout and "0 missing, 0 corrupted" in ok.stdout

    clean = sorted(keys_under(store, "clean/town/"))
    raw = sorted(k for k in keys_under(store, "raw/town/") if not k.endswith(".meta.json"))
    store.delete(raw[0])
    data = bytearray(store.get(clean[0]))
    data[len(data) // 2] ^= 0x20  # one flipped bit, same size
    store.put(clean[0], bytes(data))
    bad = cli("verify", "town", "--config", config, env=target.env)
    assert bad.returncode == 1
    assert f"MISSING  {raw[0]}: not in the store" in bad.stdout
    assert f"CORRUPTED  {clean[0]}: sha256" in bad.stdout
    assert "1 missing, 1 corrupted" in bad.stdout and "Traceback" not in bad.stderr
    report = json.loads(cli("verify", "--config", config, "--json", env=target.env).stdout)
    assert report["missing"] == 1 and report["corrupted"] == 1 and report["ok"] == n_objects - 2
    assert {p["key"] for p in report["problems"]} == {raw[0], clean[0]}

    # a truncated object is caught by its size; a damaged catalog line is reported too
    store.put(clean[1], store.get(clean[1])[:-10])
    cat = keys_under(store, "catalog/town/")[0]
    store.put(cat, store.get(cat) + b'{"truncated": \n')
    report = json.loads(cli("verify", "--config", config, "--json", env=target.env).stdout)
    assert report["corrupted"] == 2 and report["bad_catalog_lines"] == 1
    sized = [p for p in report["problems"] if p["key"] == clean[1]][0]
    assert sized["detail"].startswith("size ")


def test_verify_uses_the_newest_row_for_a_key_written_again(site, file_target, write_config, cli):
    """A re-crawl the same day rewrites the sidecars: that is not corruption."""
    news, config = crawl(site, file_target, write_config, cli, n=2, edit=True)
    proc = cli("verify", "--config", config)
    assert proc.returncode == 0, proc.stdout
    assert len(keys_under(file_target.store, "catalog/town/")) == 2


def test_export_jsonl_csv_parquet(site, file_target, write_config, cli, tmp_path):
    news, config = crawl(site, file_target, write_config, cli, n=3, edit=True)
    every = [json.loads(line) for line in
             cli("export", "town", "--config", config, check=True).stdout.splitlines()]
    assert len(every) == 4  # three articles, one of them in two versions
    edited = [r for r in every if r["final_url"].endswith(news.articles[0].path)]
    assert [r["version"] for r in edited] == [1, 2]
    assert "Late on Friday" in edited[1]["text"] and "Late on Friday" not in edited[0]["text"]
    latest = [json.loads(line) for line in
              cli("export", "town", "--latest", "--config", config, check=True).stdout.splitlines()]
    assert len(latest) == 3 and all(r["title"] and r["text"] and r["clean_key"] for r in latest)
    assert {r["text"] for r in latest} >= {edited[1]["text"]}

    out = tmp_path / "town.csv"
    proc = cli("export", "town", "--format", "csv", "--out", out, "--config", config, check=True)
    assert "exported 4 articles" in proc.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 4 and rows[0]["source"] == "town" and "\n" in max((r["text"] for r in rows), key=len)

    duckdb = pytest.importorskip("duckdb")
    parquet = tmp_path / "town.parquet"
    proc = cli("export", "town", "--format", "parquet", "--out", parquet, "--latest", "--config", config,
               check=True)
    assert "Parquet via duckdb" in proc.stderr
    got = duckdb.connect().execute(f"SELECT title, version, text FROM '{parquet}' ORDER BY title").fetchall()
    assert len(got) == 3 and sorted(r[0] for r in got) == sorted(r["title"] for r in latest)
    assert cli("export", "town", "--format", "parquet", "--config", config).returncode == 2
