"""Metadata from structured data: JSON-LD over meta tags when it describes this page, dates with zones."""

from __future__ import annotations

import json
import random

import pytest

from crawler.extract import _extraction_missed_body, extract
from crawler.extraction import document
from crawler.extraction.dates import normalize_date
from crawler.extraction.structured import read_metadata
from crawler.extraction.textnorm import coverage
from tests import newsset

PARAS = ["The county council voted on Tuesday to repair the old river bridge before the winter storms arrive.",
         "Residents told the board that the detour adds twenty minutes to every trip across the valley.",
         "Work should begin next month if the state grant comes through, the county engineer said."]


def page(head: str = "", body_extra: str = "", title: str = "Council votes to repair bridge") -> str:
    paras = "".join(f"<p>{p}</p>" for p in PARAS)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title} | Valley Ledger</title>"
            f"{head}</head><body><article><h1>{title}</h1>{paras}</article>{body_extra}</body></html>")


def ld(obj) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


META_TAGS = ('<meta name="author" content="Meta Author">'
             '<meta property="article:published_time" content="2026-11-01T09:00:00+01:00">'
             '<meta property="og:site_name" content="Valley Ledger">'
             '<meta name="description" content="From the meta tags">')


def test_json_ld_wins_over_meta_tags_when_it_describes_the_page():
    article = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Council votes to repair bridge",
               "datePublished": "2026-11-02T08:30:00-05:00", "dateModified": "2026-11-03T10:00:00Z",
               "author": [{"@type": "Person", "name": "Dana Whitfield"}, {"@type": "Person", "name": "Luis Ortega"}],
               "publisher": {"@type": "Organization", "name": "Valley Ledger Media"}}
    a = extract(page(META_TAGS + ld({"@graph": [{"@type": "WebSite", "name": "x"}, article]})).encode(),
                "https://ledger.example/news/bridge/")
    assert a.status == "ok"
    assert a.author == "Dana Whitfield; Luis Ortega"
    assert a.published == "2026-11-02T08:30:00-05:00"
    assert a.title == "Council votes to repair bridge"
    assert a.structured["sources"]["author"] == "json-ld"
    assert a.structured["modified"] == "2026-11-03T10:00:00Z"
    assert "NewsArticle" in a.structured["types"]


def test_meta_tags_are_used_without_structured_data():
    a = extract(page(META_TAGS).encode(), "https://ledger.example/news/bridge/")
    assert a.author == "Meta Author"
    assert a.published == "2026-11-01T09:00:00+01:00"
    assert a.sitename == "Valley Ledger"
    assert a.description == "From the meta tags"
    assert a.structured["sources"]["published"] == "opengraph"
    assert a.title == "Council votes to repair bridge"  # the <h1>, not "... | Valley Ledger"


def test_json_ld_about_another_page_is_ignored():
    other = {"@type": "NewsArticle", "headline": "Library extends hours", "url": "https://ledger.example/news/library/",
             "author": {"name": "Someone Else"}, "datePublished": "2020-01-01"}
    a = extract(page(META_TAGS + ld(other)).encode(), "https://ledger.example/news/bridge/")
    assert a.author == "Meta Author" and a.published == "2026-11-01T09:00:00+01:00"
    assert any("describes https://ledger.example/news/library/" in n for n in a.structured["notes"])


def test_json_ld_whose_headline_does_not_match_is_ignored():
    stale = {"@type": "NewsArticle", "headline": "Farmers market winter hours announced", "author": "Stale Template"}
    a = extract(page(META_TAGS + ld(stale)).encode(), "https://ledger.example/news/bridge/")
    assert a.author == "Meta Author"
    assert a.structured["notes"]


def test_microdata_article():
    html = ("<html><head><title>Bridge</title></head><body><div itemscope itemtype='https://schema.org/NewsArticle'>"
            "<h1 itemprop='headline'>Council votes to repair bridge</h1>"
            "<span itemprop='author' itemscope itemtype='https://schema.org/Person'><span itemprop='name'>Rosa Delgado"
            "</span></span><time itemprop='datePublished' datetime='2026-11-02T08:00:00+02:00'>2 Nov</time>"
            + "".join(f"<p>{p}</p>" for p in PARAS) + "</div></body></html>")
    a = extract(html.encode(), "https://ledger.example/b/")
    assert (a.author, a.published, a.title) == ("Rosa Delgado", "2026-11-02T08:00:00+02:00",
                                                "Council votes to repair bridge")
    assert a.structured["sources"]["author"] == "microdata"


