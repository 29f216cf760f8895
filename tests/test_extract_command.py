"""``archiver extract FILE|URL``, run as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from crawler.extraction.template import TemplateModel
from crawler.extract import page_fingerprints
from crawler.store import FileStore
from tests.conftest import source
from tests.test_extraction_template import HOUSE_LINES, house_page, stories

ISSUE = Path(__file__).parent / "pages" / "extract" / "issue.html"


def test_explain_lists_what_was_removed_and_why(cli):
    proc = cli("extract", ISSUE, "--explain", check=True)
    text, _, removed = proc.stdout.partition("\nremoved (")
    assert "The Buncombe County Board of Commissioners approved a new stormwater plan" in text
    assert "Work on the first culverts is expected to begin in March" in text
    for line in ("Cron Job Starts", "Post is under moderation", "Marge updated", "Comments (0)"):
        assert line not in text
    assert 'outside    text-after-document      "Cron Job Starts"' in removed
    assert 'lines      system-status            "Post is under moderation"' in removed
    assert 'lines      activity-feed            "Marge updated an article"' in removed
    assert 'lines      counter                  "Comments (0)"' in removed
    assert "published: 2026-11-24T18:05:00-05:00" in text and "author:    Sam Ortiz" in text


def test_json_output(cli):
    proc = cli("extract", ISSUE, "--json", "--explain", "--url", "https://asheville.example/news/storm/",
               check=True)
    data = json.loads(proc.stdout)
    assert data["status"] == "ok" and data["language"] == "en"
    assert data["markdown"].startswith("## County approves stormwater plan") or data["markdown"].startswith("#")
    assert {r["reason"] for r in data["removed"]} >= {"text-after-document", "system-status", "counter"}
    assert "fingerprints" not in data


def test_a_missing_file_is_one_line(cli):
    proc = cli("extract", "nope.html")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no such file" in proc.stderr


def _ledger(site, write_config, file_target, **extract):
    texts = stories(5)
    for i, t in enumerate(texts):
        site.page(f"/news/2026/s{i}/", house_page(i, t))
    src = source("ledger", site.url, articles=[r"/news/\d{4}/"])
    if extract:
        src["extract"] = extract
    return texts, write_config([src], file_target.storage)


def test_url_with_the_source_rules_and_template(site, file_target, write_config, cli):
    texts, config = _ledger(site, write_config, file_target, exclude=["div.top"],
                            exclude_text=["/Sponsored by [A-Z][a-z]+ Hardware\\.?/"])
    site.page("/news/2026/s4/", house_page(4, texts[4] + ["Sponsored by Valley Hardware."]))
    model = TemplateModel(source="ledger")
    for i, t in enumerate(texts[:4]):
        model.learn(f"{site.url}/news/2026/s{i}/", page_fingerprints(house_page(i, t).encode()))
    FileStore(file_target.storage["url"][len("file://"):]).put("state/ledger/template.json", model.to_json())
    proc = cli("extract", f"{site.url}/news/2026/s4/", "--source", "ledger", "--config", config, "--explain",
               check=True)
    text, _, removed = proc.stdout.partition("\nremoved (")
    assert f"fetched {site.url}/news/2026/s4/ (HTTP 200)" in text
    assert "template of ledger: " in text and "learned from 4 pages" in text
    for p in texts[4]:
        assert p in text
    for line in HOUSE_LINES:
        assert line.split(":")[0] not in text
    assert 'rules      exclude-selector         "Valley Ledger"  [div.top]' in removed
    assert "Sponsored" not in text
    assert 'rules      exclude-text             "Sponsored by Valley Hardware."' in removed
    assert 'template   repeated-block           "Valley Ledger Radio is live now"' in removed


def test_urls_obey_the_network_scope(site, file_target, write_config, cli):
    texts, config = _ledger(site, write_config, file_target)
    # a redirect off the source's hosts is refused before any connection is made
    site.redirect("/news/2026/away/", "http://127.0.0.2:9/elsewhere/")
    proc = cli("extract", f"{site.url}/news/2026/away/", "--source", "ledger", "--config", config)
    assert proc.returncode == 1 and "refused http://127.0.0.2:9/elsewhere/" in proc.stderr
    assert "not one of this source's hosts" in proc.stderr and "Traceback" not in proc.stderr
    # loopback configured as forbidden: refused by address, the site sees no request
    src = source("ledger", site.url, articles=[r"/news/\d{4}/"], forbid_networks=["127.0.0.0/8"])
    forbidden = write_config([src], file_target.storage, name="forbidden.yaml")
    before = len(site.requests)
    proc = cli("extract", f"{site.url}/news/2026/s1/", "--source", "ledger", "--config", forbidden)
    assert proc.returncode == 1 and "forbid_networks" in proc.stderr
    assert len(site.requests) == before
