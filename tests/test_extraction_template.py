"""Template learning: blocks a source repeats are cut, text unique to a page never is."""

from __future__ import annotations

import html
import random

import pytest
import trafilatura

from crawler.archive import Archiver
from crawler.extract import ExtractOptions, extract, page_fingerprints
from crawler.extraction.template import TemplateModel, min_pages
from crawler.template_state import TemplateLearner, load_model, open_learner, save_learner
from crawler.spool import Spool
from crawler.store import FileStore
from tests import newsset
from tests.conftest import keys_under, read_json, source

# furniture no generic rule knows: only repetition across pages gives it away
HOUSE_LINES = ["Valley Ledger Radio is live now", "Skyline Rotary raffle tickets at the front desk",
               "Tides today 4:12 and 16:40", "Letters policy: we print one letter per writer per month"]


def house_page(i: int, paragraphs: list[str], tide: str = "4:12 and 16:40") -> str:
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    house = "".join(f"<p>{html.escape(line)}</p>" for line in HOUSE_LINES[:2])
    return (f"<html><head><title>Story {i} - Valley Ledger</title></head><body>"
            f"<div class='top'><a href='/'>Valley Ledger</a></div><div class='col'>"
            f"<h1>Story number {i} of the week</h1>{paras}{house}<p>Tides today {tide}</p>"
            f"<p>{html.escape(HOUSE_LINES[3])}</p></div></body></html>")


def stories(n: int, seed: int = 5) -> list[list[str]]:
    rng = random.Random(seed)
    return [newsset._paragraphs(rng, rng.randint(3, 5)) for _ in range(n)]


def learn(pages: list[tuple[str, str]]) -> TemplateModel:
    model = TemplateModel(source="ledger")
    for url, page in pages:
        model.learn(url, page_fingerprints(page.encode()))
    return model


def test_bare_extraction_keeps_the_house_lines():
    page = house_page(0, stories(1)[0])
    assert HOUSE_LINES[0] in trafilatura.extract(page, include_comments=False)


def test_template_learned_from_a_handful_of_pages_is_cut():
    texts = stories(5)
    pages = [(f"http://127.0.0.1/s/{i}/", house_page(i, t, tide=f"{i + 3}:1{i} and 1{i}:40"))
             for i, t in enumerate(texts)]
    model = learn(pages)
    assert model.pages == 5 and min_pages(model.pages) == 2
    options = ExtractOptions(template=model.template(), explain=True)
    for (url, page), paragraphs in zip(pages, texts):
        article = extract(page.encode(), url, "text/html", options)
        for line in HOUSE_LINES:
            assert line.split(":")[0] not in article.text
        for p in paragraphs:
            assert p in article.text
        cut = [r for r in article.removed if r.stage == "template"]
        assert {"Valley Ledger Radio is live now", HOUSE_LINES[3]} <= {r.text for r in cut}


def test_text_unique_to_a_page_is_never_cut_even_when_it_resembles_the_template():
    texts = stories(6)
    lookalike = [
        "Valley Ledger Radio is live now at the county fair, where the station set up a booth by the barns.",
        "Tides today 5:02 and 17:31 were the highest of the year, the harbor master said.",
    ]
    texts[5] = texts[5] + lookalike
    pages = [(f"http://127.0.0.1/s/{i}/", house_page(i, t)) for i, t in enumerate(texts)]
    model = learn(pages)
    article = extract(pages[5][1].encode(), pages[5][0], "text/html", ExtractOptions(template=model.template()))
    for p in texts[5]:
        assert p in article.text
    # a paragraph repeated on two pages is not template in a large model (a shared quote)
    big = learn([(f"http://127.0.0.1/s/{i}/", house_page(i, t)) for i, t in enumerate(stories(12, seed=9))])
    quote = "The bridge will reopen on Friday, the county engineer said in a statement to every paper in the valley."
    a = house_page(100, stories(1, seed=1)[0] + [quote])
    b = house_page(101, stories(1, seed=2)[0] + [quote])
    big.learn("http://127.0.0.1/s/100/", page_fingerprints(a.encode()))
    big.learn("http://127.0.0.1/s/101/", page_fingerprints(b.encode()))
    assert quote in extract(a.encode(), "http://127.0.0.1/s/100/", "text/html",
                            ExtractOptions(template=big.template())).text


