"""Pure-ish classification of download failures into stable kinds for run records."""

from __future__ import annotations


def classify_failure(failure) -> tuple[str, str]:
    """``(kind, message)`` for a Twisted failure from a Scrapy errback."""
    from scrapy.exceptions import IgnoreRequest
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.internet import error as terror

    exc = failure.value
    message = str(exc) or type(exc).__name__
    if isinstance(exc, HttpError):
        status = exc.response.status
        return f"http_{status}", f"HTTP {status}"
    name = type(exc).__name__
    if "max size" in message or "maxsize" in message.lower() or "warnsize" in message.lower():
        return "too_large", message
    if isinstance(exc, IgnoreRequest):
        if "robots.txt" in message:
            return "robots_disallowed", message
        if name == "OutOfScope" or "refused" in message:
            return "out_of_scope", message
        return "ignored", message
    if isinstance(exc, terror.DNSLookupError):
        if "refused" in message:
            return "out_of_scope", message
        return "dns", message
    if isinstance(exc, (terror.TimeoutError, terror.TCPTimedOutError)) or "Timeout" in name:
        return "timeout", message
    if isinstance(exc, terror.ConnectionRefusedError):
        return "connection_refused", message
    if isinstance(exc, (terror.ConnectionLost, terror.ConnectionDone)) or "ResponseNeverReceived" in name \
            or "ResponseFailed" in name or "PotentialDataLoss" in name:
        return "connection_lost", message
    if "decompress" in message.lower() or "Decompression" in name:
        return "too_large", message
    return name.lower(), message
