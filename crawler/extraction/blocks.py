"""The text blocks of an HTML page, each with its DOM path and a fingerprint.

A block is a block-level element with the text it holds directly or through
inline descendants (``<a>``, ``<span>``, ``<b>``...); a nested block element is a
block of its own.  So ``<p>The <b>council</b> met</p>`` is one block, and an
``<li>`` holding a ``<div>`` is two.  A block's text is kept as the list of text
slots (an element's ``.text`` or ``.tail``) it is made of, so that removing a
block clears exactly its own words and never those of a nested block.

The fingerprint of a block hashes its path (tags, classes and ids from
``<body>`` down, digits dropped) with its normalized text: the same widget on
two pages of a site gives the same fingerprint, the same words inside the
article body of another page do not.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Optional

from lxml import etree

from crawler.extraction.textnorm import fingerprint_text, norm

INLINE = frozenset("""a abbr acronym b bdi bdo big br cite code data dfn em font i img input kbd label mark q s samp
small span strike strong sub sup time tt u var wbr del ins nobr button select option textarea math svg
picture source""".split())
SKIP = frozenset(("script", "style", "noscript", "template", "head", "title", "meta", "link", "iframe", "object",
                  "embed", "canvas", "map"))
_DIGITS = re.compile(r"\d+")


@dataclass(slots=True)
class Block:
    element: object
    path: str
    slots: list = field(default_factory=list)    # (element, "text" | "tail")
    anchors: list = field(default_factory=list)  # (anchor text, href)
    parts: list = field(default_factory=list)    # the text pieces, while segmenting
    text: str = ""
    fingerprint: str = ""

    def clear(self) -> None:
        """Remove this block's own text from the page (nested blocks keep theirs)."""
        for el, slot in self.slots:
            setattr(el, slot, None)


_SIGNATURES: dict = {}


def _signature(el) -> str:
    key = (el.tag, el.get("id"), el.get("class"))
    sig = _SIGNATURES.get(key)
    if sig is None:
        sig = _make_signature(*key)
        if len(_SIGNATURES) < 50_000:
            _SIGNATURES[key] = sig
    return sig


def _make_signature(tag, ident, classes) -> str:
    sig = tag
    if ident:
        ident = _DIGITS.sub("", ident).strip("-_")
        if ident:
            sig += "#" + ident
    if classes:
        names = [_DIGITS.sub("", c).strip("-_") for c in classes.split()[:3]]
        names = [n for n in names if n]
        if names:
            sig += "." + ".".join(sorted(names))
    return sig


def fingerprint(path: str, text: str) -> str:
    """``text`` already whitespace-normalized (as :attr:`Block.text` is)."""
    return hashlib.blake2b(f"{path}\x1f{fingerprint_text(text)}".encode("utf-8", "surrogatepass"),
                           digest_size=8).hexdigest()


_TEXT_NODES = etree.XPath("//body//text()[normalize-space()]")
_ANCHORS = etree.XPath("//body//a[@href]")


def segment(tree, base_url: Optional[str] = None, *, want_links: bool = False) -> list[Block]:
    """All non-empty text blocks of the page's ``<body>``, in document order.

    Walks the page's non-blank text nodes (found in C by XPath) rather than
    every element: each text node belongs to the nearest block-level element
    above it (inline elements are skipped over).  An element's path is built
    once, from the nearest ancestor whose path is known.
    """
    blocks: dict = {}    # block element -> Block (None: a skipped element such as <script>)
    paths: dict = {}

    def path_of(el) -> str:
        found = paths.get(el)
        if found is not None:
            return found
        chain = []  # from el up to the first ancestor whose path is known, or <body>
        while True:
            chain.append(el)
            parent = el.getparent()
            if parent is None or el.tag == "body":
                found = ""
                break
            found = paths.get(parent)
            if found is not None:
                break
            el = parent
        for el in reversed(chain):
            found = found + "/" + _signature(el) if found else _signature(el)
            paths[el] = found
        return found

    def block_of(el):
        while el is not None and el.tag in INLINE:
            el = el.getparent()
        return el

    missing = object()
    for node in _TEXT_NODES(tree):
        owner = node.getparent()
        if owner is None:
            continue
        if node.is_tail:
            slot, container = (owner, "tail"), owner.getparent()
        else:
            if owner.tag in SKIP:  # script, style... (their tails are text of the page)
                continue
            slot, container = (owner, "text"), owner
        el = block_of(container)
        block = blocks.get(el, missing)
        if block is missing:
            block = blocks[el] = None if el is None or el.tag in SKIP else Block(el, path_of(el))
        if block is None:
            continue
        block.slots.append(slot)
        block.parts.append(node)
    if want_links:
        for a in _ANCHORS(tree):
            block = blocks.get(block_of(a))
            href = a.get("href").strip()
            if block is None or href.startswith(("javascript:", "#", "mailto:")):
                continue
            anchor = norm(a.text_content())
            if anchor:
                block.anchors.append((anchor, href))  # made absolute when used
    out = []
    for block in blocks.values():
        if block is None:
            continue
        text = norm(" ".join(block.parts))
        block.parts = []
        if text:
            block.text = text
            block.fingerprint = fingerprint(block.path, text)
            out.append(block)
    return out
