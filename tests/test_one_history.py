"""One numbering, one history: what ls / show / diff call version N is the version the crawl and
re-extract stored (in the clean object, its catalog row and the state), however the article was reached."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from crawler.extract import EXTRACTOR_VERSION
from crawler.state import article_history
from tests import sitegen
from tests.conftest import keys_under, make_target, read_json, source

pytestmark = pytest.mark.slow

ARTICLES = r"/news/\d{4}/"
SPONSOR = "This report is brought to you by Riverside Hardware, serving the valley since 1952."
NOTE = "Reporting by the Valley Ledger newsroom with help from our readers."
RULES = {"exclude": ["p.sponsor"], "exclude_text": [NOTE]}


def page(article: sitegen.Article) -> str:
    """The article's page; a sponsor line is a paragraph of its own class (what an ``exclude`` selector names)."""
    return sitegen.article_html(article).replace(f"<p>{SPONSOR}</p>", f'<p class="sponsor">{SPONSOR}</p>')


def publish(site, news: sitegen.NewsSite, *indexes: int) -> None:
    for i in indexes:
        site.page(news.articles[i].path, page(news.articles[i]))


def stored_versions(store, url: str) -> list[tuple[int, str, dict]]:
    """(number, key, clean object) of each version the state lists for the article at ``url``."""
    history = article_history(store, "town", url)
    return [(v.number, v.key, read_json(store, v.key)) for v in history.versions]


def assert_one_chain(versions: list[tuple[int, str, dict]]) -> None:
    """Numbered 1..n in the objects as in the state, each linked to the one before it."""
    assert [n for n, _, _ in versions] == list(range(1, len(versions) + 1))
    previous = None
    for number, key, record in versions:
        assert (record["version"], record["previous_key"]) == (number, previous), key
        previous = key


def test_crawl_edit_and_rule_change_share_one_numbering(site, target, write_config, cli):
    """v1 crawled, v2 crawled after an edit, v3 re-extracted after a rule change: the same numbers everywhere."""
    news = sitegen.build(6, seed=31)
    sponsored, noted, edited = news.articles[0:2], news.articles[2], news.articles[3]
    for article in sponsored:
        article.paragraphs.insert(1, SPONSOR)
    noted.paragraphs.append(NOTE)
    sitegen.serve(site, news)
    publish(site, news, 0, 1)
    config = write_config([source("town", site.url, articles=[ARTICLES])], target.storage)
    env, store = target.env, target.store
    cli("crawl", "--config", config, env=env, check=True)

    # the site edits two articles (one of them sponsored) and one headline; the next crawl makes their v2
    for article in (news.articles[0], edited):
        article.paragraphs[-1] = "Update: the county board approved the bridge repairs on Thursday evening."
    news.articles[4].title += " (updated)"  # the same text under a new headline is a new version too
    publish(site, news, 0, 3, 4)
    second_crawl = datetime.now(timezone.utc).isoformat()
    cli("crawl", "--config", config, env=env, check=True)
    urls = [site.url + a.path for a in news.articles]
    before = {url: stored_versions(store, url) for url in urls}
    assert [len(v) for v in before.values()] == [2, 1, 1, 2, 2, 1]

    # the source's rules now drop the sponsor line (a selector) and the newsroom note (a phrase)
    config = write_config([source("town", site.url, articles=[ARTICLES], extract=RULES)], target.storage)
    # only what the second crawl fetched: the sponsored article's v2, so the new one is v3 (not v2 again)
    dry = json.loads(cli("re-extract", "town", "--since", second_crawl, "--dry-run", "--json", "--config", config,
                         env=env, check=True).stdout)["sources"][0]
    assert [(v["url"], v["version"]) for v in dry["new_versions"]] == [(site.url + news.articles[0].path, 3)]
    out = json.loads(cli("re-extract", "town", "--json", "--config", config, env=env, check=True).stdout)
    result = out["sources"][0]
    made = {v["url"]: v["version"] for v in result["new_versions"]}
    assert made == {urls[0]: 3, urls[1]: 2, urls[2]: 2}  # exactly the articles whose text the rules change
    assert result["unchanged"] == 3 and result["not_better"] == [] and result["errors"] == []

    after = {url: stored_versions(store, url) for url in urls}
    for url in urls:
        assert_one_chain(after[url])
        assert after[url][:len(before[url])] == before[url]  # older versions untouched
        assert len(after[url]) == len(before[url]) + (1 if url in made else 0)
    for url in made:
        number, key, record = after[url][-1]
        assert SPONSOR not in record["text"] and NOTE not in record["text"]
        provenance = record["reextracted"]
        assert provenance["from_raw_key"] == record["raw_key"] and store.exists(record["raw_key"])
        _, _, previous = after[url][-2]
        assert record["raw_key"] == previous["raw_key"]  # the newest raw page, not an older fetch
        assert record["extraction"]["extractor_version"] == EXTRACTOR_VERSION
        assert record["extraction"]["rules"] == result["rules"] != previous["extraction"]["rules"]
        assert provenance["previous_rules"] == previous["extraction"]["rules"]
        assert record["article_url"] == url and record["text_fingerprint"]
    # the catalog says what the objects say
    rows = [json.loads(line) for k in keys_under(store, "catalog/town/") for line in store.get(k).decode().splitlines()]
    for row in (r for r in rows if r["clean_key"]):
        record = read_json(store, row["clean_key"])
        assert (row["version"], row["previous_key"], row["article_url"]) == \
            (record["version"], record["previous_key"], record["article_url"])

    # ls, show and diff show those numbers
    listing = {e["url"]: e for e in json.loads(cli("ls", "--json", "--config", config, env=env, check=True).stdout)}
    assert set(listing) == set(urls)
    for url in urls:
        number, key, _ = after[url][-1]
        assert (listing[url]["versions"], listing[url]["version"], listing[url]["key"]) == \
            (len(after[url]), number, key)
    for number, key, record in after[urls[0]]:
        shown = json.loads(cli("show", urls[0], "--version", number, "--json", "--config", config, env=env,
                               check=True).stdout)
        assert shown == record
    diff = json.loads(cli("diff", urls[0], "--json", "--config", config, env=env, check=True).stdout)
    assert (diff["from"]["version"], diff["from"]["key"]) == after[urls[0]][1][:2]
    assert (diff["to"]["version"], diff["to"]["key"]) == after[urls[0]][2][:2]
    assert diff["diff"] and [line for line in diff["diff"] if line.startswith("-") and not line.startswith("---")] \
        == [f"-{SPONSOR}"] and not [line for line in diff["diff"] if line.startswith("+") and not line.startswith("+++")]
    human = cli("show", urls[2], "--config", config, env=env, check=True).stdout
    assert "version 2 of 2" in human and f"rules {result['rules']}" in human and NOTE not in human

    assert cli("verify", "--config", config, env=env).returncode == 0
    again = json.loads(cli("re-extract", "--json", "--config", config, env=env, check=True).stdout)["sources"][0]
    assert again["new_versions"] == [] and again["unchanged"] == 6


