"""Configuration: YAML in, typed settings out, one-line errors for user mistakes.

The schema lives here as pydantic models.  ``load_config(path)`` reads the file
safely (``yaml.SafeLoader``), interpolates ``${VAR}`` / ``${VAR:-default}`` in
string values, merges the ``defaults:`` section into every source, validates,
and raises :class:`ConfigError` whose ``str()`` is a single line naming the
file, the line, the key and what to do.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crawler.cron import parse_interval, validate_cron, validate_timezone

SOURCE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Keys that look like credentials: never accepted in the YAML.
_SECRET_KEY_RE = re.compile(r"(secret|password|passwd|access_key|token|credential)", re.I)

DEFAULT_USER_AGENT = "archiver/0.1 (+https://github.com/archiver-project/archiver)"


class ConfigError(Exception):
    """A user mistake in the configuration; ``str()`` is one line."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None):
        self.file, self.line, self.key, self.message = file, line, key, message
        where = file or "<config>"
        if line:
            where += f":{line}"
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        super().__init__(text.replace("\n", " "))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Model):
    url: str = "file://./archive"
    endpoint_url: Optional[str] = None
    region: Optional[str] = None
    profile: Optional[str] = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Since boto3 1.36 the client sends CRC checksums by default; some S3-compatible
    # servers reject them.  "when_required" restores the older behaviour.
    request_checksum_calculation: Literal["when_supported", "when_required"] = "when_supported"
    response_checksum_validation: Literal["when_supported", "when_required"] = "when_supported"
    # Pages that could not be stored are kept here and uploaded by the next run.
    spool_dir: str = "./.archiver-spool"
    spool_max_bytes: int = Field(default=2 * 1024**3, ge=1024 * 1024)
    retries: int = Field(default=5, ge=0, le=20)
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme == "file":
            if not (parts.netloc + parts.path):
                raise ValueError("file:// needs a path, e.g. file://./archive")
        elif parts.scheme == "s3":
            bucket = parts.netloc
            if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket or ""):
                raise ValueError(f"'{bucket}' is not a valid bucket name (3-63 of a-z 0-9 . -)")
            if ".." in parts.path.split("/"):
                raise ValueError("the s3:// prefix must not contain '..'")
        else:
            raise ValueError(f"use file://PATH or s3://BUCKET/PREFIX, not '{v}'")
        return v

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{v}' is not an http(s) URL")
        if parts.username or parts.password:
            raise ValueError("credentials do not belong in endpoint_url; use the AWS environment")
        return v


class ExtractSettings(_Model):
    """Per-source extraction rules and switches (see crawler/extraction/rules.py)."""

    include: Optional[str] = None                          # CSS/XPath of the article body
    exclude: list[str] = Field(default_factory=list)       # CSS/XPath of elements to drop
    exclude_text: list[str] = Field(default_factory=list)  # phrases or /regex/flags to cut from the text
    learn_template: bool = True                            # learn and remove the source's repeated blocks
    stray_lines: bool = True                               # drop counters, share widgets, CMS status lines
    markdown: bool = True                                  # store a Markdown rendering beside the text

    @field_validator("include")
    @classmethod
    def _check_include(cls, v: Optional[str]) -> Optional[str]:
        from crawler.extraction.rules import compile_selector

        if v is not None:
            compile_selector(v)
        return v

    @field_validator("exclude")
    @classmethod
    def _check_exclude(cls, v: list[str]) -> list[str]:
        from crawler.extraction.rules import check_selectors

        return check_selectors(v)

    @field_validator("exclude_text")
    @classmethod
    def _check_exclude_text(cls, v: list[str]) -> list[str]:
        from crawler.extraction.rules import check_patterns

        return check_patterns(v)


class CoordinationSettings(_Model):
    """How replicas cooperate through Redis (``coordination:``; absent or empty URL: one worker)."""

    # redis://[:password@]host:port/db, rediss:// (TLS) or unix:///path; the password is a
    # secret: write it as ${REDIS_URL}, it is masked wherever the URL is shown
    redis_url: str = Field(default="", repr=False)
    # every key this deployment writes starts with it, so deployments can share a Redis
    key_prefix: str = Field(default="archiver", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
    # a replica that stops renewing its leases for this long loses them
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    connect_timeout: float = Field(default=5.0, gt=0, le=120)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, v: str) -> str:
        from crawler.secrets import mask

        if not v:
            return v
        parts = urlsplit(v)
        if parts.scheme in ("redis", "rediss"):
            try:
                parts.port
            except ValueError:
                raise ValueError(f"'{mask(v)}' has a bad port") from None
            if not parts.hostname:
                raise ValueError(f"'{mask(v)}' names no host; e.g. redis://redis:6379/0")
            db = parts.path.strip("/")
            if db and not db.isdigit():
                raise ValueError(f"'{mask(v)}': the path is the database number, e.g. /0")
        elif parts.scheme == "unix":
            if not parts.path:
                raise ValueError("unix:// needs a socket path, e.g. unix:///run/redis.sock")
        else:
            raise ValueError(f"use redis://HOST:PORT/DB, rediss://... or unix:///PATH, not '{mask(v)}'")
        return v

    @property
    def enabled(self) -> bool:
        return bool(self.redis_url)

    def describe(self) -> str:
        from crawler.secrets import mask

        return mask(self.redis_url)


