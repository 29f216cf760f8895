"""Terminal output for the inspect commands: colors only on a TTY, widths, dates."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Optional

from crawler.records import parse_iso

CODES = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36", "bold": "1", "dim": "2"}


def is_tty(stream=None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def use_color(stream=None) -> bool:
    """Colors when writing to a terminal, unless ``NO_COLOR`` is set (https://no-color.org)."""
    return is_tty(stream) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def paint(text: str, style: str, enabled: bool) -> str:
    if not enabled or not text:
        return text
    codes = ";".join(CODES[s] for s in style.split("+"))
    return f"\x1b[{codes}m{text}\x1b[0m"


def width(default: int = 100) -> int:
    return shutil.get_terminal_size((default, 24)).columns


def clip(text: Optional[str], n: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: max(1, n - 1)] + "…"


def when(iso_text: Optional[str]) -> str:
    """``2026-11-25 13:05`` (UTC) from an ISO timestamp; the text itself if it is not one."""
    if not iso_text:
        return "-"
    try:
        return parse_iso(iso_text).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso_text


def human_bytes(n: Optional[int]) -> str:
    value = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