def test_a_page_is_counted_once_however_often_it_is_fetched():
    page = house_page(1, stories(1)[0])
    model = TemplateModel(source="ledger")
    for _ in range(5):
        model.learn("http://127.0.0.1/s/1/", page_fingerprints(page.encode()))
    assert model.pages == 1 and model.template() == frozenset()


def test_model_round_trips_through_the_store(tmp_path):
    store = FileStore(tmp_path / "archive")
    learner = open_learner(store, "ledger")
    assert learner.model.pages == 0 and learner.version is None  # none yet
    for i, t in enumerate(stories(4)):
        learner.learn(f"http://127.0.0.1/s/{i}/", page_fingerprints(house_page(i, t).encode()))
    counts = save_learner(Archiver(store, Spool(tmp_path / "spool", "ledger")), learner, "r1")
    assert counts == {"template_saved": 1}
    again = load_model(store, "ledger")
    assert again.pages == 4 and again.template() == learner.model.template() and again.runs == 1
    store.put("state/ledger/template.json", b"{not json")
    assert load_model(store, "ledger").pages == 0  # unreadable: a new model, not a crash


def test_learner_refreshes_the_template_while_young():
    learner = TemplateLearner(TemplateModel(source="ledger"), warmup=3)
    texts = stories(3)
    changed = [learner.learn(f"http://127.0.0.1/s/{i}/", page_fingerprints(house_page(i, t).encode()))
               for i, t in enumerate(texts)]
    assert not learner.warming_up and any(changed) and learner.template()
    assert learner.finish().runs == 1


@pytest.mark.slow
def test_first_crawl_learns_the_template_before_extracting(site, file_target, write_config, cli):
    texts = stories(5)
    for i, t in enumerate(texts):
        site.page(f"/news/2026/s{i}/", house_page(i, t))
    site.page("/news/", "<html><body>" + "".join(f"<a href='/news/2026/s{i}/'>s{i}</a>" for i in range(5))
              + "</body></html>")
    config = write_config([source("ledger", site.url, articles=[r"/news/\d{4}/"])], file_target.storage)
    cli("crawl", "--config", config, check=True)
    store = file_target.store
    records = [read_json(store, k) for k in keys_under(store, "clean/ledger/")]
    assert len(records) == 5
    for record in records:
        for line in HOUSE_LINES:
            assert line.split(":")[0] not in record["text"], record["text"]
    by_text = "\n".join(r["text"] for r in records)
    for t in texts:
        for p in t:
            assert p in by_text
    run = read_json(store, keys_under(store, "runs/ledger/")[0])
    assert run["counts"]["template_warmup_pages"] == 5 and run["counts"]["template_saved"] == 1
    model = load_model(store, "ledger")
    assert model.pages == 5 and model.template()

    # the next run starts from the stored model: new pages are extracted at once
    more = stories(2, seed=8)
    for i, t in enumerate(more, start=5):
        site.page(f"/news/2026/s{i}/", house_page(i, t))
    site.page("/news/", "<html><body>" + "".join(f"<a href='/news/2026/s{i}/'>s{i}</a>" for i in range(7))
              + "</body></html>")
    cli("crawl", "--config", config, check=True)
    runs = sorted(keys_under(store, "runs/ledger/"))
    second = read_json(store, runs[-1])
    assert second["counts"]["template_pages_known"] == 5
    assert "template_warmup_pages" not in second["counts"]
    assert load_model(store, "ledger").pages == 7
    newest = [read_json(store, k) for k in keys_under(store, "clean/ledger/")]
    for record in newest:
        assert "Valley Ledger Radio" not in record["text"]
