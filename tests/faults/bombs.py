"""Hostile payloads, built once per test session: compression bombs and XML entity tricks."""

from __future__ import annotations

import gzip
from functools import lru_cache

GIB = 1024**3


@lru_cache(maxsize=None)
def gzip_bomb(size: int = GIB) -> bytes:
    """~1 MB of gzip that inflates to ``size`` bytes of zeros (concatenated 32 MiB members)."""
    member_size = 32 * 1024 * 1024
    member = gzip.compress(b"\0" * member_size, 9)
    return member * (size // member_size)


@lru_cache(maxsize=None)
def brotli_bomb(size: int = GIB) -> bytes:
    """~200 KB of brotli that inflates to ``size`` bytes of zeros."""
    import brotli

    compressor = brotli.Compressor(quality=1)
    chunk = b"\0" * (16 * 1024 * 1024)
    return b"".join(compressor.process(chunk) for _ in range(size // len(chunk))) + compressor.finish()


@lru_cache(maxsize=None)
def zstd_bomb(size: int = GIB) -> bytes:
    """~32 KB of zstd that inflates to ``size`` bytes of zeros."""
    try:
        from compression import zstd  # Python 3.14+
    except ImportError:
        from backports import zstd  # what Scrapy uses before 3.14

    compressor = zstd.ZstdCompressor(level=1)
    chunk = b"\0" * (16 * 1024 * 1024)
    return b"".join(compressor.compress(chunk) for _ in range(size // len(chunk))) + compressor.flush()


def billion_laughs(root: str = "rss") -> str:
    """Nested entities that expand to 10^9 'lol's if a parser expands them."""
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE {root} [{entities}]>'
            f'<{root} version="2.0"><channel><title>&lol9;</title>'
            f'<item><title>x</title><link>/news/laughs/</link></item></channel></{root}>')


def external_entity_sitemap(path: str) -> str:
    """A sitemap whose <loc> would pull in a local file if external entities were resolved."""
    return (f'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file://{path}">]>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            '<url><loc>/news/&xxe;/</loc></url></urlset>')


def external_dtd_sitemap(dtd_url: str) -> str:
    """A sitemap that names an external DTD on another server (a parser must not fetch it)."""
    return (f'<?xml version="1.0"?><!DOCTYPE urlset SYSTEM "{dtd_url}">'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            '<url><loc>/news/dtd/</loc></url></urlset>')


def parameter_entity_feed(dtd_url: str) -> str:
    """A feed that pulls a remote parameter entity (out-of-band XXE)."""
    return (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % remote SYSTEM "{dtd_url}"> %remote;]>'
            '<rss version="2.0"><channel><item><link>/news/pe/</link></item></channel></rss>')
