"""Operations on trafilatura's XML body: line-level cleanup and rendering.

trafilatura returns the article as a small XML tree (``<p>``, ``<head rend="h2">``,
``<list><item>``, ``<quote>``, ``<table>``, ``<lb/>`` for line breaks).  Here:

- :func:`split_paragraphs` makes a ``<p>`` of each run of text that the page
  separated with two line breaks (``<br><br>``, how many small CMSs write
  paragraphs), so they come out as paragraphs, not as lines of one;
- :func:`drop_lines` removes lines a predicate rejects: whole blocks, or single
  ``<lb/>``-separated lines inside a block, returning what went and why;
- :func:`drop_orphan_headings` removes headings left with nothing under them;
- :func:`render` turns the tree into plain text with a blank line between
  blocks, and into Markdown (headings, lists, quotes, tables, and links
  recovered from the page).
"""

from __future__ import annotations

import re
from copy import deepcopy
from typing import Callable, Optional
from urllib.parse import urljoin

from lxml import etree
from trafilatura.xml import xmltotxt

from crawler.extraction.document import remove_keeping_tail
from crawler.extraction.report import Removal
from crawler.extraction.textnorm import norm

LINE_TAGS = frozenset(("p", "head", "item", "quote"))
# (text, position, count) -> (stage, reason, detail) or None; position/count locate the line in the text
Judge = Callable[[str, int, int], Optional[tuple[str, str, str]]]


def _blank(text: Optional[str]) -> bool:
    return text is None or not text.strip()


def split_paragraphs(body) -> None:
    """Split every top-level ``<p>`` at its runs of two or more ``<lb/>`` (nothing but space between)."""
    if body is None:
        return
    for p in [el for el in body if el.tag == "p"]:
        children = list(p)
        if not any(a.tag == "lb" and b.tag == "lb" and _blank(a.tail) for a, b in zip(children, children[1:])):
            continue
        paragraphs = [etree.Element("p", attrib=dict(p.attrib))]
        paragraphs[0].text = p.text
        i = 0
        while i < len(children):
            child = children[i]
            run = i
            while run + 1 < len(children) and children[run].tag == "lb" and children[run + 1].tag == "lb" \
                    and _blank(children[run].tail):
                run += 1
            if run > i:  # a paragraph break: the text after the last <lb/> opens the next one
                fresh = etree.Element("p", attrib=dict(p.attrib))
                fresh.text = (children[run].tail or "").lstrip() or None
                paragraphs.append(fresh)
                i = run + 1
                continue
            paragraphs[-1].append(child)
            i += 1
        paragraphs = [q for q in paragraphs if len(q) or not _blank(q.text)]
        if not paragraphs:
            continue
        for q in paragraphs:  # a break right before the end leaves a trailing <lb/>
            if len(q) and q[-1].tag == "lb" and _blank(q[-1].tail):
                q.remove(q[-1])
        paragraphs[-1].tail = p.tail
        parent, index = p.getparent(), p.getparent().index(p)
        parent.remove(p)
        for offset, q in enumerate(paragraphs):
            parent.insert(index + offset, q)


def _leaf_blocks(body) -> list:
    out = []
    for el in body.iter(*LINE_TAGS):
        if any(child.tag in LINE_TAGS or child.tag in ("list", "table") for child in el):
            continue
        out.append(el)
    return out


def _segments(el) -> list[tuple[str, object]]:
    """The ``<lb/>``-separated lines of a block: (text, owner) where owner is el (its .text) or an lb."""
    segs: list[tuple[str, object]] = []
    current: list[str] = [el.text or ""]
    owner: object = el
    for child in el:
        if child.tag == "lb":
            segs.append(("".join(current), owner))
            current, owner = [child.tail or ""], child
        else:
            current.append("".join(child.itertext()))
            current.append(child.tail or "")
    segs.append(("".join(current), owner))
    return segs


def _drop_segment(el, owner) -> None:
    """Remove one <lb/>-separated line from block ``el``."""
    if owner is el:
        el.text = None
        for child in list(el):
            if child.tag == "lb":
                el.remove(child)  # the break after the removed first line
                break
            el.remove(child)
        return
    # owner is an <lb/>: remove it and the inline content after it, up to the next <lb/>
    nxt = owner.getnext()
    while nxt is not None and nxt.tag != "lb":
        after = nxt.getnext()
        el.remove(nxt)
        nxt = after
    el.remove(owner)


