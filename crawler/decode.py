"""Pure: page bytes + Content-Type -> text, decoded with the page's real charset.

Order, as browsers do it: byte-order mark, the HTTP ``charset``, the page's own
``<meta charset>`` / XML declaration, then detection (charset-normalizer), and
UTF-8 last.
"""

from __future__ import annotations

from charset_normalizer import from_bytes
from w3lib.encoding import html_to_unicode

_DETECT_BYTES = 64 * 1024


def _detect(data: bytes) -> str | None:
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data[:_DETECT_BYTES]).best()
    return best.encoding if best is not None else None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Return ``(text, encoding)``; never raises on bad bytes (they become U+FFFD)."""
    encoding, text = html_to_unicode(content_type, body, auto_detect_fun=_detect)
    return text, encoding
