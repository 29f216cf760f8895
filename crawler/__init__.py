"""archiver's crawler: Scrapy spiders, extraction and storage (no scheduler, no CLI)."""

__version__ = "0.1.0"
