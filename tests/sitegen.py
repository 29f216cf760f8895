"""Generate a local-news site (articles in template clutter, listings, feed, sitemaps).

Deterministic for a seed, so tests know every article's URL and text.  Used by
the end-to-end tests and by the benchmarks (which import it from ``tests``).
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass, field

WORDS = (
    "council county school board river bridge market library water street budget road park "
    "residents officials said meeting plan project funding vote week month year morning evening "
    "district neighbors downtown trail creek repairs crews grant state city mayor commission "
    "families students teachers drivers routes traffic detour volunteers community center health "
    "clinic farmers vendors season winter spring summer autumn storm flood damage rebuild open close "
    "hours staff survey request approve delay cost million thousand dollars report review public "
    "comment hearing police fire station ambulance rescue safety lights crossing sidewalk parking"
).split()
NAMES = ["Dana Whitfield", "Priya Raman", "Marcus Lee", "Ellen Baptiste", "Luis Ortega", "Rosa Delgado"]
CLUTTER = """
<aside class="sidebar">
  <div class="widget weather"><h3>ASHEVILLE WEATHER</h3><div class="temp">48&deg;F</div></div>
  <div class="widget"><h3>Community News</h3></div>
  <div class="widget"><h3>Pinned Items</h3></div>
  <div class="widget activity"><h3>Recent Activities</h3>
    <ul><li>Marge updated an article <span>0</span> <span>0</span> <a href="#c">Comments (0)</a>
      <div>Post is under moderation</div>
      <div>Stream item published successfully. Item will now be visible on your stream.</div></li></ul>
    <p>There are no activities here yet</p></div>
</aside>
<div class="cron">Cron Job Starts</div>
"""


@dataclass
class Article:
    path: str
    title: str
    author: str
    published: str
    paragraphs: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass
class NewsSite:
    articles: list[Article] = field(default_factory=list)
    listing_pages: list[str] = field(default_factory=list)


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(9, 22))]
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))


def article_html(a: Article, *, clutter: bool = True, extra: str = "") -> str:
    paras = "\n".join(f"<p>{html.escape(p)}</p>" for p in a.paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(a.title)} | Valley Ledger</title>
<meta name="author" content="{html.escape(a.author)}">
<meta property="article:published_time" content="{a.published}">
<link rel="canonical" href="{a.path}">
</head><body>
<header><a href="/news/">Valley Ledger</a><nav><a href="/news/">News</a> <a href="/about/">About</a></nav></header>
<main><article><h1>{html.escape(a.title)}</h1>
<p class="byline">By {html.escape(a.author)} <time datetime="{a.published}">{a.published[:10]}</time></p>
{paras}
</article>{extra}</main>
{CLUTTER if clutter else ""}
<footer>&copy; 2026 Valley Ledger</footer>
</body></html>"""


def build(n_articles: int = 20, *, seed: int = 1, per_listing: int = 10) -> NewsSite:
    rng = random.Random(seed)
    site = NewsSite()
    for i in range(n_articles):
        day = 1 + i % 28
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 9))).capitalize()
        path = f"/news/2026/{1 + (i // 28) % 12:02d}/story-{i:04d}/"
        paragraphs = [paragraph(rng) for _ in range(rng.randint(3, 7))]
        site.articles.append(Article(path, title, rng.choice(NAMES), f"2026-11-{day:02d}T08:00:00+00:00",
                                     paragraphs))
    pages = max(1, -(-n_articles // per_listing))
    site.listing_pages = ["/news/"] + [f"/news/page/{n}/" for n in range(2, pages + 1)]
    return site


def listing_html(site: NewsSite, index: int, per_listing: int = 10) -> str:
    chunk = site.articles[index * per_listing:(index + 1) * per_listing]
    items = "".join(f'<li><a href="{a.path}">{html.escape(a.title)}</a></li>' for a in chunk)
    nxt = ""
    if index + 1 < len(site.listing_pages):
        nxt = f'<a class="next" href="{site.listing_pages[index + 1]}">Next page</a>'
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>News</title></head><body>"
            f"<main><h1>Latest news</h1><ul>{items}</ul>{nxt}</main>{CLUTTER}</body></html>")


def feed_xml(base: str, articles: list[Article]) -> str:
    items = "".join(f"<item><title>{html.escape(a.title)}</title><link>{base}{a.path}</link>"
                    f"<pubDate>{a.published}</pubDate></item>" for a in articles)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Valley Ledger</title>{items}</channel></rss>'


def sitemap_xml(base: str, articles: list[Article]) -> str:
    urls = "".join(f"<url><loc>{base}{a.path}</loc><lastmod>{a.published}</lastmod></url>" for a in articles)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def sitemap_index_xml(base: str, paths: list[str]) -> str:
    items = "".join(f"<sitemap><loc>{base}{p}</loc></sitemap>" for p in paths)
    return f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'


def serve(server, news: NewsSite, *, per_listing: int = 10, per_sitemap: int = 100,
          clutter: bool = True) -> NewsSite:
    """Publish ``news`` on a :class:`tests.servers.site.SiteServer`."""
    for a in news.articles:
        server.page(a.path, article_html(a, clutter=clutter))
    for i, path in enumerate(news.listing_pages):
        server.page(path, listing_html(news, i, per_listing))
    server.page("/about/", "<html><body><h1>About</h1><p>A volunteer news site.</p></body></html>")
    server.page("/feed.xml", feed_xml(server.url, news.articles[:20]), "application/rss+xml")
    chunks = [news.articles[i:i + per_sitemap] for i in range(0, len(news.articles), per_sitemap)] or [[]]
    paths = []
    for n, chunk in enumerate(chunks, start=1):
        path = f"/sitemaps/articles-{n}.xml"
        server.page(path, sitemap_xml(server.url, chunk), "application/xml")
        paths.append(path)
    server.page("/sitemap_index.xml", sitemap_index_xml(server.url, paths), "application/xml")
    server.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    return news


def serve_sections(server, sections: int, pages: int, *, seed: int = 1) -> dict[str, list[Article]]:
    """Publish ``sections`` independent news sites side by side (``/s00/``, ``/s01/``...), each with
    ``pages`` articles and a sitemap at ``/sNN/sitemap.xml``; returns prefix -> articles."""
    from dataclasses import replace

    out = {}
    for i in range(sections):
        prefix = f"/s{i:02d}"
        articles = [replace(a, path=prefix + a.path) for a in build(pages, seed=seed + i).articles]
        for a in articles:
            server.page(a.path, article_html(a))
        server.page(f"{prefix}/sitemap.xml", sitemap_xml(server.url, articles), "application/xml")
        out[prefix] = articles
    return out
