"""Pure rules of article versions: fingerprint, canonical identity, next version."""

from __future__ import annotations

from crawler.versions import article_url, canonical_link, fingerprint, next_version, normalize_text


def test_fingerprint_ignores_layout_not_words():
    text = "First paragraph of the story.\nSecond   paragraph\u00a0here."
    assert fingerprint("Title", text) == fingerprint(" Title ", "First paragraph of the story.\n\n"
                                                     "Second paragraph here.\u200b")
    assert fingerprint("Title", "Caf\u0065\u0301 opens") == fingerprint("Title", "Caf\u00e9 opens")  # NFC
    assert fingerprint("Title", text) != fingerprint("Title", text.replace("Second", "Third"))
    assert fingerprint("Title", text) != fingerprint("New title", text)  # a new headline is an edit
    assert normalize_text("a\n\n  b  c \n") == "a\nb c"


def test_canonical_link_is_read_from_the_head():
    page = (b"<html><head><meta charset='utf-8'><LINK href='/story/' REL='Canonical'>"
            b"<link rel=alternate href=/amp/></head><body><link rel=canonical href=/not-this/></body></html>")
    assert canonical_link(page) == "/story/"
    assert canonical_link(b'<html><head><link rel="stylesheet" href="/s.css"></head></html>') is None
    assert canonical_link(b'<link rel="canonical" href="">') is None


def scope(host: str) -> bool:
    return host == "news.example" or host.endswith(".news.example")


def test_article_url_prefers_an_in_scope_canonical():
    final = "https://news.example/amp/story/?utm_source=x"
    assert article_url(final, ["/story/"], in_scope=scope) == "https://news.example/story/"
    assert article_url(final, [None, "https://www.news.example/story/#top"], in_scope=scope) == \
        "https://www.news.example/story/"
    # off-site canonical (syndication, or a hostile page) does not merge histories
    assert article_url(final, ["https://elsewhere.example/story/"], in_scope=scope) == \
        "https://news.example/amp/story/"
    # a site that points every page's canonical at its home page
    assert article_url(final, ["https://news.example/"], in_scope=scope,
                       entry_points=["https://news.example/"]) == "https://news.example/amp/story/"
    assert article_url("https://news.example/", ["/"], in_scope=scope,
                       entry_points=["https://news.example/"]) == "https://news.example/"
    assert article_url(final, ["javascript:alert(1)"], in_scope=scope) == "https://news.example/amp/story/"


def test_next_version():
    assert next_version([], "fp1", ok=True).kind == "new"
    v1 = {"v": 1, "key": "clean/k1.json", "fp": "fp1", "ok": True}
    assert next_version([v1], "fp1", ok=True).kind == "unchanged"
    change = next_version([v1], "fp2", ok=True)
    assert (change.kind, change.version, change.previous_key, change.store) == ("changed", 2, "clean/k1.json", True)
    # an empty or failed extraction does not replace a good version
    assert next_version([v1], "fp-empty", ok=False).kind == "kept"
    empty = {"v": 1, "key": "clean/k0.json", "fp": "fp-empty", "ok": False}
    assert next_version([empty], "fp1", ok=True).version == 2
    # a text the extractor now makes of the same page is known by the latest version
    assert next_version([{**v1, "same": ["fp3"]}], "fp3", ok=True).kind == "unchanged"
    assert next_version([v1, {**v1, "v": 2, "key": "clean/k2.json", "fp": "fp2"}], "fp3", ok=True).kind == "changed"
