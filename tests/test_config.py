"""Configuration: what loads, and the one-line errors for what does not."""

from __future__ import annotations

import textwrap

import pytest

from crawler.config import ConfigError, load_config, parse_config

GOOD = """\
storage:
  url: file://./archive
sources:
  - name: town-news
    start_urls: [https://example.org/news/]
    follow: ['/news/']
    articles: ['/news/\\d{4}/']
    feeds: [https://example.org/feed.xml]
    sitemaps: [https://example.org/sitemap.xml]
    max_depth: 2
    schedule: "0 * * * *"
    timezone: Europe/Belgrade
"""


def error_of(text: str, env: dict | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), file="my.yaml", env=env or {})
    message = str(info.value)
    assert "\n" not in message
    return info.value


def test_the_issue_example_loads():
    settings = parse_config(GOOD, file="x.yaml", env={})
    src = settings.sources[0]
    assert src.name == "town-news" and src.max_depth == 2 and src.timezone == "Europe/Belgrade"
    assert src.hosts() == ["example.org"]
    assert settings.storage.url == "file://./archive"


def test_unknown_key_names_file_line_key_and_suggests():
    err = error_of(GOOD.replace("    follow:", "    folow:"))
    assert str(err) == ("my.yaml:6: sources[0].folow (source 'town-news'): unknown key "
                        "(did you mean 'follow'?)")


def test_unknown_top_level_and_storage_keys():
    assert "did you mean 'sources'" in str(error_of(GOOD.replace("sources:", "source:")))
    err = error_of(GOOD.replace("  url: file", "  endpoint: http://x\n  url: file"))
    assert err.line == 2 and "storage.endpoint" in str(err) and "endpoint_url" in str(err)


def test_bad_regex():
    err = error_of(GOOD.replace("['/news/']", "['/news/(']"))
    assert err.line == 6 and "sources[0].follow" in str(err) and "bad regex '/news/('" in str(err)


@pytest.mark.parametrize("cron, words", [
    ("61 * * * *", "minute: 61 is out of range 0-59"),
    ("0 * * *", "has 4 fields"),
    ("@fortnightly", "unknown nickname"),
    ("0 0 31 2 *", "never fires"),
    ("*/0 * * * *", "bad step"),
])
def test_bad_cron(cron, words):
    err = error_of(GOOD.replace('"0 * * * *"', f'"{cron}"'))
    assert err.line == 11 and "sources[0].schedule" in str(err) and words in str(err)


def test_bad_timezone_suggests():
    err = error_of(GOOD.replace("Europe/Belgrade", "Europe/Belgrad"))
    assert "unknown time zone 'Europe/Belgrad' (did you mean 'Europe/Belgrade'?)" in str(err)


def test_duplicate_source_name():
    text = GOOD + "  - name: town-news\n    start_urls: [https://example.org/]\n"
    err = error_of(text)
    assert err.line == 13 and "duplicate source name 'town-news'" in str(err)


def test_bad_source_name_and_missing_entry_points():
    assert "must match" in str(error_of(GOOD.replace("name: town-news", "name: Town News")))
    text = "sources:\n  - name: empty\n"
    assert "at least one of start_urls, feeds, sitemaps" in str(error_of(text))


def test_yaml_syntax_error_has_a_line():
    err = error_of("sources:\n  - name: a\n    start_urls: [http://x/\n  bad: : :\n")
    assert err.line and "invalid YAML" in str(err)


def test_repeated_key_is_an_error_not_a_silent_overwrite():
    err = error_of(GOOD.replace("    max_depth: 2", "    max_depth: 2\n    max_depth: 3"))
    assert "appears twice" in str(err) and err.line == 11


def test_env_interpolation():
    text = GOOD.replace("[https://example.org/news/]", '["${SITE}/news/"]').replace("file://./archive",
                                                                                "${STORE:-file://./other}")
    settings = parse_config(text, env={"SITE": "https://news.example"})
    assert settings.sources[0].start_urls == ["https://news.example/news/"]
    assert settings.storage.url == "file://./other"
    err = error_of(text)
    assert "environment variable SITE is not set" in str(err) and err.line == 5


