"""``archiver show``'s readable form of a clean record (a pure function)."""

from __future__ import annotations

from jobs.commands.show import readable

RECORD = {"title": "Bridge reopens", "author": "Ann Lee", "published": "2026-11-20", "url": "http://n.example/b/",
          "fetched_at": "2026-11-25T10:00:00.000Z", "raw_key": "raw/x.html",
          "extraction": {"status": "ok", "extractor": "trafilatura", "extractor_version": "2.3.1"}}


def test_the_headline_is_printed_once_and_the_text_keeps_its_paragraphs():
    out = readable({**RECORD, "text": "Bridge reopens\n\nThe bridge reopened.\n\nCrews finished early."}, "k", "v1")
    assert out.count("Bridge reopens") == 1
    assert "The bridge reopened.\n\nCrews finished early." in out
    assert out.splitlines()[1] == "By Ann Lee · published 2026-11-20 · fetched 2026-11-25 10:00 UTC · v1"


def test_a_text_that_does_not_open_with_the_headline_is_untouched():
    out = readable({**RECORD, "text": "Bridge reopens soon, the county says.\n\nMore later."}, "k", "v1")
    assert "Bridge reopens soon, the county says.\n\nMore later." in out
