"""Offline language detection (py3langid: a small model shipped in the package, no network)."""

from __future__ import annotations

from typing import Optional

MIN_CHARS = 40          # below this, detection is a guess: use what the page declares
SAMPLE_CHARS = 400   # enough for a reliable guess; detection cost grows with the sample


def detect(text: str, declared: Optional[str] = None) -> Optional[str]:
    """ISO 639-1 code of ``text``'s language; ``declared`` (the page's own) for very short texts."""
    sample = " ".join(text[:SAMPLE_CHARS * 2].split())[:SAMPLE_CHARS]
    if len(sample) < MIN_CHARS:
        return declared
    try:
        import py3langid
    except ImportError:  # pragma: no cover - a dependency, but never crash extraction over it
        return declared
    lang, _score = py3langid.classify(sample)
    return lang or declared


def warm_up() -> None:
    """Load the model now (it takes a moment) rather than on the first page."""
    detect("warm up the language model with a sentence of some length, please")