@pytest.mark.parametrize("kind", ["file", "seaweedfs"])
def test_an_article_reached_through_two_urls_shows_one_history(kind, site, tmp_path, write_config, cli):
    """The edit arrives through the AMP page (canonical: the story) linked with tracking parameters."""
    target = make_target(kind, tmp_path)
    news = sitegen.serve(site, sitegen.build(6, seed=32))
    story = news.articles[0]
    url = site.url + story.path
    amp = site.url + "/news/2026/amp/" + story.path.rstrip("/").rsplit("/", 1)[1] + "/"
    config = write_config([source("town", site.url, articles=[ARTICLES])], target.storage)
    env, store = target.env, target.store
    cli("crawl", "--config", config, env=env, check=True)
    old_text = story.text

    # the AMP page carries the edit; the story's own URL still serves the old page (a stale cache)
    story.paragraphs[0] = "Correction: the county board voted six to one, not five to two, on the trail budget."
    site.page(amp[len(site.url):], sitegen.article_html(story))  # its canonical link names the story
    listing = sitegen.listing_html(news, 0)
    site.page("/news/", listing.replace("</ul>", f'<li><a href="{amp}?utm_source=newsletter&utm_medium=email">'
                                                  f'AMP</a></li></ul>'))
    cli("crawl", "--config", config, env=env, check=True)
    versions = stored_versions(store, amp)
    assert_one_chain(versions)
    (_, v1_key, v1), (_, v2_key, v2) = versions
    assert v2["url"] == amp and v2["article_url"] == url == v1["url"]

    entries = json.loads(cli("ls", "--json", "--config", config, env=env, check=True).stdout)
    assert len(entries) == len(news.articles)  # the AMP page is no article of its own
    (entry,) = [e for e in entries if e["url"] == url]
    assert (entry["versions"], entry["version"], entry["key"]) == (2, 2, v2_key)
    by_amp = json.loads(cli("ls", "--json", "--url", "*/amp/*", "--config", config, env=env, check=True).stdout)
    assert [e["url"] for e in by_amp] == [url]

    for typed in (url + "?utm_source=newsletter", amp):
        shown = json.loads(cli("show", typed, "--json", "--config", config, env=env, check=True).stdout)
        assert (shown["version"], shown["previous_key"]) == (2, v1_key)
    first = cli("show", amp, "--version", "1", "--text", "--config", config, env=env, check=True).stdout
    assert story.paragraphs[0] not in first and old_text.split("\n")[0] in first
    diff = json.loads(cli("diff", amp + "?fbclid=x", "--json", "--config", config, env=env, check=True).stdout)
    assert (diff["url"], diff["from"]["key"], diff["to"]["key"]) == (url, v1_key, v2_key)
    assert f"+{story.paragraphs[0]}" in diff["diff"]

    # re-extracting with unchanged rules continues that history: nothing new, for the story either
    out = json.loads(cli("re-extract", "--json", "--config", config, env=env, check=True).stdout)["sources"][0]
    assert out["new_versions"] == [] and out["unchanged"] == len(news.articles)
