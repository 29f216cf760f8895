"""Many sources in one ``archiver serve``: all archived, never more crawls at once than allowed.

The full-size load run (20 sources x 200 pages, with its memory figures) is
``benchmarks/load.py``; this is the same run, small enough for every CI build.
"""

from __future__ import annotations

import pytest

from crawler.store import FileStore
from tests import sitegen
from tests.faults.audit import audit
from tests.faults.serving import ServeWatch, load_config, load_sources

pytestmark = pytest.mark.slow

SOURCES, PAGES, CONCURRENT = 20, 5, 2


def test_serve_runs_twenty_sources_and_archives_everything(site, tmp_path):
    sections = sitegen.serve_sections(site, SOURCES, PAGES, seed=60)
    root = tmp_path / "archive"
    # extraction in the crawl process: worker pools are the benchmark's business, not this test's
    config = load_config(tmp_path / "load.yaml", load_sources(site.url, list(sections), extract_workers=0),
                         {"url": f"file://{root}", "spool_dir": str(tmp_path / "spool")}, concurrent=CONCURRENT)
    watch = ServeWatch(config, FileStore(root), SOURCES, cwd=tmp_path)
    try:
        watch.wait_all(timeout=300)  # a deadline so a stuck scheduler fails the test, not a speed figure
        assert watch.stop() == 0, watch.output()[-3000:]
    finally:
        watch.kill()

    archive = audit(FileStore(root))
    archive.assert_sound()
    assert set(archive.clean_per_url()) == {site.url + a.path for arts in sections.values() for a in arts}
    assert len(archive.runs) == SOURCES
    assert {r["outcome"] for r in archive.runs.values()} == {"ok"}
    assert 1 <= watch.peaks.peak.crawls <= CONCURRENT, "never more crawls at once than max_concurrent_runs"
