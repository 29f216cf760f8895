"""Per-source extraction rules for the stubborn cases, written in the source's YAML::

    extract:
      include: "article .story-body"          # the article body (CSS or XPath)
      exclude: ["div.related", "//aside[@id='promo']"]
      exclude_text: ["Cron Job Starts", "/^Comments \\(\\d+\\)$/i"]

Selectors starting with ``/``, ``./`` or ``(`` are XPath, others CSS.
``exclude_text`` entries are phrases (matched case-insensitively, whitespace
ignored) or ``/regex/flags`` (flags ``i``, ``m``, ``s``); what matches is cut from
the extracted text, and a line left empty goes with it.

Everything is compiled at load time (``archiver validate`` reports a bad
selector or regex with its file, line and key) and kept as plain strings in
:class:`RuleSet`, which is picklable for the extraction workers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from lxml import etree

from crawler.extraction.document import remove_keeping_tail
from crawler.extraction.report import Removal
from crawler.extraction.textnorm import norm

_REGEX = re.compile(r"^/(.*)/([ims]*)$", re.S)


def is_xpath(selector: str) -> bool:
    return selector.lstrip().startswith(("/", "./", "("))


@lru_cache(maxsize=256)
def compile_selector(selector: str) -> etree.XPath:
    """CSS or XPath -> a compiled XPath; raises ValueError with a readable reason."""
    if not isinstance(selector, str) or not selector.strip():
        raise ValueError("empty selector")
    selector = selector.strip()
    if is_xpath(selector):
        try:
            return etree.XPath(selector)
        except etree.XPathSyntaxError as exc:
            raise ValueError(f"bad XPath '{selector}': {exc}") from None
    from cssselect import GenericTranslator, SelectorError

    try:
        return etree.XPath(GenericTranslator().css_to_xpath(selector))
    except SelectorError as exc:
        raise ValueError(f"bad CSS selector '{selector}': {exc}") from None
    except etree.XPathSyntaxError as exc:  # pragma: no cover - translator output is valid XPath
        raise ValueError(f"bad CSS selector '{selector}': {exc}") from None


@lru_cache(maxsize=256)
def compile_text_pattern(pattern: str) -> re.Pattern:
    """A phrase or ``/regex/flags`` -> a compiled regex; raises ValueError with a readable reason."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError("empty pattern")
    match = _REGEX.match(pattern.strip())
    if match and match.group(1):
        flags = 0
        for f in match.group(2):
            flags |= {"i": re.I, "m": re.M, "s": re.S}[f]
        try:
            return re.compile(match.group(1), flags)
        except re.error as exc:
            raise ValueError(f"bad regex '{pattern}': {exc}") from None
    words = norm(pattern).split(" ")
    return re.compile(r"\s+".join(re.escape(w) for w in words), re.I)


class ItemError(ValueError):
    """A bad entry in a list; ``index`` lets the config loader point at its line."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


def _check_items(values: list[str], compile_one) -> list[str]:
    for i, value in enumerate(values):
        try:
            compile_one(value)
        except ValueError as exc:
            raise ItemError(i, str(exc)) from None
    return values


def check_selectors(values: list[str]) -> list[str]:
    return _check_items(values, compile_selector)


def check_patterns(values: list[str]) -> list[str]:
    return _check_items(values, compile_text_pattern)


@dataclass(frozen=True)
class RuleSet:
    include: Optional[str] = None
    exclude: tuple[str, ...] = ()
    exclude_text: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude or self.exclude_text)


@lru_cache(maxsize=64)
def digest(rules: RuleSet, stray_lines: bool = True) -> str:
    """A short, stable name for a source's extraction rules, recorded in each clean object.

    The same ``include`` / ``exclude`` / ``exclude_text`` / ``stray_lines`` give
    the same digest whatever the YAML's layout, so a reader can tell which
    objects were made under which rules (e.g. before and after a rule change).
    """
    import hashlib
    import json

    spec = {"include": rules.include, "exclude": list(rules.exclude), "exclude_text": list(rules.exclude_text),
            "stray_lines": bool(stray_lines)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _select(tree, selector: str) -> list:
    try:
        found = compile_selector(selector)(tree)
    except etree.XPathEvalError:
        return []
    return [el for el in found if hasattr(el, "tag") and isinstance(el.tag, str)] if isinstance(found, list) else []


def apply_exclude(tree, rules: RuleSet) -> list[Removal]:
    """Remove the elements the ``exclude`` selectors match (their text goes, their tail stays)."""
    removed: list[Removal] = []
    for selector in rules.exclude:
        for el in _select(tree, selector):
            if el.getparent() is None:
                continue
            text = el.text_content() if hasattr(el, "text_content") else "".join(el.itertext())
            if text.strip():
                removed.append(Removal.of("rules", "exclude-selector", text, selector))
            remove_keeping_tail(el)
    return removed


def apply_include(tree, rules: RuleSet):
    """The elements the ``include`` selector matches, or [] (then the whole page is used)."""
    if not rules.include:
        return []
    return [el for el in _select(tree, rules.include) if "".join(el.itertext()).strip()]


def text_cutter(rules: RuleSet):
    """``text -> (text without the exclude_text matches, patterns that matched)``, or None without rules."""
    if not rules.exclude_text:
        return None
    patterns = [(p, compile_text_pattern(p)) for p in rules.exclude_text]

    def cut(text: str) -> tuple[str, list[str]]:
        hits = []
        for raw, pattern in patterns:
            new = pattern.sub("", text)
            if new != text:
                hits.append(raw)
                text = new
        return text, hits

    return cut