def test_article_body_rescues_a_failed_extraction_and_is_cross_checked():
    paras = newsset._paragraphs(random.Random(3), 6)
    body = "\n".join(paras)
    # the page shows a teaser where extractors look, and the story only to readers without
    # JavaScript (in <noscript>, which extractors drop);
    # the publisher's JSON-LD has it whole
    html = (f"<html><head><title>Council votes to repair bridge</title>"
            f"{ld({'@type': 'NewsArticle', 'headline': 'Council votes to repair bridge', 'articleBody': body})}"
            "</head><body><article><h1>Council votes to repair bridge</h1><p>Short teaser only.</p></article>"
            "<noscript>" + "".join(f"<p>{p}</p>" for p in paras) + "</noscript></body></html>")
    a = extract(html.encode(), "https://ledger.example/b/")
    assert a.status == "ok" and coverage(body, a.text) == 1.0, a.text
    # the decision, on its own: extraction kept little of a body the page really shows
    tree = document.parse(html)
    assert _extraction_missed_body("Short teaser only.", body, tree)
    assert not _extraction_missed_body(body, body, tree)
    assert not _extraction_missed_body("Short teaser only.", "A parade story not on the page. " * 20, tree)
    # a normal page: the body agrees with the extraction and is only measured
    ok = extract(page(ld({"@type": "NewsArticle", "headline": "Council votes to repair bridge",
                          "articleBody": " ".join(PARAS)})).encode(), "https://ledger.example/b/")
    assert ok.structured["body_coverage"] >= 0.9 and "text_from" not in ok.structured


def test_article_body_not_shown_on_the_page_is_not_used():
    body = " ".join(["A different story about a parade that this page does not show at all anywhere."] * 6)
    html = page(ld({"@type": "NewsArticle", "headline": "Council votes to repair bridge", "articleBody": body}))
    a = extract(html.encode(), "https://ledger.example/b/")
    assert "parade" not in a.text


def test_language_is_detected_from_the_text_not_the_template():
    german = ["Der Gemeinderat hat am Dienstag beschlossen, die alte Brücke über den Fluss zu reparieren.",
              "Die Anwohner sagten, der Umweg koste sie jeden Tag zwanzig Minuten auf dem Weg zur Arbeit.",
              "Die Arbeiten sollen im nächsten Monat beginnen, wenn das Land die Förderung bewilligt."]
    html = ("<html lang='en'><head><title>Brücke</title></head><body><article><h1>Brücke wird repariert</h1>"
            + "".join(f"<p>{p}</p>" for p in german) + "</article></body></html>")
    a = extract(html.encode(), "https://ledger.example/de/")
    assert a.language == "de"
    assert a.structured["language_declared"] == "en"


@pytest.mark.parametrize("value, expected", [
    ("2026-11-02", "2026-11-02"),
    ("2026-11-02T08:00:00Z", "2026-11-02T08:00:00Z"),
    ("2026-11-02T08:00:00+0100", "2026-11-02T08:00:00+01:00"),
    ("2026-11-02 08:00", "2026-11-02T08:00:00Z"),
    ("Mon, 02 Nov 2026 08:00:00 GMT", "2026-11-02T08:00:00Z"),
    ("November 2, 2026 8:05 PM EST", "2026-11-02T20:05:00-05:00"),
    ("2. November 2026, 14:30 Uhr", "2026-11-02T14:30:00Z"),
    ("02.11.2026 08:00 MEZ", "2026-11-02T08:00:00+01:00"),
    ("1793606400", "2026-11-02T08:00:00Z"),
    ("not a date", None),
    ("2026-13-45", None),
    ("1066-10-14", None),
])
def test_dates_are_iso_8601_with_a_zone(value, expected):
    assert normalize_date(value) == expected


def test_read_metadata_never_raises_on_broken_json_ld():
    tree = document.parse(page('<script type="application/ld+json">{"@type": "NewsArticle", "headline": </script>'))
    meta = read_metadata(tree, "https://ledger.example/b/")
    assert meta.title == "Council votes to repair bridge"


def test_a_date_shown_only_in_the_byline_is_the_publication_date_a_date_the_text_mentions_is_not():
    mention = "<p>The bridge was built on March 3, 2019 and last closed on 2024-05-06 after a flood.</p>"
    bare = extract(page(body_extra=mention).encode(), "http://news.example/bridge/")
    assert bare.status == "ok" and bare.published is None  # no guess from the article's own words

    byline = page(body_extra=mention).replace(
        "<h1>", "<div class='byline'>By Ann Lee | Nov 24, 2026</div><h1>", 1)
    dated = extract(byline.encode(), "http://news.example/bridge/")
    assert dated.published == "2026-11-24" and dated.structured["sources"]["published"] == "page"

    in_url = extract(page(body_extra=mention).encode(), "http://news.example/2026/11/02/bridge/")
    assert in_url.published == "2026-11-02" and in_url.structured["sources"]["published"] == "url"

    # metadata wins over both
    tagged = extract(page(head=META_TAGS).replace("<h1>", "<div class='byline'>Nov 24, 2026</div><h1>", 1).encode(),
                     "http://news.example/2026/11/02/bridge/")
    assert tagged.published == "2026-11-01T09:00:00+01:00"
