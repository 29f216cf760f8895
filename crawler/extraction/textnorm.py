"""Pure text helpers shared by the stages: normalization and word n-grams."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+", re.UNICODE)
SHORT_BLOCK_WORDS = 8  # numbers in blocks this short are counters, dates, temperatures


def norm(text: str) -> str:
    """Runs of whitespace become one space; ends trimmed."""
    return " ".join(text.split())


def fingerprint_text(text: str) -> str:
    """The form of a block's text used to recognise it on other pages.

    ``text`` is whitespace-normalized already.  Case-folded; in short blocks every number becomes
    ``0`` so that counters ("Comments (3)"), temperatures and dates in widgets
    match across pages, while long blocks must match exactly.
    """
    text = text.casefold()
    if text.count(" ") < SHORT_BLOCK_WORDS:
        text = _DIGITS.sub("0", text)
    return text


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def ngrams(tokens: list[str], n: int = 4) -> set[tuple[str, ...]]:
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def coverage(part: str, whole: str, n: int = 4) -> float:
    """Share of ``part``'s word n-grams that occur in ``whole`` (1.0 when ``part`` is empty)."""
    grams = ngrams(words(part), n)
    if not grams:
        return 1.0
    return len(grams & ngrams(words(whole), n)) / len(grams)
