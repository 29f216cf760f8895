"""Per-source rules: include / exclude / exclude_text, applied in extraction and checked at load time."""

from __future__ import annotations

import pytest
import yaml

from crawler.config import ConfigError, parse_config
from crawler.context import extract_options
from crawler.extract import ExtractOptions, extract
from crawler.extraction.rules import RuleSet, compile_selector, compile_text_pattern

STORY = ["The river trail bridge reopened on Monday after six months of repairs to its steel deck.",
         "Crews replaced the railings and added lights along the approach, the parks department said.",
         "The trail connects the east side neighborhoods with the downtown market and the library."]
OTHER = ["The school board met on Tuesday to discuss the new bus routes for the spring semester term.",
         "Parents asked for earlier pickups at the two schools on the north side of the county roads."]
PAGE = ("<html><head><title>Bridge reopens</title></head><body><div class='page'>"
        "<div class='story'><h1>Bridge reopens</h1>" + "".join(f"<p>{p}</p>" for p in STORY) +
        "<p>Tip line: call 555-0100 with your news.</p>"
        "<div class='promo'><p>Win two tickets to the county fair by entering our weekly contest today.</p></div>"
        "<p>Printed by the valley press cooperative at 4:30 in the morning for subscribers.</p></div>"
        "<div class='next'>" + "".join(f"<p>{p}</p>" for p in OTHER) + "</div>"
        "</div></body></html>").encode()


def run(**rules) -> str:
    ruleset = RuleSet(**{k: tuple(v) if isinstance(v, list) else v for k, v in rules.items()})
    article = extract(PAGE, "http://127.0.0.1/b/", "text/html", ExtractOptions(rules=ruleset, explain=True))
    assert article.status == "ok"
    return article.text


def test_without_rules_the_stubborn_lines_stay():
    text = run()
    assert "Win two tickets" in text and "Tip line" in text
    assert OTHER[0] not in text  # trafilatura picks the first story


def test_exclude_selectors_css_and_xpath():
    assert "Win two tickets" not in run(exclude=["div.promo"])
    assert "Win two tickets" not in run(exclude=["//div[@class='promo']"])
    text = run(exclude=["div.promo", "//p[starts-with(., 'Printed by')]"])
    assert "Printed by" not in text and all(p in text for p in STORY)


def test_include_selects_the_body():
    text = run(include="div.next")
    assert OTHER[0] in text and OTHER[1] in text
    assert not any(p in text for p in STORY)
    text = run(include="//div[@class='story']/p[position() <= 3]")
    assert all(p in text for p in STORY) and "Tip line" not in text


def test_exclude_text_phrases_and_regexes():
    text = run(exclude_text=["tip line: call 555-0100 with your news."])  # case and spacing do not matter
    assert "Tip line" not in text and all(p in text for p in STORY)
    text = run(exclude_text=[r"/^Tip line: .*$/"])
    assert "Tip line" not in text
    # a pattern that covers part of a line cuts only that part
    text = run(exclude_text=[r"/ for subscribers/"])
    assert "Printed by the valley press cooperative at 4:30 in the morning." in text


def test_source_settings_become_options():
    settings = parse_config(yaml.safe_dump({"sources": [{
        "name": "town", "start_urls": ["http://127.0.0.1/"],
        "extract": {"include": "div.story", "exclude": ["div.promo"], "exclude_text": ["/x/i"],
                    "stray_lines": False, "markdown": False, "learn_template": False}}]}))
    options = extract_options(settings.source("town"), template=frozenset({"abc"}))
    assert options.rules == RuleSet("div.story", ("div.promo",), ("/x/i",))
    assert not options.stray_lines and not options.markdown
    assert options.template == frozenset()  # learning switched off: no template either


@pytest.mark.parametrize("extract_yaml, key, line, message", [
    ("      include: 'div[class='\n", "sources[0].extract.include", 4, "bad CSS selector"),
    ("      exclude:\n        - div.ok\n        - '//div[@class='\n", "sources[0].extract.exclude[1]", 6, "bad XPath"),
    ("      exclude_text: ['/Comments (\\d+/']\n", "sources[0].extract.exclude_text[0]", 4, "bad regex"),
    ("      exclude_txt: [x]\n", "sources[0].extract.exclude_txt", 4, "did you mean 'exclude_text'"),
])
def test_bad_rules_are_one_line_errors_at_load_time(extract_yaml, key, line, message):
    text = "sources:\n  - name: town\n    start_urls: [http://127.0.0.1/]\n    extract:\n" + extract_yaml
    with pytest.raises(ConfigError) as err:
        parse_config(text, file="sources.yaml")
    assert err.value.key.startswith(key) and err.value.line in (line, line + 1)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_validate_command_reports_a_bad_selector(cli, tmp_path):
    config = tmp_path / "sources.yaml"
    config.write_text("sources:\n  - name: town\n    start_urls: [http://127.0.0.1/]\n"
                      "    extract:\n      exclude: ['div[x=']\n")
    proc = cli("validate", "--config", config)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "sources.yaml:5: sources[0].extract.exclude[0] (source 'town'): bad CSS selector 'div[x='" in proc.stderr


def test_compilers_reject_nonsense():
    for bad in ("", "   "):
        with pytest.raises(ValueError):
            compile_selector(bad)
        with pytest.raises(ValueError):
            compile_text_pattern(bad)
    assert compile_text_pattern("Cron  Job starts").search("cron job Starts here")
