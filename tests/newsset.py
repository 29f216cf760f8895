"""A local-news test set for extraction: several site templates full of clutter.

Each template is a small CMS of the kind that leaks its furniture into naive
extractions: widget stacks and activity streams inside the content column,
share bars, counters, read-more teasers, newsletter prompts, photo credits,
cron and CMS status lines printed into (or outside) the page.  Some templates
carry JSON-LD or microdata, some only meta tags, one nothing at all.

``build(per_template, seed)`` returns :class:`Page` objects that know their
article text (paragraphs), their metadata and the template lines that must
never reach a clean text.  Deterministic for a seed; used by the tests and by
``benchmarks/extraction.py``.
"""

from __future__ import annotations

import html
import json
import random
from dataclasses import dataclass, field

from tests.sitegen import NAMES

SENTENCE_WORDS = (
    "the council voted on tuesday to repair the old river bridge before winter arrives in the valley "
    "residents told the board that the detour adds twenty minutes to every trip across town "
    "the county engineer said crews would start work next month if the state grant is approved "
    "teachers and parents asked for safer crossings near the elementary school on main street "
    "volunteers at the food pantry served more families this year than in any year before "
    "the library will extend its evening hours and open a new reading room for students "
    "farmers at the market said the dry summer cut their harvest but prices stayed steady "
    "police reported fewer traffic accidents after new lights were installed downtown "
    "the mayor thanked the fire crews who worked through the night to contain the blaze"
).split()


@dataclass
class Page:
    template: str
    path: str
    title: str
    author: str
    published: str          # ISO 8601 with zone, as the page states it
    paragraphs: list[str]
    html: str
    clutter: list[str] = field(default_factory=list)   # lines that must not reach the clean text
    structured: str = "none"                             # json-ld | microdata | opengraph | none

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


VOCABULARY = sorted(set(SENTENCE_WORDS))


def _sentence(rng: random.Random) -> str:
    # random words: every page's word 4-grams are its own, so recall measures this page's text
    words = [rng.choice(VOCABULARY) for _ in range(rng.randint(9, 18))]
    if rng.random() < 0.3:
        words = words + [rng.choice(("said", "reported", "added")), rng.choice(NAMES).split()[0]]
    return " ".join(words).capitalize() + "."


def _paragraphs(rng: random.Random, n: int) -> list[str]:
    return [" ".join(_sentence(rng) for _ in range(rng.randint(2, 5))) for _ in range(n)]


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


# -- template 1: a community CMS with an activity stream in the content column -------------

def _community(rng: random.Random, i: int, title: str, author: str, when: str, paras: list[str]) -> tuple[str, list]:
    who = rng.choice(("Marge", "Bob", "Alice", "Tom", "Jenny"))
    temp = rng.randint(30, 80)
    clutter = ["ASHEVILLE WEATHER", f"{temp}°F", "Community News", "Pinned Items", "Recent Activities",
               f"{who} updated an article", "Comments (0)", "Post is under moderation",
               "Stream item published successfully. Item will now be visible on your stream.",
               "There are no activities here yet", "Cron Job Starts"]
    body = "".join(f"<p>{_esc(p)}</p>" for p in paras)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)} - Asheville Community</title>
<meta name="author" content="{_esc(author)}"><meta name="date" content="{when}"></head>
<body><div id="wrapper"><div class="top"><a href="/">Home</a> | <a href="/news/">News</a> | <a href="/events/">Events</a></div>
<div class="content">
<div class="item-page"><h2 class="contentheading">{_esc(title)}</h2>
<div class="createdby">Written by {_esc(author)}</div>
{body}
<p><b>ASHEVILLE WEATHER</b></p><p>{temp}°F</p>
<p><b>Community News</b></p>
<p><b>Pinned Items</b></p>
<p><b>Recent Activities</b></p>
<ul><li>{who} updated an article<br>0<br>0<br>Comments (0)<br>Post is under moderation<br>
Stream item published successfully. Item will now be visible on your stream.</li></ul>
<p>There are no activities here yet</p>
</div>
</div></div></body></html>
Cron Job Starts
"""
    return page, clutter


# -- template 2: a blog theme with share bar, teasers, counters and JSON-LD ---------------

def _blog(rng: random.Random, i: int, title: str, author: str, when: str, paras: list[str]) -> tuple[str, list]:
    related = f"Read more: {rng.choice(SENTENCE_WORDS).capitalize()} {rng.choice(SENTENCE_WORDS)} reopens after repairs"
    likes = rng.randint(0, 40)
    clutter = ["Share this:", "Tweet", "Email", "Print", related, f"{likes} Likes", "Be the first to comment",
               "Leave a Reply", "You must be logged in to post a comment."]
    mid = len(paras) // 2
    body = "".join(f"<p>{_esc(p)}</p>" for p in paras[:mid]) + f"<p><strong>{_esc(related)}</strong></p>" + \
        "".join(f"<p>{_esc(p)}</p>" for p in paras[mid:])
    ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": title,
          "datePublished": when, "author": {"@type": "Person", "name": author},
          "articleBody": "\n".join(paras), "publisher": {"@type": "Organization", "name": "Riverside Blog"}}
    page = f"""<!DOCTYPE html>
