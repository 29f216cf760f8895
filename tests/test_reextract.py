"""archiver re-extract: the current extractor over the stored raw pages; new versions only for changed text."""

from __future__ import annotations

import hashlib
import json

import pytest

from crawler.extract import EXTRACTOR_VERSION
from tests import sitegen
from tests.conftest import keys_under, read_json, source

pytestmark = pytest.mark.slow

OLD_JUNK = "ASHEVILLE WEATHER\nCommunity News\nPinned Items\nCron Job Starts"


def age_one_article(store, url: str) -> tuple[str, str]:
    """Make one archived article look as an older, worse extractor left it: template lines in its text.

    Rewrites the clean object and its catalog row consistently (so verify still passes).
    Returns (clean key, original text).
    """
    for cat in keys_under(store, "catalog/town/"):
        rows = [json.loads(line) for line in store.get(cat).decode().splitlines()]
        for row in rows:
            if row["final_url"] == url and row["clean_key"]:
                record = read_json(store, row["clean_key"])
                original = record["text"]
                record["text"] = original + "\n" + OLD_JUNK
                record["content_sha256"] = hashlib.sha256(record["text"].encode()).hexdigest()
                record["extraction"]["extractor_version"] = "1.6.0"
                data = json.dumps(record, ensure_ascii=False, indent=1).encode()
                store.put(row["clean_key"], data)
                row.update(text_sha256=record["content_sha256"], clean_sha256=hashlib.sha256(data).hexdigest(),
                           clean_size=len(data), extractor_version="1.6.0")
                store.put(cat, ("\n".join(json.dumps(r) for r in rows) + "\n").encode())
                return row["clean_key"], original
    raise AssertionError(f"{url} not in the catalog")


def test_reextract_makes_versions_only_where_the_text_changed(site, target, write_config, cli):
    news = sitegen.serve(site, sitegen.build(3, seed=21))
    config = write_config([source("town", site.url, articles=[r"/news/\d{4}/"])], target.storage)
    cli("crawl", "--config", config, env=target.env, check=True)
    store = target.store
    url = site.url + news.articles[0].path
    old_key, original = age_one_article(store, url)
    clean_before = set(keys_under(store, "clean/"))

    dry = json.loads(cli("re-extract", "town", "--dry-run", "--json", "--config", config, env=target.env,
                         check=True).stdout)
    assert [v["url"] for v in dry["sources"][0]["new_versions"]] == [url]
    assert set(keys_under(store, "clean/")) == clean_before  # a dry run writes nothing

    proc = cli("re-extract", "town", "--config", config, env=target.env, check=True)
    assert "3 articles re-extracted, made 1 new versions, 2 unchanged" in proc.stdout
    new_keys = set(keys_under(store, "clean/")) - clean_before
    assert len(new_keys) == 1
    record = read_json(store, new_keys.pop())
    assert record["text"] == original and "Cron Job Starts" not in record["text"]
    assert record["version"] == 2 and record["previous_key"] == old_key
    assert record["extraction"]["extractor_version"] == EXTRACTOR_VERSION
    assert record["reextracted"]["from_raw_key"] == record["raw_key"] and store.exists(record["raw_key"])
    assert record["reextracted"]["previous_extractor_version"] == "1.6.0"

    # the archive's views see the new version; the catalog stays verifiable
    listing = {e["url"]: e for e in json.loads(cli("ls", "--json", "--config", config, env=target.env,
                                                   check=True).stdout)}
    assert listing[url]["versions"] == 2 and all(e["versions"] == 1 for u, e in listing.items() if u != url)
    diff = cli("diff", url, "--config", config, env=target.env, check=True).stdout
    assert "-Cron Job Starts" in diff and "-ASHEVILLE WEATHER" in diff
    assert [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")] == []
    assert cli("verify", "--config", config, env=target.env).returncode == 0

    # nothing changed since: a second pass makes nothing new
    again = json.loads(cli("re-extract", "--json", "--config", config, env=target.env, check=True).stdout)
    assert again["sources"][0]["new_versions"] == [] and again["sources"][0]["unchanged"] == 3
    assert len(keys_under(store, "clean/")) == len(clean_before) + 1


def test_reextract_never_replaces_text_with_nothing(site, file_target, write_config, cli):
    news = sitegen.serve(site, sitegen.build(2, seed=22))
    config = write_config([source("town", site.url, articles=[r"/news/\d{4}/"])], file_target.storage)
    cli("crawl", "--config", config, check=True)
    store = file_target.store
    # the raw page of one article now holds no article (as if the extractor no longer finds it)
    row = next(json.loads(line) for k in keys_under(store, "catalog/town/")
               for line in store.get(k).decode().splitlines() if news.articles[1].path in line)
    store.put(row["raw_key"], b"<html><body><nav><a href='/'>Home</a></nav></body></html>")
    out = json.loads(cli("re-extract", "--json", "--config", config, check=True).stdout)["sources"][0]
    assert out["new_versions"] == [] and [n["status"] for n in out["not_better"]] == ["empty"]
    assert out["unchanged"] == 1
