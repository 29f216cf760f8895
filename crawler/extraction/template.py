"""Per-source template model: text blocks that repeat across the pages of a source.

The model counts, for every block fingerprint (DOM path + normalized text, see
:mod:`crawler.extraction.blocks`), on how many *distinct pages* of the source it
was seen.  A block seen on enough pages is template (navigation, widgets,
footers, sidebars) and is removed before extraction.  Because a fingerprint
includes the whole text of the block, text that occurs on one page only can
never be template: the model cuts only what the site repeats.

Pages are counted once per URL (a re-fetched or edited article does not make
its own paragraphs "repeated"), counts of blocks not seen for many runs fade
out, and the model is bounded in size.  It is stored as JSON at
``state/<source>/template.json``; :meth:`TemplateModel.template` gives the
small, picklable set of template fingerprints that extraction workers need.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterable, Optional

FORMAT = 1
MAX_BLOCKS = 50_000       # fingerprints kept (the most useful first)
MAX_URLS = 20_000         # page identities remembered, so a page is counted once
STALE_RUNS = 30           # a block not seen for this many runs is forgotten (unless it is template)
TEMPLATE_STALE_RUNS = 200


def min_pages(pages_learned: int) -> int:
    """How many distinct pages a block must be on to count as template.

    Two when the model knows only a handful of pages (a first run), three from
    six pages on: a quote shared by two articles of a large site is not template.
    """
    return 2 if pages_learned < 6 else 3


def url_id(url: str) -> str:
    return hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


def state_key(source: str) -> str:
    from crawler.keys import check_component

    check_component(source, "source name")
    return f"state/{source}/template.json"


@dataclass
class TemplateModel:
    source: str = ""
    pages: int = 0                                        # distinct pages learned from
    runs: int = 0                                         # runs that updated the model
    blocks: dict[str, list[int]] = field(default_factory=dict)  # fingerprint -> [pages seen on, last run]
    urls: dict[str, int] = field(default_factory=dict)    # url id -> last run it was learned in

    # -- learning -------------------------------------------------------------------
    def learn(self, url: str, fingerprints: Iterable[str]) -> bool:
        """Count one page's blocks; a page already learned is not counted again.  Returns True if learned."""
        return self.learn_id(url_id(url), fingerprints)

    def learn_id(self, uid: str, fingerprints: Iterable[str]) -> bool:
        """:meth:`learn` by the page's :func:`url_id` (what a stored learning keeps, never the URL)."""
        if uid in self.urls:
            self.urls[uid] = max(self.urls[uid], self.runs)
            return False
        self.urls[uid] = self.runs
        self.pages += 1
        for fp in set(fingerprints):
            entry = self.blocks.get(fp)
            if entry is None:
                self.blocks[fp] = [1, self.runs]
            else:
                entry[0] += 1
                entry[1] = max(entry[1], self.runs)
        return True

    def knows(self, uid: str) -> bool:
        return uid in self.urls

    def finish_run(self, closing: Optional[int] = None) -> None:
        """Close a run: advance the run counter, forget stale blocks, bound the size.

        ``closing`` is the run counter of the model the run loaded (default: the
        current one).  The counter becomes ``closing + 1`` unless another writer
        already took it there or beyond: runs that started from the same model
        and overlapped (the replicas of a distributed crawl, two workers running
        one source at once) count as one run, so merging them never advances
        the counter twice and never ages live blocks out early.
        """
        closing = self.runs if closing is None else closing
        self.runs = max(self.runs, closing + 1)
        threshold = min_pages(self.pages)
        now = self.runs
        self.blocks = {fp: e for fp, e in self.blocks.items()
                       if now - e[1] <= (TEMPLATE_STALE_RUNS if e[0] >= threshold else STALE_RUNS)}
        if len(self.blocks) > MAX_BLOCKS:
            ranked = sorted(self.blocks.items(), key=lambda item: (item[1][0], item[1][1]), reverse=True)
            self.blocks = dict(ranked[:MAX_BLOCKS])
        if len(self.urls) > MAX_URLS:
            ranked_urls = sorted(self.urls.items(), key=lambda item: item[1], reverse=True)
            self.urls = dict(ranked_urls[:MAX_URLS])

    # -- use --------------------------------------------------------------------------
    def template(self) -> frozenset[str]:
        """The fingerprints that are template now (what extraction removes)."""
        if self.pages < 2:
            return frozenset()
        threshold = min_pages(self.pages)
        return frozenset(fp for fp, (count, _) in self.blocks.items() if count >= threshold)

    def seen_on(self, fp: str) -> int:
        entry = self.blocks.get(fp)
        return entry[0] if entry else 0

    # -- storage ------------------------------------------------------------------------
    def to_json(self) -> bytes:
        data = {"format": FORMAT, "kind": "template", "source": self.source, "pages": self.pages,
                "runs": self.runs, "template_blocks": len(self.template()),
                "blocks": self.blocks, "urls": self.urls}
        return json.dumps(data, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, source: str = "") -> "TemplateModel":
        """Read a stored model; raises ValueError if it is not one."""
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(obj, dict) or obj.get("kind") != "template" or obj.get("format") != FORMAT:
            raise ValueError("not a template model of a known format")
        blocks = obj.get("blocks") or {}
        urls = obj.get("urls") or {}
        if not isinstance(blocks, dict) or not isinstance(urls, dict):
            raise ValueError("malformed template model")
        clean_blocks = {}
        for fp, entry in blocks.items():
            if (isinstance(fp, str) and isinstance(entry, list) and len(entry) == 2
                    and all(isinstance(x, int) for x in entry)):
                clean_blocks[fp] = entry
        return cls(source=obj.get("source") or source, pages=int(obj.get("pages") or 0),
                   runs=int(obj.get("runs") or 0), blocks=clean_blocks,
                   urls={k: int(v) for k, v in urls.items() if isinstance(v, int)})


def learn_pages(model: Optional[TemplateModel], pages: Iterable[tuple[str, Iterable[str]]],
                source: str = "") -> TemplateModel:
    """Learn several (url, fingerprints) pages into ``model`` (a new one if None)."""
    model = model if model is not None else TemplateModel(source=source)
    for url, fps in pages:
        model.learn(url, fps)
    return model
