"""Logging setup for the worker processes: plain or JSON lines, secrets masked.

Library modules only log through their module loggers; this is called once by
the entry points (``crawler.run``, ``jobs.cli``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from crawler.secrets import mask

_RESERVED = set(vars(logging.makeLogRecord({})))
_OWN = ("crawler", "jobs")  # only our loggers' extra fields are printed


def _extras(record: logging.LogRecord, skip=()) -> dict:
    if not record.name.startswith(_OWN):
        return {}
    return {k: v for k, v in vars(record).items()
            if k not in _RESERVED and not k.startswith("_") and k not in skip}


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001
            return True
        record.msg, record.args = mask(message), None
        return True


class QuietLibraries(logging.Filter):
    """Drop chatter below WARNING from Scrapy, Twisted and friends (they reset their own levels)."""

    PREFIXES = ("scrapy", "twisted", "botocore", "boto3", "urllib3", "trafilatura", "htmldate",
                "charset_normalizer", "courlan", "py.warnings", "filelock", "asyncio", "apscheduler")

    def __init__(self, floor: int):
        super().__init__()
        self.floor = floor

    # loggers whose tracebacks only retell a failed download (a refused connection, a timeout):
    # the crawl records each failure by kind with its URL, the traceback adds nothing for a user
    DOWNLOAD_FAILURES = ("scrapy.downloadermiddlewares.retry", "scrapy.downloadermiddlewares.robotstxt")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.floor:
            if record.exc_info and self.floor > logging.DEBUG and self._download_failure(record):
                record.exc_info = record.exc_text = None
            return True
        return not record.name.startswith(self.PREFIXES)

    def _download_failure(self, record: logging.LogRecord) -> bool:
        return record.name in self.DOWNLOAD_FAILURES or (
            record.name == "scrapy.core.scraper" and str(record.msg).startswith("Error downloading"))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record, skip=out).items():
            out[key] = value
        if record.exc_info:
            out["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(out, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = _extras(record, skip=("message", "asctime"))
        if extras:
            text += " " + " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in extras.items())
        return mask(text)


def setup_logging(level: str = "info", fmt: str = "plain", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(MaskingFilter())
    root_level = getattr(logging, level.upper(), logging.INFO)
    handler.addFilter(QuietLibraries(logging.WARNING if root_level > logging.DEBUG else logging.DEBUG))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(root_level)
    logging.captureWarnings(True)