def test_credentials_are_refused_in_the_file():
    err = error_of(GOOD.replace("  url: file://./archive", "  url: file://./a\n  aws_secret_access_key: abc123"))
    assert "credentials do not belong in the config file" in str(err)
    assert "abc123" not in str(err)
    err = error_of(GOOD.replace("  url: file://./archive", "  url: s3://bkt\n  endpoint_url: http://u:pw@h:9000"))
    assert "credentials do not belong in endpoint_url" in str(err)


def test_storage_url_checked():
    assert "use file://PATH or s3://BUCKET/PREFIX" in str(error_of(GOOD.replace("file://./archive", "ftp://x")))
    assert "not a valid bucket name" in str(error_of(GOOD.replace("file://./archive", "s3://Bad_Bucket/x")))


def test_defaults_merge_and_errors_point_at_defaults():
    text = GOOD.replace("sources:", "defaults:\n  delay: 2.5\n  concurrency: 3\nsources:")
    src = parse_config(text, env={}).sources[0]
    assert src.delay == 2.5 and src.concurrency == 3
    err = error_of(GOOD.replace("sources:", "defaults:\n  dealy: 1\nsources:"))
    assert "defaults.dealy" in str(err) and "did you mean 'delay'" in str(err) and err.line == 4
    err = error_of(GOOD.replace("sources:", "defaults:\n  name: x\nsources:"))
    assert "belongs to each source" in str(err)


def test_type_errors_are_readable():
    err = error_of(GOOD.replace("max_depth: 2", "max_depth: deep"))
    assert "sources[0].max_depth" in str(err) and "integer" in str(err)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    bad = tmp_path / "latin.yaml"
    bad.write_bytes(b"sources: [\xff]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(empty)


def test_unsafe_yaml_tags_are_refused():
    err = error_of("sources: !!python/object/apply:os.system ['true']\n")
    assert "invalid YAML" in str(err)


# -- the CLI, as a user runs it ------------------------------------------------------

def test_validate_ok(cli, tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(GOOD)
    proc = cli("validate", "--config", path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"{path}: OK: 1 source(s) (town-news); storage file://./archive"


@pytest.mark.parametrize("mutation, expected", [
    (("    follow:", "    folow:"), ":6: sources[0].folow (source 'town-news'): unknown key (did you mean 'follow'?)"),
    (('"0 * * * *"', '"0 25 * * *"'), ":11: sources[0].schedule (source 'town-news'): hour: 25 is out of range 0-23"),
    (("['/news/']", "['[']"), ":6: sources[0].follow (source 'town-news'): item 0: bad regex '['"),
])
def test_validate_bad_configs_one_line_exit_2(cli, tmp_path, mutation, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace(*mutation))
    proc = cli("validate", "--config", path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"archiver: config error: {path}{expected}")
    assert "Traceback" not in proc.stderr


def test_validate_missing_file_and_crawl_with_bad_config(cli, tmp_path):
    proc = cli("validate", "--config", tmp_path / "missing.yaml")
    assert proc.returncode == 2 and "file not found" in proc.stderr and len(proc.stderr.splitlines()) == 1
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("max_depth: 2", "max_depth: -1"))
    proc = cli("crawl", "--config", path)
    assert proc.returncode == 2 and "sources[0].max_depth" in proc.stderr


def test_check_storage_unreachable_endpoint(cli, tmp_path):
    from tests.servers.ports import free_ports

    path = tmp_path / "s3.yaml"
    port = free_ports(1)[0]  # nothing listens there
    path.write_text(GOOD.replace("url: file://./archive",
                                 f"url: s3://bucket-x/p\n  endpoint_url: http://127.0.0.1:{port}\n  retries: 0"))
    proc = cli("validate", "--config", path, "--check-storage",
               env={"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value-xyz"})
    assert proc.returncode == 3
    assert "cannot reach the S3 endpoint" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "s3cr3t-value-xyz" not in proc.stderr + proc.stdout
