"""Scrapy's log formatter, without page bodies in "Scraped from" debug lines."""

from __future__ import annotations

from scrapy.logformatter import LogFormatter


class QuietLogFormatter(LogFormatter):
    def scraped(self, item, response, spider):
        out = super().scraped(item, response, spider)
        out["args"] = {"src": response, "item": getattr(item, "final_url", type(item).__name__)}
        return out
