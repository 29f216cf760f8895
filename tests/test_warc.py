"""WARC output: request, response and metadata records per page, rotation by size, decoded lengths."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests import sitegen
from tests.conftest import keys_under, make_target, read_json, source

pytestmark = pytest.mark.slow


def warcio_cli() -> list[str]:
    script = Path(sys.executable).with_name("warcio")
    return [str(script)] if script.exists() else [sys.executable, "-m", "warcio.cli"]


@pytest.mark.parametrize("kind", ["file", "seaweedfs"])
def test_crawl_writes_valid_rotated_warc_files(kind, site, tmp_path, write_config, cli):
    target = make_target(kind, tmp_path)
    news = sitegen.serve(site, sitegen.build(6, seed=31))
    gz = news.articles[2]
    # a compressed answer: Scrapy decodes it, the WARC record must describe the decoded body
    site.route(gz.path, lambda req: req.gzip(sitegen.article_html(gz).encode()))
    config = write_config([source("town", site.url, articles=[r"/news/\d{4}/"], warc=True,
                                  warc_max_bytes=8192, user_agent="archiver-test/1.0")], target.storage)
    cli("crawl", "--config", config, env=target.env, check=True)
    store = target.store

    run = read_json(store, keys_under(store, "runs/town/")[0])
    warc_keys = keys_under(store, "warc/town/")
    assert len(warc_keys) >= 2, warc_keys  # rotated by size
    run_id = run["run_id"]
    assert f"{run_id}.warc.gz" in {k.rsplit("/", 1)[-1] for k in warc_keys}
    assert f"{run_id}.002.warc.gz" in {k.rsplit("/", 1)[-1] for k in warc_keys}
    assert run["counts"]["warc_files"] == len(warc_keys)

    local = []
    for key in warc_keys:
        path = tmp_path / key.rsplit("/", 1)[-1]
        path.write_bytes(store.get(key))
        local.append(path)
    check = subprocess.run([*warcio_cli(), "check", "-v", *map(str, local)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    index = subprocess.run([*warcio_cli(), "index", "-f", "warc-type,warc-target-uri,length,offset",
                            *map(str, local)], capture_output=True, text=True)
    assert index.returncode == 0, index.stderr
    indexed = [json.loads(line) for line in index.stdout.splitlines()]
    types = [e["warc-type"] for e in indexed]
    assert types.count("warcinfo") == len(local)
    assert types.count("response") == types.count("request") == types.count("metadata") == run["counts"]["raw_archived"]

    rows = {r["final_url"]: r for k in keys_under(store, "catalog/town/")
            for r in map(json.loads, store.get(k).decode().splitlines())}
    responses, requests, metadata = {}, {}, {}
    for path in local:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                assert record.rec_headers.protocol == "WARC/1.1"
                uri = record.rec_headers.get_header("WARC-Target-URI")
                if record.rec_type == "response":
                    responses[uri] = (record.http_headers, record.content_stream().read(), path.name)
                elif record.rec_type == "request":
                    requests[uri] = record.http_headers
                elif record.rec_type == "metadata":
                    metadata[uri] = record.content_stream().read().decode()
    assert set(responses) == set(rows)
    for url, (headers, body, file_name) in responses.items():
        row = rows[url]
        assert body == store.get(row["raw_key"])  # the same bytes as raw/
        assert int(headers.get_header("Content-Length")) == len(body)
        assert headers.get_header("Content-Encoding") is None
        assert row["warc_key"].endswith(file_name)
        assert requests[url].get_header("User-Agent") == "archiver-test/1.0"
        assert f"raw-key: {row['raw_key']}" in metadata[url]
    gz_headers = responses[site.url + gz.path][0]
    wire = len(gzip.compress(sitegen.article_html(gz).encode()))
    assert int(gz_headers.get_header("X-Archiver-Original-Content-Length")) == wire
    assert int(gz_headers.get_header("Content-Length")) == len(sitegen.article_html(gz).encode()) > wire
    assert responses[site.url + gz.path][1] == sitegen.article_html(gz).encode()
    # nothing left behind in the local temporary folder
    assert not any((tmp_path / "spool" / ".warc-tmp").glob("*/*"))


def test_warc_is_off_unless_asked(site, file_target, write_config, cli):
    sitegen.serve(site, sitegen.build(2, seed=32))
    config = write_config([source("town", site.url)], file_target.storage)
    cli("crawl", "--config", config, check=True)
    assert keys_under(file_target.store, "warc/") == []


def test_response_headers_describe_the_decoded_body():
    from datetime import datetime, timezone

    from crawler.records import FetchedPage
    from crawler.warc import response_headers

    page = FetchedPage(source="t", url="http://x/", final_url="http://x/", status=200,
                       headers={"content-type": ["text/html"], "content-encoding": ["br"],
                                "transfer-encoding": ["chunked"], "content-length": ["12"],
                                "set-cookie": ["a=1", "b=2"]},
                       body=b"<html>decoded body</html>", fetched_at=datetime.now(timezone.utc), is_article=True)
    h = response_headers(page)
    assert h.statusline == "200 OK" and h.protocol == "HTTP/1.1"
    assert h.get_header("Content-Length") == str(len(page.body))
    assert h.get_header("Content-Encoding") is None and h.get_header("Transfer-Encoding") is None
    assert h.get_header("X-Archiver-Original-Content-Encoding") == "br"
    assert h.get_header("X-Archiver-Original-Transfer-Encoding") == "chunked"
    assert h.get_header("X-Archiver-Original-Content-Length") == "12"
    assert [v for k, v in h.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
