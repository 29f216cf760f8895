"""The Redis connection replicas coordinate through, and one-line errors for it.

``connect(coordination)`` builds a client from :class:`crawler.config.CoordinationSettings`
(short timeouts, a couple of retries on a dropped connection) and, by default, checks
it with a PING so a wrong host or password stops a worker at start with a clear
message instead of half-way through a run.  Every key this deployment writes starts
with ``coordination.key_prefix`` (:class:`Keys`).  The URL's password never appears in
an error: messages name the URL masked.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.secrets import mask


class CoordinationError(Exception):
    """Redis is unreachable, refused us, or answered something we cannot use; one line."""

    def __init__(self, message: str, kind: str = "unreachable"):
        super().__init__(mask(message).replace("\n", " "))
        self.kind = kind


def describe_error(exc: Exception, url: str) -> CoordinationError:
    """Map a redis-py exception to a :class:`CoordinationError` naming the (masked) URL."""
    import redis

    where = f"Redis at {mask(url)}"
    text = str(exc)
    if isinstance(exc, redis.AuthenticationError) or "NOAUTH" in text or "WRONGPASS" in text \
            or "invalid password" in text or "invalid username-password" in text:
        return CoordinationError(f"{where} refused the credentials; check the password in "
                                 "coordination.redis_url (or the REDIS_URL it comes from)", "auth")
    if isinstance(exc, redis.TimeoutError):
        return CoordinationError(f"{where} did not answer in time", "unreachable")
    if isinstance(exc, redis.ConnectionError):
        return CoordinationError(f"cannot reach {where} ({type(exc).__name__}); check "
                                 "coordination.redis_url and that the server is up", "unreachable")
    if isinstance(exc, redis.ResponseError):
        return CoordinationError(f"{where} answered an error: {text[:200]}", "protocol")
    return CoordinationError(f"{where}: {type(exc).__name__}: {text[:200]}", "unreachable")


def client_url(client) -> str:
    """Where a redis-py client points, without its password (for messages)."""
    kw = client.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix://{kw['path']}"
    return f"redis://{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"


def connect(coordination, *, check: bool = True, client_name: str | None = None):
    """A redis-py client for ``coordination`` (a :class:`CoordinationSettings`)."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    if coordination is None or not coordination.enabled:
        raise CoordinationError("coordination.redis_url is not set", "config")
    try:
        client = redis.Redis.from_url(
            coordination.redis_url,
            decode_responses=True,
            socket_connect_timeout=coordination.connect_timeout,
            socket_timeout=max(coordination.connect_timeout, 5.0),
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            client_name=client_name,
        )
    except ValueError as exc:  # a URL redis-py cannot use
        raise CoordinationError(f"coordination.redis_url: {mask(str(exc))}", "config") from None
    if check:
        try:
            client.ping()
        except redis.RedisError as exc:
            raise describe_error(exc, coordination.redis_url) from None
    return client


@dataclass(frozen=True)
class Keys:
    """Key names under one deployment's prefix; a crawl's keys share a hash tag (one cluster slot)."""

    prefix: str = "archiver"

    def lease(self, name: str) -> str:
        return f"{self.prefix}:lease:{name}"

    def fence(self, name: str) -> str:
        return f"{self.prefix}:fence:{name}"

    def claim(self, source: str, fire: str) -> str:
        return f"{self.prefix}:claim:{source}:{fire}"

    def crawl(self, source: str, crawl_id: str) -> str:
        """Prefix of one distributed crawl's keys."""
        return f"{self.prefix}:crawl:{{{source}:{crawl_id}}}"

    def host(self, host: str) -> str:
        return f"{self.prefix}:host:{host}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}:lock:{name}"