def drop_lines(body, judge: Judge) -> list[Removal]:
    """Remove every block, or ``<lb/>`` line within a block, that ``judge`` rejects."""
    removed: list[Removal] = []
    leaves = _leaf_blocks(body)
    total = len(leaves)
    for slot_owner, slot in [(body, "text")] + [(c, "tail") for c in body]:
        loose = getattr(slot_owner, slot)
        if loose and loose.strip():
            verdict = judge(loose, -1, total)
            if verdict:
                removed.append(Removal.of(verdict[0], verdict[1], loose, verdict[2]))
                setattr(slot_owner, slot, None)
    for position, el in enumerate(leaves):
        text = "".join(el.itertext())
        if not text.strip():
            continue
        verdict = judge(text, position, total)
        if verdict:
            removed.append(Removal.of(verdict[0], verdict[1], text, verdict[2]))
            remove_keeping_tail(el)
            continue
        if not any(child.tag == "lb" for child in el):
            continue
        segs = _segments(el)
        cut: list[Removal] = []
        for seg_text, owner in reversed(segs):  # from the end: owners stay valid
            if not seg_text.strip():
                continue
            verdict = judge(seg_text, position, total)
            if verdict:
                cut.append(Removal.of(verdict[0], verdict[1], seg_text, verdict[2]))
                _drop_segment(el, owner)
        removed.extend(reversed(cut))  # reported in reading order
        if not "".join(el.itertext()).strip():
            remove_keeping_tail(el)
    _prune_empty(body)
    return removed


def cut_text(body, cutter) -> list[Removal]:
    """Cut what ``cutter`` matches out of every text slot of the body; drop blocks left empty."""
    removed: list[Removal] = []
    for el in _leaf_blocks(body):
        before = "".join(el.itertext())
        hits: list[str] = []
        for node in el.iter():
            for slot in ("text", "tail") if node is not el else ("text",):
                value = getattr(node, slot)
                if value and value.strip():
                    new, matched = cutter(value)
                    if matched:
                        setattr(node, slot, new)
                        hits.extend(matched)
        if not hits:
            continue
        after = "".join(el.itertext())
        removed.append(Removal.of("rules", "exclude-text", before if not after.strip() else before,
                                  ", ".join(dict.fromkeys(hits))))
        if not norm(after).strip(" .,;:|-"):
            remove_keeping_tail(el)
    _prune_empty(body)
    return removed


def _prune_empty(body) -> None:
    for el in list(body.iter("list", "quote", "table", "row")):
        if el.getparent() is not None and not "".join(el.itertext()).strip() and not el.xpath(".//graphic"):
            remove_keeping_tail(el)


def drop_orphan_headings(body, max_words: int = 8) -> list[Removal]:
    """Short headings left at the very end of the text, with nothing under them, are the titles
    of widgets whose content is gone ("Recent Activities", "ASHEVILLE WEATHER")."""
    removed: list[Removal] = []
    while True:
        children = [c for c in body if isinstance(c.tag, str)]
        if len(children) < 2 or children[-1].tag != "head":
            return removed
        last = children[-1]
        text = "".join(last.itertext())
        if len(text.split()) > max_words:
            return removed
        removed.append(Removal.of("lines", "orphan-heading", text))
        remove_keeping_tail(last)


# -- rendering ----------------------------------------------------------------------------

def _wrap(el):
    wrapper = etree.Element("body")
    wrapper.append(deepcopy(el))
    wrapper[0].tail = None
    return wrapper


def _loose(text: Optional[str]) -> str:
    return norm(text) if text and text.strip() else ""


def render(body, links: Optional[dict[str, list[tuple[str, str]]]] = None, base_url: str = "",
           markdown: bool = True) -> tuple[str, Optional[str]]:
    """Plain text (a blank line between blocks, list items on their own lines) and, when asked,
    Markdown made from the same rendering: ``#`` headings, ``>`` quotes, ``-`` lists, tables,
    and links where the page had them."""
    if body is None:
        return "", None
    text = [_loose(body.text)]
    md = [_loose(body.text)]
    for el in body:
        if isinstance(el.tag, str):
            block = xmltotxt(_wrap(el), False).strip()
            text.append(block)
            if markdown and block:
                md.append(_markdown_block(el, block, links, base_url))
        tail = _loose(el.tail)
        text.append(tail)
        md.append(tail)
    plain = "\n\n".join(b for b in text if b)
    return plain, ("\n\n".join(b for b in md if b) if markdown and plain else None)


def _markdown_block(el, block: str, links, base_url: str) -> str:
    if el.tag == "head":
        match = re.match(r"h([1-6])", el.get("rend") or "")
        block = "#" * (int(match.group(1)) if match else 2) + " " + " ".join(block.split())
    elif el.tag == "quote":
        block = "\n".join("> " + line if line.strip() else ">" for line in block.splitlines())
    if links:
        block = _add_links(el, block, links, base_url)
    return block


def _add_links(el, md: str, links: dict[str, list[tuple[str, str]]], base_url: str) -> str:
    for block in ([el] if el.tag != "list" else list(el.iter("item"))):
        anchors = links.get(norm("".join(block.itertext())))
        if not anchors:
            continue
        for text, href in anchors:
            if text and text in md and f"[{text}]" not in md:
                md = md.replace(text, f"[{text}]({urljoin(base_url, href)})", 1)
    return md
