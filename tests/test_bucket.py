"""`serve --create-bucket`: the bucket (or folder) is made when missing, against a real S3 server."""

from __future__ import annotations

import secrets

import pytest

from crawler.config import StorageSettings
from crawler.store import StoreError
from jobs.bucket import ensure_bucket
from tests.servers.ports import free_ports


def test_a_missing_bucket_is_created_and_an_existing_one_kept(seaweed, monkeypatch):
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)
    bucket = "t-" + secrets.token_hex(6)
    storage = StorageSettings(url=f"s3://{bucket}/news", endpoint_url=seaweed.endpoint, addressing_style="path")
    assert ensure_bucket(storage, wait_s=0) == "created"
    seaweed.client().head_bucket(Bucket=bucket)
    assert ensure_bucket(storage, wait_s=0) == "exists"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(StoreError) as err:
        ensure_bucket(storage, wait_s=30)  # wrong credentials fail at once, no waiting
    assert err.value.kind == "auth"


def test_a_folder_store_is_made(tmp_path):
    storage = StorageSettings(url=f"file://{tmp_path / 'deep' / 'archive'}")
    assert ensure_bucket(storage, wait_s=0) == "created"
    assert (tmp_path / "deep" / "archive").is_dir()
    assert ensure_bucket(storage, wait_s=0) == "exists"


def test_an_endpoint_that_never_answers_is_waited_for_then_reported(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-secret")
    port = free_ports(1)[0]  # nothing listens there
    storage = StorageSettings(url="s3://archive/news", endpoint_url=f"http://127.0.0.1:{port}",
                              addressing_style="path", retries=0, connect_timeout=1)
    now = [0.0]
    waits = []

    def sleep(s):
        waits.append(s)
        now[0] += s
    with pytest.raises(StoreError) as err:
        ensure_bucket(storage, wait_s=3, sleep=sleep, clock=lambda: now[0])
    assert err.value.kind == "unreachable" and len(waits) == 3
