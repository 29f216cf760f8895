"""The config file is YAML loaded safely: no code runs, no alias bomb expands."""

from __future__ import annotations

import time

import pytest

from crawler.config import ConfigError, parse_config


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!python/object/new:os.system",
                                 "!!python/name:os.system", "!!python/module:os"])
def test_python_tags_are_refused_without_running_anything(tag, cli, tmp_path):
    marker = tmp_path / "ran"
    config = tmp_path / "evil.yaml"
    config.write_text(f'sources:\n  - name: x\n    start_urls: {tag} ["touch {marker}"]\n')
    for command in ("validate", "crawl"):
        proc = cli(command, "--config", config)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("archiver: config error: ")
        assert "evil.yaml:3" in lines[0] and "could not determine a constructor" in lines[0]
        assert "Traceback" not in proc.stderr
    assert not marker.exists()


def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nsources: [*a{levels - 1}]\n"


def test_an_alias_bomb_is_refused_quickly():
    started = time.monotonic()
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_config(alias_bomb(), file="bomb.yaml")  # 9^9 values if expanded
    assert time.monotonic() - started < 5


def test_ordinary_aliases_still_work():
    settings = parse_config("""
sources:
  - &one {name: one, start_urls: ["http://127.0.0.1/a/"], delay: 2, max_depth: 1}
  - {<<: *one, name: two}
""", file="ok.yaml")
    assert [s.name for s in settings.sources] == ["one", "two"]
    assert settings.sources[1].delay == 2 and settings.sources[1].max_depth == 1
