"""Extraction quality and cost, side by side with bare trafilatura in the same run.

    python benchmarks/extraction.py [--corpus ../shared/corpus/trafilatura-eval] [--limit N] [--jobs N]
                                    [--skip-corpus] [--per-template 10]

Three measures, each against bare ``trafilatura.extract(html, include_comments=False)``:

1. **Accuracy on the trafilatura evaluation corpus** (when ``../shared`` is there):
   runs ``../shared/tools/eval_extraction.py`` with ``--baseline`` and our
   :func:`article_text`; precision, recall, F1 and ms/page per row, every page
   through every extractor in turn.
2. **The local-news set** (``tests/newsset.py``: several CMS templates full of
   clutter, some with JSON-LD, some without): template lines leaked into the
   text and word 4-gram recall of the article, for bare trafilatura, for us on
   first sight (no template model), and for us with the template learned from
   the set's own pages.
3. **CPU per page** (process time, pages alternating between the two so load
   on the machine hits both alike), on the corpus pages and on the set, with
   extraction configured as in a crawl (fingerprints returned, a template set,
   Markdown).  Target: at most 1.3x bare trafilatura.

Numbers, not assertions: these machines are shared and noisy; compare ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.extract import ExtractOptions, extract, page_fingerprints  # noqa: E402
from crawler.extraction.template import TemplateModel  # noqa: E402
from crawler.extraction.textnorm import coverage  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "trafilatura-eval"


def scorer_for(corpus: Path) -> Path:
    """shared/tools/eval_extraction.py beside shared/corpus/<name>."""
    return corpus.resolve().parent.parent / "tools" / "eval_extraction.py"


def article_text(html, url):
    """What the scorer calls: our extraction with default options, the text or None."""
    article = extract(html if isinstance(html, bytes) else html.encode("utf-8"), url)
    return article.text if article.status == "ok" else None


def _bare(html):
    import trafilatura

    return trafilatura.extract(html, include_comments=False) or ""


# -- 1. the corpus ------------------------------------------------------------------------

def corpus_accuracy(corpus: Path, limit: int, jobs: int) -> None:
    scorer = scorer_for(corpus)
    print(f"== accuracy on {corpus} (scored by {scorer})", flush=True)
    cmd = [sys.executable, str(scorer), "--corpus", str(corpus), "--baseline", "--path", str(ROOT),
           "--extractor", "benchmarks.extraction:article_text", "--jobs", str(jobs)]
    if limit:
        cmd += ["--limit", str(limit)]
    subprocess.run(cmd, check=False, cwd=ROOT)


# -- 2. the local-news set ------------------------------------------------------------------

def news_set(per_template: int) -> list:
    from tests import newsset

    return newsset.build(per_template=per_template, seed=7)


def learned_templates(pages) -> dict:
    models: dict = {}
    for page in pages:
        model = models.setdefault(page.template, TemplateModel(source=page.template))
        model.learn(page.path, page_fingerprints(page.html.encode()))
    return {name: model.template() for name, model in models.items()}


def local_news(pages) -> None:
    templates = learned_templates(pages)
    rows = {"bare trafilatura": lambda p: _bare(p.html),
            "archiver, first sight": lambda p: extract(p.html.encode(), "http://127.0.0.1" + p.path).text,
            "archiver, template learned": lambda p: extract(
                p.html.encode(), "http://127.0.0.1" + p.path, None,
                ExtractOptions(template=templates[p.template])).text}
    n_templates = len({p.template for p in pages})
    print(f"\n== local-news set: {len(pages)} pages, {n_templates} templates")
    print(f"{'extractor':<28} {'pages with leaks':>16} {'template lines leaked':>22} {'4-gram recall min':>18} "
          f"{'mean':>6}")
    for name, run in rows.items():
        leaked_pages = leaked_lines = 0
        recalls = []
        for page in pages:
            text = run(page)
            leaks = [c for c in page.clutter if c in text]
            leaked_pages += bool(leaks)
            leaked_lines += len(leaks)
            recalls.append(coverage(page.text, text))
        print(f"{name:<28} {leaked_pages:>16} {leaked_lines:>22} {min(recalls):>18.4f} "
              f"{sum(recalls) / len(recalls):>6.4f}")


# -- 3. CPU per page ------------------------------------------------------------------------

def cpu_ratio(label: str, pages: list[tuple[bytes, str]], template: frozenset, rounds: int = 2) -> None:
    options = ExtractOptions(fingerprints=True, template=template, markdown=True)
    for body, url in pages[:3]:  # warm up both
        _bare(body)
        extract(body, url, None, options)
    bare = ours = 0.0
    for _ in range(rounds):
        for body, url in pages:
            t0 = time.process_time()
            _bare(body)
            t1 = time.process_time()
            extract(body, url, None, options)
            t2 = time.process_time()
            bare += t1 - t0
            ours += t2 - t1
    n = len(pages) * rounds
    print(f"{label:<34} {len(pages):>6} {bare / n * 1000:>12.2f} {ours / n * 1000:>12.2f} {ours / bare:>8.2f}x")


def corpus_pages(corpus: Path, limit: int) -> list[tuple[bytes, str]]:
    evaldata = json.loads((corpus / "evaldata.json").read_text(encoding="utf-8"))
    out = []
    for key, item in evaldata.items():
        path = corpus / "html" / (item["file"] + ".gz")
        if path.exists():
            out.append((gzip.decompress(path.read_bytes()), key if key.startswith("http") else "https://example.org/"))
        if limit and len(out) >= limit:
            break
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, default=0, help="only the first N corpus pages")
    parser.add_argument("--jobs", type=int, default=1, help="scorer processes (ms/page compare only at equal jobs)")
    parser.add_argument("--skip-corpus", action="store_true", help="no corpus accuracy run (it takes minutes)")
    parser.add_argument("--per-template", type=int, default=10, help="pages per template in the local-news set")
    args = parser.parse_args(argv)
    have_corpus = (args.corpus / "evaldata.json").exists() and scorer_for(args.corpus).exists()
    if not have_corpus:
        print(f"(no corpus at {args.corpus}: accuracy and corpus CPU are skipped)")
    elif not args.skip_corpus:
        corpus_accuracy(args.corpus, args.limit, args.jobs)

    pages = news_set(args.per_template)
    local_news(pages)

    print(f"\n== CPU per page (process time; bare trafilatura vs archiver as configured in a crawl)")
    print(f"{'pages':<34} {'count':>6} {'bare ms':>12} {'archiver ms':>12} {'ratio':>9}")
    templates = learned_templates(pages)
    cpu_ratio("local-news set (template learned)",
              [(p.html.encode(), "http://127.0.0.1" + p.path) for p in pages],
              frozenset().union(*templates.values()))
    if have_corpus:
        cpu_ratio("trafilatura-eval corpus", corpus_pages(args.corpus, args.limit), frozenset(), rounds=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
