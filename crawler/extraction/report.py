"""What an extraction stage removed, and why (shown by ``archiver extract --explain``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

MAX_SAMPLE = 160


@dataclass(frozen=True)
class Removal:
    stage: str    # outside | rules | template | lines | structured
    reason: str   # a short machine-readable reason, e.g. "share-widget"
    text: str     # what was removed (shortened)
    detail: str = ""  # e.g. the selector or rule that matched

    @classmethod
    def of(cls, stage: str, reason: str, text: str, detail: str = "") -> "Removal":
        text = " ".join(text.split())
        if len(text) > MAX_SAMPLE:
            text = text[:MAX_SAMPLE - 1] + "\u2026"
        return cls(stage, reason, text, detail)

    def to_dict(self) -> dict:
        return asdict(self)
