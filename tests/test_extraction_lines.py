"""Stray-line rules: they catch the kinds of furniture, in other words than the ones we know, and keep prose."""

from __future__ import annotations

import pytest

from crawler.extract import extract
from crawler.extraction.lines import classify

# the lines that started the project, verbatim
ISSUE_LINES = ["Marge updated an article", "0", "Comments (0)", "Post is under moderation",
               "Stream item published successfully. Item will now be visible on your stream.",
               "There are no activities here yet", "Cron Job Starts", "Pinned Items", "Recent Activities",
               "ASHEVILLE WEATHER", "Community News"]


@pytest.mark.parametrize("line", ISSUE_LINES)
def test_the_original_clutter_is_recognised(line):
    assert classify(line) is not None


@pytest.mark.parametrize("line, reason", [
    # the same kinds of furniture, worded differently
    ("Backup job finished", "system-status"),
    ("Nightly import completed", "system-status"),
    ("Comment saved successfully.", "system-status"),
    ("Your reply is awaiting moderation", "system-status"),
    ("No comments yet", "system-status"),
    ("Be the first to review this story", "system-status"),
    ("Page generated in 0.043 seconds", "system-status"),
    ("Please log in to comment", "system-status"),
    ("Jenny Lopez posted a photo", "activity-feed"),
    ("Tom commented on a post", "activity-feed"),
    ("12 comments", "counter"),
    ("Likes: 4", "counter"),
    ("1.2k shares", "counter"),
    ("3 | 5", "counter"),
    ("-3 °C", "counter"),
    ("Share on LinkedIn", "share-widget"),
    ("Teilen", "share-widget"),
    ("Tweet Email Print", "share-widget"),
    ("Trending Stories", "widget-label"),
    ("Most Read", "widget-label"),
    ("Local Weather", "widget-label"),
    ("Advertisement", "widget-label"),
    ("See also: Bridge reopens after repairs", "teaser"),
    ("Lesen Sie auch: Neue Brücke eröffnet", "teaser"),
    ("Lee también: El puente reabre", "teaser"),
    ("Sign up for our weekly newsletter", "promo"),
    ("Follow us on Instagram", "promo"),
    ("Already a subscriber? Log in to continue reading.", "promo"),
    ("Photo: Dana Whitfield / Valley Ledger", "credit"),
    ("© 2026 Valley Ledger. All rights reserved.", "credit"),
])
def test_furniture_in_other_words(line, reason):
    assert classify(line) == reason


@pytest.mark.parametrize("line", [
    # prose that merely mentions the same words is kept
    "Residents can share their views at the hearing on Tuesday.",
    "The county will share the cost of the new bridge with the state.",
    "The job started in 1998 when she moved to town.",
    "Use cron to schedule the nightly backup, the administrator said.",
    "She wrote a post about the flood.",
    "Comments from residents will be read into the record at the next meeting of the board.",
    "No decision was made on Tuesday.",
    "The temperature fell to 12°F overnight, the coldest in a decade.",
    "2010",  # a year in a timeline
    "286,35 €",
    "Ingredients:",
    "Community News reporter Dana Whitfield spent a week with the crews on the river.",
    # a date inside the text (a schedule) is kept; only at the edges is a date line a dateline
])
def test_prose_is_kept(line):
    assert classify(line) is None


def test_a_date_line_is_dropped_only_at_the_edges():
    assert classify("November 2, 2026", at_edge=True) == "timestamp"
    assert classify("November 2, 2026", at_edge=False) is None


def test_long_lines_are_prose_whatever_they_contain():
    line = ("Marge updated an article about the river bridge, and the county said the cron job that "
            "publishes the agenda starts every morning at six before the council meets in the hall.")
    assert classify(line) is None


def test_paragraphs_written_with_double_line_breaks_stay_paragraphs():
    paras = ["All county schools will be closed on Friday because of the winter storm, the superintendent said.",
             "Crews expect up to ten inches of snow overnight, and secondary roads may stay icy all weekend.",
             "Make-up days will be announced next week, after the board reviews the spring calendar."]
    html = ("<html><head><title>Snow day</title></head><body><div id='content'><h1>Schools close</h1>"
            f"<div class='post'>{paras[0]}<br><br>{paras[1]}<br> <br><br>{paras[2]}<br>A line of the same "
            "paragraph.<br><br></div></div></body></html>")
    article = extract(html.encode(), "http://news.example/snow/")
    assert article.text.endswith("\n\n".join([paras[0], paras[1], paras[2] + "\nA line of the same paragraph."]))
    assert article.markdown.endswith(paras[2] + "\nA line of the same paragraph.")