<html lang="en-US"><head><meta charset="utf-8"><title>{_esc(title)} | Riverside Blog</title>
<script type="application/ld+json">{json.dumps(ld)}</script></head>
<body class="single"><div class="site"><div class="post-wrap">
<h1 class="entry-title">{_esc(title)}</h1>
<div class="entry-content">{body}
<div class="sharedaddy"><h3 class="sd-title">Share this:</h3><div><a href="#tw">Tweet</a></div><div><a href="#em">Email</a></div><div><a href="#pr">Print</a></div></div>
<div class="likes"><span>{likes} Likes</span></div>
</div>
<div class="comments-area"><p>Be the first to comment</p><h3>Leave a Reply</h3><p>You must be logged in to post a comment.</p></div>
</div></div></body></html>"""
    return page, clutter


# -- template 3: an old table layout with <br> lines, counters and script output -------------

def _tables(rng: random.Random, i: int, title: str, author: str, when: str, paras: list[str]) -> tuple[str, list]:
    views = rng.randint(10, 999)
    secs = f"0.0{rng.randint(10, 99)}"
    clutter = [f"Views: {views}", f"Page generated in {secs} seconds", "Cron job finished", "Loading...",
               "Back to top"]
    body = "<br><br>".join(_esc(p) for p in paras)
    page = f"""<html><head><title>{_esc(title)}</title></head><body>
<table width="100%"><tr><td class="nav"><a href="/">Front page</a><br><a href="/archive/">Archive</a></td>
<td class="main" itemscope itemtype="https://schema.org/NewsArticle">
<span class="headline" itemprop="headline">{_esc(title)}</span><br>
By <span itemprop="author">{_esc(author)}</span> <meta itemprop="datePublished" content="{when}"><br><br>
<div itemprop="articleBody">{body}<br><br>
Views: {views}<br>Loading...<br>Back to top<br>
Page generated in {secs} seconds<br>Cron job finished</div>
</td></tr></table>
</body></html>"""
    return page, clutter


# -- template 4: a modern news site with OpenGraph, inline teasers, promos and credits ------

def _modern(rng: random.Random, i: int, title: str, author: str, when: str, paras: list[str]) -> tuple[str, list]:
    teaser = f"RELATED: {rng.choice(SENTENCE_WORDS).capitalize()} crews finish work on {rng.choice(SENTENCE_WORDS)} street"
    credit = f"Photo: {rng.choice(NAMES)} / Valley Times"
    clutter = [teaser, credit, "Sign up for our daily newsletter to get the latest news.", "Advertisement",
               "Follow us on Facebook and Twitter", "Most Read", "1.2k shares"]
    parts = [f"<p>{_esc(p)}</p>" for p in paras]
    parts.insert(1, f'<figure><img src="/img/{i}.jpg"><figcaption>{_esc(credit)}</figcaption></figure>')
    parts.insert(3, f"<p>{_esc(teaser)}</p>")
    parts.insert(4, '<div class="ad"><p>Advertisement</p></div>')
    body = "".join(parts)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)} - Valley Times</title>
<meta property="og:title" content="{_esc(title)}"><meta property="og:site_name" content="Valley Times">
<meta property="article:published_time" content="{when}"><meta name="author" content="{_esc(author)}">
<link rel="canonical" href="https://valleytimes.example/news/{i}/"></head>
<body><header><nav><a href="/">Valley Times</a> <a href="/local/">Local</a> <a href="/sports/">Sports</a></nav></header>
<main><div class="story"><h1>{_esc(title)}</h1><div class="meta">1.2k shares</div>
{body}
<p>Sign up for our daily newsletter to get the latest news.</p>
<p>Follow us on Facebook and Twitter</p>
</div><div class="rail"><h2>Most Read</h2></div></main>
<footer><p>&copy; 2026 Valley Times Media</p></footer></body></html>"""
    return page, clutter


TEMPLATES = {"community": (_community, "opengraph"), "blog": (_blog, "json-ld"),
             "tables": (_tables, "microdata"), "modern": (_modern, "opengraph")}


def build(per_template: int = 8, seed: int = 7) -> list[Page]:
    rng = random.Random(seed)
    pages = []
    for name, (make, kind) in TEMPLATES.items():
        for i in range(per_template):
            title = " ".join(rng.choice(SENTENCE_WORDS) for _ in range(rng.randint(5, 8))).capitalize()
            author = rng.choice(NAMES)
            when = f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T{rng.randint(6, 20):02d}:15:00-05:00"
            paras = _paragraphs(rng, rng.randint(3, 7))
            page_html, clutter = make(rng, i, title, author, when, paras)
            pages.append(Page(name, f"/{name}/2026/story-{i:03d}/", title, author, when, paras, page_html,
                              clutter, kind if name != "community" else "meta"))
    return pages
