"""Keys and file paths built from hostile URLs can never leave their prefix (property tests)."""

from __future__ import annotations

import os
import posixpath
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler import keys
from crawler.spool import Spool
from crawler.store import FileStore, S3Store

HOSTILE = ["..", ".", "%2e%2e", "%2E%2E", "%2e%2e%2f", "%2F", "%252e%252e%252f", "/", "//", "\\", "..\\",
           "\x00", "%00", "\n", "\r", "\t", "\x7f", "\u202e", "\u2024\u2024", "\uff0e\uff0e", "\uff0f",
           "\u0130", "\u212a", "\u0300", "\ufeff", "~", "$HOME", "*", "?", "#", ";", "C:\\", "/etc/passwd",
           "%c0%ae%c0%ae", "..;/", "a" * 300, "\U0001f600", " ", "%20", "-", "_"]
KEY_RE = re.compile(r"^(raw|clean)/src/\d{4}/\d{2}/\d{2}/[a-z0-9-]{1,60}-[0-9a-f]{10}-[0-9a-f]{12}"
                    r"\.(html|xml|json|txt|pdf|bin)$")

fragments = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
paths = st.lists(fragments, max_size=12).map("/".join)
hostile_urls = st.one_of(
    st.text(max_size=300),
    st.builds(lambda scheme, host, path, query: f"{scheme}{host}/{path}?{query}",
              st.sampled_from(["http://", "https://", "file://", "", "//", "javascript:"]),
              st.sampled_from(["127.0.0.1:8080", "example.org", "..", "%2e%2e", "a@b", "[::1]", "[::1", "[x]y", ""]),
              paths, st.text(max_size=30)),
)
times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30),
                     timezones=st.just(timezone.utc))
sha = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
content_types = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["text/html", "../../x", "a/b\x00"]))


@settings(max_examples=400, deadline=None)
@given(url=hostile_urls, ts=times, digest=sha, ctype=content_types)
def test_keys_from_any_url_are_safe_and_stay_under_their_prefix(url, ts, digest, ctype):
    for key, prefix in ((keys.raw_key("src", url, ts, digest, ctype), "raw/src/"),
                        (keys.clean_key("src", url, ts, digest), "clean/src/")):
        assert KEY_RE.match(key), key
        assert keys.is_safe_key(key)
        assert posixpath.normpath(key) == key and key.startswith(prefix)
        assert len(key) < 160
    meta = keys.meta_key(keys.raw_key("src", url, ts, digest, ctype))
    assert keys.is_safe_key(meta)
    # deterministic: the same URL, day and content give the same key
    assert keys.raw_key("src", url, ts, digest, ctype) == keys.raw_key("src", url, ts, digest, ctype)


@settings(max_examples=300, deadline=None)
@given(url=hostile_urls)
def test_different_urls_get_different_keys(url):
    ts, digest = datetime(2026, 11, 25, tzinfo=timezone.utc), "0" * 64
    other = url + "x"
    assert keys.raw_key("src", url, ts, digest) != keys.raw_key("src", other, ts, digest)


@settings(max_examples=500, deadline=None)
@given(key=st.one_of(paths, st.text(max_size=80), st.lists(st.sampled_from(HOSTILE + ["a", "b.c"]),
                                                            min_size=1, max_size=6).map("/".join)))
def test_a_key_is_either_refused_or_a_plain_relative_path(key):
    if not keys.is_safe_key(key):
        return
    parts = key.split("/")
    assert posixpath.normpath(key) == key and not key.startswith("/")
    assert all(p not in ("", ".", "..") and not p.startswith((".", "-")) for p in parts)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", p) for p in parts)


@pytest.mark.parametrize("name", ["..", "../etc", "a/b", "", ".hidden", "a\x00", "A" * 300, "-x", "a..b"])
def test_unsafe_source_names_and_run_ids_are_refused(name):
    with pytest.raises(ValueError):
        keys.raw_key(name, "http://127.0.0.1/", datetime.now(timezone.utc), "0" * 64)
    with pytest.raises(ValueError):
        keys.run_key("src", name)
    with pytest.raises(ValueError):
        Spool("/tmp", name)


def _tree(path: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), path) for d, _, files in os.walk(path) for f in files}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.one_of(paths, st.lists(st.sampled_from(HOSTILE + ["raw", "x.html"]), min_size=1,
                                     max_size=6).map("/".join)))
def test_file_store_never_writes_outside_its_root(key):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "outside.txt").write_text("keep")
        root = base / "store"
        store = FileStore(root)
        try:
            store.put(key, b"data")
        except ValueError:
            assert not root.exists() or _tree(root) == set()
        else:
            path = (root / key).resolve()
            assert root.resolve() in path.parents and path.read_bytes() == b"data"
            assert store.get(key) == b"data" and [o.key for o in store.list("")] == [key]
        inside = {f"store/{p}" for p in _tree(root)} if root.exists() else set()
        assert _tree(base) - inside == {"outside.txt"}
        assert (base / "outside.txt").read_text() == "keep"


def test_file_store_refuses_a_symlink_that_leads_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "store"
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "src").symlink_to(outside)
    with pytest.raises(ValueError, match="escapes"):
        FileStore(root).put("raw/src/x.html", b"data")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../x", "a//b", "a/./b", "a\\..\\b", "%2e%2e/x",
                                 "a/\x00", "a/" + "b" * 300, ".hidden", "raw/.."])
def test_s3_store_refuses_unsafe_keys_before_any_request(key):
    class NoClient:
        def __getattr__(self, name):
            raise AssertionError(f"the S3 client was called ({name}) with an unsafe key")

    store = S3Store(NoClient(), "bucket", "prefix")
    with pytest.raises(ValueError, match="unsafe object key"):
        store.put(key, b"x")
    with pytest.raises(ValueError, match="unsafe object key"):
        store.get(key)