class RevisitSettings(_Model):
    """How often pages already archived are checked again (see crawler.revisit)."""

    recent_days: float = Field(default=7, ge=0)
    recent_every: str = "0"       # 0: every run
    old_every: str = "0"          # e.g. 1d: articles older than recent_days at most daily
    known_pages: bool = True

    @field_validator("recent_every", "old_every", mode="before")
    @classmethod
    def _check_every(cls, v) -> str:
        from crawler.revisit import parse_duration

        parse_duration(v)
        return str(v)


class SourceSettings(_Model):
    name: str
    start_urls: list[str] = Field(default_factory=list)
    follow: list[str] = Field(default_factory=list)
    articles: list[str] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list)
    sitemaps: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(default_factory=list)
    max_depth: int = Field(default=2, ge=0, le=50)
    schedule: Optional[str] = "0 * * * *"
    interval: Optional[str] = None
    timezone: str = "UTC"
    jitter: int = Field(default=0, ge=0, le=86400)
    enabled: bool = True
    # politeness
    obey_robots: bool = True
    user_agent: str = DEFAULT_USER_AGENT
    concurrency: int = Field(default=4, ge=1, le=64)
    delay: float = Field(default=0.5, ge=0, le=600)
    autothrottle: bool = True
    cookies: bool = False  # keep the cookies the site sets, for the length of one run
    download_timeout: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=2, ge=0, le=10)
    # a 429/503 asking for a longer wait than this (seconds) ends this run's visits to the host
    max_retry_after: float = Field(default=300, ge=0, le=86400)
    # incremental crawling: conditional requests and the revisit policy
    conditional_requests: bool = True
    revisit: RevisitSettings = Field(default_factory=RevisitSettings)
    # bounds
    max_pages: int = Field(default=5000, ge=1)
    max_run_seconds: int = Field(default=3600, ge=1)
    max_memory_mb: int = Field(default=1024, ge=64)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # pages: on the wire and decompressed
    max_document_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)  # feeds and sitemaps, likewise
    max_consecutive_errors: int = Field(default=50, ge=0)  # failed requests in a row end the run; 0: never
    # also write the raw HTTP exchanges as WARC 1.1 (warc/<source>/<day>/<run-id>.warc.gz)
    warc: bool = False
    warc_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)  # rotate to a new file above this
    # extraction processes beside the crawl; None = one per CPU (none on a single CPU)
    extract_workers: Optional[int] = Field(default=None, ge=0, le=32)
    # network scope: private/loopback targets are refused unless the source's own
    # hosts are private; these networks are refused always (in addition to
    # link-local and cloud metadata addresses).
    forbid_networks: list[str] = Field(default_factory=list)
    allow_private: Optional[bool] = None
    # extraction: rules for the stubborn cases, template learning, outputs
    extract: ExtractSettings = Field(default_factory=ExtractSettings)
    # crawled by all replicas together through a shared frontier (needs coordination:)
    distributed: bool = False

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if not SOURCE_NAME_RE.match(v):
            raise ValueError(f"'{v}' must match [a-z0-9][a-z0-9_-]* (it is used in object keys)")
        return v

    @field_validator("start_urls", "feeds", "sitemaps")
    @classmethod
    def _check_urls(cls, v: list[str]) -> list[str]:
        for i, url in enumerate(v):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"item {i}: '{url}' is not an absolute http(s) URL")
            if parts.username or parts.password:
                raise ValueError(f"item {i}: user:password@ in a URL is not supported (the crawler cannot "
                                 "send it and it would end up in logs); remove it")
        return v

    @field_validator("follow", "articles")
    @classmethod
    def _check_regexes(cls, v: list[str]) -> list[str]:
        for i, pattern in enumerate(v):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"item {i}: bad regex '{pattern}': {exc}") from None
        return v

    @field_validator("forbid_networks")
    @classmethod
    def _check_networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for i, net in enumerate(v):
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"item {i}: '{net}' is not an IP network like 10.0.0.0/8") from None
        return v

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else validate_cron(v)

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            parse_interval(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, v: str) -> str:
        return validate_timezone(v)

    @model_validator(mode="after")
    def _needs_entry_points(self) -> "SourceSettings":
        if not (self.start_urls or self.feeds or self.sitemaps):
            raise ValueError("a source needs at least one of start_urls, feeds, sitemaps")
        return self

    # -- derived views ------------------------------------------------------
    def hosts(self) -> list[str]:
        """Hosts this source may reach: those of its entry points plus ``allowed_hosts``."""
        seen: dict[str, None] = {}
        for url in [*self.start_urls, *self.feeds, *self.sitemaps]:
            host = urlsplit(url).hostname
            if host:
                seen[host.lower()] = None
        for host in self.allowed_hosts:
            seen[host.lower()] = None
        return list(seen)


