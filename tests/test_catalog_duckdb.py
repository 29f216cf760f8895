"""The catalog is queryable in place with DuckDB: from the local folder and from S3 (httpfs)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests import sitegen
from tests.conftest import make_target, source

duckdb = pytest.importorskip("duckdb")
pytestmark = pytest.mark.slow

# the query the README shows (articles, versions and bytes per source)
QUERY = """
SELECT source,
       count(DISTINCT final_url) FILTER (WHERE extraction = 'ok')      AS articles,
       count(DISTINCT text_sha256) FILTER (WHERE extraction = 'ok')    AS texts,
       count(*)                                                         AS pages,
       max(fetched_at::TIMESTAMPTZ)                                     AS last_fetch
FROM read_json('{root}/catalog/*/*/*/*/*.jsonl', format = 'newline_delimited',
               union_by_name = true, sample_size = -1)
GROUP BY source ORDER BY source
"""


def crawl(site, target, write_config, cli, n=3):
    news = sitegen.serve(site, sitegen.build(n, seed=8))
    config = write_config([source("town", site.url, articles=[r"/news/\d{4}/"]),
                           source("city", site.url, start_urls=[f"{site.url}/news/2026/01/story-0000/"],
                                  max_depth=0)], target.storage)
    cli("crawl", "--config", config, env=target.env, check=True)
    edited = news.articles[1]
    edited.paragraphs.append("A correction was added to this story on Wednesday afternoon by the editors.")
    site.page(edited.path, sitegen.article_html(edited))
    cli("crawl", "--config", config, "--source", "town", env=target.env, check=True)
    return news


# the README's per-article history query
HISTORY = """
SELECT source, coalesce(article_url, final_url) AS article, count(DISTINCT clean_key) AS versions,
       max(version) AS latest
FROM read_json('{root}/catalog/*/*/*/*/*.jsonl', format = 'newline_delimited',
               union_by_name = true, sample_size = -1)
WHERE clean_key IS NOT NULL GROUP BY ALL ORDER BY versions DESC, article
"""


def check(result, n):
    assert [r[0] for r in result] == ["city", "town"]
    city, town = result
    assert city[1] == 1 and city[2] == 1
    assert town[1] == n and town[2] == n + 1  # one article edited: one more text
    assert town[3] > n and town[4] is not None


def test_duckdb_queries_the_catalog_in_a_folder(site, file_target, write_config, cli):
    news = crawl(site, file_target, write_config, cli)
    root = file_target.store.root
    result = duckdb.connect().execute(QUERY.format(root=root)).fetchall()
    check(result, 3)
    history = duckdb.connect().execute(HISTORY.format(root=root)).fetchall()
    urls = [site.url + a.path for a in news.articles]
    assert sorted(history) == sorted([("city", urls[0], 1, 1)] + [("town", u, 2 if u == urls[1] else 1,
                                                                   2 if u == urls[1] else 1) for u in urls])


def _httpfs_connection():
    """A DuckDB connection with httpfs loaded from a local package, never from the network."""
    try:
        import duckdb_ext  # the duckdb-ext-httpfs wheel ships the extension for one DuckDB version
        directory = list(duckdb_ext.__path__)[0] + "/extensions"
    except ImportError:
        directory = None
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if directory:
        config["extension_directory"] = directory
    con = duckdb.connect(config=config)
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error as exc:
        pytest.skip(f"DuckDB's httpfs extension is not installed for DuckDB {duckdb.__version__} "
                    f"(offline; install duckdb-ext-httpfs for this version): {str(exc).splitlines()[0]}")
    return con


def test_duckdb_queries_the_catalog_in_s3(site, seaweed, tmp_path, write_config, cli):
    con = _httpfs_connection()
    target = make_target("seaweedfs", tmp_path)
    crawl(site, target, write_config, cli)
    endpoint = urlsplit(target.storage["endpoint_url"])
    env = seaweed.read_only_env()  # reading the catalog needs no write access
    con.execute(f"""CREATE SECRET archive (TYPE s3, KEY_ID '{env["AWS_ACCESS_KEY_ID"]}',
                    SECRET '{env["AWS_SECRET_ACCESS_KEY"]}', REGION 'us-east-1',
                    ENDPOINT '{endpoint.netloc}', URL_STYLE 'path', USE_SSL false)""")
    bucket_prefix = target.storage["url"]  # s3://bucket/archive
    result = con.execute(QUERY.format(root=bucket_prefix)).fetchall()
    check(result, 3)
