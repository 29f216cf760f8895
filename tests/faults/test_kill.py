"""A crawl killed with SIGKILL (a machine dying, the OOM killer): no partial object is ever
visible, the next run completes the work, nothing is archived twice."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.conftest import make_target
from tests.faults.audit import audit
from tests.faults.conftest import GatedNews, raw_objects, s3_storage, source, wait_until

pytestmark = pytest.mark.slow

INCOMPLETE = ("without its .meta.json sidecar", "sidecar without its raw object", "is missing",
              "which is not in the store")


def assert_no_partial_object(store) -> None:
    """Every object visible is whole; a killed run may leave pairs incomplete, never an object cut short."""
    archive = audit(store)
    broken = [p for p in archive.problems if not any(s in p for s in INCOMPLETE)]
    assert not broken, broken


def assert_completed(store, urls: set[str], *, clean_per_url: bool = True) -> None:
    archive = audit(store)
    archive.assert_sound(clean_per_url=clean_per_url)  # whole, consistent, and nothing archived twice
    assert urls <= set(archive.clean_per_url())


# the folder store runs with the template learner on (its warm-up holds pages back: a kill then
# leaves raw copies without clean ones), S3 with deterministic extraction
@pytest.mark.parametrize("kind,learn", [("file", True), ("seaweedfs", False)])
def test_sigkill_mid_run_leaves_no_partial_object_and_the_next_run_completes(
        kind, learn, site, write_config, background, cli, tmp_path):
    target = make_target(kind, tmp_path)
    gated = GatedNews(site, 16, free=None, seed=51, pad=20_000)
    config = write_config([source("town", site.url, extract={"learn_template": learn})],
                          target.storage)
    crawl = background("crawl", "--config", config, env=target.env)
    wait_until(lambda: len(raw_objects(target.store)) >= 5, what="five pages stored")
    crawl.kill_all()                       # mid-write, as likely as not

    assert_no_partial_object(target.store)
    if kind == "file":  # on disk: listed, whole objects, and at most hidden temp files of cut writes
        listed = {o.key for o in target.store.list("")}
        files = {str(p.relative_to(tmp_path / "archive")) for p in (tmp_path / "archive").rglob("*") if p.is_file()}
        others = {f for f in files - listed if not f.rsplit("/", 1)[-1].startswith(".")}
        assert not others, others
        assert all(f.endswith(".tmp") for f in files - listed if not f.startswith("state/")), files - listed
    cli("crawl", "--config", config, env=target.env, check=True)
    assert_completed(target.store, gated.urls(), clean_per_url=not learn)


def test_the_crawl_process_killed_is_recorded_and_the_next_run_completes(
        site, file_target, write_config, background, cli):
    gated = GatedNews(site, 14, free=4, seed=52)
    config = write_config([source("town", site.url)], file_target.storage)
    crawl = background("crawl", "--config", config)
    wait_until(lambda: gated.waiting.is_set() and len(list(file_target.store.list("clean/"))) >= 4,
               what="four pages archived")
    os.kill(crawl.crawl_pid(), signal.SIGKILL)   # the OOM killer takes the crawl process only
    gated.open()
    code, output = crawl.wait()
    assert code == 1 and " crashed " in output and "signal SIGKILL" in output, output

    archive = audit(file_target.store)
    (record,) = archive.runs.values()
    assert record["outcome"] == "crashed" and record["message"] == "crawl process exited with signal SIGKILL"
    assert record["counts"].get("raw_archived", 0) >= 1, record  # the child's last progress report (at most 1 s old)

    cli("crawl", "--config", config, check=True)
    assert_completed(file_target.store, gated.urls())
    archive = audit(file_target.store)
    assert sorted(r["outcome"] for r in archive.runs.values()) == ["crashed", "ok"]
    # the killed run's catalog rows were kept on disk and stored by the next run
    assert any(rows and rows[0]["run_id"] == record["run_id"] for rows in archive.catalog.values())


def test_a_put_cut_off_by_a_kill_never_appears_in_s3(seaweed, site, proxy_for, write_config, background,
                                                     cli, tmp_path):
    proxy = proxy_for(seaweed.endpoint)
    storage, store = s3_storage(seaweed, proxy.url, spool=tmp_path / "spool")
    gated = GatedNews(site, 10, free=3, seed=53, pad=20_000)
    config = write_config([source("town", site.url)], storage)
    crawl = background("crawl", "--config", config, env=seaweed.env())
    wait_until(lambda: gated.waiting.is_set() and len(raw_objects(store)) >= 3, what="three pages stored")
    proxy.stall_put()                      # the next PUT sends half its body, then hangs
    gated.open()
    wait_until(proxy.stalled.is_set, what="a PUT cut half-way")
    cut = next(r for r in reversed(proxy.requests) if r.injected and r.method == "PUT")
    key = cut.path.split("/archive/", 1)[1]
    crawl.kill_all()
    proxy.release()                        # the server sees half an object and a reset
    time.sleep(0.5)
    assert not store.exists(key), f"half of {key} became visible"
    assert_no_partial_object(store)

    cli("crawl", "--config", config, env=seaweed.env(), check=True)
    assert store.exists(key)
    assert_completed(store, gated.urls())
