"""Pure-ish classification of download failures into stable kinds for run records.

Kinds a run record may hold: ``http_<status>``, ``timeout``, ``connection_lost``,
``connection_refused``, ``dns``, ``too_large``, ``redirect_loop``,
``too_many_redirects``, ``site_failing``, ``robots_disallowed``, ``out_of_scope``, ``ignored``,
``cancelled``; anything else is the exception's class name, lower-cased.
"""

from __future__ import annotations


def classify_failure(failure) -> tuple[str, str]:
    """``(kind, message)`` for a Twisted failure from a Scrapy errback."""
    return classify_exception(failure.value)


def classify_exception(exc: BaseException) -> tuple[str, str]:
    from scrapy.exceptions import IgnoreRequest
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.internet import error as terror

    message = str(exc) or type(exc).__name__
    name = type(exc).__name__
    lowered = message.lower()
    if isinstance(exc, HttpError):
        status = exc.response.status
        return f"http_{status}", f"HTTP {status}"
    if "max size" in lowered or "maxsize" in lowered or "warnsize" in lowered:
        return "too_large", message
    if isinstance(exc, IgnoreRequest):
        if name == "RedirectLoop":
            return "redirect_loop", message
        if name == "SiteFailing":
            return "site_failing", message
        if name == "HostBackedOff":
            return "host_backoff", message
        if "max redirections" in lowered:
            return "too_many_redirects", message
        if "robots.txt" in message:
            return "robots_disallowed", message
        if name == "OutOfScope" or "refused" in message:
            return "out_of_scope", message
        return "ignored", message
    if name in ("DNSLookupError", "CannotResolveHostError") or isinstance(exc, terror.DNSLookupError):
        if "refused" in message:
            return "out_of_scope", message
        return "dns", message
    if name == "DownloadCancelledError":
        # Scrapy cancels a body that grows past DOWNLOAD_MAXSIZE while streaming, without a message
        if not str(exc):
            return "too_large", "body grew past max_body_bytes while downloading"
        return "cancelled", message
    if isinstance(exc, (terror.TimeoutError, terror.TCPTimedOutError)) or "Timeout" in name:
        return "timeout", message
    if isinstance(exc, terror.ConnectionRefusedError) or name == "DownloadConnectionRefusedError":
        return "connection_refused", message
    if isinstance(exc, (terror.ConnectionLost, terror.ConnectionDone)) or name in (
            "ResponseNeverReceived", "ResponseFailed", "PotentialDataLoss", "DownloadFailedError",
            "ResponseDataLossError", "ConnectionLost"):
        if "ConnectionLost" in message or "ConnectionDone" in message or "ResponseNeverReceived" in message:
            message = "the connection was closed before the response was complete"
        return "connection_lost", message
    if "decompress" in lowered or "Decompression" in name:
        return "too_large", message
    return name.lower(), message