class HttpSettings(_Model):
    """The /healthz and /metrics endpoint (on for ``archiver serve``, off for ``crawl`` unless asked)."""

    enabled: bool = True
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=1, le=65535)


class SchedulerSettings(_Model):
    """How ``archiver serve`` runs the sources' schedules."""

    max_concurrent_runs: int = Field(default=2, ge=1, le=256)
    # fire times missed (daemon down, stalled, no free slot): coalesce = run once for all of
    # them; skip = run only if at most misfire_grace_seconds late, else record a skip
    misfire: Literal["coalesce", "skip"] = "coalesce"
    misfire_grace_seconds: int = Field(default=300, ge=1)
    # on SIGTERM: running crawls get this long to finish, then are stopped
    stop_grace_seconds: float = Field(default=30.0, ge=0, le=86400)
    # a crawl told to stop (shutdown, or past max_run_seconds) is killed this long after
    kill_after_seconds: float = Field(default=20.0, ge=1, le=3600)
    # /healthz fails when a source is late by more than this many of its periods
    missed_factor: float = Field(default=2.0, ge=1.0, le=1000)
    http: HttpSettings = Field(default_factory=HttpSettings)


class Settings(_Model):
    storage: StorageSettings = Field(default_factory=StorageSettings)
    coordination: Optional[CoordinationSettings] = None
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    sources: list[SourceSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> "Settings":
        seen: set[str] = set()
        for i, source in enumerate(self.sources):
            if source.name in seen:
                raise _KeyedError(("sources", i, "name"),
                                  f"duplicate source name '{source.name}'; names must be unique")
            seen.add(source.name)
        return self

    @property
    def coordinated(self) -> bool:
        """True when replicas cooperate through Redis (``coordination.redis_url`` is set)."""
        return self.coordination is not None and self.coordination.enabled

    def source(self, name: str) -> SourceSettings:
        for source in self.sources:
            if source.name == name:
                return source
        known = [s.name for s in self.sources]
        hint = difflib.get_close_matches(name, known, n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else f"; known: {', '.join(known) or 'none'}"
        raise ConfigError(f"no source named '{name}'{extra}")


class _KeyedError(ValueError):
    """A validation error that knows which key it belongs to."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc, self.message = loc, message


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    path: Path


# -- YAML with line numbers -------------------------------------------------------

MAX_YAML_NODES = 100_000  # aliases can make a small file expand exponentially ("billion laughs")


def _walk(node: yaml.Node, path: tuple, lines: dict, file: str, budget: Optional[list] = None) -> None:
    budget = [MAX_YAML_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(f"the document expands to more than {MAX_YAML_NODES} values "
                          "(aliases nested too deep?); write the values out", file=file,
                          line=node.start_mark.line + 1)
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(f"key '{key}' appears twice", file=file,
                                  line=key_node.start_mark.line + 1, key=_dotted(path + (key,)))
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines, file, budget)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines, file, budget)


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _interpolate(value: Any, path: tuple, lines: dict, file: str, env: dict) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, path + (k,), lines, file, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path + (i,), lines, file, env) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set (or write ${{{name}:-default}})",
                              file=file, line=_line_for(path, lines), key=_dotted(path))
        return _VAR_RE.sub(sub, value)
    return value


def _line_for(path: tuple, lines: dict) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _model_for(parent: tuple) -> type[BaseModel] | None:
    """The model whose keys live at ``parent`` (for "did you mean")."""
    if parent == ():
        return Settings
    if parent and parent[-1] == "revisit":
        return RevisitSettings
    if parent == ("storage",):
        return StorageSettings
    if len(parent) >= 2 and parent[0] in ("sources", "defaults") and parent[-1] == "extract":
        return ExtractSettings
    if parent == ("coordination",):
        return CoordinationSettings
    if parent == ("scheduler",):
        return SchedulerSettings
    if parent == ("scheduler", "http"):
        return HttpSettings
    if parent == ("defaults",) or (len(parent) == 2 and parent[0] == "sources"):
        return SourceSettings
    return None


def _describe(err: dict, path: tuple) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = path[-1] if path else "?"
        if isinstance(key, str) and _SECRET_KEY_RE.search(key) and path[:1] == ("coordination",):
            return ("credentials do not belong in the config file; write redis_url: ${REDIS_URL} "
                    "and set REDIS_URL=redis://:PASSWORD@HOST:6379/0 in the environment")
        if isinstance(key, str) and _SECRET_KEY_RE.search(key):
            return ("credentials do not belong in the config file; set AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY or AWS_PROFILE in the environment")
        model = _model_for(tuple(path[:-1]))
        known = sorted(model.model_fields) if model else []
        hint = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        if hint:
            return f"unknown key (did you mean '{hint[0]}'?)"
        return f"unknown key; known keys here: {', '.join(known)}" if known else "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    msg = re.sub(r"^(Value error|Assertion failed), ", "", msg)
    if err.get("input") is not None and kind.endswith("_type"):
        msg += f" (got {type(err['input']).__name__})"
    return msg


def parse_config(text: str, *, file: str = "<config>", env: Optional[dict] = None) -> Settings:
    """Parse and validate YAML text into :class:`Settings` (raises :class:`ConfigError`)."""
    env = dict(os.environ) if env is None else env
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ConfigError("the file is empty; it needs at least a 'sources:' list", file=file)
            lines: dict = {}
            _walk(node, (), lines, file)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", file=file,
                          line=(mark.line + 1) if mark else None) from None
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping with 'storage:' and 'sources:'", file=file, line=1)
    data = _interpolate(data, (), lines, file, env)
    known_top = sorted([*Settings.model_fields, "defaults"])
    for key in data:
        if key not in known_top:
            hint = difflib.get_close_matches(str(key), known_top, n=1, cutoff=0.6)
            why = f"unknown key (did you mean '{hint[0]}'?)" if hint else \
                f"unknown key; known top-level keys: {', '.join(known_top)}"
            raise ConfigError(why, file=file, line=_line_for((key,), lines), key=str(key))

    defaults = data.pop("defaults", None) or {}
    if not isinstance(defaults, dict):
        raise ConfigError("must be a mapping of source settings", file=file,
                          line=_line_for(("defaults",), lines), key="defaults")
    for key in ("name", "start_urls", "feeds", "sitemaps"):
        if key in defaults:
            raise ConfigError("belongs to each source, not to defaults", file=file,
                              line=_line_for(("defaults", key), lines), key=f"defaults.{key}")
    try:
        SourceSettings.model_validate({"name": "defaults", "start_urls": ["http://defaults.invalid/"],
                                       **defaults})
    except ValidationError as exc:
        err = exc.errors()[0]
        path = ("defaults",) + tuple(err["loc"])
        raise ConfigError(_describe(err, path), file=file, line=_line_for(path, lines),
                          key=_dotted(path)) from None

    sources = data.get("sources")
    if sources is None:
        raise ConfigError("missing 'sources:' list", file=file, line=1, key="sources")
    if not isinstance(sources, list):
        raise ConfigError("must be a list of sources", file=file,
                          line=_line_for(("sources",), lines), key="sources")
    merged = []
    for i, src in enumerate(sources):
        if not isinstance(src, dict):
            raise ConfigError("each source must be a mapping with at least 'name:'", file=file,
                              line=_line_for(("sources", i), lines), key=f"sources[{i}]")
        merged.append({**defaults, **src})
    data["sources"] = merged

    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = tuple(err["loc"])
        ctx_err = (err.get("ctx") or {}).get("error")
        message = _describe(err, path)
        if isinstance(ctx_err, _KeyedError):
            path, message = ctx_err.loc, ctx_err.message
        elif isinstance(getattr(ctx_err, "index", None), int):  # an error in one item of a list
            path = path + (ctx_err.index,)
        # an error in a merged default points at the defaults section
        if len(path) >= 3 and path[0] == "sources" and (path[:3] not in lines) and ("defaults", path[2]) in lines:
            path = ("defaults", path[2]) + path[3:]
        label = _dotted(path)
        if path and path[0] == "sources" and len(path) >= 2 and isinstance(path[1], int):
            name = merged[path[1]].get("name") if path[1] < len(merged) else None
            if isinstance(name, str) and len(path) > 2:
                label += f" (source '{name}')"
        raise ConfigError(message, file=file, line=_line_for(path, lines), key=label) from None


def load_config(path: str | os.PathLike, *, env: Optional[dict] = None) -> LoadedConfig:
    """Read and validate a config file (raises :class:`ConfigError`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found; pass --config PATH to an existing YAML file", file=str(p)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory; pass --config PATH to a YAML file", file=str(p)) from None
    except PermissionError:
        raise ConfigError("permission denied reading the file", file=str(p)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(p)) from None
    return LoadedConfig(parse_config(text, file=str(p), env=env), p)
