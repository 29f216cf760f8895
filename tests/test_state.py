"""The incremental state in each real store: compare-and-swap, shards, several writers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from crawler.state import SourceState, StateError, article_history, merge_article, shard_name
from tests.conftest import keys_under
from crawler.store import KeyNotFound

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def test_swap_is_compare_and_swap(target):
    store = target.store
    first = store.swap("state/t/x.json", b"one", expected=None)
    assert first
    assert store.swap("state/t/x.json", b"again", expected=None) is None      # exists already
    data, version = store.get_versioned("state/t/x.json")
    assert (data, version) == (b"one", first)
    second = store.swap("state/t/x.json", b"two", expected=version)
    assert second and second != first
    assert store.swap("state/t/x.json", b"stale", expected=first) is None     # someone wrote since
    assert store.get("state/t/x.json") == b"two"
    assert store.swap("state/t/missing.json", b"x", expected=first) is None   # If-Match on nothing
    with pytest.raises(KeyNotFound):
        store.get_versioned("state/t/missing.json")
    assert [o.key for o in store.list("state/t/")] == ["state/t/x.json"]      # no lock files listed


def same_shard_urls(n: int) -> list[str]:
    """``n`` URLs that land in one shard, so two writers really collide."""
    urls, want = [], None
    i = 0
    while len(urls) < n:
        url = f"http://news.example/story-{i}/"
        i += 1
        if want is None:
            want = shard_name(url)
        if shard_name(url) == want:
            urls.append(url)
    return urls


def fetch(state: SourceState, url: str, at: datetime, sha: str = "a" * 64) -> None:
    state.record_fetch(url, at=at, status=200, headers={"etag": ['"e1"']}, sha=sha, raw=f"raw/t/{sha}.html")


def test_state_round_trip_in_shards(target):
    state = SourceState.load(target.store, "town")
    assert len(state.urls) == 0
    urls = [f"http://news.example/s{i}/" for i in range(40)]
    for i, url in enumerate(urls):
        fetch(state, url, T0, sha=f"{i:064x}")
    state.link_article(urls[0], "http://news.example/s0/", at=T0, published="2026-11-20")
    state.add_version("http://news.example/s0/", {"v": 1, "key": "clean/t/s0.json", "fp": "f1", "at": "x"})
    report = state.save()
    assert report.errors == [] and report.conflicts == 0
    keys = [o.key for o in target.store.list("state/town/")]
    assert len([k for k in keys if k.startswith("state/town/urls/")]) == len({shard_name(u) for u in urls})
    assert keys == sorted(keys) and all(k.endswith(".json") for k in keys)
    assert state.save().written == 0  # nothing changed, nothing written

    again = SourceState.load(target.store, "town")
    assert len(again.urls) == 40 and len(again.articles) == 1
    assert again.url(urls[3])["etag"] == '"e1"' and again.url(urls[3])["sha"] == f"{3:064x}"
    assert again.raw_for_sha(f"{5:064x}") == f"raw/t/{5:064x}.html"
    assert again.raw_for_sha("f" * 64) is None
    history = article_history(target.store, "town", urls[0] + "?utm_source=feed")
    assert [v.key for v in history.versions] == ["clean/t/s0.json"]
    assert article_history(target.store, "town", "http://news.example/unknown/") is None


def test_two_writers_lose_no_update(target):
    """Two workers load the same shard, change different and the same entries, save in turn."""
    a_url, b_url, both = same_shard_urls(3)
    setup = SourceState.load(target.store, "town")
    fetch(setup, both, T0)
    setup.add_version("http://news.example/art/", {"v": 1, "key": "clean/v1.json", "fp": "f1", "at": "1"})
    setup.save()

    one = SourceState.load(target.store, "town")
    two = SourceState.load(target.store, "town")
    fetch(one, a_url, T0 + timedelta(minutes=1))
    fetch(one, both, T0 + timedelta(minutes=5), sha="b" * 64)      # later check: wins
    one.add_version("http://news.example/art/", {"v": 2, "key": "clean/v2a.json", "fp": "f2", "at": "2"})
    fetch(two, b_url, T0 + timedelta(minutes=2))
    fetch(two, both, T0 + timedelta(minutes=3), sha="c" * 64)
    two.add_version("http://news.example/art/", {"v": 2, "key": "clean/v2b.json", "fp": "f3", "at": "3"})
    assert one.save().conflicts == 0
    report = two.save()
    assert report.errors == [] and report.conflicts >= 1

    final = SourceState.load(target.store, "town")
    assert final.url(a_url) and final.url(b_url)
    assert final.url(both)["sha"] == "b" * 64
    keys = [v["key"] for v in final.article("http://news.example/art/")["versions"]]
    assert keys == ["clean/v1.json", "clean/v2a.json", "clean/v2b.json"]
    # the second writer's memory now holds the merged shard, and its next save needs no merge
    assert two.url(a_url) is not None
    fetch(two, b_url, T0 + timedelta(minutes=9))
    assert two.save().conflicts == 0


def test_changes_made_while_a_checkpoint_is_written_stay_dirty(file_target):
    state = SourceState.load(file_target.store, "town")
    fetch(state, "http://news.example/a/", T0)
    snaps = state.snapshot()
    fetch(state, "http://news.example/a/", T0 + timedelta(minutes=1), sha="d" * 64)  # during the write
    state.apply(state.write(snaps))
    assert state.dirty
    state.save()
    assert SourceState.load(file_target.store, "town").url("http://news.example/a/")["sha"] == "d" * 64


def test_a_corrupt_state_object_is_a_clear_error(file_target):
    file_target.store.put("state/town/urls/ab.json", b"{not json")
    with pytest.raises(StateError, match="state/town/urls/ab.json is not a valid urls state object"):
        SourceState.load(file_target.store, "town")


def test_merge_article_keeps_every_version_in_order():
    ours = {"checked": "2026-11-25T10:00:00Z", "versions": [{"v": 1, "key": "k1", "at": "a"},
                                                            {"v": 2, "key": "k2", "at": "c"}], "urls": ["u1"]}
    theirs = {"checked": "2026-11-25T11:00:00Z", "versions": [{"v": 1, "key": "k1", "at": "a"},
                                                              {"v": 2, "key": "k3", "at": "b"}], "urls": ["u2"]}
    merged = merge_article(ours, theirs)
    assert [v["key"] for v in merged["versions"]] == ["k1", "k3", "k2"]
    assert merged["urls"] == ["u1", "u2"] and merged["checked"] == theirs["checked"]
    assert json.dumps(merged)


class FailingShards:
    """A real folder store whose compare-and-swap writes to some shards fail (a full disk, say)."""

    def __init__(self, store, failing: set):
        self.store, self.failing = store, failing

    def __getattr__(self, name):
        return getattr(self.store, name)

    def swap(self, key, data, **kw):
        from crawler.store import StoreError

        if any(key.endswith(f"/{name}.json") for name in self.failing):
            raise StoreError("disk_full", f"cannot write {key}: No space left on device")
        return self.store.swap(key, data, **kw)


def test_a_save_that_fails_half_way_leaves_the_state_marked_incomplete(file_target):
    listing, article = "http://news.example/news/", same_shard_urls(1)[0]
    while shard_name(listing) == shard_name(article):
        listing += "x/"
    broken = FailingShards(file_target.store, {shard_name(article)})
    state = SourceState.load(broken, "town")
    fetch(state, listing, T0, sha="1" * 64)
    fetch(state, article, T0, sha="2" * 64)
    report = state.save()
    assert report.errors and report.written >= 1       # the listing's shard made it, the article's not
    assert keys_under(file_target.store, "state/town/saving/")

    healing = SourceState.load(file_target.store, "town")
    assert healing.incomplete and healing.url(listing) and healing.url(article) is None
    fetch(healing, article, T0 + timedelta(hours=1), sha="2" * 64)
    assert healing.save().errors == []
    assert keys_under(file_target.store, "state/town/saving/") == []
    assert not SourceState.load(file_target.store, "town").incomplete


def test_nothing_is_written_when_the_save_marker_cannot_be(file_target):
    class NoMarker(FailingShards):
        def put(self, key, data, **kw):
            from crawler.store import StoreError

            raise StoreError("unreachable", "cannot reach the store")

    state = SourceState.load(NoMarker(file_target.store, set()), "town")
    fetch(state, "http://news.example/a/", T0)
    report = state.save()
    assert report.errors and report.written == 0 and state.dirty
    assert keys_under(file_target.store, "state/") == []


def test_an_unchanged_check_is_written_only_when_the_stored_one_is_old(file_target):
    url = "http://news.example/a/"
    state = SourceState.load(file_target.store, "town")
    fetch(state, url, T0)
    state.save()
    again = SourceState.load(file_target.store, "town")
    again.record_unchanged(url, at=T0 + timedelta(hours=1), status=304)
    assert again.url(url)["checked"] == "2026-11-25T13:00:00.000Z"  # decisions in the run see it
    assert not again.dirty and again.save().written == 0            # but it costs no write
    again.record_unchanged(url, at=T0 + timedelta(hours=7), status=304)
    assert again.dirty and again.save().written == 1
    assert SourceState.load(file_target.store, "town").url(url)["checked"] == "2026-11-25T19:00:00.000Z"
    # any other change is written at once
    again.record_unchanged(url, at=T0 + timedelta(hours=8), status=304, headers={"etag": ['"e2"']})
    assert again.dirty
