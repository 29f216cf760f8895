"""Secrets never reach logs, errors, run records or stored objects."""

from __future__ import annotations

import gzip
import secrets
from pathlib import Path

import pytest

from crawler.secrets import mask
from tests import sitegen
from tests.conftest import make_target, source


@pytest.mark.parametrize("text,secret", [
    ("GET https://news.example.org/feed?token=s3cr3t-t0ken&page=2", "s3cr3t-t0ken"),
    ("https://news.example.org/?api_key=k3y-valu3", "k3y-valu3"),
    ("https://news.example.org/?access_token=abc123def", "abc123def"),
    ("https://news.example.org/?key=AIzaSyD-maps", "AIzaSyD-maps"),
    ("https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIA/x&X-Amz-Signature=0ff1ce", "0ff1ce"),
    ("https://reader:hunter2-pw@news.example.org/private/", "hunter2-pw"),
    ("invalid hostname: reader:hunter2-pw@127.0.0.1", "hunter2-pw"),
    ("Authorization: Basic cmVhZGVyOmh1bnRlcjI=", "cmVhZGVyOmh1bnRlcjI="),
    ("the value is wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("feed https://x.org/f?auth=${value}", "tok-from-env-42"),
])
def test_mask(text, secret):
    env = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "NEWS_API_TOKEN": "tok-from-env-42"}
    text = text.replace("${value}", env["NEWS_API_TOKEN"])
    masked = mask(text, env=env)
    assert secret not in masked and "***" in masked


def test_mask_leaves_ordinary_text_alone():
    text = "GET https://news.example.org/news/?page=2&keyword=river&sort=new took 1.2s"
    assert mask(text, env={"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI"}) == text


def test_credentials_in_source_urls_are_refused_with_the_password_masked(write_config, cli, tmp_path):
    config = write_config([source("town", "http://reader:hunter2-pw@127.0.0.1:9")],
                          {"url": f"file://{tmp_path}/archive"})
    proc = cli("validate", "--config", config)
    assert proc.returncode == 2
    assert "user:password@ in a URL is not supported" in proc.stderr
    assert "hunter2-pw" not in proc.stderr + proc.stdout


@pytest.mark.slow
def test_a_crawl_leaks_no_secret_anywhere(site, write_config, cli, tmp_path):
    """A crawl into real S3 with secrets in the environment and in URLs, at debug log level:
    the secrets are in no stored object, no run record, no spool file and no output."""
    target = make_target("seaweedfs", tmp_path)
    token = "tok-" + secrets.token_hex(8)          # a site token from the environment, in a query string
    literal = "lit-" + secrets.token_hex(8)        # a token written literally in the config
    news = sitegen.build(3, seed=11)
    sitegen.serve(site, news)
    site.redirect("/go/", f"/news/?token={token}", 302)   # the token ends up in redirect chains too
    site.page("/private/feed.xml", sitegen.feed_xml(site.url, news.articles), "application/rss+xml")
    config = write_config([source(
        "town", site.url, max_depth=1, warc=True,
        start_urls=[f"{site.url}/go/?access_token=${{NEWS_SITE_TOKEN}}", f"{site.url}/missing/?api_key={literal}"],
        feeds=[f"{site.url}/private/feed.xml?token=${{NEWS_SITE_TOKEN}}", f"{site.url}/gone.xml?auth={literal}"])],
        target.storage)
    env = {**target.env, "NEWS_SITE_TOKEN": token}
    proc = cli("--log-level", "debug", "crawl", "--config", config, env=env, check=True)
    proc_json = cli("crawl", "--config", config, "--json", env=env, check=True)

    aws_secret = target.env["AWS_SECRET_ACCESS_KEY"]
    leaks = {"AWS secret": aws_secret, "env token": token, "literal token": literal}
    assert any(token in r.path for r in site.requests), "the token was really used"
    stored = [o.key for o in target.store.list("")]
    assert any(k.startswith("runs/") for k in stored) and any(k.startswith("clean/") for k in stored)
    texts = {f"object {k}": target.store.get(k) for k in stored}
    assert any(k.startswith("warc/") for k in stored)
    for key in [k for k in texts if k.endswith(".gz")]:  # search inside compressed objects (WARC)
        texts[key + " (decompressed)"] = gzip.decompress(texts[key])
    texts["stdout"] = (proc.stdout + proc_json.stdout).encode()
    texts["stderr"] = (proc.stderr + proc_json.stderr).encode()
    for path in Path(target.storage["spool_dir"]).rglob("*") if Path(target.storage["spool_dir"]).exists() else []:
        if path.is_file():
            texts[f"spool {path}"] = path.read_bytes()
    for where, data in texts.items():
        for what, value in leaks.items():
            assert value.encode() not in data, f"{what} leaked into {where}"
    # and the masked URLs are still there to read
    runs = [texts[f"object {k}"].decode() for k in stored if k.startswith("runs/")]
    assert any("api_key=***" in r for r in runs)
    sidecars = [texts[f"object {k}"].decode() for k in stored if k.endswith(".meta.json")]
    assert any("access_token=***" in s or "token=***" in s for s in sidecars)
