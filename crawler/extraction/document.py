"""The page as text and as a tree: text printed outside the document is not part of it.

Scripts that print status lines before ``<!DOCTYPE html>`` or after ``</html>``
("Cron Job Starts") leave text the browser shows but that belongs to no
element; worse, it makes the HTML parser lose the page's structure.  It is cut
here, before parsing, and reported.
"""

from __future__ import annotations

import re
from typing import Optional

from lxml import etree
from lxml import html as lxml_html

from crawler.extraction.report import Removal

_START = re.compile(r"<!doctype\s+html|<html[\s>]", re.I)
_END = re.compile(r"</html\s*>", re.I)
_TAG_OR_COMMENT = re.compile(r"<!--.*?-->|<\?.*?\?>|<[^>]*>", re.S)


def strip_outside(html: str) -> tuple[str, list[Removal]]:
    """Cut visible text before the document start and after ``</html>``."""
    removed: list[Removal] = []
    start = _START.search(html, 0, 1 << 16)
    if start is None:
        return html, removed
    before = html[:start.start()]
    if before.strip():
        text = _TAG_OR_COMMENT.sub(" ", before)
        if text.strip():
            removed.append(Removal.of("outside", "text-before-document", text))
        # keep comments / a BOM / an XML declaration, drop the rest
        html = html[start.start():]
    ends = list(_END.finditer(html, max(0, len(html) - (1 << 16))))
    if ends:
        end = ends[-1].end()
        after = html[end:]
        text = _TAG_OR_COMMENT.sub(" ", after)
        if text.strip():
            removed.append(Removal.of("outside", "text-after-document", text))
            html = html[:end]
    return html, removed


def _parser() -> etree.HTMLParser:
    """trafilatura's parser settings, with lxml.html's element classes chosen in C.

    ``lxml.html.HTMLParser`` picks each element's Python class in a Python
    callback (special classes for form fields); every element the extraction
    touches pays for it.  trafilatura needs ``HtmlElement`` but none of the form
    classes, so a default lookup gives the same trees, faster.
    """
    parser = etree.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8",
                              remove_comments=True, remove_pis=True)
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
        element=lxml_html.HtmlElement, comment=lxml_html.HtmlComment, pi=lxml_html.HtmlProcessingInstruction,
        entity=lxml_html.HtmlEntity))
    return parser


_PARSER = _parser()


def parse(html: str) -> Optional[object]:
    """An lxml tree of the page (None when there is nothing to parse), as trafilatura's loader makes it."""
    from trafilatura.utils import repair_faulty_html  # here: the crawl process imports this module, not trafilatura

    beginning = html[:50].lower()
    html = repair_faulty_html(html, beginning)
    try:
        tree = lxml_html.document_fromstring(html.encode("utf-8", "surrogatepass"), parser=_PARSER)
    except (etree.ParserError, ValueError):
        return None
    if tree is None or len(tree) < 1:
        return None
    if "html" not in beginning and len(tree) < 2:
        return None  # not HTML at all (trafilatura rejects it the same way)
    return tree


def remove_keeping_tail(el) -> None:
    """Remove an element from its tree; the text after it (its tail) stays where it was."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail and tail.strip():
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)
