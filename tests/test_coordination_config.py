"""The ``coordination:`` section: validated, optional, and its password never shown."""

from __future__ import annotations

import textwrap

import pytest

from crawler.config import ConfigError, parse_config
from tests.servers.ports import free_ports

BASE = """\
storage:
  url: file://./archive
coordination:
  redis_url: ${REDIS_URL}
sources:
  - name: town
    start_urls: [https://example.org/news/]
    distributed: true
"""


def parse(text: str, env: dict):
    return parse_config(textwrap.dedent(text), file="c.yaml", env=env)


def error_of(text: str, env: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_coordination_loads_from_the_environment_and_masks_the_password():
    settings = parse(BASE, {"REDIS_URL": "redis://:s3cret-pass@redis:6379/2"})
    assert settings.coordinated and settings.sources[0].distributed
    coord = settings.coordination
    assert coord.key_prefix == "archiver" and coord.lease_seconds == 30
    assert coord.describe() == "redis://:***@redis:6379/2"
    assert "s3cret-pass" not in repr(settings) and "s3cret-pass" not in repr(coord)


def test_an_empty_url_means_one_worker_as_before():
    settings = parse(BASE.replace("${REDIS_URL}", "${REDIS_URL:-}"), {})
    assert not settings.coordinated
    settings = parse(BASE.replace("coordination:\n  redis_url: ${REDIS_URL}\n", ""), {})
    assert settings.coordination is None and not settings.coordinated
    assert not parse(BASE.replace("    distributed: true\n", ""), {"REDIS_URL": "redis://r:6379/0"}
                     ).sources[0].distributed


@pytest.mark.parametrize("url, words", [
    ("http://:pw-777@redis:6379/0", "use redis://HOST:PORT/DB"),
    ("redis://:pw-777@:6379/0", "names no host"),
    ("redis://:pw-777@redis:6379/zero", "database number"),
    ("redis://:pw-777@redis:99999/0", "bad port"),
])
def test_bad_urls_are_one_line_errors_without_the_password(url, words):
    message = error_of(BASE, {"REDIS_URL": url})
    assert message.startswith("c.yaml:4: coordination.redis_url: ") and words in message
    assert "pw-777" not in message


def test_unknown_and_secret_keys_in_coordination():
    message = error_of(BASE.replace("  redis_url:", "  redis_ulr:"), {"REDIS_URL": "redis://r/0"})
    assert "coordination.redis_ulr" in message and "did you mean 'redis_url'" in message
    message = error_of(BASE.replace("  redis_url: ${REDIS_URL}", "  redis_url: redis://r/0\n  password: x"), {})
    assert "coordination.password" in message and "REDIS_URL" in message and "AWS" not in message
    message = error_of(BASE.replace("  redis_url: ${REDIS_URL}", "  redis_url: redis://r/0\n  lease_seconds: 0"),
                       {})
    assert "coordination.lease_seconds" in message
    message = error_of(BASE.replace("  redis_url: ${REDIS_URL}", "  redis_url: redis://r/0\n  key_prefix: a:b"),
                       {})
    assert "coordination.key_prefix" in message


def test_validate_reports_and_checks_coordination(cli, tmp_path, redis_server):
    config = tmp_path / "c.yaml"
    config.write_text(textwrap.dedent(BASE))
    ok = cli("validate", "--config", config, "--check-coordination", env={"REDIS_URL": redis_server.url})
    assert ok.returncode == 0, ok.stderr
    assert "coordination: redis://:***@127.0.0.1" in ok.stdout and "distributed sources: town" in ok.stdout
    assert "coordination OK" in ok.stdout and redis_server.password not in ok.stdout + ok.stderr

    wrong = redis_server.url.replace(redis_server.password, "not-the-password")
    bad = cli("validate", "--config", config, "--check-coordination", env={"REDIS_URL": wrong})
    assert bad.returncode == 4 and bad.stderr.count("\n") == 1
    assert "refused the credentials" in bad.stderr and "not-the-password" not in bad.stderr

    gone = f"redis://:pw-9@127.0.0.1:{free_ports(1)[0]}/0"
    bad = cli("validate", "--config", config, "--check-coordination", env={"REDIS_URL": gone})
    assert bad.returncode == 4 and "cannot reach" in bad.stderr and "pw-9" not in bad.stderr

    single = cli("validate", "--config", config, env={"REDIS_URL": ""})
    assert single.returncode == 0 and "each runs on one worker" in single.stdout


def test_compose_scales_workers_that_coordinate_through_its_redis():
    import yaml

    from tests.conftest import ROOT

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    redis, worker = services["redis"], services["worker"]
    assert "redis" in worker["depends_on"]
    password = "${REDIS_PASSWORD:-change-me-redis}"
    assert redis["command"][redis["command"].index("--requirepass") + 1] == password
    assert worker["environment"]["REDIS_URL"] == f"redis://:{password}@redis:6379/0"
    assert not redis.get("ports")  # reachable by the workers only
    # `--scale worker=3`: a host port range, one port per replica
    (port,) = worker["ports"]
    assert port.startswith("127.0.0.1:") and "}-${" in port and port.endswith(":8080")
    mounted = dict(v.split(":")[:2][::-1] for v in worker["volumes"] if v.startswith("./"))
    text = (ROOT / mounted["/config/sources.yaml"]).read_text()
    scaled = parse_config(text, file="sources.yaml", env={"REDIS_URL": "redis://:pw-1@redis:6379/0"})
    assert scaled.coordinated and scaled.coordination.describe() == "redis://:***@redis:6379/0"
    assert not parse_config(text, file="sources.yaml", env={}).coordinated  # one worker alone, as before
