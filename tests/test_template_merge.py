"""Several writers learning one source's template model, in each real store: no page lost or counted twice."""

from __future__ import annotations

import boto3
from botocore.config import Config

from crawler.archive import Archiver
from crawler.extraction.template import STALE_RUNS, TemplateModel, url_id
from crawler.spool import Spool
from crawler.store import FileStore, S3Store
from crawler.state import MAX_SWAP_ATTEMPTS
from crawler.template_merge import Learning, replay
from crawler.template_state import current_model, load_model, open_learner, save_learner
from tests.conftest import keys_under
from tests.servers.ports import free_ports

NAV, FOOT = "nav-fp", "footer-fp"


def page(n: int) -> tuple[str, list[str]]:
    return f"http://town.test/news/{n}/", [NAV, FOOT, f"body-{n}"]


def archiver_for(store, tmp_path, name: str = "spool") -> Archiver:
    return Archiver(store, Spool(tmp_path / name, "town"))


def test_two_learners_count_every_page_once(target, tmp_path):
    store = target.store
    # a model some runs old: a block last seen at run 1 is one run away from being forgotten
    base = TemplateModel(source="town", runs=STALE_RUNS)
    base.learn(*page(0))
    base.blocks["aging-fp"] = [1, 1]
    assert store.swap("state/town/template.json", base.to_json(), expected=None)

    one, two = open_learner(store, "town"), open_learner(store, "town")
    for n in (1, 2, 9):
        one.learn(*page(n))
    for n in (3, 9):           # page 9 is learned by both writers
        two.learn(*page(n))
    two.learn(*page(0))        # a page the stored model knows already
    first = save_learner(archiver_for(store, tmp_path), one, "run-one")
    second = save_learner(archiver_for(store, tmp_path), two, "run-two")
    assert first == {"template_saved": 1}
    assert second["template_saved"] == 1 and second["template_conflicts_merged"] >= 1

    final = load_model(store, "town")
    assert final.pages == 5                                  # pages 0, 1, 2, 3, 9, each once
    assert final.seen_on(NAV) == final.seen_on(FOOT) == 5
    assert {final.seen_on(f"body-{n}") for n in (0, 1, 2, 3, 9)} == {1}
    assert set(final.urls) == {url_id(page(n)[0]) for n in (0, 1, 2, 3, 9)}
    # two runs that loaded the same model close one run between them: nothing ages out early
    assert final.runs == STALE_RUNS + 1 and "aging-fp" in final.blocks
    assert {NAV, FOOT} <= final.template()
    assert not keys_under(store, "state/town/template-learning/")


def test_replay_onto_a_reset_model_keeps_the_pages_fresh():
    learning = Learning("town", closing=80)
    for n in (1, 2):
        learning.add(url_id(page(n)[0]), page(n)[1])
    merged = replay(TemplateModel(source="town"), learning)  # the stored model was removed meanwhile
    assert merged.pages == 2 and merged.runs == 81 and merged.seen_on(NAV) == 2
    again = replay(merged, Learning.from_json(learning.to_json()))  # folding it twice counts nothing twice
    assert again.pages == 2 and again.seen_on(NAV) == 2 and again.runs == 81


def test_learning_not_stored_is_spooled_then_folded_by_the_next_run(file_target, tmp_path):
    store = file_target.store
    learner = open_learner(store, "town")
    for n in range(1, 5):
        learner.learn(*page(n))
    # the store is down when the run ends: nothing listens on this loopback port
    down = S3Store(boto3.client("s3", endpoint_url=f"http://127.0.0.1:{free_ports(1)[0]}",
                                region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y",
                                config=Config(connect_timeout=1, retries={"max_attempts": 1})), "b", "archive")
    counts = save_learner(archiver_for(down, tmp_path), learner, "run-down")
    assert counts == {"template_learning_spooled": 1}
    assert load_model(store, "town").pages == 0

    # the store is back: the next run uploads its spool, then folds the learning into the model
    assert archiver_for(store, tmp_path).flush_spool() == 1
    assert len(keys_under(store, "state/town/template-learning/")) == 1
    assert current_model(store, "town").pages == 4   # what `archiver extract --source` applies
    nxt = open_learner(store, "town")
    assert nxt.model.pages == 4
    nxt.learn(*page(5))
    nxt.learn(*page(2))        # seen again: still one page
    assert save_learner(archiver_for(store, tmp_path), nxt, "run-next") == {"template_saved": 1}
    final = load_model(store, "town")
    assert final.pages == 5 and final.seen_on(NAV) == 5 and final.runs == 1
    assert not keys_under(store, "state/town/template-learning/")


class RivalledStore(FileStore):
    """A folder store where another writer stores the model right after each read of it."""

    def get_versioned(self, key: str):
        data, version = super().get_versioned(key)
        rival = TemplateModel.from_json(data, "town")
        rival.learn(*page(100 + rival.pages))
        assert super().swap(key, rival.to_json(), expected=version)
        return data, version


def test_a_writer_that_keeps_losing_keeps_its_learning_for_the_next_run(tmp_path):
    store = RivalledStore(tmp_path / "archive")
    assert store.swap("state/town/template.json", TemplateModel(source="town").to_json(), expected=None)
    learner = open_learner(store, "town")   # the rival stores the model at once: our version is stale
    learner.learn(*page(1))
    counts = save_learner(archiver_for(store, tmp_path), learner, "run-lost")
    assert counts == {"template_conflicts_merged": MAX_SWAP_ATTEMPTS, "template_learning_pending": 1}
    plain = FileStore(tmp_path / "archive")
    stored = load_model(plain, "town")
    assert stored.pages == MAX_SWAP_ATTEMPTS + 1  # every rival write kept, ours not in it (yet)
    assert url_id(page(1)[0]) not in stored.urls
    assert len(keys_under(plain, "state/town/template-learning/")) == 1

    nxt = open_learner(plain, "town")       # the next run folds it in
    assert save_learner(archiver_for(plain, tmp_path), nxt, "run-next") == {"template_saved": 1}
    assert load_model(plain, "town").pages == MAX_SWAP_ATTEMPTS + 2
    assert not keys_under(plain, "state/town/template-learning/")
